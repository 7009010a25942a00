"""What the people views show: plain frozen dataclasses, never ORM objects.

Every function takes a :class:`~sqlalchemy.orm.Session` and only reads. They are written for
libraries of a million faces (``bench/people_queries.py`` measures them): per-person counts come
from one pass over the ``(person_id, assignment, photo_id)`` index without touching the table,
face lists are paged in index order, and suggested and ignored faces have small partial indexes.

A face *belongs* to its person when its assignment is ``auto`` or ``confirmed``; a ``suggested``
face is only a question to the user and is counted apart (``suggestions``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    and_,
    case,
    false,
    func,
    intersect,
    literal_column,
    or_,
    select,
    true,
    union,
)
from sqlalchemy.orm import Session

from facenet_core.people.errors import PeopleError
from facenet_core.store import Assignment, Face, Person, Photo, PhotoPerson
from facenet_core.store.chunks import CHUNK

T = TypeVar("T")

MEMBER_KINDS = (Assignment.CONFIRMED.value, Assignment.AUTO.value)
"""Assignments that make a face its person's (a suggestion does not)."""

DEFAULT_PAGE = 200
SUGGESTED = Face.assignment == literal_column(f"'{Assignment.SUGGESTED.value}'")
"""``assignment = 'suggested'`` with the value inline: SQLite only uses the partial index of
suggestions when the query's condition spells out the index's own."""
NEWEST_TAKEN_FIRST = (Photo.taken_at.desc().nulls_last(), Photo.id.desc())
"""How photos are listed: by date taken (EXIF), newest first; photos without a date last, newest
found first. The photo grid's year and month headers follow this order."""


def person_label(person_id: int, name: str | None) -> str:
    """How a person is called wherever a name is expected: the name, or ``"Unnamed person 12"``
    (the id, so the command line can name them and the app tells two apart). The one label of
    the app and the command line."""
    return name or f"Unnamed person {person_id}"


@dataclass(frozen=True, slots=True)
class PersonSummary:
    """A person as the people grid shows it.

    ``faces`` counts the faces that belong to the person (confirmed + automatic), ``confirmed``
    those the user confirmed, ``suggestions`` the pending suggestions. ``cover_face_id`` is the
    cover the user chose while that face still belongs to the person, else None: then
    :func:`cover_faces` picks one (ask it only for the people on screen)."""

    id: int
    name: str | None
    faces: int
    confirmed: int
    suggestions: int
    is_hidden: bool
    cover_face_id: int | None

    @property
    def is_named(self) -> bool:
        return bool(self.name)

    @property
    def label(self) -> str:
        """The name, or ``"Unnamed person 12"`` (:func:`person_label`)."""
        return person_label(self.id, self.name)


@dataclass(frozen=True, slots=True)
class FaceInfo:
    """One face: where it is, and whom it belongs to and who said so (``kind``: ``none``,
    ``auto``, ``suggested`` or ``confirmed``; ``confidence`` for automatic and suggested ones)."""

    id: int
    photo_id: int
    photo_path: str
    box: tuple[float, float, float, float]
    person_id: int | None
    kind: str
    confidence: float | None
    is_ignored: bool
    det_score: float
    track: tuple[float, float] | None = None
    """A video's face (a track): first and last seen, in seconds."""
    frame_s: float | None = None
    """A video's face: the time of its best frame (its box and thumbnail come from it)."""


@dataclass(frozen=True, slots=True)
class PhotoInfo:
    id: int
    path: str
    taken_at: datetime | None
    width: int | None
    height: int | None
    status: str
    media_kind: str = "photo"
    duration_s: float | None = None
    """A video's length in seconds."""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """``items`` from ``offset`` on, of ``total`` in all."""

    items: tuple[T, ...]
    total: int
    offset: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


# -- people ---------------------------------------------------------------------------------------


_PERSON_COLUMNS = (
    Person.id,
    Person.name,
    Person.face_count,
    Person.confirmed_count,
    Person.suggestion_count,
    Person.is_hidden,
    Person.cover_face_id,
)


def _first_faces(session: Session, person_ids: Sequence[int]) -> dict[int, int | None]:
    """person id -> its first confirmed face, else its first automatic one, else None: two index
    probes per person, inside one statement."""

    def first(kind: str) -> ScalarSelect[int]:
        return (
            select(Face.id)
            .where(Face.person_id == Person.id, Face.assignment == literal_column(f"'{kind}'"))
            .order_by(Face.photo_id, Face.id)
            .limit(1)
            .scalar_subquery()
        )

    out: dict[int, int | None] = {}
    for start in range(0, len(person_ids), CHUNK):
        chunk = person_ids[start : start + CHUNK]
        query = select(Person.id, first(Assignment.CONFIRMED), first(Assignment.AUTO)).where(
            Person.id.in_(chunk)
        )
        for pid, confirmed, auto in session.execute(query):
            out[pid] = confirmed if confirmed is not None else auto
    return out


def _chosen_covers(session: Session, rows: Sequence[Any]) -> set[int]:
    """The covers the user chose that still belong to their person."""
    chosen = {row[6]: row[0] for row in rows if row[6] is not None}
    still: set[int] = set()
    ids = list(chosen)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for face_id, person_id in session.execute(
            select(Face.id, Face.person_id).where(
                Face.id.in_(chunk), Face.assignment.in_(MEMBER_KINDS)
            )
        ):
            if chosen[face_id] == person_id:
                still.add(face_id)
    return still


def _summaries(session: Session, rows: Sequence[Any]) -> list[PersonSummary]:
    still = _chosen_covers(session, rows)
    return [
        PersonSummary(
            id=pid,
            name=name or None,
            faces=faces,
            confirmed=confirmed,
            suggestions=suggestions,
            is_hidden=bool(hidden),
            cover_face_id=cover if cover in still else None,
        )
        for pid, name, faces, confirmed, suggestions, hidden, cover in rows
    ]


def cover_faces(session: Session, person_ids: Iterable[int]) -> dict[int, int | None]:
    """person id -> the face to show for them: the cover the user chose while it still belongs
    to the person, else the person's first confirmed face, else its first face (None for a
    person without faces). Unknown ids are left out."""
    ids = list(dict.fromkeys(person_ids))
    rows: list[Any] = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows += session.execute(select(*_PERSON_COLUMNS).where(Person.id.in_(chunk))).all()
    still = _chosen_covers(session, rows)
    out: dict[int, int | None] = {row[0]: row[6] for row in rows if row[6] in still}
    out.update(_first_faces(session, [row[0] for row in rows if row[0] not in out]))
    return out


def _visible(include_hidden: bool, min_faces: int) -> list[ColumnElement[bool]]:
    named = and_(Person.name.is_not(None), Person.name != "")
    where = [or_(named, Person.face_count >= max(1, min_faces))]
    if not include_hidden:
        where.append(Person.is_hidden == false())
    return where


def list_people(
    session: Session,
    *,
    include_hidden: bool = False,
    min_faces: int = 1,
    offset: int = 0,
    limit: int | None = None,
) -> list[PersonSummary]:
    """The people grid: named people first (by name, ignoring case), then unnamed people by
    size (largest first); ``limit`` people from ``offset`` (all by default). Hidden people only
    when asked. Unnamed people with fewer than ``min_faces`` faces are left out (named people
    never are). Reads only the people table (the counts are kept there)."""
    unnamed = or_(Person.name.is_(None), Person.name == "")
    query = (
        select(*_PERSON_COLUMNS)
        .where(*_visible(include_hidden, min_faces))
        .order_by(
            unnamed,
            Person.name.collate("NOCASE"),
            Person.face_count.desc(),
            Person.id,
        )
        .offset(offset)
        .limit(-1 if limit is None else limit)
    )
    return _summaries(session, session.execute(query).all())


def count_people(session: Session, *, include_hidden: bool = False, min_faces: int = 1) -> int:
    """How many people :func:`list_people` would list in all."""
    query = select(func.count()).select_from(Person).where(*_visible(include_hidden, min_faces))
    return session.scalar(query) or 0


@dataclass(frozen=True, slots=True)
class PeopleCount:
    """The one count of people, for every front end (the People page, the status bar, ``status``).

    Every person is in exactly one of: ``shown`` (listed by :func:`list_people`: named, or an
    unnamed group of at least ``min_faces`` faces, and not hidden), ``hidden`` (the same, but
    hidden: listed only when asked) and ``small`` (unnamed groups of fewer faces, hidden or not:
    never listed; their faces wait for more look-alikes). ``named`` counts the shown people
    with a name."""

    shown: int
    named: int
    hidden: int
    small: int

    @property
    def total(self) -> int:
        return self.shown + self.hidden + self.small


def people_count(session: Session, *, min_faces: int = 1) -> PeopleCount:
    """How many people :func:`list_people` shows with these settings, and what it leaves out."""
    named = and_(Person.name.is_not(None), Person.name != "")  # as in list_people
    big = or_(named, Person.face_count >= max(1, min_faces))
    hidden = Person.is_hidden == true()

    def count(*where: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((and_(*where), 1), else_=0)), 0)

    row = session.execute(
        select(
            count(big, ~hidden),
            count(big, ~hidden, named),
            count(big, hidden),
            count(~big),
        ).select_from(Person)
    ).one()
    return PeopleCount(*(int(n) for n in row))


def get_person(session: Session, person_id: int) -> PersonSummary:
    """One person's summary; :class:`PeopleError` when there is no such person."""
    row = session.execute(select(*_PERSON_COLUMNS).where(Person.id == person_id)).one_or_none()
    if row is None:
        raise PeopleError(f"there is no person {person_id}")
    return _summaries(session, [row])[0]


def search_people(session: Session, text: str, *, limit: int = 20) -> list[PersonSummary]:
    """Named people whose name contains ``text`` (any case, any script): names that start with
    it first, then by name."""
    needle = text.strip().casefold()
    if not needle:
        return []
    named = session.execute(select(Person.id, Person.name).where(Person.name.is_not(None)))
    hits = [
        (0 if name.casefold().startswith(needle) else 1, name.casefold(), pid)
        for pid, name in named
        if name and needle in name.casefold()
    ]
    hits.sort()
    ids = [pid for _, _, pid in hits[:limit]]
    rows = {r.id: r for r in session.execute(select(*_PERSON_COLUMNS).where(Person.id.in_(ids)))}
    return _summaries(session, [rows[i] for i in ids])


def resolve_person(session: Session, text: str) -> int:
    """A person id from what a user typed: an id, or a name (any case). :class:`PeopleError`
    when nobody matches, or when several people share that name."""
    text = text.strip()
    if not text:
        raise PeopleError("a person id or name is needed")
    if text.isdigit():
        if session.get(Person, int(text)) is None:
            raise PeopleError(f"there is no person {text}")
        return int(text)
    wanted = text.casefold()
    matches = [
        pid
        for pid, name in session.execute(
            select(Person.id, Person.name).where(Person.name.is_not(None))
        )
        if name and name.strip().casefold() == wanted
    ]
    if not matches:
        raise PeopleError(f"nobody is named {text!r}")
    if len(matches) > 1:
        ids = ", ".join(str(i) for i in sorted(matches))
        raise PeopleError(f"{len(matches)} people are named {text!r} (ids {ids}); give an id")
    return matches[0]


def suggestion_count(session: Session, person_id: int) -> int:
    """How many suggestions for this person wait for the user's answer."""
    count = session.scalar(select(Person.suggestion_count).where(Person.id == person_id))
    if count is None:
        raise PeopleError(f"there is no person {person_id}")
    return int(count)


# -- faces ----------------------------------------------------------------------------------------


def _face_query() -> Any:
    return select(Face, Photo.path).join(Photo, Photo.id == Face.photo_id)


def _face_info(face: Face, path: str) -> FaceInfo:
    return FaceInfo(
        id=face.id,
        photo_id=face.photo_id,
        photo_path=path,
        box=(face.x1, face.y1, face.x2, face.y2),
        person_id=face.person_id,
        kind=face.assignment,
        confidence=face.assignment_confidence,
        is_ignored=face.is_ignored,
        det_score=face.det_score,
        track=(
            (face.track_start_s, face.track_end_s or face.track_start_s)
            if face.track_start_s is not None
            else None
        ),
        frame_s=face.frame_s,
    )


def _page(session: Session, query: Any, total: int, offset: int) -> Page:
    rows = session.execute(query).all()
    return Page(tuple(_face_info(f, p) for f, p in rows), total, offset)


def _check_paging(offset: int, limit: int) -> None:
    if offset < 0 or limit < 1:
        raise PeopleError(f"bad page: offset {offset}, limit {limit}")


def person_faces(
    session: Session,
    person_id: int,
    *,
    kinds: Sequence[str] = MEMBER_KINDS,
    offset: int = 0,
    limit: int = DEFAULT_PAGE,
) -> Page[FaceInfo]:
    """A page of a person's faces of the given ``kinds`` (default: confirmed and automatic;
    add ``"suggested"`` to include suggestions): suggested, then confirmed, then automatic
    faces, each newest photo first."""
    _check_paging(offset, limit)
    counts = session.execute(
        select(Person.face_count, Person.confirmed_count, Person.suggestion_count).where(
            Person.id == person_id
        )
    ).one_or_none()
    if counts is None:
        raise PeopleError(f"there is no person {person_id}")
    faces, confirmed, suggested = counts
    per_kind = {
        Assignment.CONFIRMED.value: confirmed,
        Assignment.AUTO.value: faces - confirmed,
        Assignment.SUGGESTED.value: suggested,
        Assignment.NONE.value: 0,
    }
    kinds = list(dict.fromkeys(Assignment(k).value for k in kinds))
    total = sum(per_kind[k] for k in kinds)
    where = and_(Face.person_id == person_id, Face.assignment.in_(kinds))
    order: list[Any] = [Face.assignment.desc(), Face.photo_id.desc(), Face.id.desc()]
    query = _face_query().where(where).order_by(*order).offset(offset).limit(limit)
    return _page(session, query, total, offset)


def unassigned_faces(
    session: Session, *, offset: int = 0, limit: int = DEFAULT_PAGE
) -> Page[FaceInfo]:
    """A page of the faces that belong to nobody and are not ignored, by photo."""
    _check_paging(offset, limit)
    nobody = and_(Face.person_id.is_(None), Face.assignment == Assignment.NONE)
    unassigned = session.scalar(select(func.count()).select_from(Face).where(nobody)) or 0
    ignored = session.scalar(
        select(func.count()).select_from(Face).where(Face.is_ignored == true())
    )
    total = unassigned - (ignored or 0)  # an ignored face never has a person
    query = (
        _face_query()
        .where(nobody, Face.is_ignored == false())
        .order_by(Face.photo_id.desc(), Face.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return _page(session, query, total, offset)


def ignored_faces(
    session: Session, *, offset: int = 0, limit: int = DEFAULT_PAGE
) -> Page[FaceInfo]:
    """A page of the faces the user ignored, newest first."""
    _check_paging(offset, limit)
    where = Face.is_ignored == true()
    total = session.scalar(select(func.count()).select_from(Face).where(where)) or 0
    query = _face_query().where(where).order_by(Face.id.desc()).offset(offset).limit(limit)
    return _page(session, query, total, offset)


def suggested_faces(
    session: Session,
    person_id: int | None = None,
    *,
    offset: int = 0,
    limit: int = DEFAULT_PAGE,
) -> Page[FaceInfo]:
    """A page of pending suggestions (of one person, or of everyone), surest first."""
    _check_paging(offset, limit)
    where = SUGGESTED  # a literal, so that the partial index applies
    if person_id is not None:
        if session.get(Person, person_id) is None:
            raise PeopleError(f"there is no person {person_id}")
        where = and_(where, Face.person_id == person_id)
    total = session.scalar(select(func.count()).select_from(Face).where(where)) or 0
    query = (
        _face_query()
        .where(where)
        .order_by(Face.assignment_confidence.desc(), Face.id)
        .offset(offset)
        .limit(limit)
    )
    return _page(session, query, total, offset)


def faces_by_id(session: Session, face_ids: Iterable[int]) -> list[FaceInfo]:
    """These faces, in the order given; :class:`PeopleError` names the first unknown id."""
    ids = list(dict.fromkeys(face_ids))
    found: dict[int, FaceInfo] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        for face, path in session.execute(_face_query().where(Face.id.in_(chunk))):
            found[face.id] = _face_info(face, path)
    for face_id in ids:
        if face_id not in found:
            raise PeopleError(f"there is no face {face_id}")
    return [found[i] for i in ids]


# -- photos ---------------------------------------------------------------------------------------


def photos_with_people(
    session: Session,
    person_ids: Iterable[int],
    *,
    offset: int = 0,
    limit: int = DEFAULT_PAGE,
) -> Page[PhotoInfo]:
    """A page of the photos in which ALL these people appear (their confirmed or automatic
    faces, or a photo-level tag: a person on a photo without a face box), in
    :data:`NEWEST_TAKEN_FIRST` order."""
    _check_paging(offset, limit)
    ids = list(dict.fromkeys(person_ids))
    if not ids:
        raise PeopleError("name at least one person")
    known = set(session.scalars(select(Person.id).where(Person.id.in_(ids))))
    for pid in ids:
        if pid not in known:
            raise PeopleError(f"there is no person {pid}")
    # one range of the (person_id, assignment, photo_id) index per person, and one of the
    # photo-level tags' (person_id, photo_id) index, united per person, intersected
    parts = []
    for pid in ids:
        each = union(
            select(Face.photo_id).where(Face.person_id == pid, Face.assignment.in_(MEMBER_KINDS)),
            select(PhotoPerson.photo_id).where(PhotoPerson.person_id == pid),
        ).subquery()
        parts.append(select(each.c.photo_id))
    both = (intersect(*parts) if len(parts) > 1 else parts[0]).subquery()
    total = session.scalar(select(func.count()).select_from(both)) or 0
    rows = session.scalars(
        select(Photo)
        .where(Photo.id.in_(select(both.c.photo_id)))
        .order_by(*NEWEST_TAKEN_FIRST)
        .offset(offset)
        .limit(limit)
    )
    items = tuple(
        PhotoInfo(p.id, p.path, p.taken_at, p.width, p.height, p.status, p.media_kind, p.duration_s)
        for p in rows
    )
    return Page(items, total, offset)
