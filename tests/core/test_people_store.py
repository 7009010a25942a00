"""Migration 0003 on a library with data, and the face counts the triggers keep."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from facenet_core.store import (
    Embedding,
    Face,
    FaceRejection,
    Library,
    Person,
    alembic_config,
    pack_landmarks,
)
from tests.core.people_helpers import add_face, add_photo

LANDMARKS = pack_landmarks([(1.0, 2.0)] * 5)


def library_at_0002(path: Path) -> None:
    command.upgrade(alembic_config(url=f"sqlite:///{path}"), "0002")
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "INSERT INTO model_versions (id, name, weights_sha256, is_active)"
            " VALUES (1, 'n', ?, 1)",
            ("a" * 64,),
        )
        conn.execute(
            "INSERT INTO photos (id, path, size, mtime_ns, content_hash, status)"
            " VALUES (1, '/p/a.jpg', 1, 1, 'x', 'done'), (2, '/p/b.jpg', 1, 1, 'y', 'done')"
        )
        conn.execute("INSERT INTO people (id, name) VALUES (1, 'Ada'), (2, NULL), (3, NULL)")
        for fid, photo, person, kind in [
            (1, 1, 1, "confirmed"),
            (2, 2, 1, "auto"),
            (3, 1, 2, "auto"),
            (4, 2, None, "none"),
        ]:
            conn.execute(
                "INSERT INTO faces (id, photo_id, x1, y1, x2, y2, landmarks, landmark_scheme,"
                " detector, det_score, person_id, assignment, is_ignored)"
                " VALUES (?, ?, 0, 0, 50, 50, ?, 'mtcnn5', 'mtcnn', 0.9, ?, ?, ?)",
                (fid, photo, LANDMARKS, person, kind, int(fid == 4)),
            )
            conn.execute("INSERT INTO embeddings VALUES (?, 1, ?)", (fid, bytes(range(128))))
        conn.execute("UPDATE people SET cover_face_id = 2 WHERE id = 1")
        conn.execute("INSERT INTO face_rejections (face_id, person_id) VALUES (3, 1)")
    conn.close()


def test_upgrade_to_0003_keeps_everything_and_fills_the_counts(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    library_at_0002(path)
    lib = Library.open(path)
    assert (tmp_path / "library.db.before-upgrade-from-0002.bak").is_file()
    with lib.session() as s:
        ada = s.get(Person, 1)
        assert ada is not None and ada.name == "Ada" and ada.cover_face_id == 2
        assert (ada.face_count, ada.confirmed_count, ada.suggestion_count) == (2, 1, 0)
        u = s.get(Person, 2)
        assert u is not None and (u.face_count, u.confirmed_count) == (1, 0)
        faces = {f.id: (f.person_id, f.assignment, f.is_ignored) for f in s.scalars(select(Face))}
        assert faces == {
            1: (1, "confirmed", False),
            2: (1, "auto", False),
            3: (2, "auto", False),
            4: (None, "none", True),
        }
        assert len(s.scalars(select(Embedding)).all()) == 4
        assert [(r.face_id, r.person_id) for r in s.scalars(select(FaceRejection))] == [(3, 1)]
        fk = s.connection().exec_driver_sql("PRAGMA foreign_key_list(embeddings)").all()
        assert {row[2] for row in fk} == {"faces", "model_versions"}  # still point at faces
    with lib.write() as s:  # "suggested" is allowed now, and counted
        s.execute(update(Face).where(Face.id == 4).values(person_id=1, assignment="suggested"))
    with lib.write() as s:
        ada = s.get(Person, 1)
        assert ada is not None and (ada.face_count, ada.suggestion_count) == (2, 1)
        s.execute(delete(Person).where(Person.id == 3))  # the newest person goes ...
        s.add(Person(name="Bob"))
    with lib.session() as s:
        assert s.scalars(select(Person.id).where(Person.name == "Bob")).one() == 4  # ... not reused
    lib.close()


def test_downgrade_turns_suggestions_back_into_unassigned_faces(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    library_at_0002(path)
    Library.open(path).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE faces SET person_id = 1, assignment = 'suggested' WHERE id = 4")
    conn.close()
    command.downgrade(alembic_config(url=f"sqlite:///{path}"), "0002")
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT person_id, assignment FROM faces WHERE id = 4").fetchone() == (
        None,
        "none",
    )
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"), conn:
        conn.execute("UPDATE faces SET assignment = 'suggested' WHERE id = 4")
    conn.close()


def test_counts_follow_every_write(tmp_path: Path) -> None:
    lib = Library.open(tmp_path / "library.db", create=True)
    with lib.write() as s:
        a, b = Person(name="A"), Person()
        s.add_all([a, b])
        s.flush()
        photo = add_photo(s, 1)
        f1 = add_face(s, photo, a, "confirmed")
        f2 = add_face(s, photo, a, "auto")
        f3 = add_face(s, photo, b, "suggested", 0.6)
        ids = (a.id, b.id)

    def counts() -> dict[int, tuple[int, int, int]]:
        with lib.session() as s:
            return {
                p.id: (p.face_count, p.confirmed_count, p.suggestion_count)
                for p in s.scalars(select(Person))
            }

    assert counts() == {ids[0]: (2, 1, 0), ids[1]: (0, 0, 1)}
    with lib.write() as s:
        s.execute(update(Face).where(Face.id == f3).values(person_id=ids[0], assignment="auto"))
    assert counts() == {ids[0]: (3, 1, 0), ids[1]: (0, 0, 0)}
    with lib.write() as s:
        s.execute(delete(Face).where(Face.id == f2))
    assert counts()[ids[0]] == (2, 1, 0)
    with lib.write() as s:
        s.execute(delete(Person).where(Person.id == ids[0]))  # faces unassigned by the trigger
    with lib.session() as s:
        assert {f.assignment for f in s.scalars(select(Face))} == {"none"}
        assert s.get(Face, f1) is not None
    with lib.session() as s, pytest.raises(IntegrityError, match="CHECK"):
        s.execute(update(Face).where(Face.id == f1).values(assignment="maybe"))
    lib.close()
