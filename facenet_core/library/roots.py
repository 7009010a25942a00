"""The library's folders (roots): list them with their counts, add one, remove one.

Removing a folder takes everything of it out of the library (its photos, their faces, embeddings,
"not this person" marks, thumbnails, and the people left with no face at all) and never touches
the files on disk. Everything here returns plain frozen values, so the app can show them from any
thread.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from facenet_core.errors import UserError
from facenet_core.store import (
    Face,
    Library,
    Person,
    Photo,
    PhotoPerson,
    PhotoStatus,
    Root,
    status_counts,
)
from facenet_core.store.chunks import chunks
from facenet_core.thumbnails import remove_photo_thumbnails, remove_thumbnails

log = logging.getLogger(__name__)


class NoSuchFolder(UserError, LookupError):
    """The library has no folder of that id (removed meanwhile, or a wrong id)."""


@dataclass(frozen=True, slots=True)
class RootSummary:
    """One folder of the library with what it holds. ``exists``: the folder is on disk now."""

    id: int
    path: str
    added_at: datetime | None
    photos: int
    faces: int
    failed: int
    pending: int
    missing: int
    exists: bool


@dataclass(frozen=True, slots=True)
class FailedPhoto:
    """A photo that could not be processed, with the reason a person understands."""

    id: int
    path: str
    error: str


@dataclass(frozen=True, slots=True)
class RemovedRoot:
    """What removing a folder took out of the library."""

    path: str
    photos: int
    faces: int
    people: int


def normalise(path: Path | str) -> str:
    """A folder path as the scanner stores it (absolute, not resolved through links)."""
    return str(Path(os.path.abspath(os.path.expanduser(str(path)))))


def list_roots(library: Library) -> list[RootSummary]:
    """Every folder of the library, by path, with photo and face counts."""
    with library.session() as session:
        roots = session.execute(select(Root.id, Root.path, Root.added_at).order_by(Root.path)).all()
        by_status: dict[tuple[int | None, str], int] = {
            (rid, status): n
            for rid, status, n in session.execute(
                select(Photo.root_id, Photo.status, func.count())
                .where(Photo.root_id.is_not(None))
                .group_by(Photo.root_id, Photo.status)
            )
        }
        faces: dict[int | None, int] = {
            rid: n
            for rid, n in session.execute(
                select(Photo.root_id, func.count(Face.id))
                .join(Face, Face.photo_id == Photo.id)
                .where(Photo.root_id.is_not(None))
                .group_by(Photo.root_id)
            )
        }
    out = []
    for rid, path, added_at in roots:
        counts = {s: by_status.get((rid, s), 0) for s in PhotoStatus}
        out.append(
            RootSummary(
                id=rid,
                path=path,
                added_at=added_at,
                photos=sum(counts.values()),
                faces=faces.get(rid, 0),
                failed=counts[PhotoStatus.FAILED],
                pending=counts[PhotoStatus.PENDING],
                missing=counts[PhotoStatus.MISSING],
                exists=os.path.isdir(path),
            )
        )
    return out


def library_counts(library: Library) -> dict[str, int | str | None]:
    """The library's totals for a status bar (:func:`~facenet_core.store.status_counts`)."""
    with library.session() as session:
        return status_counts(session)


def add_root(library: Library, path: Path | str) -> int:
    """Add a folder to the library (nothing is scanned yet); returns its root id. Adding a folder
    twice is harmless. Raises :class:`NotADirectoryError` when ``path`` is not a folder."""
    folder = normalise(path)
    if not os.path.isdir(folder):
        raise NotADirectoryError(f"{folder}: not a folder")
    with library.write() as session:
        found = session.scalars(select(Root).where(Root.path == folder)).one_or_none()
        if found is None:
            found = Root(path=folder)
            session.add(found)
            session.flush()
        return found.id


def failed_photos(library: Library, limit: int = 1000) -> list[FailedPhoto]:
    """Photos that could not be processed, by path, with their reasons (at most ``limit``)."""
    with library.session() as session:
        rows = session.execute(
            select(Photo.id, Photo.path, Photo.error)
            .where(Photo.status == PhotoStatus.FAILED)
            .order_by(Photo.path)
            .limit(limit)
        ).all()
    return [FailedPhoto(pid, path, error or "could not be read") for pid, path, error in rows]


def remove_root(library: Library, root_id: int) -> RemovedRoot:
    """Take a folder and everything found in it out of the library; the files stay on disk.

    Removed: the folder's photos (and photos below its path that lost their folder), their faces
    with embeddings and "not this person" marks, the thumbnails, and every person left with no
    face. People who keep faces elsewhere stay, with a new cover face if theirs went.
    Raises :class:`LookupError` when there is no such folder."""
    with library.write() as session:
        root = session.get(Root, root_id)
        if root is None:
            raise NoSuchFolder(f"no folder with id {root_id} in the library")
        path = root.path
        below = os.path.join(path, "")
        photo_ids = list(
            session.scalars(
                select(Photo.id).where(
                    or_(
                        Photo.root_id == root_id,
                        and_(
                            Photo.root_id.is_(None),
                            Photo.path.startswith(below, autoescape=True),
                        ),
                    )
                )
            )
        )
        face_ids: list[int] = []
        people: set[int] = set()
        for chunk in chunks(photo_ids):
            for fid, pid in session.execute(
                select(Face.id, Face.person_id).where(Face.photo_id.in_(chunk))
            ):
                face_ids.append(fid)
                if pid is not None:
                    people.add(pid)
        for chunk in chunks(photo_ids):  # people on these photos without a face box
            people.update(
                session.scalars(
                    select(PhotoPerson.person_id).where(PhotoPerson.photo_id.in_(chunk))
                )
            )
        for chunk in chunks(face_ids):
            # embeddings and rejections go with their faces (ON DELETE CASCADE); covers are
            # cleared (ON DELETE SET NULL)
            session.execute(delete(Face).where(Face.id.in_(chunk)))
        for chunk in chunks(photo_ids):
            session.execute(delete(Photo).where(Photo.id.in_(chunk)))
        session.execute(delete(Root).where(Root.id == root_id))
        emptied = _tidy_people(session, sorted(people))
    remove_thumbnails(library.thumbnails_dir, face_ids)
    remove_photo_thumbnails(library.thumbnails_dir, photo_ids)
    log.info(
        "removed folder %s: %d photos, %d faces, %d people",
        path,
        len(photo_ids),
        len(face_ids),
        emptied,
    )
    return RemovedRoot(path=path, photos=len(photo_ids), faces=len(face_ids), people=emptied)


def _tidy_people(session: Session, person_ids: list[int]) -> int:
    """Delete the people among ``person_ids`` left with no face (and on no photo without a
    face box); give the others a cover."""
    emptied = 0
    for chunk in chunks(person_ids):
        counts = dict(
            session.execute(
                select(Face.person_id, func.count())
                .where(Face.person_id.in_(chunk))
                .group_by(Face.person_id)
            ).all()
        )
        tagged = set(
            session.scalars(select(PhotoPerson.person_id).where(PhotoPerson.person_id.in_(chunk)))
        )
        gone = [pid for pid in chunk if not counts.get(pid) and pid not in tagged]
        if gone:
            session.execute(delete(Person).where(Person.id.in_(gone)))
            emptied += len(gone)
        for pid in chunk:
            if counts.get(pid):
                session.execute(
                    update(Person)
                    .where(Person.id == pid, Person.cover_face_id.is_(None))
                    .values(
                        cover_face_id=select(func.min(Face.id))
                        .where(Face.person_id == pid, Face.is_ignored.is_(False))
                        .scalar_subquery()
                    )
                )
    return emptied
