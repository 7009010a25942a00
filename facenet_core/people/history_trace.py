"""Reading the undo history (:mod:`.history`): the list of edits, newest first (what Undo
reverts), and the traces it keeps of faces and people, found and removed: forgetting them
(:mod:`facenet_core.library.forget`) must leave no entry that names them, photo-level tags
(:mod:`.photo_people`) included."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from facenet_core.people.history import REDO_PREFIX
from facenet_core.store import Edit, EditFace, EditPerson, EditPhotoPerson, EditRejection
from facenet_core.store.chunks import chunks


@dataclass(frozen=True, slots=True)
class EditInfo:
    """One entry of the edit history (newest first): what Undo would revert."""

    id: int
    kind: str
    summary: str
    created_at: datetime


def edit_history(session: Session, *, limit: int = 50) -> list[EditInfo]:
    """The most recent edits, newest first: the first is what Undo reverts."""
    undone = Edit.kind.startswith(REDO_PREFIX)  # kept for Redo, not edits to undo
    rows = session.scalars(select(Edit).where(~undone).order_by(Edit.id.desc()).limit(limit))
    return [EditInfo(e.id, e.kind, e.summary, e.created_at) for e in rows]


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
