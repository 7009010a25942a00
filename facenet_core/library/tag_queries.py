"""What the app shows of face tags: the last import's counts, and which faces came from tags.

Plain functions returning frozen dataclasses (Qt-free, like :mod:`facenet_core.people.queries`),
for the Library page ("212 names read from 180 photos", the photos whose metadata could not be
read) and the person page (marking the faces a tag named or made).

A face *came from a tag* in one of two ways: a tag import matched it to a named region (or a
name without a box) and confirmed it with that name's person (:class:`~facenet_core.store.
FaceTagSource`, kind ``"named"``; it counts only while the face is still with that person), or
the face was made from a region no detector found (``detector`` ``"tag:<format>"``, kind
``"made"``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from facenet_core.library.import_tags import LAST_IMPORT, NAMES_SOURCE
from facenet_core.store import Face, FaceTagSource, Library, LibrarySetting
from facenet_core.store.chunks import chunks

TAG_DETECTOR_PREFIX = "tag:"
"""The ``detector`` of a face made from a tag region starts with this (``tag:mwg``...)."""

SOURCE_PROGRAMS = {
    "mwg": "an MWG region (digiKam, Lightroom, Picasa 3.9, ExifTool)",
    "iptc": "an IPTC image region",
    "mp": "a Microsoft Photo region (Windows Photo Gallery)",
    "picasa": "Picasa (.picasa.ini)",
    NAMES_SOURCE: "a name in the photo's keywords (PersonInImage, People/..., Google Takeout)",
}
"""Each format as a person knows it: the programs that write it."""


@dataclass(frozen=True, slots=True)
class LastImport:
    """The counts of the last face-tag import (a scan's or ``import-tags``'), as kept in the
    library. ``unreadable`` lists (path, reason) of at most the first 1,000 photos whose
    metadata could not be read; ``unreadable_total`` is how many there were."""

    finished_at: datetime | None
    photos_read: int
    photos_with_tags: int
    regions_found: int
    names_found: int
    faces_matched: int
    faces_named: int
    faces_kept: int
    faces_created: int
    regions_without_face: int
    names_unplaced: int
    photos_tagged: int
    people_created: int
    disagreements: int
    unreadable: tuple[tuple[str, str], ...]
    unreadable_total: int

    @property
    def summary(self) -> str:
        """One line for the Library page, e.g. "212 names read from 180 photos"."""
        names = "name" if self.names_found == 1 else "names"
        photos = "photo" if self.photos_with_tags == 1 else "photos"
        return f"{self.names_found} {names} read from {self.photos_with_tags} {photos}"


def _int(data: dict[str, Any], key: str) -> int:
    value = data.get(key, 0)
    return value if isinstance(value, int) else 0


def last_import(library: Library) -> LastImport | None:
    """The counts of the last face-tag import, or None when the library never imported any."""
    with library.session() as session:
        row = session.get(LibrarySetting, LAST_IMPORT)
        data = row.value if row is not None else None
    if not isinstance(data, dict):
        return None
    try:
        when = datetime.fromisoformat(str(data.get("finished_at")))
    except ValueError:
        when = None
    unreadable = tuple(
        (str(u.get("photo", "")), str(u.get("reason", "")))
        for u in data.get("unreadable") or []
        if isinstance(u, dict)
    )
    counts = {
        key: _int(data, key)
        for key in (
            "photos_read",
            "photos_with_tags",
            "regions_found",
            "names_found",
            "faces_matched",
            "faces_named",
            "faces_kept",
            "faces_created",
            "regions_without_face",
            "names_unplaced",
            "photos_tagged",
            "people_created",
            "disagreements",
        )
    }
    total = _int(data, "unreadable_total") or len(unreadable)
    return LastImport(when, **counts, unreadable=unreadable, unreadable_total=total)


@dataclass(frozen=True, slots=True)
class TagOrigin:
    """Why a face is marked as coming from a tag: ``"named"`` (a tag import gave it its
    person) or ``"made"`` (made from a tag region no detector found); ``source`` is the format
    (``mwg``, ``iptc``, ``mp``, ``picasa``, ``names``...)."""

    face_id: int
    kind: Literal["named", "made"]
    source: str


def _origins(session: Session, where: Any) -> dict[int, TagOrigin]:
    found: dict[int, TagOrigin] = {}
    made = session.execute(
        select(Face.id, Face.detector).where(
            where, Face.detector.startswith(TAG_DETECTOR_PREFIX, autoescape=True)
        )
    )
    for face_id, detector in made:
        found[face_id] = TagOrigin(face_id, "made", detector[len(TAG_DETECTOR_PREFIX) :])
    named = session.execute(
        select(Face.id, FaceTagSource.source)
        .join(FaceTagSource, FaceTagSource.face_id == Face.id)
        .where(where, FaceTagSource.person_id == Face.person_id)
    )
    for face_id, source in named:
        found.setdefault(face_id, TagOrigin(face_id, "named", source))
    return found


def tag_origins(session: Session, face_ids: Iterable[int]) -> dict[int, TagOrigin]:
    """Of these faces, the ones that came from a tag (the others are absent): what the person
    page marks on the faces it shows."""
    found: dict[int, TagOrigin] = {}
    for chunk in chunks(list(dict.fromkeys(face_ids))):
        found.update(_origins(session, Face.id.in_(chunk)))
    return found


def faces_from_tags(session: Session, person_id: int) -> list[TagOrigin]:
    """Every face of the person that came from a tag, by face id."""
    found = _origins(session, Face.person_id == person_id)
    return sorted(found.values(), key=lambda o: o.face_id)
