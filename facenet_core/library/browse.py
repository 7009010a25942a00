"""Browsing the library's photos: every photo a page at a time, and one photo with its faces
and who they are (the app's photo grid and viewer). Plain frozen values, like
:mod:`facenet_core.people.queries`, whose ``Page``, ``PhotoInfo`` and ``FaceInfo`` they use."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facenet_core.people.errors import PeopleError
from facenet_core.people.queries import NEWEST_TAKEN_FIRST, FaceInfo, Page, PhotoInfo, faces_by_id
from facenet_core.store import Face, Person, Photo, PhotoStatus


@dataclass(frozen=True, slots=True)
class NamedFace:
    """A face in a photo with its person's name (None: unnamed or nobody)."""

    face: FaceInfo
    person_name: str | None


@dataclass(frozen=True, slots=True)
class PhotoFaces:
    photo: PhotoInfo
    faces: tuple[NamedFace, ...]


def _info(p: Photo) -> PhotoInfo:
    return PhotoInfo(
        p.id, p.path, p.taken_at, p.width, p.height, p.status, p.media_kind, p.duration_s
    )


def all_photos(session: Session, *, offset: int = 0, limit: int = 200) -> Page[PhotoInfo]:
    """A page of the photos that were read (done), in :data:`NEWEST_TAKEN_FIRST` order."""
    if offset < 0 or limit < 1:
        raise PeopleError(f"bad page: offset {offset}, limit {limit}")
    where = Photo.status == PhotoStatus.DONE
    total = session.scalar(select(func.count()).select_from(Photo).where(where)) or 0
    rows = session.scalars(
        select(Photo).where(where).order_by(*NEWEST_TAKEN_FIRST).offset(offset).limit(limit)
    ).all()
    return Page(tuple(_info(p) for p in rows), total, offset)


def photo_faces(session: Session, photo_id: int) -> PhotoFaces:
    """One photo and its faces (left to right), each with its person's name."""
    photo = session.get(Photo, photo_id)
    if photo is None:
        raise PeopleError(f"there is no photo {photo_id}")
    ids = list(session.scalars(select(Face.id).where(Face.photo_id == photo_id).order_by(Face.x1)))
    faces = faces_by_id(session, ids)
    people = {f.person_id for f in faces if f.person_id is not None}
    names = (
        dict(session.execute(select(Person.id, Person.name).where(Person.id.in_(people))).all())
        if people
        else {}
    )
    named = tuple(
        NamedFace(f, names.get(f.person_id) if f.person_id is not None else None) for f in faces
    )
    return PhotoFaces(_info(photo), named)
