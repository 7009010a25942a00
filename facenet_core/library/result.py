"""What a scan did, counted as it is committed."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from facenet_core.people.jobs import RecognizeReport


@dataclass
class ScanResult:
    """Counts of one scan. ``photos_failed`` counts files found unreadable in this scan;
    ``people`` is what recognising the new faces did (None when it did not run)."""

    photos_added: int = 0
    photos_unchanged: int = 0
    photos_moved: int = 0
    photos_changed: int = 0
    photos_failed: int = 0
    photos_missing: int = 0
    faces_added: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    people: RecognizeReport | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if type(v) is int}
