"""What the last reading of face tags did, and which faces came from a tag: for the app's pages.

``import-tags`` and ``scan`` (when "Read face tags from photos" is on) read the names other
programs wrote into photos. Their counts used to live only in the command's output; the Library
page shows them later, after a restart too, so :func:`record_import` keeps the last import that
read at least one photo in the library (a ``LibrarySetting`` JSON value, :data:`LAST_IMPORT`),
with the photos whose metadata could not be read and why (the first :data:`MAX_UNREADABLE`).

Which faces came from a tag is asked by the person page: a face *made* from a region has
``detector = "tag:<format>"`` (:mod:`.tag_faces`); a detected face *named* by a region or a
keyword is remembered here (:data:`FACE_SOURCES`: face id -> ``[format, person id]``), and
counts as coming from the tag while it is still confirmed with that person (a user who moves
it elsewhere made it theirs). Both live in ``LibrarySetting`` rows rather than their own columns
so that no schema change is needed; keys with a dot are the library's own values, never a
setting (:meth:`facenet_core.store.Library.settings`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from facenet_core.store import Assignment, Face, Library, LibrarySetting
from facenet_core.store.models import utcnow

if TYPE_CHECKING:
    from facenet_core.library.import_tags import ImportResult

LAST_IMPORT = "tags.last_import"
FACE_SOURCES = "tags.face_sources"
MAX_UNREADABLE = 500
"""Photos with unreadable metadata kept with their reasons (the count is always complete)."""
TAG_DETECTOR = "tag:"
"""A face made from a region: its ``detector`` is ``tag:<format>``."""
NAME_SOURCE = "name"
"""The format recorded for a face named by a name without a box (keywords, PersonInImage...)."""

SOURCE_PROGRAMS = {
    "mwg": "an MWG region (digiKam, Lightroom, Picasa 3.9, ExifTool)",
    "iptc": "an IPTC image region",
    "mp": "a Microsoft Photo region (Windows Photo Gallery)",
    "picasa": "Picasa (.picasa.ini)",
    NAME_SOURCE: "a name in the photo's keywords (PersonInImage, People/..., Google Takeout)",
}
"""Each format as a person knows it: the programs that write it."""


@dataclass
class ImportCounts:
    """The counts of one import of face tags (``import_tags``' result is made of them)."""

    photos_read: int = 0
    photos_with_tags: int = 0
    regions_found: int = 0
    names_found: int = 0
    faces_matched: int = 0
    faces_named: int = 0
    faces_kept: int = 0
    faces_created: int = 0
    regions_without_face: int = 0
    names_unplaced: int = 0
    people_created: int = 0
    disagreements: int = 0


@dataclass
class TagSummary(ImportCounts):
    """The last import of face tags that read at least one photo: its counts, when it ended,
    how many photos' metadata could not be read and the first :data:`MAX_UNREADABLE` of them
    with the reason."""

    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    unreadable_count: int = 0
    unreadable: tuple[tuple[str, str], ...] = ()


_COUNTS = [f.name for f in fields(ImportCounts)]


def _put(session: Session, key: str, value: Any) -> None:
    row = session.get(LibrarySetting, key)
    if row is None:
        session.add(LibrarySetting(key=key, value=value))
    else:
        row.value, row.updated_at = value, utcnow()


def _get(session: Session, key: str) -> Any:
    row = session.get(LibrarySetting, key)
    return None if row is None else row.value


def record_import(
    library: Library, result: ImportResult, named: Mapping[int, tuple[str, int]] | None = None
) -> None:
    """Keep ``result`` as the last import (unless it read no photo or was cancelled) and
    remember ``named`` (face id -> (format, person id)) as faces named by a tag."""
    named = named or {}
    if result.cancelled or (result.photos_read == 0 and not named):
        return
    with library.write() as session:
        if result.photos_read:
            summary: dict[str, Any] = {name: getattr(result, name) for name in _COUNTS}
            summary["unreadable_count"] = len(result.unreadable)
            summary["unreadable"] = [list(u) for u in result.unreadable[:MAX_UNREADABLE]]
            summary["at"] = utcnow().isoformat()
            _put(session, LAST_IMPORT, summary)
        if named:
            sources = _get(session, FACE_SOURCES)
            sources = dict(sources) if isinstance(sources, dict) else {}
            sources.update({str(f): [src, pid] for f, (src, pid) in named.items()})
            alive = set(session.scalars(select(Face.id).where(Face.id.in_(map(int, sources)))))
            _put(session, FACE_SOURCES, {k: v for k, v in sources.items() if int(k) in alive})


def last_import(library: Library) -> TagSummary | None:
    """The last import of face tags, or None when tags were never read."""
    with library.session() as session:
        value = _get(session, LAST_IMPORT)
    if not isinstance(value, dict):
        return None
    try:
        at = datetime.fromisoformat(str(value.get("at")))
    except ValueError:
        at = datetime.now(UTC)
    counts = {name: int(value.get(name) or 0) for name in [*_COUNTS, "unreadable_count"]}
    unreadable = tuple(
        (str(u[0]), str(u[1]))
        for u in value.get("unreadable") or ()
        if isinstance(u, list | tuple) and len(u) == 2
    )
    return TagSummary(**counts, at=at, unreadable=unreadable)


def tag_origins(session: Session, face_ids: Iterable[int]) -> dict[int, tuple[str, bool]]:
    """Which of ``face_ids`` came from a face tag: face id -> (format, made). ``made``: the face
    itself was made from the region (no detector found it); else a tag named it, and it is still
    confirmed with the person the tag named."""
    ids = list(dict.fromkeys(face_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Face.id, Face.detector, Face.person_id, Face.assignment).where(Face.id.in_(ids))
    ).all()
    named = _get(session, FACE_SOURCES)
    named = named if isinstance(named, dict) else {}
    out: dict[int, tuple[str, bool]] = {}
    for face_id, detector, person_id, assignment in rows:
        if detector.startswith(TAG_DETECTOR):
            out[face_id] = (detector[len(TAG_DETECTOR) :], True)
            continue
        entry = named.get(str(face_id))
        if (
            isinstance(entry, list)
            and len(entry) == 2
            and entry[1] == person_id
            and assignment == Assignment.CONFIRMED.value
        ):
            out[face_id] = (str(entry[0]), False)
    return out
