"""The undo history of the user's edits: before-images, undo and redo.

Every edit (:mod:`.edits`) writes through a :class:`Recorder`, in the edit's own transaction.

Undo: every edit writes the *before-image* of each row it changes (people, faces, rejections)
into the history tables (:class:`~facenet_core.store.Edit` and its children); :func:`undo`
writes the newest entry's rows back and deletes it, and can be repeated down to the oldest of
the last :data:`HISTORY_DEPTH` edits. A person the edit deleted comes back with the same id; a
person it created goes again. If an automatic run deleted a person since, faces that belonged
to it come back unassigned.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, exists, insert, literal, select, text, update
from sqlalchemy.orm import Session

from facenet_core.people import photo_rows
from facenet_core.people.errors import PeopleError
from facenet_core.people.face_rows import existing_people, face_row, insert_face_row
from facenet_core.people.sidecar_sync import keeps_sidecars
from facenet_core.store import (
    Edit,
    EditFace,
    EditPerson,
    EditRejection,
    Face,
    FaceRejection,
    Library,
    Person,
)
from facenet_core.store.chunks import chunks

log = logging.getLogger(__name__)

HISTORY_DEPTH = 50
"""Edits kept for undo (the oldest beyond this are forgotten)."""

REDO_PREFIX = "redo:"
"""History entries whose kind starts with this are undone edits, kept for Redo: their rows are
the *after*-image (the state the edit had made), written back by :func:`redo`. Any new edit
forgets them, as in every editor."""


@dataclass(frozen=True, slots=True)
class Change:
    """What one edit (or undo) did.

    ``kind`` names the edit (``"name"``, ``"merge"``, ``"move"``, ``"remove"``, ``"confirm"``,
    ``"reject"``, ``"ignore"``, ``"unignore"``, ``"hide"``, ``"unhide"``, ``"cover"``,
    ``"undo"``), ``summary`` says it in one line, ``people`` and ``faces`` are the ids touched
    (created and deleted people included), ``person_id`` is the person the edit was about (the
    one named, merged into, moved to or created; None for undo and for edits of faces alone),
    ``edit_id`` the history entry undo would revert (None when nothing changed, and for
    undo itself) and ``photos`` the photos whose photo-level people (a person on a photo
    without a face box) the edit added or removed."""

    kind: str
    summary: str
    people: frozenset[int] = frozenset()
    faces: frozenset[int] = frozenset()
    person_id: int | None = None
    edit_id: int | None = None
    photos: frozenset[int] = frozenset()

    @property
    def changed(self) -> bool:
        return bool(self.people or self.faces or self.photos)


class Recorder:
    """Writes the before-image of every row an edit changes, once per row (the first write
    wins: it is the state before the edit), and at the end keeps the history entry (or drops
    it when nothing changed). The edits build on it (:class:`~.edits._Edit`); undo and redo use
    it to record the state they are about to replace."""

    def __init__(self, session: Session, kind: str, *, clear_redo: bool = True) -> None:
        self.session = session
        self.kind = kind
        if clear_redo:  # a new edit makes what was undone before it impossible to redo
            session.execute(delete(Edit).where(Edit.kind.startswith(REDO_PREFIX)))
        edit = Edit(kind=kind, summary="")
        session.add(edit)
        session.flush()
        self.edit_id = edit.id
        self.people: set[int] = set()
        self.faces: set[int] = set()
        self.rejections: set[tuple[int, int]] = set()
        self.photo_people: set[tuple[int, int]] = set()
        self.face_rows: dict[str, list[dict[str, Any]]] = {"created": [], "deleted": []}

    # -- whole faces (drawn by hand) -------------------------------------------------------------

    def created_face(self, face_id: int) -> None:
        """Remember that the edit made this face (flushed, with its labels as the edit leaves
        them): undo deletes it, redo writes it back."""
        self.face_rows["created"].append(face_row(self.session, face_id))

    def delete_face(self, face_id: int) -> None:
        """Delete a face, remembering all of it (labels, rejections, embeddings, the people it
        was the cover of) so that undo writes it back with its id."""
        self.face_rows["deleted"].append(face_row(self.session, face_id))
        self.session.execute(delete(Face).where(Face.id == face_id))

    # -- before-images -------------------------------------------------------------------------

    def person(self, person_id: int) -> None:
        """Remember the person as it is now (it exists)."""
        if person_id in self.people:
            return
        self.people.add(person_id)
        self.session.execute(
            insert(EditPerson).from_select(
                [
                    "edit_id",
                    "person_id",
                    "existed",
                    "name",
                    "is_hidden",
                    "cover_face_id",
                    "created_at",
                ],
                select(
                    literal(self.edit_id),
                    Person.id,
                    literal(True),
                    Person.name,
                    Person.is_hidden,
                    Person.cover_face_id,
                    Person.created_at,
                ).where(Person.id == person_id),
            )
        )

    def created(self, person_id: int) -> None:
        """Remember that the person did not exist before this edit."""
        self.people.add(person_id)
        self.session.execute(
            insert(EditPerson).values(
                edit_id=self.edit_id, person_id=person_id, existed=False, is_hidden=False
            )
        )

    def faces_where(self, *where: Any) -> list[int]:
        """Remember the faces matching ``where`` (a face already remembered keeps its first
        before-image); returns all their ids."""
        self._remember(*where)
        ids = list(self.session.scalars(select(Face.id).where(*where)))
        self.faces.update(ids)
        return ids

    def face_ids(self, ids: Iterable[int]) -> None:
        new = [i for i in dict.fromkeys(ids) if i not in self.faces]
        self.faces.update(new)
        for chunk in chunks(new):
            self._remember(Face.id.in_(chunk))

    def _remember(self, *where: Any) -> None:
        self.session.execute(
            insert(EditFace)
            .prefix_with("OR IGNORE")
            .from_select(
                [
                    "edit_id",
                    "face_id",
                    "person_id",
                    "assignment",
                    "assignment_confidence",
                    "is_ignored",
                ],
                select(
                    literal(self.edit_id),
                    Face.id,
                    Face.person_id,
                    Face.assignment,
                    Face.assignment_confidence,
                    Face.is_ignored,
                ).where(*where),
            )
        )

    def rejection(self, face_id: int, person_id: int) -> None:
        """Remember whether the face is rejected from the person now."""
        if (face_id, person_id) in self.rejections:
            return
        self.rejections.add((face_id, person_id))
        existed = self.session.scalar(
            select(
                exists().where(
                    FaceRejection.face_id == face_id, FaceRejection.person_id == person_id
                )
            )
        )
        self.session.execute(
            insert(EditRejection).values(
                edit_id=self.edit_id, face_id=face_id, person_id=person_id, existed=bool(existed)
            )
        )

    def photo_person(self, photo_id: int, person_id: int) -> None:
        """Remember whether the person is on the photo without a face box now (and who said
        so)."""
        if (photo_id, person_id) in self.photo_people:
            return
        self.photo_people.add((photo_id, person_id))
        photo_rows.remember(self.session, self.edit_id, photo_id, person_id)

    def photo_people_of(self, person_id: int) -> list[int]:
        """Remember every photo-level tag of the person; returns those photos' ids."""
        photos = photo_rows.tags_of(self.session, person_id)
        for photo_id in photos:
            self.photo_person(photo_id, person_id)
        return photos

    # -- the end ---------------------------------------------------------------------------------

    def finish(self, summary: str, person_id: int | None = None) -> Change:
        """Keep the history entry (or drop it if nothing changed) and say what changed."""
        changed_faces = self._really_changed_faces()
        changed_people = set(self.people)
        whole = {r["id"] for rows in self.face_rows.values() for r in rows}
        if (
            not changed_faces
            and not changed_people
            and not whole
            and not self._rejections_changed()
            and not self._photo_people_changed()
        ):
            self.session.execute(delete(Edit).where(Edit.id == self.edit_id))
            return Change(self.kind, "nothing to change", person_id=person_id)
        rows = self.face_rows if whole else None
        self.session.execute(
            update(Edit).where(Edit.id == self.edit_id).values(summary=summary, face_rows=rows)
        )
        keep = select(Edit.id).order_by(Edit.id.desc()).limit(HISTORY_DEPTH).scalar_subquery()
        self.session.execute(delete(Edit).where(Edit.id.not_in(keep)))
        touched = changed_faces | {f for f, _ in self.rejections} | whole
        people = changed_people | {p for _, p in self.rejections}
        tagged = self._photo_people_changed()
        people.update(p for _, p in tagged)
        for made in self.face_rows.values():
            people.update(r["person_id"] for r in made if r["person_id"] is not None)
        log.info("edit %d: %s", self.edit_id, summary)
        return Change(
            self.kind,
            summary,
            frozenset(people),
            frozenset(touched),
            person_id=person_id,
            edit_id=self.edit_id,
            photos=frozenset(photo for photo, _ in tagged),
        )

    def _photo_people_changed(self) -> set[tuple[int, int]]:
        """The (photo, person) tags that differ from their before-image, in one query."""
        return photo_rows.changed(self.session, self.edit_id) if self.photo_people else set()

    def _really_changed_faces(self) -> set[int]:
        """Faces whose row differs from its before-image (the others' entries are dropped)."""
        self.session.execute(_DROP_UNCHANGED, {"edit": self.edit_id})
        return set(
            self.session.scalars(select(EditFace.face_id).where(EditFace.edit_id == self.edit_id))
        )

    def _rejections_changed(self) -> bool:
        for face_id, person_id in self.rejections:
            now = self.session.scalar(
                select(
                    exists().where(
                        FaceRejection.face_id == face_id, FaceRejection.person_id == person_id
                    )
                )
            )
            before = self.session.scalar(
                select(EditRejection.existed).where(
                    EditRejection.edit_id == self.edit_id,
                    EditRejection.face_id == face_id,
                    EditRejection.person_id == person_id,
                )
            )
            if bool(now) != bool(before):
                return True
        return False


# -- undo -----------------------------------------------------------------------------------------


@keeps_sidecars
def undo(library: Library) -> Change:
    """Revert the newest edit in the history exactly, and forget it (it can be redone with
    :func:`redo` until another edit is made). Repeatable; PeopleError when there is nothing
    left to undo."""
    with library.write() as session:
        edit = session.execute(
            select(Edit.id, Edit.kind, Edit.summary, Edit.face_rows)
            .where(~Edit.kind.startswith(REDO_PREFIX))
            .order_by(Edit.id.desc())
            .limit(1)
        ).one_or_none()
        if edit is None:
            raise PeopleError("nothing to undo")
        # the state the edit made, for Redo, before it is reverted
        after = Recorder(session, REDO_PREFIX + edit.kind, clear_redo=False)
        _image_of(session, edit.id, after)
        whole = edit.face_rows or {}
        made = [
            face_row(session, r["id"])
            for r in whole.get("created", [])
            if session.get(Face, r["id"]) is not None
        ]
        gone = list(whole.get("deleted", []))
        session.execute(delete(Face).where(Face.id.in_([r["id"] for r in made])))
        photos = frozenset(t.photo_id for t in photo_rows.held(session, edit.id))
        people, faces = _restore(session, edit.id)
        for row in gone:
            insert_face_row(session, row)
        touched = frozenset(r["id"] for r in made + gone)
        session.execute(
            update(Edit)
            .where(Edit.id == after.edit_id)
            .values(
                summary=edit.summary,
                face_rows={"created": made, "deleted": gone} if touched else None,
            )
        )
        session.execute(delete(Edit).where(Edit.id == edit.id))
        summary = f"undid: {edit.summary}"
        log.info("%s", summary)
        return Change("undo", summary, people, faces | touched, photos=photos)


@keeps_sidecars
def redo(library: Library) -> Change:
    """Make again the edit undone last (what Redo offers); it goes back on the undo history.
    PeopleError when there is nothing to redo (nothing undone, or an edit made since)."""
    with library.write() as session:
        entry = session.execute(
            select(Edit.id, Edit.kind, Edit.summary, Edit.face_rows)
            .where(Edit.kind.startswith(REDO_PREFIX))
            .order_by(Edit.id.desc())
            .limit(1)
        ).one_or_none()
        if entry is None:
            raise PeopleError("nothing to redo")
        kind = entry.kind[len(REDO_PREFIX) :]
        before = Recorder(session, kind, clear_redo=False)
        _image_of(session, entry.id, before)
        whole = entry.face_rows or {}
        for row in whole.get("deleted", []):
            if session.get(Face, row["id"]) is not None:
                before.delete_face(row["id"])
        _restore(session, entry.id)
        for row in whole.get("created", []):
            insert_face_row(session, row)
            before.face_rows["created"].append(row)
        session.execute(delete(Edit).where(Edit.id == entry.id))
        change = before.finish(entry.summary)
        summary = f"redid: {entry.summary}"
        log.info("%s", summary)
        return dataclasses.replace(change, kind="redo", summary=summary)


def redo_summary(session: Session) -> str:
    """What Redo would make again ("" for nothing)."""
    found = session.scalar(
        select(Edit.summary)
        .where(Edit.kind.startswith(REDO_PREFIX))
        .order_by(Edit.id.desc())
        .limit(1)
    )
    return found or ""


def _image_of(session: Session, edit_id: int, recorder: Recorder) -> None:
    """Record in ``recorder`` the current state of every row history entry ``edit_id`` holds."""
    for person_id in session.scalars(
        select(EditPerson.person_id).where(EditPerson.edit_id == edit_id)
    ).all():
        if session.get(Person, person_id) is not None:
            recorder.person(person_id)
        else:  # gone now: restoring this image deletes it again
            recorder.created(person_id)
    recorder.face_ids(
        session.scalars(select(EditFace.face_id).where(EditFace.edit_id == edit_id)).all()
    )
    for face_id, person_id in session.execute(
        select(EditRejection.face_id, EditRejection.person_id).where(
            EditRejection.edit_id == edit_id
        )
    ).all():
        recorder.rejection(face_id, person_id)
    for tag in photo_rows.held(session, edit_id):
        recorder.photo_person(tag.photo_id, tag.person_id)


def _restore(session: Session, edit_id: int) -> tuple[frozenset[int], frozenset[int]]:
    """Write back the rows history entry ``edit_id`` holds; returns the people and the faces
    touched."""
    people = session.execute(
        select(
            EditPerson.person_id,
            EditPerson.existed,
            EditPerson.name,
            EditPerson.is_hidden,
            EditPerson.cover_face_id,
            EditPerson.created_at,
        ).where(EditPerson.edit_id == edit_id)
    ).all()
    faces = session.execute(
        select(
            EditFace.face_id,
            EditFace.person_id,
            EditFace.assignment,
            EditFace.assignment_confidence,
            EditFace.is_ignored,
        ).where(EditFace.edit_id == edit_id)
    ).all()
    rejections = session.execute(
        select(EditRejection.face_id, EditRejection.person_id, EditRejection.existed).where(
            EditRejection.edit_id == edit_id
        )
    ).all()
    tags = photo_rows.held(session, edit_id)
    existing = existing_people(
        session,
        {p.person_id for p in people}
        | {f.person_id for f in faces if f.person_id is not None}
        | {r.person_id for r in rejections}
        | {t.person_id for t in tags},
    )
    # 1. people the edit deleted come back, with their ids
    for p in people:
        if p.existed and p.person_id not in existing:
            values: dict[str, Any] = {
                "id": p.person_id,
                "name": p.name,
                "is_hidden": p.is_hidden,
            }
            if p.created_at is not None:
                values["created_at"] = p.created_at
            session.execute(insert(Person).values(**values))
            existing.add(p.person_id)
    # 2. faces as they were (a person deleted since by an automatic run: unassigned), in
    #    two statements whatever the number of faces
    session.execute(_RESTORE_FACES, {"edit": edit_id})
    session.execute(_RESTORE_FACES_OF_GONE_PEOPLE, {"edit": edit_id})
    # 3. rejections as they were
    for r in rejections:
        if r.existed and r.person_id in existing:
            session.execute(
                insert(FaceRejection)
                .prefix_with("OR IGNORE")
                .values(face_id=r.face_id, person_id=r.person_id)
            )
        elif not r.existed:
            session.execute(
                delete(FaceRejection).where(
                    FaceRejection.face_id == r.face_id,
                    FaceRejection.person_id == r.person_id,
                )
            )
    # 3b. people on photos without a face box, as they were
    photo_rows.restore(session, tags, existing)
    # 4. people's names, flags and covers as they were; people the edit created go
    for p in people:
        if p.existed:
            cover: int | None = p.cover_face_id
            if cover is not None and session.get(Face, cover) is None:
                cover = None
            session.execute(
                update(Person)
                .where(Person.id == p.person_id)
                .values(name=p.name, is_hidden=p.is_hidden, cover_face_id=cover)
            )
        else:
            session.execute(delete(Person).where(Person.id == p.person_id))
    touched_people = (
        frozenset(p.person_id for p in people)
        | frozenset(r.person_id for r in rejections)
        | frozenset(f.person_id for f in faces if f.person_id is not None)
        | frozenset(t.person_id for t in tags)
    )
    touched_faces = frozenset(f.face_id for f in faces) | frozenset(r.face_id for r in rejections)
    return touched_people, touched_faces


_DROP_UNCHANGED = text(
    """
    DELETE FROM edit_faces WHERE edit_id = :edit AND EXISTS (
        SELECT 1 FROM faces f WHERE f.id = edit_faces.face_id
            AND f.person_id IS edit_faces.person_id AND f.assignment = edit_faces.assignment
            AND f.assignment_confidence IS edit_faces.assignment_confidence
            AND f.is_ignored = edit_faces.is_ignored)
    """
)
"""An edit keeps only the before-images of faces it really changed."""

_RESTORE_FACES = text(
    """
    UPDATE faces SET person_id = ef.person_id, assignment = ef.assignment,
        assignment_confidence = ef.assignment_confidence, is_ignored = ef.is_ignored
    FROM edit_faces AS ef
    WHERE ef.edit_id = :edit AND faces.id = ef.face_id
        AND (ef.person_id IS NULL OR EXISTS (SELECT 1 FROM people WHERE id = ef.person_id))
    """
)
_RESTORE_FACES_OF_GONE_PEOPLE = text(
    """
    UPDATE faces SET person_id = NULL, assignment = 'none', assignment_confidence = NULL,
        is_ignored = ef.is_ignored
    FROM edit_faces AS ef
    WHERE ef.edit_id = :edit AND faces.id = ef.face_id AND ef.person_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM people WHERE id = ef.person_id)
    """
)
"""Undo's face restore (SQLite's UPDATE ... FROM, 3.33 and later)."""


def follow_faces(session: Session, renamed: Mapping[int, int]) -> None:
    """A changed photo was detected again and face ``old`` is now face ``new``: its history
    entries and any cover choice follow it, so undo and covers keep working. Call before the old
    faces are deleted (their history would go with them)."""
    for old, new in renamed.items():
        session.execute(update(EditFace).where(EditFace.face_id == old).values(face_id=new))
        session.execute(
            update(EditRejection).where(EditRejection.face_id == old).values(face_id=new)
        )
        session.execute(
            update(EditPerson).where(EditPerson.cover_face_id == old).values(cover_face_id=new)
        )
        session.execute(update(Person).where(Person.cover_face_id == old).values(cover_face_id=new))
