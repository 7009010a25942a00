"""The reads the pages need, composed from the core's people queries into plain values.

Each function here runs in the task runner's read lane (never on the GUI thread) and returns
frozen values the models hold and the delegates paint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from facenet_core.library import browse
from facenet_core.library.browse import NamedFace, PhotoFaces
from facenet_core.library.export_tags import never_export_ids
from facenet_core.library.tag_queries import TagOrigin, tag_origins
from facenet_core.people.queries import (
    FaceInfo,
    Page,
    PeopleCount,
    PersonSummary,
    PhotoInfo,
    cover_faces,
    faces_by_id,
    get_person,
    ignored_faces,
    list_people,
    people_count,
    person_faces,
    person_label,
    photos_with_people,
    suggested_faces,
    unassigned_faces,
)
from facenet_core.store import Library

__all__ = [
    "FaceInfo",
    "NamedFace",
    "Page",
    "PeopleCount",
    "PeopleList",
    "PersonCard",
    "PhotoFaces",
    "PhotoInfo",
    "face_origins",
    "ignored_page",
    "is_never_written",
    "people_cards",
    "people_grid",
    "people_tally",
    "person_card",
    "person_label",
    "person_page",
    "photo_faces",
    "photo_page",
    "unassigned_page",
]


@dataclass(frozen=True, slots=True)
class PersonCard(PersonSummary):
    """A person as the grid shows it: the core's summary (its figures and label) with the cover
    face itself (its photo and box, to make its thumbnail)."""

    cover_face: FaceInfo | None


def _cards(library: Library, people: Sequence[PersonSummary]) -> list[PersonCard]:
    """The summaries with their cover faces: the chosen cover, else the one the core picks."""
    with library.session() as session:
        covers: dict[int, int | None] = {p.id: p.cover_face_id for p in people}
        unchosen = [p.id for p in people if p.cover_face_id is None]
        if unchosen:
            covers.update(cover_faces(session, unchosen))
        wanted = [f for f in covers.values() if f is not None]
        faces = {f.id: f for f in faces_by_id(session, wanted)} if wanted else {}
    out = []
    for p in people:
        cover = covers.get(p.id)
        face = faces.get(cover) if cover is not None else None
        out.append(PersonCard(**asdict(p), cover_face=face))
    return out


def people_cards(
    library: Library, *, include_hidden: bool = False, min_faces: int = 1
) -> list[PersonCard]:
    """Every person for the grid: named first (by name), then unnamed by size."""
    with library.session() as session:
        people = list_people(session, include_hidden=include_hidden, min_faces=min_faces)
    return _cards(library, people)


@dataclass(frozen=True, slots=True)
class PeopleList:
    """What the People page shows: the cards, and the one count of people (what is listed, and
    what is small or hidden and so left out)."""

    cards: tuple[PersonCard, ...]
    count: PeopleCount


def people_grid(library: Library, *, include_hidden: bool, min_faces: int) -> PeopleList:
    """The cards and the count, read in one transaction so they always agree."""
    with library.session() as session:
        people = list_people(session, include_hidden=include_hidden, min_faces=min_faces)
        count = people_count(session, min_faces=min_faces)
    return PeopleList(tuple(_cards(library, people)), count)


def people_tally(library: Library, *, min_faces: int) -> PeopleCount:
    """The one count of people (the People page and the status bar both show it)."""
    with library.session() as session:
        return people_count(session, min_faces=min_faces)


def person_card(library: Library, person_id: int) -> PersonCard:
    with library.session() as session:
        person = get_person(session, person_id)
    return _cards(library, [person])[0]


def person_page(
    library: Library, person_id: int, offset: int, limit: int, *, suggestions: bool = False
) -> Page[FaceInfo]:
    """A page of a person's faces, or of the suggestions waiting for an answer."""
    with library.session() as session:
        if suggestions:
            return suggested_faces(session, person_id, offset=offset, limit=limit)
        return person_faces(session, person_id, offset=offset, limit=limit)


def unassigned_page(library: Library, offset: int, limit: int) -> Page[FaceInfo]:
    with library.session() as session:
        return unassigned_faces(session, offset=offset, limit=limit)


def ignored_page(library: Library, offset: int, limit: int) -> Page[FaceInfo]:
    with library.session() as session:
        return ignored_faces(session, offset=offset, limit=limit)


def photo_page(
    library: Library, person_ids: Sequence[int], offset: int, limit: int
) -> Page[PhotoInfo]:
    """A page of the photos with all these people together (every photo when none)."""
    with library.session() as session:
        if person_ids:
            return photos_with_people(session, person_ids, offset=offset, limit=limit)
        return browse.all_photos(session, offset=offset, limit=limit)


def photo_faces(library: Library, photo_id: int) -> PhotoFaces:
    """One photo with its faces and their people's names (the viewer)."""
    with library.session() as session:
        return browse.photo_faces(session, photo_id)


def face_origins(library: Library, face_ids: Sequence[int]) -> dict[int, TagOrigin]:
    """Which faces came from a face tag (named by one, or made from its region)."""
    with library.session() as session:
        return tag_origins(session, face_ids)


def is_never_written(library: Library, person_id: int) -> bool:
    """Whether the person is on the library's "never write to photos" list."""
    with library.session() as session:
        return person_id in never_export_ids(session)
