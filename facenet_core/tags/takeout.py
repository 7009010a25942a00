"""Google Takeout: the per-photo JSON beside each photo lists the people Google Photos named.

Takeout writes ``IMG.jpg.json`` (older exports) or ``IMG.jpg.supplemental-metadata.json`` (since
2024), sometimes ``IMG.json``; ``people`` is a list of ``{"name": ...}`` without boxes.
"""

from __future__ import annotations

import json
from pathlib import Path

from facenet_core.tags.model import clean_name

MAX_JSON_BYTES = 4 * 1024 * 1024


def json_candidates(photo: Path) -> list[Path]:
    """The Takeout JSON names of a photo, most specific first."""
    return [
        photo.with_name(photo.name + ".supplemental-metadata.json"),
        photo.with_name(photo.name + ".json"),
        photo.with_name(photo.stem + ".json"),
    ]


def read_names(photo: Path) -> tuple[list[str], str | None]:
    """The names the Takeout JSON gives, and a reason when that JSON could not be read."""
    for candidate in json_candidates(photo):
        try:
            size = candidate.stat().st_size
        except OSError:
            continue
        if size > MAX_JSON_BYTES:
            return [], f"{candidate.name}: too large for a Takeout file"
        try:
            data = json.loads(candidate.read_bytes().decode("utf-8", errors="replace"))
        except (OSError, ValueError, RecursionError) as exc:
            return [], f"{candidate.name}: unreadable JSON ({exc})"
        people = data.get("people") if isinstance(data, dict) else None
        names = []
        for person in people if isinstance(people, list) else []:
            name = clean_name(person.get("name")) if isinstance(person, dict) else None
            if name:
                names.append(name)
        return names, None
    return [], None
