"""The undo history's rows for photo-level people (a person on a photo without a face box):
their before-images in :class:`~facenet_core.store.EditPhotoPerson` (``source`` NULL: no tag),
which tags an edit really changed, and writing them back. :mod:`.history` calls these, as it
calls :mod:`.face_rows` for whole faces."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, insert, select
from sqlalchemy.orm import Session

from facenet_core.store import EditPhotoPerson, PhotoPerson


def remember(session: Session, edit_id: int, photo_id: int, person_id: int) -> None:
    """Write the tag's before-image (its source now, or NULL when there is none)."""
    source = session.scalar(
        select(PhotoPerson.source).where(
            PhotoPerson.photo_id == photo_id, PhotoPerson.person_id == person_id
        )
    )
    session.execute(
        insert(EditPhotoPerson).values(
            edit_id=edit_id, photo_id=photo_id, person_id=person_id, source=source
        )
    )


def tags_of(session: Session, person_id: int) -> list[int]:
    """The photos the person is tagged on."""
    return list(
        session.scalars(select(PhotoPerson.photo_id).where(PhotoPerson.person_id == person_id))
    )


def changed(session: Session, edit_id: int) -> set[tuple[int, int]]:
    """The (photo, person) tags of history entry ``edit_id`` that differ now from their
    before-image, in one query."""
    rows = session.execute(
        select(
            EditPhotoPerson.photo_id,
            EditPhotoPerson.person_id,
            EditPhotoPerson.source,
            PhotoPerson.source,
        )
        .outerjoin(
            PhotoPerson,
            and_(
                PhotoPerson.photo_id == EditPhotoPerson.photo_id,
                PhotoPerson.person_id == EditPhotoPerson.person_id,
            ),
        )
        .where(EditPhotoPerson.edit_id == edit_id)
    )
    return {(photo, person) for photo, person, before, now in rows if before != now}


def held(session: Session, edit_id: int) -> Sequence[Any]:
    """The before-images history entry ``edit_id`` holds: rows of photo, person, source."""
    return session.execute(
        select(EditPhotoPerson.photo_id, EditPhotoPerson.person_id, EditPhotoPerson.source).where(
            EditPhotoPerson.edit_id == edit_id
        )
    ).all()


def restore(session: Session, tags: Sequence[Any], existing: set[int]) -> None:
    """Write the before-images ``tags`` back (a tag of a person that no longer exists stays
    away)."""
    for t in tags:
        if t.source is not None and t.person_id in existing:
            session.execute(
                insert(PhotoPerson)
                .prefix_with("OR REPLACE")
                .values(photo_id=t.photo_id, person_id=t.person_id, source=t.source)
            )
        elif t.source is None:
            session.execute(
                delete(PhotoPerson).where(
                    PhotoPerson.photo_id == t.photo_id, PhotoPerson.person_id == t.person_id
                )
            )
