"""What a scan did, counted as it is committed."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from facenet_core.library.import_tags import ImportResult
from facenet_core.people.jobs import RecognizeReport


@dataclass
class ScanResult:
    """Counts of one scan, each counted when it is committed (a cancelled or failed scan never
    reports work the library does not hold).

    The plan sorts every photo file found (``photos_found``) into exactly one of ``added``
    (new), ``changed`` (new content: detected again), ``moved`` (known content at a new path,
    the old one truly gone), ``unchanged``, ``resumed`` (left pending by an earlier scan) or
    ``failed``/``unavailable`` (cannot be read). Known photos whose file is gone are
    ``missing``; ``unavailable`` also counts photos in folders that cannot be read.
    ``photos_detected``: photos whose faces were found and stored by this run (added, changed,
    moved-while-pending and resumed ones); ``photos_failed`` also counts those that turned out to
    be unreadable then. ``photos_pending``: photos below the roots still waiting (non-zero only
    after a cancel or a failure). ``people``: what recognising the new faces did (None when it
    did not run). ``tags``: what reading the face tags of the processed photos did (None when the
    setting is off). ``face_model_kept``: the library's face model (``fast``/``accurate``) where
    the "Face model" setting names another: new faces were embedded with the library's, and the
    user is told how to switch (``reembed --face-model``). Videos count as photos everywhere,
    and also in ``videos_detected`` (read, their tracks stored) and ``video_frames`` (frames read
    from them).
    """

    photos_found: int = 0
    photos_added: int = 0
    photos_unchanged: int = 0
    photos_moved: int = 0
    photos_changed: int = 0
    photos_resumed: int = 0
    photos_failed: int = 0
    photos_missing: int = 0
    photos_unavailable: int = 0
    folders_unreadable: int = 0
    photos_detected: int = 0
    photos_pending: int = 0
    faces_added: int = 0
    videos_detected: int = 0
    video_frames: int = 0
    faces_removed: int = 0
    thumbnails_made: int = 0
    thumbnails_removed: int = 0
    seconds: float = 0.0
    cancelled: bool = False
    people: RecognizeReport | None = None
    tags: ImportResult | None = None
    face_model_kept: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.tags is not None:
            data["tags"] = self.tags.to_json_dict()
        return data

    def face_model_note(self) -> str:
        """Why the scan used the library's face model rather than the setting's, and how to
        switch it (empty when they agree)."""
        kept = self.face_model_kept
        if kept is None:
            return ""
        other = "accurate" if kept == "fast" else "fast"
        return (
            f"This library uses the {kept} face model, so its new faces did too; to switch it to "
            f"the {other} one (every name and edit kept): facenet-photos reembed --face-model "
            f"{other}"
        )

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if type(v) is int}
