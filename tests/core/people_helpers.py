"""Small hand-built libraries for the people tests, and a full snapshot of the people state."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select, update

from facenet_core.quantize import to_bytes
from facenet_core.store import (
    Edit,
    Embedding,
    Face,
    FaceRejection,
    Library,
    Person,
    Photo,
    ensure_active_model_version,
    pack_landmarks,
)

LANDMARKS = pack_landmarks([(10.0, 12.0), (30.0, 12.5), (20.0, 22.0), (12.0, 30.0), (28.0, 30.0)])


def add_photo(session: Any, n: int) -> Photo:
    photo = Photo(
        path=f"/photos/img_{n}.jpg",
        size=1000 + n,
        mtime_ns=n,
        content_hash=f"{n:064x}",
        width=640,
        height=480,
        status="done",
    )
    session.add(photo)
    session.flush()
    return photo


def add_face(
    session: Any,
    photo: Photo,
    person: Person | None = None,
    kind: str = "none",
    confidence: float | None = None,
    ignored: bool = False,
    x: float = 5.0,
) -> int:
    face = Face(
        photo=photo,
        x1=x,
        y1=6.0,
        x2=x + 30.0,
        y2=40.0,
        landmarks=LANDMARKS,
        landmark_scheme="mtcnn5",
        detector="mtcnn",
        det_score=0.99,
        person_id=person.id if person is not None else None,
        assignment=kind,
        assignment_confidence=confidence,
        is_ignored=ignored,
    )
    session.add(face)
    session.flush()
    return face.id


@dataclass
class Small:
    """Ada (named: two confirmed faces, one automatic, one suggestion), two unnamed clusters,
    one unassigned face and one ignored face, each face in a photo of its own except ``a1`` and
    ``u1a``, which share photo 1."""

    lib: Library
    ada: int
    u1: int
    u2: int
    a1: int
    a2: int
    a3: int
    s1: int
    u1a: int
    u1b: int
    u2a: int
    n1: int
    ig: int


def small_library(tmp_path: Path) -> Small:
    lib = Library.open(tmp_path / "library.db", create=True)
    with lib.write() as s:
        ada, u1, u2 = Person(name="Ada"), Person(), Person()
        s.add_all([ada, u1, u2])
        s.flush()
        photos = [add_photo(s, n) for n in range(1, 10)]
        ids = {
            "a1": add_face(s, photos[0], ada, "confirmed"),
            "u1a": add_face(s, photos[0], u1, "auto", 0.8, x=100.0),
            "a2": add_face(s, photos[1], ada, "confirmed"),
            "a3": add_face(s, photos[2], ada, "auto", 0.95),
            "s1": add_face(s, photos[3], ada, "suggested", 0.7),
            "u1b": add_face(s, photos[4], u1, "auto", 0.8),
            "u2a": add_face(s, photos[5], u2, "auto", 0.6),
            "n1": add_face(s, photos[6]),
            "ig": add_face(s, photos[7], ignored=True),
        }
        people = {"ada": ada.id, "u1": u1.id, "u2": u2.id}
    return Small(lib=lib, **people, **ids)


def state(lib: Library) -> dict[str, Any]:
    """Everything about people, faces and rejections (not the history), and a check that the
    counts the triggers keep equal a recount."""
    with lib.session() as s:
        people = {
            p.id: (p.name, p.is_hidden, p.cover_face_id, p.created_at)
            for p in s.scalars(select(Person))
        }
        faces = {
            f.id: (f.person_id, f.assignment, f.assignment_confidence, f.is_ignored)
            for f in s.scalars(select(Face))
        }
        rejections = {
            (f, p) for f, p in s.execute(select(FaceRejection.face_id, FaceRejection.person_id))
        }
        for p in s.scalars(select(Person)):
            kinds = [f[1] for f in faces.values() if f[0] == p.id]
            recount = (
                sum(k in ("auto", "confirmed") for k in kinds),
                kinds.count("confirmed"),
                kinds.count("suggested"),
            )
            assert (p.face_count, p.confirmed_count, p.suggestion_count) == recount, p
        assert all(f[0] is None for f in faces.values() if f[3]), "an ignored face has a person"
        assert all((f[0] is None) == (f[1] == "none") for f in faces.values())
    return {"people": people, "faces": faces, "rejections": rejections}


def history_size(lib: Library) -> int:
    with lib.session() as s:
        return s.scalar(select(func.count()).select_from(Edit)) or 0


# -- libraries of hand-built embeddings ----------------------------------------------------------


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


class Blobs:
    """Identities as random directions; a face of identity ``k`` is its direction plus a
    little noise (squared distance ~0.06 between two faces of one identity, ~2 between
    identities), stored as real embeddings of an active model version."""

    def __init__(self, path: Path, identities: int = 8, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.centres = unit(self.rng.normal(size=(identities, 128)))
        self.lib = Library.open(path, create=True)
        self.photos = 0
        self.truth: dict[int, int] = {}  # face id -> identity
        with self.lib.write() as s:
            self.version_id = ensure_active_model_version(s, "test-net", "0" * 64).id

    def add(self, identities: list[int] | int) -> list[int]:
        """One new photo holding a face of each identity given; returns the face ids."""
        ids = [identities] if isinstance(identities, int) else identities
        self.photos += 1
        with self.lib.write() as s:
            photo = add_photo(s, self.photos)
            out = []
            for j, k in enumerate(ids):
                face_id = add_face(s, photo, x=5.0 + 200.0 * j)
                s.execute(
                    update(Face).where(Face.id == face_id).values(x2=105.0 + 200.0 * j, y2=110.0)
                )
                vec = unit(self.centres[k] + self.rng.normal(scale=0.015, size=128))
                s.add(
                    Embedding(
                        face_id=face_id, model_version_id=self.version_id, vector=to_bytes(vec)
                    )
                )
                self.truth[face_id] = k
                out.append(face_id)
        return out

    def add_many(self, identity: int, n: int) -> list[int]:
        return [self.add(identity)[0] for _ in range(n)]

    def person_of(self, face_id: int) -> tuple[int | None, str]:
        with self.lib.session() as s:
            face = s.get(Face, face_id)
            assert face is not None
            return face.person_id, face.assignment
