"""The scan's writer on its own: faces fed pre-computed (as a Ray cluster returns them) go in
with ids the writer numbers itself, in one ``executemany`` a batch, and thumbnails written after
the commit; what those mechanisms must keep (the rows as found, ids never given twice, a
thumbnail for every face) is tested here."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from facenet_core.library import ingest as ingest_module
from facenet_core.library.ingest import Ingest, ingest_pending
from facenet_core.library.plan import pending_photos, plan_scan
from facenet_core.library.result import ScanResult
from facenet_core.library.scan import _roots
from facenet_core.library.thumbs import sync_thumbnails
from facenet_core.progress import CancelToken, ignore_progress
from facenet_core.quantize import to_bytes
from facenet_core.settings import Settings
from facenet_core.store import (
    DRAWN_BY_USER,
    Embedding,
    Face,
    Library,
    Photo,
    PhotoStatus,
    ensure_active_model_version,
    pack_landmarks,
    unpack_landmarks,
)
from facenet_core.thumbnails import thumbnail_path
from facenet_core.types import Detection
from facenet_core.vision.engines import Engines
from facenet_core.vision.faces import FaceJob, PhotoFaces

FACES_PER_PHOTO = 3


def _photo(path: Path, shade: int) -> None:
    Image.new("RGB", (120, 90), (shade, 100, 200 - shade)).save(path, "JPEG")


def _faces(path: Path, shift: float = 0.0) -> PhotoFaces:
    """Three faces side by side in a 120 x 90 photo, each with its own embedding and a
    thumbnail naming the photo and the face (so that a file can be traced to its face)."""
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    detections, thumbs = [], []
    for i in range(FACES_PER_PHOTO):
        x = 5.0 + 38 * i + shift
        points = np.array([[x + 8, 30], [x + 22, 30], [x + 15, 40], [x + 9, 50], [x + 21, 50]])
        detections.append(
            Detection((x, 20.0, x + 30, 60.0), 0.9, points.astype(np.float32), "mtcnn5")
        )
        thumbs.append(f"{path.name}:{i}".encode())
    vectors = rng.normal(size=(FACES_PER_PHOTO, 128)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return PhotoFaces(
        path=path,
        width=120,
        height=90,
        detections=detections,
        thumbnails=thumbs,
        embeddings=vectors,
    )


def _ingest(library: Library, folder: Path, shift: float = 0.0, batch_faces: int = 4) -> ScanResult:
    """Plan ``folder`` and store the pending photos' faces, fed pre-computed, in small batches
    (several transactions, several thumbnail batches in flight)."""
    result = ScanResult()
    roots = _roots(library, [folder])
    plan_scan(library, roots, result, ignore_progress, CancelToken())
    queue = list(pending_photos(library, roots))
    with library.write() as session:
        version_id = ensure_active_model_version(session, "test-model", "0" * 64).id
    job = FaceJob(detector=Engines().detector_config(Settings(device="cpu")), thumbnails=True)

    def source(paths: Iterator[Path]) -> Iterator[PhotoFaces]:
        return (_faces(p, shift) for p in paths)

    ingest = Ingest(library, None, job, version_id, result)
    ingest_pending(ingest, queue, ignore_progress, CancelToken(), source, batch_faces=batch_faces)
    return result


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    with Library.open(tmp_path / "lib.db", create=True) as lib, lib.writer("test"):
        yield lib


def test_every_face_is_stored_as_found_with_its_thumbnail_on_disk(
    tmp_path: Path, library: Library
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(7):
        _photo(folder / f"p{i}.jpg", 20 * i)
    result = _ingest(library, folder)
    assert result.faces_added == 7 * FACES_PER_PHOTO
    with library.session() as session:
        faces = session.scalars(select(Face).order_by(Face.id)).all()
        assert [f.id for f in faces] == list(range(1, 7 * FACES_PER_PHOTO + 1))
        for face in faces:
            found = _faces(Path(face.photo.path))
            i = [d.box for d in found.detections].index(face.box)
            assert face.landmarks == pack_landmarks(found.detections[i].landmarks)
            assert np.allclose(unpack_landmarks(face.landmarks), found.detections[i].landmarks)
            assert (face.landmark_scheme, face.det_score) == ("mtcnn5", pytest.approx(0.9))
            assert face.assignment == "none" and not face.is_ignored and face.created_at
            (code,) = face.embeddings
            assert code.vector == to_bytes(found.embeddings[i])  # type: ignore[index]
            # written by the thumbnail threads after each commit
            path = thumbnail_path(library.thumbnails_dir, face.id)
            assert path.read_bytes() == found.thumbnails[i]
        photos = session.scalars(select(Photo)).all()
        assert {(p.status, p.width, p.height, p.media_kind) for p in photos} == {
            (PhotoStatus.DONE, 120, 90, "photo")
        }


def test_ids_the_writer_gives_are_never_given_again(tmp_path: Path, library: Library) -> None:
    """The writer numbers its faces itself (no RETURNING): after the newest faces are deleted,
    the next ones still get new ids (a thumbnail, an undo step or recognition's "newest face
    seen" never meets an id again), and so does a face added the ORM's way afterwards."""
    folder = tmp_path / "photos"
    folder.mkdir()
    _photo(folder / "a.jpg", 10)
    _photo(folder / "b.jpg", 90)
    _ingest(library, folder)
    with library.write() as session:
        newest = max(session.scalars(select(Face.id)))
        b = session.scalars(select(Photo).where(Photo.path.like("%b.jpg"))).one()
        session.delete(b)  # its faces go with it, the newest ones among them
    (folder / "b.jpg").unlink()
    _photo(folder / "c.jpg", 160)
    _ingest(library, folder)
    with library.write() as session:
        c = session.scalars(select(Photo).where(Photo.path.like("%c.jpg"))).one()
        ids = sorted(f.id for f in c.faces)
        assert ids == list(range(newest + 1, newest + 1 + FACES_PER_PHOTO))
        drawn = Face(
            photo=c,
            box=(1.0, 1.0, 9.0, 9.0),
            landmarks=pack_landmarks([(2.0, 2.0)] * 5),
            landmark_scheme="mtcnn5",
            detector=DRAWN_BY_USER,
            det_score=1.0,
        )
        session.add(drawn)
        session.flush()
        assert drawn.id == ids[-1] + 1


def test_a_changed_photo_gets_its_new_faces_the_same_way_and_keeps_its_labels(
    tmp_path: Path, library: Library
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    _photo(folder / "a.jpg", 10)
    _ingest(library, folder)
    with library.write() as session:
        old = session.scalars(select(Face).order_by(Face.x1)).all()
        old_ids = [f.id for f in old]
        old[0].is_ignored = True
    _photo(folder / "a.jpg", 200)  # other bytes: planned again, its faces found a pixel aside
    result = _ingest(library, folder, shift=1.0)
    assert (result.faces_added, result.faces_removed) == (FACES_PER_PHOTO, FACES_PER_PHOTO)
    with library.session() as session:
        faces = session.scalars(select(Face).order_by(Face.x1)).all()
        assert min(f.id for f in faces) > max(old_ids)
        assert [f.is_ignored for f in faces] == [True, False, False]
        assert [f.x1 for f in faces] == [6.0, 44.0, 82.0]
        assert session.scalars(select(Embedding.face_id)).all() == sorted(f.id for f in faces)
    for face_id in old_ids:
        assert not thumbnail_path(library.thumbnails_dir, face_id).exists()
    for face in faces:
        assert thumbnail_path(library.thumbnails_dir, face.id).exists()


def test_faces_committed_before_their_thumbnails_are_written_get_them_at_the_scans_end(
    tmp_path: Path, library: Library, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thumbnails are written after the commit: a writer killed in between leaves faces
    with no file, which the scan's last step makes from the photos."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        _photo(folder / f"p{i}.jpg", 60 * i)
    monkeypatch.setattr(ingest_module, "write_thumbnail", lambda folder, face_id, data: None)
    _ingest(library, folder)
    monkeypatch.undo()
    with library.session() as session:
        face_ids = session.scalars(select(Face.id)).all()
    assert len(face_ids) == 3 * FACES_PER_PHOTO
    assert not any(thumbnail_path(library.thumbnails_dir, i).exists() for i in face_ids)
    made, removed = sync_thumbnails(library, ignore_progress, CancelToken())
    assert (made, removed) == (len(face_ids), 0)
    for face_id in face_ids:
        data = thumbnail_path(library.thumbnails_dir, face_id).read_bytes()
        assert Image.open(io.BytesIO(data)).format == "JPEG"
