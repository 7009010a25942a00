"""Scanning real photos into a library: incremental, moves, vanished files, changed files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from facenet_core.library import ScanResult
from facenet_core.library import scan as run_scan
from facenet_core.library.walk import walk_photos
from facenet_core.paths import thumbnails_dir
from facenet_core.quantize import from_bytes
from facenet_core.settings import Settings
from facenet_core.store import (
    Assignment,
    Embedding,
    Face,
    FaceRejection,
    Library,
    Person,
    Photo,
    PhotoStatus,
    open_library,
)
from facenet_core.thumbnails import ensure_thumbnail, thumbnail_path


@pytest.fixture
def photos(tmp_path: Path, lfw_images: list[Path]) -> Path:
    folder = tmp_path / "photos"
    (folder / "trip").mkdir(parents=True)
    for i, src in enumerate(lfw_images[:8]):
        shutil.copy(src, folder / ("trip" if i % 2 else "") / f"img_{i}.jpg")
    (folder / "notes.txt").write_text("not a photo, not even looked at")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    return folder


def scan(library: Path, folder: Path, workers: int = 0) -> ScanResult:
    events = []
    with Library.open(library, create=True) as lib:
        settings = Settings(device="cpu", flip=False, workers=workers)
        result = run_scan(lib, [folder], settings, reporter=events.append)
    assert events and events[-1].task == "scan"
    assert events[-1].phase in ("walk", "faces", "tags") or events[-1].phase.startswith("people: ")
    return result


def test_first_scan_then_unchanged_rescan(tmp_path, photos) -> None:
    library = tmp_path / "lib" / "library.db"
    first = scan(library, photos, workers=1)
    assert first.photos_added == 9 and first.photos_failed == 1
    assert first.faces_added >= 7  # HOG misses a face now and then
    sessions = open_library(library)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Photo)) == 9
        broken = s.scalars(select(Photo).where(Photo.path.endswith("broken.jpg"))).one()
        assert broken.status == PhotoStatus.FAILED and "not an image" in broken.error
        done = s.scalars(select(Photo).where(Photo.status == PhotoStatus.DONE)).all()
        assert all(p.width == 250 and p.height == 250 and len(p.content_hash) == 64 for p in done)
        faces = s.scalars(select(Face)).all()
        for face in faces:
            assert len(face.embeddings) == 1
            vec = from_bytes(face.embeddings[0].vector)
            assert abs(float(np.linalg.norm(vec)) - 1) < 1e-5
            assert thumbnail_path(thumbnails_dir(library), face.id).is_file()
            assert 0 <= face.x1 < face.x2 <= 250 and face.landmark_points
        # a lost thumbnail is made again from its photo, the same crop as before
        face = faces[0]
        original = thumbnail_path(thumbnails_dir(library), face.id)
        before = Image.open(original).size
        original.unlink()
        remade = ensure_thumbnail(thumbnails_dir(library), face.id, face.photo.path, face.box)
        assert remade == original and Image.open(remade).size == before
    again = scan(library, photos)
    assert (again.photos_added, again.photos_unchanged, again.faces_added) == (0, 9, 0)


def test_moved_files_keep_faces_and_labels(tmp_path, photos) -> None:
    library = tmp_path / "library.db"
    scan(library, photos)
    sessions = open_library(library)
    with sessions() as s, s.begin():
        face = s.scalars(select(Face).join(Photo).where(Photo.path.endswith("img_0.jpg"))).one()
        alice, carol = Person(name="Alice"), Person(name="Carol")
        s.add_all([alice, carol])
        s.flush()
        face.person_id, face.assignment = alice.id, Assignment.CONFIRMED
        s.add(FaceRejection(face_id=face.id, person_id=carol.id))
        face_id = face.id
    (photos / "archive").mkdir()
    shutil.move(photos / "img_0.jpg", photos / "archive" / "renamed.jpg")
    (photos / "trip" / "img_1.jpg").unlink()
    stats = scan(library, photos)
    assert stats.photos_moved == 1 and stats.photos_missing == 1 and stats.faces_added == 0
    with sessions() as s:
        face = s.get(Face, face_id)
        assert face.photo.path.endswith("archive/renamed.jpg")
        assert face.person.name == "Alice" and face.assignment == Assignment.CONFIRMED
        assert [r.person.name for r in face.rejections] == ["Carol"]
        gone = s.scalars(select(Photo).where(Photo.path.endswith("img_1.jpg"))).one()
        assert gone.status == PhotoStatus.MISSING and gone.faces  # kept, with its faces
    # the vanished file comes back: it is the same photo again, nothing duplicated
    shutil.copy(photos / "archive" / "renamed.jpg", photos / "trip" / "img_1_copy.jpg")
    stats = scan(library, photos)
    assert stats.photos_added == 1  # a copy of an existing file is a photo of its own


def test_changed_photo_keeps_the_users_word(tmp_path, photos) -> None:
    library = tmp_path / "library.db"
    scan(library, photos)
    sessions = open_library(library)
    target = photos / "img_2.jpg"
    with sessions() as s, s.begin():
        face = s.scalars(select(Face).join(Photo).where(Photo.path == str(target))).one()
        bob = Person(name="Bob")
        s.add(bob)
        s.flush()
        face.person_id, face.assignment = bob.id, Assignment.CONFIRMED
        old_id = face.id
    Image.open(target).save(target, quality=70)  # edited: same face, new bytes
    stats = scan(library, photos)
    assert stats.photos_changed == 1 and stats.faces_added == 1
    with sessions() as s:
        faces = s.scalars(select(Face).join(Photo).where(Photo.path == str(target))).all()
        assert len(faces) == 1 and faces[0].id != old_id
        assert faces[0].person.name == "Bob" and faces[0].assignment == Assignment.CONFIRMED
        assert s.scalar(select(func.count()).select_from(Embedding)) == s.scalar(
            select(func.count()).select_from(Face)
        )


def test_walk_cuts_symlink_loops_and_reports_broken_links(tmp_path) -> None:
    (tmp_path / "a").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "a" / "x.png")
    (tmp_path / "a" / "loop").symlink_to(tmp_path)
    (tmp_path / "dead.jpg").symlink_to(tmp_path / "nowhere.jpg")
    found = list(walk_photos([tmp_path]))
    paths = sorted(Path(f.path).name for f in found)
    assert paths == ["dead.jpg", "x.png"]
    dead = next(f for f in found if f.path.endswith("dead.jpg"))
    assert dead.error is not None and "broken symbolic link" in dead.error
