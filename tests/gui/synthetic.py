"""A large synthetic library for the GUI's speed checks: rows written in bulk (no detection),
thumbnails made from real LFW faces and reused, so decoding costs what it costs for real."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from sqlalchemy import insert, select, update

from facenet_core.store import Assignment, Face, Library, Person, Photo, PhotoStatus, Root
from facenet_core.store.models import pack_landmarks
from facenet_core.thumbnails import THUMBNAIL_SIZE, thumbnail_path

LANDMARKS = pack_landmarks([(10.0, 12.0), (20.0, 12.0), (15.0, 18.0), (11.0, 24.0), (19.0, 24.0)])


@dataclass(frozen=True)
class Synthetic:
    library: Library
    people: list[int]
    big_person: int


def face_jpegs(images: list[Path], count: int = 24) -> list[bytes]:
    """Real face thumbnails (the centre of LFW photos), as the scanner would have cut them."""
    out = []
    for path in images[:count]:
        with Image.open(path) as img:
            crop = img.convert("RGB").crop((50, 50, 200, 200))
        crop.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        buf = io.BytesIO()
        crop.save(buf, "JPEG", quality=85)
        out.append(buf.getvalue())
    return out


def build(
    path: Path,
    images: list[Path],
    *,
    faces: int = 10_000,
    people: int = 400,
    big_person_faces: int = 5_000,
    thumbnails_for: str = "all",
    seed: int = 7,
) -> Synthetic:
    """``faces`` faces in ``faces // 2`` photos, grouped into ``people`` people (a third of them
    named); one person has ``big_person_faces`` faces. ``thumbnails_for``: ``"all"`` faces or
    just the ``"covers"``."""
    rng = random.Random(seed)
    library = Library.open(path, create=True)
    photo_count = max(1, faces // 2)
    with library.write() as s:
        root = Root(path=str(path.parent / "photos"))
        s.add(root)
        s.flush()
        s.execute(
            insert(Photo),
            [
                {
                    "root_id": root.id,
                    "path": f"{root.path}/img_{i:06d}.jpg",
                    "size": 1000 + i,
                    "mtime_ns": i,
                    "content_hash": f"{i:064x}",
                    "width": 640,
                    "height": 480,
                    "status": PhotoStatus.DONE,
                }
                for i in range(photo_count)
            ],
        )
        s.execute(
            insert(Person),
            [{"name": f"Person {i:03d}" if i % 3 == 0 else None} for i in range(people)],
        )
        person_ids = [
            p for (p,) in s.execute(Person.__table__.select().with_only_columns(Person.id))
        ]
        photo_ids = [p for (p,) in s.execute(Photo.__table__.select().with_only_columns(Photo.id))]
        big = person_ids[0]
        rows = []
        for i in range(faces):
            others = person_ids[1 + i % (len(person_ids) - 1)]
            person = big if i < big_person_faces else others
            rows.append(
                {
                    "photo_id": photo_ids[i % len(photo_ids)],
                    "x1": 100.0,
                    "y1": 80.0,
                    "x2": 220.0,
                    "y2": 230.0,
                    "landmarks": LANDMARKS,
                    "landmark_scheme": "mtcnn5",
                    "detector": "mtcnn",
                    "det_score": 0.99,
                    "person_id": person,
                    "assignment": Assignment.CONFIRMED if rng.random() < 0.3 else Assignment.AUTO,
                }
            )
        s.execute(insert(Face), rows)
        covers = {}
        for face_id, person_id in s.execute(select(Face.id, Face.person_id).order_by(Face.id)):
            covers.setdefault(person_id, face_id)
        for person_id, face_id in covers.items():
            s.execute(update(Person).where(Person.id == person_id).values(cover_face_id=face_id))
        face_ids = list(s.scalars(select(Face.id).order_by(Face.id)))
    jpegs = face_jpegs(images)
    wanted = face_ids if thumbnails_for == "all" else list(covers.values())
    for n, face_id in enumerate(wanted):
        target = thumbnail_path(library.thumbnails_dir, face_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(jpegs[n % len(jpegs)])
    return Synthetic(library, person_ids, big)
