"""Write the people named in the library to XMP sidecars beside the photos (``export-tags``).

Only named people's faces are written: a face the user ignored, a suggestion not yet answered,
faces of unnamed people, of people the user hid, and of people the user marked "never write to
photos" (:func:`set_never_export`; a forgotten person no longer exists at all) are not.
People on a photo without a face box (:mod:`facenet_core.people.photo_people`) are written as
``PersonInImage`` and keywords, under the same rules.
Choosing people chooses *photos* (those showing one of them);
each photo's sidecar then gets every named face it holds, since a sidecar's people parts are
replaced as a whole (:mod:`facenet_core.tags.write`). Originals are never modified, except with
``embed`` (``--embed``), through ExifTool (:mod:`.embed_tags`). Each photo's
problem (a folder that cannot be written, a sidecar another program keeps changing, an unreadable
one) is recorded with its reason, and the job goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from facenet_core.library.embed_tags import ExifToolMissing, embed_people, find_exiftool
from facenet_core.people.exportable import (
    NEVER_EXPORT,
    exportable,
    never_export_ids,
    orientation_of,
    write_people,
)
from facenet_core.progress import CancelToken, PhaseClock, Reporter, ignore_progress
from facenet_core.store import (
    Library,
    LibrarySetting,
    Person,
)
from facenet_core.store.models import utcnow
from facenet_core.tags.model import name_key
from facenet_core.tags.write import Naming


@dataclass
class ExportResult:
    """What an export did: sidecars written or already up to date, faces written, photos written
    into (``--embed``), and each photo that could not be written with its reason."""

    photos: int = 0
    sidecars_written: int = 0
    sidecars_unchanged: int = 0
    faces_written: int = 0
    embedded: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    unknown_people: list[str] = field(default_factory=list)
    cancelled: bool = False

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failed"] = [{"photo": p, "reason": r} for p, r in self.failed]
        return data


def set_never_export(library: Library, person_ids: Sequence[int], never: bool = True) -> set[int]:
    """Add these people to (or, ``never=False``, take them off) the list of people never
    written to photos; returns the list as it is now."""
    with library.write() as session:
        row = session.get(LibrarySetting, NEVER_EXPORT)
        current = never_export_ids(session)
        current = current | set(person_ids) if never else current - set(person_ids)
        # people who no longer exist (merged away, forgotten) leave the list
        existing = set(session.scalars(select(Person.id).where(Person.id.in_(current))))
        value = sorted(existing)
        if row is None:
            session.add(LibrarySetting(key=NEVER_EXPORT, value=value))
        else:
            row.value, row.updated_at = value, utcnow()
    return set(value)


def export_tags(
    library: Library,
    people: Sequence[str] | None = None,
    *,
    naming: Naming = "ext.xmp",
    embed: bool = False,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> ExportResult:
    """Write sidecars for the photos of ``people`` (names; None: every named person); with
    ``embed``, also into the photos themselves through ExifTool (:mod:`.embed_tags`;
    :class:`~.embed_tags.ExifToolMissing` before anything is written when it is not installed)."""
    exiftool = find_exiftool() if embed else None
    if embed and exiftool is None:
        raise ExifToolMissing("--embed writes into photos through ExifTool, which is not installed")
    result = ExportResult()
    wanted = None if people is None else {name_key(n) for n in people}
    with library.session() as session:
        photos = exportable(session)
    names_seen = {n for each in photos.values() for n in each.names}
    if wanted is not None:
        result.unknown_people = sorted(n for n in people or () if name_key(n) not in names_seen)
        photos = {p: each for p, each in photos.items() if each.names & wanted}
    clock = PhaseClock("export-tags", "sidecars", unit="photo")
    total = len(photos)
    for done, (path_text, each) in enumerate(sorted(photos.items()), start=1):
        if cancel is not None and cancel.cancelled:
            result.cancelled = True
            break
        path = Path(path_text)
        result.photos += 1
        width, height = each.size
        if not path.is_file():
            result.failed.append((path_text, "photo not found"))
        elif not width or not height:
            result.failed.append((path_text, "size unknown (scan the photo again)"))
        else:
            outcome = write_people(path, (width, height), each, naming)
            if outcome.written:
                result.sidecars_written += 1
                result.faces_written += outcome.faces_written
            elif outcome.reason == "already up to date":
                result.sidecars_unchanged += 1
            else:
                result.failed.append((path_text, outcome.reason or "not written"))
            if exiftool is not None:
                into = embed_people(
                    path,
                    (width, height),
                    orientation_of(path),
                    each.faces,
                    each.without_box,
                    exiftool,
                )
                if into.written:
                    result.embedded += 1
                else:
                    result.failed.append((path_text, into.reason or "not embedded"))
        reporter(clock.event(done, total, written=result.sidecars_written))
    return result
