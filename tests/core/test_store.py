"""Tests for the photo library's storage layer (facenet_core.store)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from facenet_core import paths
from facenet_core.store import (
    Assignment,
    Base,
    Embedding,
    Face,
    FaceRejection,
    FolderProblem,
    Library,
    LibraryBusy,
    LibraryError,
    ModelVersion,
    Person,
    Photo,
    PhotoStatus,
    Root,
    ScanJob,
    WriteInReadTransaction,
    activate_model_version,
    alembic_config,
    default_library_path,
    ensure_active_model_version,
    get_active_model_version,
    integrity_check,
    open_library,
    pack_landmarks,
    status_counts,
)
from facenet_core.store import db as store_db
from facenet_core.store.db import connect
from tests.helpers import FACE_LANDMARKS, make_face

LANDMARKS = FACE_LANDMARKS
SHA_A = "a" * 64
SHA_B = "b" * 64


@pytest.fixture
def library(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    factory = open_library(tmp_path / "lib" / "library.db")
    yield factory
    engine_of(factory).dispose()


def engine_of(factory: sessionmaker[Session]) -> Engine:
    engine = factory.kw["bind"]
    assert isinstance(engine, Engine)
    return engine


def make_photo(n: int = 1, **overrides: object) -> Photo:
    values: dict[str, object] = {
        "path": f"/photos/img_{n}.jpg",
        "size": 1000 + n,
        "mtime_ns": 1_700_000_000_000_000_000 + n,
        "content_hash": f"{n:064x}",
        "width": 640,
        "height": 480,
    }
    values.update(overrides)
    return Photo(**values)


def count(session: Session, model: type[Base]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


# --- engine settings -------------------------------------------------------------------------


def test_open_library_creates_folder_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "library.db"
    factory = open_library(path)
    assert path.is_file()
    with factory() as session:
        pragma = session.connection().exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA foreign_keys").scalar() == 1
        assert pragma("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert pragma("PRAGMA busy_timeout").scalar() == store_db.BUSY_TIMEOUT_MS
    engine_of(factory).dispose()


def test_integrity_check_ok(library: sessionmaker[Session]) -> None:
    with library.begin() as session:
        session.add(make_face(make_photo()))
    assert integrity_check(engine_of(library)) == "ok"


def test_default_library_path_is_in_user_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[str] = []

    def fake_user_data_dir(appname: str, *args: object, **kwargs: object) -> str:
        calls.append(appname)
        return str(tmp_path / "data" / appname)

    monkeypatch.setattr(paths.platformdirs, "user_data_dir", fake_user_data_dir)
    assert default_library_path() == tmp_path / "data" / "facenet-photos" / "library.db"
    assert calls == ["facenet-photos"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG is a Linux convention")
def test_default_library_path_follows_xdg_data_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_library_path() == tmp_path / "facenet-photos" / "library.db"


# --- relations and constraints ---------------------------------------------------------------


def test_foreign_keys_are_enforced(library: sessionmaker[Session]) -> None:
    with library() as session:
        session.add(make_face(make_photo()))
        session.flush()
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            session.execute(text("UPDATE faces SET photo_id = 999"))


def test_deleting_a_photo_cascades_to_faces_embeddings_and_rejections(
    library: sessionmaker[Session],
) -> None:
    with library.begin() as session:
        version = ensure_active_model_version(session, "dlib-resnet-v1", SHA_A)
        version_id = version.id
        photo = make_photo()
        face = make_face(photo)
        person = Person(name="Ada")
        session.add_all([photo, face, person])
        session.add(Embedding(face=face, model_version=version, vector=bytes(128)))
        session.add(FaceRejection(face=face, person=person))
    # Delete in plain SQL: the database itself must cascade, not just the ORM.
    with library.begin() as session:
        session.execute(text("DELETE FROM photos"))
    with library() as session:
        assert count(session, Face) == 0
        assert count(session, Embedding) == 0
        assert count(session, FaceRejection) == 0
        assert count(session, Person) == 1
        assert count(session, ModelVersion) == 1
    # And through the ORM.
    with library.begin() as session:
        photo = make_photo(2)
        session.add(
            Embedding(face=make_face(photo), model_version_id=version_id, vector=bytes(128))
        )
    with library.begin() as session:
        session.delete(session.scalars(select(Photo)).one())
    with library() as session:
        assert count(session, Face) == 0
        assert count(session, Embedding) == 0


def test_deleting_a_person_keeps_faces_unassigned(library: sessionmaker[Session]) -> None:
    with library.begin() as session:
        person = Person(name="Ada")
        photo = make_photo()
        confirmed = make_face(photo, person=person, assignment=Assignment.CONFIRMED)
        auto = make_face(photo, person=person, assignment="auto", assignment_confidence=0.8)
        session.add_all([confirmed, auto])
        session.flush()
        person.cover_face = confirmed
        session.add(FaceRejection(face=auto, person=Person(name="Bob")))
    with library.begin() as session:
        session.delete(session.scalars(select(Person).where(Person.name == "Ada")).one())
    with library() as session:
        faces = session.scalars(select(Face)).all()
        assert len(faces) == 2
        assert all(f.person_id is None for f in faces)
        # The trigger keeps assignment truthful once the person is gone.
        assert all(f.assignment == Assignment.NONE for f in faces)
        assert all(f.assignment_confidence is None for f in faces)
        assert count(session, FaceRejection) == 1  # the rejection for Bob stays


def add_ada_with_her_cover(session: Session) -> Person:
    """Ada, with one confirmed face (on a photo of its own) that is her cover."""
    person = Person(name="Ada")
    face = make_face(make_photo(), person=person, assignment="confirmed")
    session.add(face)
    session.flush()
    person.cover_face = face
    return person


def test_deleting_a_cover_face_clears_the_cover(library: sessionmaker[Session]) -> None:
    with library.begin() as session:
        add_ada_with_her_cover(session)
    with library.begin() as session:
        assert session.scalars(select(Person)).one().cover_face_id is not None
        session.execute(text("DELETE FROM faces"))
    with library() as session:
        assert session.scalars(select(Person)).one().cover_face_id is None


@pytest.mark.parametrize("length", [0, 127, 129, 255, 257])
def test_embedding_vector_must_be_128_or_256_bytes(
    library: sessionmaker[Session], length: int
) -> None:
    with pytest.raises(ValueError, match="128 or 256 bytes"):
        Embedding(face_id=1, model_version_id=1, vector=bytes(length))
    with library() as session:
        version = ensure_active_model_version(session, "dlib-resnet-v1", SHA_A)
        face = make_face(make_photo())
        session.add(face)
        session.flush()
        session.add(Embedding(face=face, model_version=version, vector=bytes(range(128))))
        session.flush()  # exactly 128 is fine
        fused = ensure_active_model_version(session, "fused-dlib-sface-v1", SHA_A[::-1])
        session.add(Embedding(face=face, model_version=fused, vector=bytes(256)))
        session.flush()  # and so is 256 (the accurate model's fused vector)
        with pytest.raises(IntegrityError, match="CHECK"):  # the database refuses it too
            session.execute(
                text("INSERT INTO embeddings VALUES (:f, :m, :v)"),
                {"f": face.id, "m": version.id + 2, "v": bytes(length)},
            )


def test_embedding_vector_round_trips(library: sessionmaker[Session]) -> None:
    vector = bytes((i * 7) % 256 for i in range(128))
    with library.begin() as session:
        version = ensure_active_model_version(session, "dlib-resnet-v1", SHA_A)
        session.add(Embedding(face=make_face(make_photo()), model_version=version, vector=vector))
    with library() as session:
        assert session.scalars(select(Embedding)).one().vector == vector


def test_a_face_is_rejected_by_a_person_only_once(library: sessionmaker[Session]) -> None:
    with library.begin() as session:
        face = make_face(make_photo())
        person = Person()
        session.add(FaceRejection(face=face, person=person))
        session.flush()
        ids = {"face_id": face.id, "person_id": person.id}
    with library() as session, pytest.raises(IntegrityError, match="UNIQUE"):
        session.add(FaceRejection(**ids))
        session.flush()


def test_landmarks_round_trip_and_are_validated(library: sessionmaker[Session]) -> None:
    with library.begin() as session:
        session.add(make_face(make_photo()))
    with library() as session:
        face = session.scalars(select(Face)).one()
        assert face.landmark_points == LANDMARKS
        assert face.box == (5.0, 6.0, 35.0, 40.0)
    with pytest.raises(ValueError, match="5 landmarks"):
        pack_landmarks([(1.0, 2.0)] * 4)
    with pytest.raises(ValueError, match="40 bytes"):
        Face(landmarks=b"\x00" * 39)
    with library() as session, pytest.raises(IntegrityError, match="CHECK"):
        session.add(make_face(make_photo(2), landmark_scheme="dlib68"))
        session.flush()


def test_timestamps_are_utc_aware_and_taken_at_is_naive(library: sessionmaker[Session]) -> None:
    taken = datetime(2019, 7, 14, 18, 30, 5)
    with library.begin() as session:
        session.add(make_photo(taken_at=taken, scanned_at=datetime.now(UTC)))
        session.add(Root(path="/photos"))
        session.add(ScanJob(roots=["/photos"], counts={"new": 1}))
    with library() as session:
        photo = session.scalars(select(Photo)).one()
        assert photo.taken_at == taken
        assert photo.scanned_at is not None and photo.scanned_at.tzinfo is UTC
        assert session.scalars(select(Root)).one().added_at.tzinfo is UTC
        job = session.scalars(select(ScanJob)).one()
        assert (job.status, job.roots, job.counts) == ("running", ["/photos"], {"new": 1})


# --- model versions and status -----------------------------------------------------------------


def test_exactly_one_model_version_is_active(library: sessionmaker[Session]) -> None:
    with library.begin() as session:
        assert get_active_model_version(session) is None
        base = ensure_active_model_version(session, "dlib-resnet-v1", SHA_A)
        assert ensure_active_model_version(session, "dlib-resnet-v1", SHA_A).id == base.id
        tuned = ensure_active_model_version(session, "dlib-resnet-v1", SHA_B, parent=base)
        assert tuned.parent_id == base.id
        active = get_active_model_version(session)
        assert active is not None and active.id == tuned.id
        activate_model_version(session, base)  # restoring an older version
        active = get_active_model_version(session)
        assert active is not None and active.id == base.id
        assert count(session, ModelVersion) == 2
    with library() as session, pytest.raises(IntegrityError, match="UNIQUE"):
        session.execute(text("UPDATE model_versions SET is_active = 1"))


def test_status_counts(library: sessionmaker[Session]) -> None:
    with library() as session:
        assert status_counts(session) == {
            "photos": 0,
            "pending": 0,
            "done": 0,
            "failed": 0,
            "missing": 0,
            "unavailable": 0,
            "faces": 0,
            "people": 0,
            "named_people": 0,
            "unreadable_folders": 0,
            "model_version": None,
        }
    with library.begin() as session:
        ensure_active_model_version(session, "dlib-resnet-v1", SHA_A)
        ada, unnamed = Person(name="Ada"), Person()
        first, second = make_photo(1, status="done"), make_photo(2, status="done")
        session.add_all(
            [
                make_face(first, person=ada, assignment="confirmed"),
                make_face(first, person=unnamed, assignment="auto"),
                make_face(second, person=ada, assignment="auto"),
                make_photo(3, status=PhotoStatus.FAILED, error="not an image file"),
                make_photo(4),
                make_photo(5, status=PhotoStatus.MISSING),
                make_photo(6, status=PhotoStatus.UNAVAILABLE, error="permission denied"),
                make_photo(7, status=PhotoStatus.UNAVAILABLE, error="permission denied"),
                FolderProblem(path="/photos/locked", error="permission denied"),
                Person(name=" "),
            ]
        )
    with library() as session:
        assert status_counts(session) == {
            "photos": 7,
            "pending": 1,
            "done": 2,
            "failed": 1,
            "missing": 1,
            "unavailable": 2,
            "faces": 3,
            "people": 3,
            "named_people": 1,
            "unreadable_folders": 1,
            "model_version": "dlib-resnet-v1",
        }


# --- migrations -----------------------------------------------------------------------------


def test_library_at_revision_0001_is_upgraded_and_readable(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    command.upgrade(alembic_config(url=f"sqlite:///{path}"), "0001")
    landmarks = pack_landmarks(LANDMARKS)
    vector = bytes(range(128))
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO roots (id, path) VALUES (1, '/photos')")
        conn.execute(
            "INSERT INTO model_versions (id, name, weights_sha256, is_active, metrics)"
            " VALUES (1, 'dlib-resnet-v1', ?, 1, '{\"val_at_far\": 0.939}')",
            (SHA_A,),
        )
        conn.execute(
            "INSERT INTO photos (id, root_id, path, size, mtime_ns, content_hash, width, height,"
            " taken_at, status, scanned_at, detector, detector_settings)"
            " VALUES (1, 1, '/photos/a.jpg', 1234, 1700000000000000000, ?, 640, 480,"
            " '2019-07-14 18:30:05.000000', 'done', '2024-01-02 03:04:05.000000',"
            " 'dlib-hog', '{\"upsample\": 1}')",
            ("c" * 64,),
        )
        conn.execute("INSERT INTO people (id, name) VALUES (1, 'Ada')")
        conn.execute(
            "INSERT INTO faces (id, photo_id, x1, y1, x2, y2, landmarks, landmark_scheme,"
            " detector, det_score, person_id, assignment)"
            " VALUES (1, 1, 5, 6, 35, 40, ?, 'dlib5', 'dlib-hog', 0.97, 1, 'confirmed')",
            (landmarks,),
        )
        conn.execute("UPDATE people SET cover_face_id = 1")
        conn.execute("INSERT INTO embeddings VALUES (1, 1, ?)", (vector,))
        conn.execute("INSERT INTO face_rejections (face_id, person_id) VALUES (1, 1)")
        conn.execute("INSERT INTO scan_jobs (roots, counts) VALUES ('[\"/photos\"]', '{}')")
    conn.close()

    factory = open_library(path)
    with factory() as session:
        photo = session.scalars(select(Photo)).one()
        assert photo.root is not None and photo.root.path == "/photos"
        assert photo.taken_at == datetime(2019, 7, 14, 18, 30, 5)
        assert photo.scanned_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
        assert photo.detector_settings == {"upsample": 1}
        (face,) = photo.faces
        assert face.landmark_points == LANDMARKS
        assert face.person is not None and face.person.name == "Ada"
        assert face.person.cover_face is face
        assert face.assignment == Assignment.CONFIRMED and face.is_ignored is False
        assert face.created_at.tzinfo is UTC  # filled in by the server default
        (embedding,) = face.embeddings
        assert embedding.vector == vector
        assert embedding.model_version.metrics == {"val_at_far": 0.939}
        assert [r.person_id for r in face.rejections] == [1]
        assert status_counts(session)["model_version"] == "dlib-resnet-v1"
        assert session.scalars(select(ScanJob)).one().status == "running"
    assert integrity_check(engine_of(factory)) == "ok"
    engine_of(factory).dispose()


def old_library_with_a_face(tmp_path: Path, revision: str, status: str) -> tuple[Path, Config]:
    """A library at the older schema ``revision``, written in plain SQL as that schema has it:
    root 7, photo 3 (in ``status``) and face 5 on it. Returns its path and Alembic config."""
    path = tmp_path / "library.db"
    config = alembic_config(url=f"sqlite:///{path}")
    command.upgrade(config, revision)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("INSERT INTO roots (id, path) VALUES (7, '/photos')")
        conn.execute(
            "INSERT INTO photos (id, root_id, path, size, mtime_ns, content_hash, status)"
            " VALUES (3, 7, '/photos/a.jpg', 1, 2, ?, ?)",
            ("c" * 64, status),
        )
        conn.execute(
            "INSERT INTO faces (id, photo_id, x1, y1, x2, y2, landmarks, landmark_scheme,"
            " detector, det_score) VALUES (5, 3, 1, 2, 3, 4, ?, 'mtcnn5', 'mtcnn', 0.9)",
            (pack_landmarks(LANDMARKS),),
        )
    return path, config


def test_upgrade_to_0004_keeps_rows_and_allows_unavailable_photos(tmp_path: Path) -> None:
    """0004 rebuilds roots and photos (a CHECK and a column cannot be changed in place): ids,
    rows and the faces pointing at them survive, and the way back maps the new state."""
    path, config = old_library_with_a_face(tmp_path, "0003", "missing")
    factory = open_library(path)  # 0003 -> head, after a backup
    with factory.begin() as session:
        root = session.get(Root, 7)
        assert root is not None and root.added_path == "/photos"
        photo = session.get(Photo, 3)
        assert photo is not None and photo.status == "missing" and photo.root_id == 7
        assert [f.id for f in photo.faces] == [5]
        photo.status = PhotoStatus.UNAVAILABLE
        session.add(FolderProblem(path="/photos/locked", root_id=7, error="permission denied"))
    engine_of(factory).dispose()
    assert (tmp_path / "library.db.before-upgrade-from-0003.bak").is_file()
    command.downgrade(config, "0003")
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT status FROM photos WHERE id = 3").fetchone() == ("missing",)
    assert conn.execute("SELECT photo_id FROM faces").fetchall() == [(3,)]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()


def test_upgrade_to_0007_keeps_embeddings_and_allows_fused_vectors(tmp_path: Path) -> None:
    """0007 rebuilds embeddings (a CHECK cannot be changed in place): the 128-byte rows survive,
    256-byte ones are accepted afterwards (and no other length), and the way back drops them."""
    path, config = old_library_with_a_face(tmp_path, "0006", "done")
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "INSERT INTO model_versions (id, name, weights_sha256, is_active, created_at)"
            " VALUES (1, 'dlib-resnet-v1', ?, 1, '2026-12-07')",
            ("a" * 64,),
        )
        conn.execute("INSERT INTO embeddings VALUES (5, 1, ?)", (bytes(range(128)),))
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO embeddings VALUES (5, 2, ?)", (bytes(256),))
    factory = open_library(path)  # 0006 -> head
    with factory.begin() as session:
        assert session.scalars(select(Embedding)).one().vector == bytes(range(128))
        fused = ensure_active_model_version(session, "fused-dlib-sface-v1", SHA_A[::-1])
        session.add(Embedding(face_id=5, model_version_id=fused.id, vector=bytes(256)))
    with factory() as session, pytest.raises(IntegrityError, match="CHECK"):
        session.execute(text("INSERT INTO embeddings VALUES (5, 9, :v)"), {"v": bytes(200)})
    engine_of(factory).dispose()
    command.downgrade(config, "0006")
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT length(vector) FROM embeddings").fetchall() == [(128,)]
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    conn.close()


def test_models_match_migrated_schema(library: sessionmaker[Session]) -> None:
    with engine_of(library).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def _schema_sql(engine: Engine) -> dict[tuple[str, str], str]:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT type, name, sql FROM sqlite_master"
            " WHERE sql IS NOT NULL AND name != 'alembic_version'"
        ).all()
    return {(kind, name): " ".join(sql.split()) for kind, name, sql in rows}


def test_models_ddl_matches_migrated_ddl(library: sessionmaker[Session]) -> None:
    """Stricter than compare_metadata: CHECKs, partial indexes and the trigger must match too."""
    fresh = create_engine("sqlite://")
    Base.metadata.create_all(fresh)
    assert _schema_sql(engine_of(library)) == _schema_sql(fresh)
    fresh.dispose()


def test_reopening_keeps_data_and_makes_no_backup(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    factory = open_library(path)
    with factory.begin() as session:
        session.add(make_photo())
    engine_of(factory).dispose()
    factory = open_library(path)
    with factory() as session:
        assert count(session, Photo) == 1
    engine_of(factory).dispose()
    assert not list(tmp_path.glob("*.bak"))


HEAD = ScriptDirectory.from_config(store_db.alembic_config()).get_current_head() or ""
"""The newest real revision; the test revisions below go on top of it."""

NEXT_HEADER = f"""
import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{HEAD}"
branch_labels = None
depends_on = None
"""
"""The start of a test revision "9999" on top of the real head."""


def migrations_with_next(tmp_path: Path, file_name: str, body: str) -> Path:
    """A copy of the real migrations in ``tmp_path`` with one more revision, "9999"
    (``body``: its upgrade and downgrade), in ``file_name``."""
    migrations = tmp_path / "migrations"
    shutil.copytree(
        store_db.MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__")
    )
    (migrations / "versions" / file_name).write_text(NEXT_HEADER + body)
    return migrations


def use_migrations(monkeypatch: pytest.MonkeyPatch, migrations: Path) -> None:
    """From now on libraries open with ``migrations``, whose head is the test revision."""
    monkeypatch.setattr(store_db, "MIGRATIONS_DIR", migrations)
    monkeypatch.setattr(store_db, "SCHEMA_HEAD", "9999")


REBUILD_PHOTOS_NEXT = """

def upgrade() -> None:
    # SQLite batch mode copies the table, drops the old one and renames the copy: with foreign
    # keys enforced, dropping "photos" would cascade-delete every face.
    with op.batch_alter_table("photos", recreate="always") as batch:
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("photos", recreate="always") as batch:
        batch.drop_column("note")
"""


def test_upgrade_rebuilding_a_table_keeps_children_and_makes_a_backup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A future revision that rebuilds a parent table must not cascade-delete its children."""
    migrations = migrations_with_next(tmp_path, "0002_rebuild_photos.py", REBUILD_PHOTOS_NEXT)
    path = tmp_path / "library.db"
    factory = open_library(path)  # at the real head
    with factory.begin() as session:
        add_ada_with_her_cover(session)
    engine_of(factory).dispose()

    use_migrations(monkeypatch, migrations)
    factory = open_library(path)
    with factory() as session:
        connection = session.connection()
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == (
            "9999"
        )
        assert connection.exec_driver_sql("SELECT count(*) FROM faces").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        assert session.scalars(select(Person)).one().cover_face_id is not None
    engine_of(factory).dispose()
    backup = tmp_path / f"library.db.before-upgrade-from-{HEAD}.bak"
    assert backup.is_file()
    conn = sqlite3.connect(backup)
    assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (HEAD,)
    assert conn.execute("SELECT count(*) FROM faces").fetchone() == (1,)
    conn.close()


FAILING_NEXT = """

def upgrade() -> None:
    op.create_table("half_done", sa.Column("id", sa.Integer(), primary_key=True))
    op.add_column("photos", sa.Column("note", sa.Text(), nullable=True))
    raise RuntimeError("migration bug")


def downgrade() -> None:
    pass
"""


def test_a_failing_upgrade_leaves_the_library_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrations = migrations_with_next(tmp_path, "9999_broken.py", FAILING_NEXT)
    path = tmp_path / "library.db"
    factory = open_library(path)
    with factory.begin() as session:
        session.add(make_photo())
    engine_of(factory).dispose()

    use_migrations(monkeypatch, migrations)
    with pytest.raises(RuntimeError, match="migration bug"):
        open_library(path)
    conn = sqlite3.connect(path)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    photo_columns = {row[1] for row in conn.execute("PRAGMA table_info(photos)")}
    version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    conn.close()
    assert "half_done" not in tables
    assert "note" not in photo_columns
    assert version == (HEAD,)


def test_migrations_downgrade_to_empty(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    config = alembic_config(url=f"sqlite:///{path}")
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    conn = sqlite3.connect(path)
    names = {
        row[0]
        for row in conn.execute("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
    }
    conn.close()
    assert names <= {"alembic_version"}


def test_library_from_a_newer_app_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    engine_of(open_library(path)).dispose()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()
    with pytest.raises(LibraryError, match="newer version"):
        open_library(path)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    path.write_bytes(b"this is not a database, it is a shopping list" * 100)
    with pytest.raises(LibraryError, match="not a FaceNet Photos library"):
        open_library(path)


# --- one writer ----------------------------------------------------------------------------------


def test_writer_lock_is_exclusive_reentrant_and_names_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    with Library.open(path, create=True) as a, Library.open(path) as b:
        with a.writer("scan"):
            with a.writer("scan"):  # the same job may take it again
                pass
            with pytest.raises(LibraryBusy) as busy, b.writer("scan"):
                pass
            assert busy.value.pid == os.getpid()
            assert "is being scanned by process" in str(busy.value)
            assert b.writer_owner() is not None
        with b.writer("scan"):  # released
            assert a.writer_owner() == b.writer_owner()
        assert a.writer_owner() is None
        # another spelling of the same file (a link) is the same library, with the same lock
        (tmp_path / "link.db").symlink_to(path)
        with Library.open(tmp_path / "link.db") as c, a.writer("scan"):
            assert c.path == a.path
            with pytest.raises(LibraryBusy), c.writer("scan"):
                pass


def test_write_transactions_never_fail_half_way_on_a_concurrent_commit(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    with Library.open(path, create=True) as a, Library.open(path) as b:
        # the deferred way: read, someone else commits, then write -> "database is locked" at
        # once (SQLite cannot upgrade a stale read snapshot; waiting would not help)
        reader = connect(path)
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM photos").fetchone()
            with b.write() as t:
                t.add(make_photo(1))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                reader.execute("DELETE FROM photos")
            reader.rollback()
        finally:
            reader.close()
        # so a Library's reading session refuses to write after a read, every time (not only
        # when someone else happened to commit): the bug shows in tests, not at a user's edit
        with a.session() as s:
            s.scalar(select(func.count()).select_from(Photo))
            s.add(make_photo(2))
            with pytest.raises(WriteInReadTransaction):
                s.flush()
            s.rollback()
        # Library.write(): the write lock is taken first, the other writer waits its turn
        errors: list[BaseException] = []

        def other() -> None:
            try:
                with b.write() as t:
                    t.add(make_photo(3))
            except BaseException as exc:
                errors.append(exc)

        with a.write() as s:
            s.scalar(select(func.count()).select_from(Photo))
            thread = threading.Thread(target=other)
            thread.start()
            time.sleep(0.5)
            s.add(make_photo(4))
        thread.join()
        assert errors == []
        with a.session() as s:
            assert sorted(s.scalars(select(Photo.size))) == [1001, 1003, 1004]


def test_read_only_access_is_chosen_from_what_the_file_system_allows(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    with Library.open(path, create=True) as lib:
        assert lib.read_only is None and lib.access == "rw"
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(path)]).returncode:
        pytest.skip("chattr +i is not available here")
    try:
        with pytest.raises(LibraryError, match=r"cannot change the library .*immutable"):
            Library.open(path)
        with Library.open(path, write=False) as lib:
            assert lib.access == "ro" and "immutable" in (lib.read_only or "")
            with lib.session() as s:
                assert s.scalar(select(func.count()).select_from(Photo)) == 0
            with pytest.raises(LibraryError, match="cannot change"), lib.writer("scan"):
                pass
    finally:
        subprocess.run(["chattr", "-i", str(path)])
