"""Faces drawn by hand: storing one (given to a person, or to a new one, in the same edit) and
deleting one, each one undoable edit like the others of :mod:`.edits`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select

from facenet_core.people.edits import (
    CONFIRMED,
    NONE,
    _clean_name,
    _Edit,
    _faces,
    _label,
    _person,
)
from facenet_core.people.errors import PeopleError
from facenet_core.people.history import Change
from facenet_core.people.rules import SAME_PLACE_IOU
from facenet_core.people.sidecar_sync import keeps_sidecars
from facenet_core.store import DRAWN_BY_USER, Embedding, Face, Library, Person, Photo
from facenet_core.types import box_iou


@dataclass(frozen=True, slots=True)
class DrawnFace:
    """A face the user drew by hand, aligned and embedded (``library.drawn`` makes it): its box
    and five points in the photo's displayed pixels (``landmarks``: 40 packed bytes), how sure
    the landmark finder was (``score``; 0 for the box-only alignment) and its 128-byte code
    under each model version."""

    photo_id: int
    box: tuple[float, float, float, float]
    landmarks: bytes
    scheme: str
    score: float
    embeddings: Mapping[int, bytes]


@keeps_sidecars
def add_drawn_face(
    library: Library,
    face: DrawnFace,
    *,
    person_id: int | None = None,
    name: str | None = None,
) -> Change:
    """Store a face the user drew, and in the same edit give it to ``person_id`` or to a new
    person called ``name`` (confirmed: the user said so), or to nobody. One undoable edit: undo
    deletes the face (and the new person), redo writes both back. A face already in that place
    (overlap :data:`~facenet_core.people.rules.SAME_PLACE_IOU` or more) is an error: move that one
    instead. The new face's id is the only one in ``Change.faces``."""
    if person_id is not None and name is not None:
        raise PeopleError("give the face to a person or name a new one, not both")
    cleaned = _clean_name(name) if name is not None else None
    x1, y1, x2, y2 = (float(v) for v in face.box)
    if not (x2 > x1 and y2 > y1):
        raise PeopleError("a face box needs x2 > x1 and y2 > y1")
    if not face.embeddings:
        raise PeopleError("a drawn face needs an embedding")
    with library.write() as session:
        if session.get(Photo, face.photo_id) is None:
            raise PeopleError(f"there is no photo {face.photo_id}")
        target = _person(session, person_id) if person_id is not None else None
        for other in session.execute(
            select(Face.id, Face.x1, Face.y1, Face.x2, Face.y2).where(
                Face.photo_id == face.photo_id
            )
        ):
            if box_iou((x1, y1, x2, y2), other[1:]) >= SAME_PLACE_IOU:
                raise PeopleError(f"face {other.id} is already there; move that one instead")
        rec = _Edit(session, "draw")
        if cleaned is not None:
            person = Person(name=cleaned)
            session.add(person)
            session.flush()
            rec.created(person.id)
            target_id: int | None = person.id
            where = f' for new person "{cleaned}" (#{person.id})'
        elif target is not None:
            target_id = target.id
            where = f" for {_label(target.name, target.id)}"
        else:
            target_id, where = None, ""
        row = Face(
            photo_id=face.photo_id,
            x1=x1,
            y1=y1,
            x2=x2,
            y2=y2,
            landmarks=face.landmarks,
            landmark_scheme=face.scheme,
            detector=DRAWN_BY_USER,
            det_score=float(face.score),
            person_id=target_id,
            assignment=CONFIRMED if target_id is not None else NONE,
        )
        for version_id, vector in face.embeddings.items():
            row.embeddings.append(Embedding(model_version_id=version_id, vector=vector))
        session.add(row)
        session.flush()
        rec.created_face(row.id)
        return rec.finish(f"drew face {row.id} in photo {face.photo_id}{where}", target_id)


@keeps_sidecars
def delete_drawn_face(library: Library, face_id: int) -> Change:
    """Delete a face the user drew (a detected face is ignored or forgotten instead: a rescan
    would find it again). Undoable: undo writes it back with its id, labels and embeddings. Its
    person, left empty and unnamed, goes too."""
    with library.write() as session:
        found = _faces(session, [face_id])[face_id]
        detector = session.scalar(select(Face.detector).where(Face.id == face_id))
        if detector != DRAWN_BY_USER:
            raise PeopleError(
                f"face {face_id} was found by the detector; ignore it instead (only a face"
                " drawn by hand can be deleted)"
            )
        rec = _Edit(session, "delete-face")
        rec.delete_face(face_id)
        if found.person_id is not None:
            rec.drop_if_empty([found.person_id])
        return rec.finish(f"deleted drawn face {face_id}", found.person_id)
