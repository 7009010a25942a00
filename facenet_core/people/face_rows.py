"""Whole faces as data: what an edit that creates or deletes a face (a face drawn by hand)
keeps in its history so undo and redo can write it back with the same id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from facenet_core.people.errors import PeopleError
from facenet_core.store import Embedding, Face, FaceRejection, Person, Photo
from facenet_core.store.chunks import chunks
from facenet_core.store.models import utcnow


def existing_people(session: Session, ids: Iterable[int]) -> set[int]:
    found: set[int] = set()
    for chunk in chunks(sorted(ids)):
        found.update(session.scalars(select(Person.id).where(Person.id.in_(chunk))))
    return found


# -- keeping the history with the faces -----------------------------------------------------------


# -- whole faces ----------------------------------------------------------------------------------


def face_row(session: Session, face_id: int) -> dict[str, Any]:
    """All of a face as JSON-ready data: geometry, labels, rejections, embeddings and the people
    whose cover it is; :func:`insert_face_row` writes it back with the same id."""
    face = session.get(Face, face_id)
    if face is None:
        raise PeopleError(f"there is no face {face_id}")
    return {
        "id": face.id,
        "photo_id": face.photo_id,
        "box": [face.x1, face.y1, face.x2, face.y2],
        "landmarks": face.landmarks.hex(),
        "landmark_scheme": face.landmark_scheme,
        "detector": face.detector,
        "det_score": face.det_score,
        "person_id": face.person_id,
        "assignment": face.assignment,
        "assignment_confidence": face.assignment_confidence,
        "is_ignored": bool(face.is_ignored),
        "created_at": (face.created_at or utcnow()).isoformat(),
        "embeddings": {
            str(version): vector.hex()
            for version, vector in session.execute(
                select(Embedding.model_version_id, Embedding.vector).where(
                    Embedding.face_id == face_id
                )
            )
        },
        "rejections": list(
            session.scalars(select(FaceRejection.person_id).where(FaceRejection.face_id == face_id))
        ),
        "cover_of": list(session.scalars(select(Person.id).where(Person.cover_face_id == face_id))),
    }


def insert_face_row(session: Session, row: Mapping[str, Any]) -> None:
    """Write back a face :func:`face_row` took (nothing when its photo is gone). A person gone
    since leaves it unassigned; a cover it was comes back where the person has none."""
    if session.get(Photo, row["photo_id"]) is None:
        return
    existing = existing_people(
        session, {row["person_id"], *row["rejections"], *row["cover_of"]} - {None}
    )
    person = row["person_id"] if row["person_id"] in existing else None
    x1, y1, x2, y2 = row["box"]
    session.execute(
        insert(Face).values(
            id=row["id"],
            photo_id=row["photo_id"],
            x1=x1,
            y1=y1,
            x2=x2,
            y2=y2,
            landmarks=bytes.fromhex(row["landmarks"]),
            landmark_scheme=row["landmark_scheme"],
            detector=row["detector"],
            det_score=row["det_score"],
            person_id=person,
            assignment=row["assignment"] if person is not None else "none",
            assignment_confidence=row["assignment_confidence"] if person is not None else None,
            is_ignored=row["is_ignored"],
            created_at=datetime.fromisoformat(row["created_at"]),
        )
    )
    for version, vector in row["embeddings"].items():
        session.execute(
            insert(Embedding)
            .prefix_with("OR IGNORE")
            .values(face_id=row["id"], model_version_id=int(version), vector=bytes.fromhex(vector))
        )
    for person_id in row["rejections"]:
        if person_id in existing:
            session.execute(
                insert(FaceRejection)
                .prefix_with("OR IGNORE")
                .values(face_id=row["id"], person_id=person_id)
            )
    for person_id in row["cover_of"]:
        if person_id in existing:
            session.execute(
                update(Person)
                .where(Person.id == person_id, Person.cover_face_id.is_(None))
                .values(cover_face_id=row["id"])
            )
