"""The traces an edit history keeps of faces and people, found and removed: forgetting them
(:mod:`facenet_core.library.forget`) must leave no entry of the undo history (:mod:`.history`)
that names them, photo-level tags (:mod:`.photo_people`) included."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from facenet_core.store import Edit, EditFace, EditPerson, EditPhotoPerson, EditRejection
from facenet_core.store.chunks import chunks


def edits_touching(
    session: Session, face_ids: Sequence[int], person_ids: Sequence[int]
) -> set[int]:
    """Ids of every history entry whose record names one of these faces or people: forgetting
    them (:mod:`facenet_core.library.forget`) must leave no trace of them in the history."""
    queries = []
    if person_ids:
        queries += [
            select(EditPerson.edit_id).where(EditPerson.person_id.in_(person_ids)),
            select(EditFace.edit_id).where(EditFace.person_id.in_(person_ids)),
            select(EditRejection.edit_id).where(EditRejection.person_id.in_(person_ids)),
            select(EditPhotoPerson.edit_id).where(EditPhotoPerson.person_id.in_(person_ids)),
        ]
    for chunk in chunks(face_ids):
        queries += [
            select(EditFace.edit_id).where(EditFace.face_id.in_(chunk)),
            select(EditRejection.edit_id).where(EditRejection.face_id.in_(chunk)),
        ]
    found: set[int] = set()
    for query in queries:
        found.update(session.scalars(query))
    return found


def delete_edits(session: Session, edit_ids: Iterable[int]) -> None:
    """Delete these history entries (their before-images go with them)."""
    for chunk in chunks(sorted(edit_ids)):
        session.execute(delete(Edit).where(Edit.id.in_(chunk)))
