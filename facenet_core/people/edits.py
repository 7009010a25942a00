"""The user's edits of people: each one transaction, each undoable, the user's word is law.

Every public function here takes the open :class:`~facenet_core.store.Library`, checks its
request first (an unknown id, an empty name, merging a person with itself... raise
:class:`~facenet_core.people.errors.PeopleError` with a one-line message and change nothing),
then makes the whole edit in one transaction and returns a :class:`Change`: which people and
faces it touched. An edit that would change nothing returns an empty change and leaves no
history entry.

The rules (the automatic runs in :mod:`.jobs` never undo them):

- Moving faces to a person, merging people, naming, hiding and choosing a cover all make the
  faces concerned *confirmed*: a person-level decision confirms the faces the user saw in that
  person (its automatic ones; pending suggestions stay suggestions). Confirmed faces never move
  by themselves again.
- "Not this person" (:func:`remove_faces`, :func:`reject_suggestions`) records a
  :class:`~facenet_core.store.FaceRejection` and leaves the face unassigned; no automatic run
  ever gives it to that person again. Moving a face to a person lifts its rejection of that
  person (the user's latest word wins).
- Ignoring a face takes it out of its person; clustering and recognition leave ignored faces
  alone.
- An edit that leaves an unnamed, visible person without any face deletes that person.

Undo and redo live in :mod:`.history` (every edit records the before-image of what it changes
there); they are re-exported here, where the app and the command line find every edit.

Writes go through SQL statements, not ORM objects, so that confirming or merging people with
tens of thousands of faces stays fast; per-person face counts follow through triggers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, exists, insert, literal, select, update
from sqlalchemy.orm import Session

from facenet_core.people.errors import PeopleError
from facenet_core.people.history import (
    HISTORY_DEPTH,
    REDO_PREFIX,
    Change,
    Recorder,
    follow_faces,
    redo,
    redo_summary,
    undo,
)
from facenet_core.people.sidecar_sync import keeps_sidecars
from facenet_core.store import (
    Assignment,
    Face,
    FaceRejection,
    FaceTagSource,
    Library,
    Person,
    PhotoPerson,
)
from facenet_core.store.chunks import chunks

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 200

NONE, AUTO, SUGGESTED, CONFIRMED = (
    Assignment.NONE.value,
    Assignment.AUTO.value,
    Assignment.SUGGESTED.value,
    Assignment.CONFIRMED.value,
)


def _label(name: str | None, person_id: int) -> str:
    return f'"{name}" (#{person_id})' if name else f"person #{person_id}"


def _faces_word(n: int) -> str:
    return f"{n} face" if n == 1 else f"{n} faces"


class _Edit(Recorder):
    """An edit in progress: the changes edits have in common, each recording its
    before-image first."""

    def reject(self, face_id: int, person_id: int) -> None:
        self.rejection(face_id, person_id)
        self.session.execute(
            insert(FaceRejection)
            .prefix_with("OR IGNORE")
            .values(face_id=face_id, person_id=person_id)
        )

    def lift_rejection(self, face_id: int, person_id: int) -> None:
        self.rejection(face_id, person_id)
        self.session.execute(
            delete(FaceRejection).where(
                FaceRejection.face_id == face_id, FaceRejection.person_id == person_id
            )
        )

    def set_faces(self, ids: Sequence[int], **values: Any) -> None:
        """Give the faces ``values`` (their before-image is written first)."""
        self.face_ids(ids)
        if "person_id" in values and values["person_id"] is None:
            values.setdefault("assignment", NONE)
            values.setdefault("assignment_confidence", None)
        for chunk in chunks(list(ids)):
            self.session.execute(update(Face).where(Face.id.in_(chunk)).values(**values))

    def confirm_automatic(self, person_id: int) -> list[int]:
        """Confirm the person's automatic faces (the user decided about the whole person)."""
        ids = self.faces_where(Face.person_id == person_id, Face.assignment == AUTO)
        self.set_faces(ids, assignment=CONFIRMED, assignment_confidence=None)
        return ids

    def delete_person(self, person_id: int) -> None:
        """Delete a person (its faces become unassigned, its rejections and photo-level tags
        go with it)."""
        self.person(person_id)
        self.faces_where(Face.person_id == person_id)
        self.photo_people_of(person_id)
        for face_id in self.session.scalars(
            select(FaceRejection.face_id).where(FaceRejection.person_id == person_id)
        ).all():
            self.rejection(face_id, person_id)
        self.session.execute(delete(Person).where(Person.id == person_id))

    def drop_if_empty(self, person_ids: Iterable[int]) -> None:
        """Delete the unnamed, visible people among ``person_ids`` left without any face (and
        on no photo without a face box)."""
        for pid in sorted(set(person_ids)):
            row = self.session.execute(
                select(
                    Person.name, Person.is_hidden, Person.face_count, Person.suggestion_count
                ).where(Person.id == pid)
            ).one_or_none()
            if row is None:
                continue
            name, hidden, faces, suggestions = row
            tagged = self.session.scalar(select(exists().where(PhotoPerson.person_id == pid)))
            if not name and not hidden and faces == 0 and suggestions == 0 and not tagged:
                self.delete_person(pid)


# -- checking requests ----------------------------------------------------------------------------


def _person(session: Session, person_id: int) -> Any:
    row = session.execute(
        select(Person.id, Person.name, Person.is_hidden, Person.cover_face_id).where(
            Person.id == person_id
        )
    ).one_or_none()
    if row is None:
        raise PeopleError(f"there is no person {person_id}")
    return row


def _faces(session: Session, face_ids: Iterable[int]) -> dict[int, Any]:
    """The faces' current labels, in the order given; PeopleError names the first unknown id."""
    ids = list(dict.fromkeys(int(i) for i in face_ids))
    if not ids:
        raise PeopleError("no faces given")
    found: dict[int, Any] = {}
    for chunk in chunks(ids):
        for row in session.execute(
            select(
                Face.id,
                Face.photo_id,
                Face.person_id,
                Face.assignment,
                Face.assignment_confidence,
                Face.is_ignored,
            ).where(Face.id.in_(chunk))
        ):
            found[row.id] = row
    for face_id in ids:
        if face_id not in found:
            raise PeopleError(f"there is no face {face_id}")
    return {i: found[i] for i in ids}


def _clean_name(name: str) -> str:
    cleaned = " ".join(str(name).split())
    if not cleaned:
        raise PeopleError("a name cannot be empty")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise PeopleError(f"a name can have at most {MAX_NAME_LENGTH} characters")
    return cleaned


# -- the edits ------------------------------------------------------------------------------------


@keeps_sidecars
def name_person(library: Library, person_id: int, name: str) -> Change:
    """Name or rename a person. Naming an unnamed person confirms its automatic faces (the user
    saw them together and gave them a name); renaming changes only the name."""
    name = _clean_name(name)
    with library.write() as session:
        person = _person(session, person_id)
        rec = _Edit(session, "name")
        if person.name == name:
            return rec.finish("", person_id)
        rec.person(person_id)
        session.execute(update(Person).where(Person.id == person_id).values(name=name))
        if not person.name:
            rec.confirm_automatic(person_id)
            summary = f'named person #{person_id} "{name}"'
        else:
            summary = f'renamed "{person.name}" (#{person_id}) to "{name}"'
        return rec.finish(summary, person_id)


@keeps_sidecars
def merge_people(library: Library, person_ids: Sequence[int]) -> Change:
    """Merge people into one: the first *named* of them in the order given (else the first).

    Its name, hidden flag and cover stay (a cover is taken from the others when it has none);
    every face of the others joins it, automatic faces become confirmed (the user said these are
    one person), suggestions stay suggestions. "Not this person" rejections of the others carry
    over to the merged person; a face rejected from one of them and merely automatic or
    suggested in another leaves the merged person, while a face the user had confirmed stays
    (the latest word wins) and its rejection goes. The others' photo-level tags (a person on a
    photo without a face box) join the merged person, and so does the record of which faces a
    tag import named. The others are deleted."""
    ids = [int(i) for i in person_ids]
    if len(ids) < 2:
        raise PeopleError("merging needs at least two people")
    if len(set(ids)) < len(ids):
        raise PeopleError("cannot merge a person with itself")
    with library.write() as session:
        people = [_person(session, pid) for pid in ids]
        target = next((p for p in people if p.name), people[0])
        sources = [p for p in people if p.id != target.id]
        rec = _Edit(session, "merge")
        rec.person(target.id)
        for source in sources:
            rec.person(source.id)
        source_ids = [s.id for s in sources]
        everyone = [target.id, *source_ids]
        # 1. the others' rejections now hold for the merged person too
        moved_rejections = session.execute(
            select(FaceRejection.face_id, FaceRejection.person_id).where(
                FaceRejection.person_id.in_(source_ids)
            )
        ).all()
        for face_id, source_id in moved_rejections:
            rec.rejection(face_id, source_id)  # deleted with its person below
            rec.reject(face_id, target.id)
        # 2. faces of the merged group rejected from it: the confirmed ones win over the old
        #    rejection, the automatic and suggested ones leave
        conflicts = session.execute(
            select(Face.id, Face.assignment)
            .join(FaceRejection, FaceRejection.face_id == Face.id)
            .where(Face.person_id.in_(everyone), FaceRejection.person_id == target.id)
        ).all()
        for face_id, kind in conflicts:
            if kind == CONFIRMED:
                rec.lift_rejection(face_id, target.id)
            else:
                rec.set_faces([face_id], person_id=None)
        # 3. everyone's faces join the target; automatic ones become confirmed
        for source_id in source_ids:
            rec.faces_where(Face.person_id == source_id)
            session.execute(
                update(Face)
                .where(Face.person_id == source_id, Face.assignment == SUGGESTED)
                .values(person_id=target.id)
            )
            session.execute(
                update(Face)
                .where(Face.person_id == source_id)
                .values(
                    person_id=target.id,
                    assignment=CONFIRMED,
                    assignment_confidence=None,
                )
            )
        rec.confirm_automatic(target.id)
        # 4. the others' photo-level tags are the merged person's
        for source_id in source_ids:
            for photo_id in rec.photo_people_of(source_id):
                rec.photo_person(photo_id, target.id)
            session.execute(
                insert(PhotoPerson)
                .prefix_with("OR IGNORE")
                .from_select(
                    ["photo_id", "person_id", "source"],
                    select(PhotoPerson.photo_id, literal(target.id), PhotoPerson.source).where(
                        PhotoPerson.person_id == source_id
                    ),
                )
            )
        session.execute(
            update(FaceTagSource)
            .where(FaceTagSource.person_id.in_(source_ids))
            .values(person_id=target.id)
        )
        if target.cover_face_id is None:
            cover = next((s.cover_face_id for s in sources if s.cover_face_id), None)
            if cover is not None:
                session.execute(
                    update(Person).where(Person.id == target.id).values(cover_face_id=cover)
                )
        for source_id in source_ids:
            rec.delete_person(source_id)
        summary = (
            f"merged {len(sources)} {'person' if len(sources) == 1 else 'people'}"
            f" into {_label(target.name, target.id)}"
        )
        return rec.finish(summary, target.id)


@keeps_sidecars
def move_faces(library: Library, face_ids: Iterable[int], to_person: int | None) -> Change:
    """Move faces to a person (``to_person``), or to a new unnamed person (None). They become
    confirmed there and stop being ignored; a rejection of that person is lifted. People left
    empty and unnamed are deleted."""
    with library.write() as session:
        faces = _faces(session, face_ids)
        target = _person(session, to_person) if to_person is not None else None
        rec = _Edit(session, "move")
        if target is None:
            person = Person()
            session.add(person)
            session.flush()
            rec.created(person.id)
            target_id, target_name = person.id, None
        else:
            target_id, target_name = target.id, target.name
        ids = [
            f.id
            for f in faces.values()
            if not (f.person_id == target_id and f.assignment == CONFIRMED and not f.is_ignored)
        ]
        rec.set_faces(
            ids,
            person_id=target_id,
            assignment=CONFIRMED,
            assignment_confidence=None,
            is_ignored=False,
        )
        for face_id in ids:
            rejected = session.scalar(
                select(
                    exists().where(
                        FaceRejection.face_id == face_id, FaceRejection.person_id == target_id
                    )
                )
            )
            if rejected:
                rec.lift_rejection(face_id, target_id)
        rec.drop_if_empty(f.person_id for f in faces.values() if f.person_id is not None)
        where = _label(target_name, target_id) if target is not None else f"new person #{target_id}"
        return rec.finish(f"moved {_faces_word(len(ids))} to {where}", target_id)


@keeps_sidecars
def remove_faces(library: Library, face_ids: Iterable[int], person_id: int) -> Change:
    """ "Not this person": each face (which must be with the person now, in any way) is
    rejected from the person for good and left unassigned."""
    with library.write() as session:
        person = _person(session, person_id)
        faces = _faces(session, face_ids)
        for f in faces.values():
            if f.person_id != person_id:
                raise PeopleError(f"face {f.id} is not with {_label(person.name, person.id)}")
        rec = _Edit(session, "remove")
        ids = list(faces)
        for face_id in ids:
            rec.reject(face_id, person_id)
        rec.set_faces(ids, person_id=None)
        rec.drop_if_empty([person_id])
        summary = f"removed {_faces_word(len(ids))} from {_label(person.name, person.id)}"
        return rec.finish(summary, person_id)


def _suggestions(
    session: Session, face_ids: Iterable[int] | None, person_id: int | None
) -> tuple[list[int], Any]:
    """The suggested faces an answer is about: the given ones (each must be a suggestion, of
    ``person_id`` when given), or all of ``person_id``'s."""
    person = _person(session, person_id) if person_id is not None else None
    if face_ids is None:
        if person is None:
            raise PeopleError("name the faces or the person whose suggestions these are")
        ids = list(
            session.scalars(
                select(Face.id)
                .where(Face.person_id == person.id, Face.assignment == SUGGESTED)
                .order_by(Face.id)
            )
        )
        return ids, person
    faces = _faces(session, face_ids)
    for f in faces.values():
        if f.assignment != SUGGESTED:
            raise PeopleError(f"face {f.id} is not a suggestion")
        if person is not None and f.person_id != person.id:
            raise PeopleError(f"face {f.id} is not suggested for {_label(person.name, person.id)}")
    return list(faces), person


@keeps_sidecars
def confirm_suggestions(
    library: Library, face_ids: Iterable[int] | None = None, *, person_id: int | None = None
) -> Change:
    """Answer "yes" to suggestions: the given suggested faces, or all of ``person_id``'s."""
    with library.write() as session:
        ids, person = _suggestions(session, face_ids, person_id)
        rec = _Edit(session, "confirm")
        rec.set_faces(ids, assignment=CONFIRMED, assignment_confidence=None)
        whose = f" for {_label(person.name, person.id)}" if person is not None else ""
        word = "suggestion" if len(ids) == 1 else "suggestions"
        return rec.finish(f"confirmed {len(ids)} {word}{whose}", person_id)


@keeps_sidecars
def reject_suggestions(
    library: Library, face_ids: Iterable[int] | None = None, *, person_id: int | None = None
) -> Change:
    """Answer "no" to suggestions: each face is rejected from the suggested person for good and
    left unassigned."""
    with library.write() as session:
        ids, person = _suggestions(session, face_ids, person_id)
        rec = _Edit(session, "reject")
        owners = _owners(session, ids)
        for face_id in ids:
            rec.reject(face_id, owners[face_id])
        rec.set_faces(ids, person_id=None)
        whose = f" for {_label(person.name, person.id)}" if person is not None else ""
        word = "suggestion" if len(ids) == 1 else "suggestions"
        return rec.finish(f"rejected {len(ids)} {word}{whose}", person_id)


def _owners(session: Session, ids: Sequence[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for chunk in chunks(ids):
        for face_id, person_id in session.execute(
            select(Face.id, Face.person_id).where(Face.id.in_(chunk))
        ):
            if person_id is not None:
                out[face_id] = person_id
    return out


@keeps_sidecars
def confirm_faces(library: Library, face_ids: Iterable[int]) -> Change:
    """Confirm faces where they are (automatic or suggested); a face without a person cannot be
    confirmed (move it instead)."""
    with library.write() as session:
        faces = _faces(session, face_ids)
        for f in faces.values():
            if f.person_id is None:
                raise PeopleError(f"face {f.id} has no person to confirm; move it to one")
        rec = _Edit(session, "confirm")
        ids = [f.id for f in faces.values() if f.assignment != CONFIRMED]
        rec.set_faces(ids, assignment=CONFIRMED, assignment_confidence=None)
        return rec.finish(f"confirmed {_faces_word(len(ids))}")


@keeps_sidecars
def ignore_faces(library: Library, face_ids: Iterable[int], ignored: bool = True) -> Change:
    """Mark faces ignored ("not a face", "a stranger"): they leave their person and clustering
    and recognition leave them alone. ``ignored=False`` takes the mark off again (the face stays
    unassigned until the next clustering or recognition run, or until moved)."""
    with library.write() as session:
        faces = _faces(session, face_ids)
        kind = "ignore" if ignored else "unignore"
        rec = _Edit(session, kind)
        ids = [f.id for f in faces.values() if bool(f.is_ignored) != ignored]
        if ignored:
            rec.set_faces(ids, is_ignored=True, person_id=None)
            rec.drop_if_empty(f.person_id for f in faces.values() if f.person_id is not None)
        else:
            rec.set_faces(ids, is_ignored=False)
        verb = "ignored" if ignored else "stopped ignoring"
        return rec.finish(f"{verb} {_faces_word(len(ids))}")


def unignore_faces(library: Library, face_ids: Iterable[int]) -> Change:
    return ignore_faces(library, face_ids, ignored=False)


@keeps_sidecars
def hide_person(library: Library, person_id: int, hidden: bool = True) -> Change:
    """Hide a person from the people grid (or show it again with ``hidden=False``). Hiding
    confirms the person's automatic faces, so that the hidden group stays as the user saw it
    and new photos of that person join it instead of showing up as someone new."""
    with library.write() as session:
        person = _person(session, person_id)
        rec = _Edit(session, "hide" if hidden else "unhide")
        if bool(person.is_hidden) == hidden:
            return rec.finish("", person_id)
        rec.person(person_id)
        session.execute(update(Person).where(Person.id == person_id).values(is_hidden=hidden))
        if hidden:
            rec.confirm_automatic(person_id)
        verb = "hid" if hidden else "showed"
        return rec.finish(f"{verb} {_label(person.name, person_id)}", person_id)


def unhide_person(library: Library, person_id: int) -> Change:
    return hide_person(library, person_id, hidden=False)


def set_cover(library: Library, person_id: int, face_id: int) -> Change:
    """Show this face for the person; the face must be the person's (a suggestion counts) and
    becomes confirmed."""
    with library.write() as session:
        person = _person(session, person_id)
        face = _faces(session, [face_id])[face_id]
        if face.person_id != person_id:
            raise PeopleError(f"face {face_id} is not with {_label(person.name, person_id)}")
        rec = _Edit(session, "cover")
        if person.cover_face_id != face_id:
            rec.person(person_id)
            session.execute(
                update(Person).where(Person.id == person_id).values(cover_face_id=face_id)
            )
        if face.assignment != CONFIRMED:
            rec.set_faces([face_id], assignment=CONFIRMED, assignment_confidence=None)
        summary = f"chose face {face_id} as the cover of {_label(person.name, person_id)}"
        return rec.finish(summary, person_id)


__all__ = [
    "HISTORY_DEPTH",
    "REDO_PREFIX",
    "Change",
    "PeopleError",
    "confirm_faces",
    "confirm_suggestions",
    "follow_faces",
    "hide_person",
    "ignore_faces",
    "merge_people",
    "move_faces",
    "name_person",
    "redo",
    "redo_summary",
    "reject_suggestions",
    "remove_faces",
    "set_cover",
    "undo",
    "unhide_person",
    "unignore_faces",
]
