"""Library folders: counts per folder, adding, and removing a folder without touching its files;
photo thumbnails and previews for the app."""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from facenet_core.library.roots import (
    add_root,
    failed_photos,
    list_roots,
    normalise,
    remove_root,
)
from facenet_core.store import (
    Assignment,
    Embedding,
    Face,
    FaceRejection,
    Library,
    ModelVersion,
    Person,
    Photo,
    PhotoStatus,
    Root,
    pack_landmarks,
)
from facenet_core.thumbnails import (
    PHOTO_THUMBNAIL_SIZE,
    ensure_photo_thumbnail,
    photo_preview,
    photo_thumbnail_path,
    thumbnail_path,
    write_thumbnail,
)
from tests.helpers import make_face

LANDMARKS = [(10.0, 12.0), (20.0, 12.0), (15.0, 18.0), (11.0, 24.0), (19.0, 24.0)]


def _photo(root: Root | None, path: str, status: str = PhotoStatus.DONE, n: int = 0) -> Photo:
    return Photo(
        root=root,
        path=path,
        size=1000 + n,
        mtime_ns=1_700_000_000_000_000_000 + n,
        content_hash=f"{n:064x}",
        width=640,
        height=480,
        status=status,
        error="not an image file" if status == PhotoStatus.FAILED else None,
    )


def _face(photo: Photo, person: Person | None = None) -> Face:
    return make_face(
        photo,
        landmarks=pack_landmarks(LANDMARKS),
        landmark_scheme="mtcnn5",
        detector="mtcnn",
        det_score=0.99,
        person=person,
        assignment=Assignment.CONFIRMED if person else Assignment.NONE,
    )


@pytest.fixture
def library(tmp_path: Path) -> Library:
    lib = Library.open(tmp_path / "library.db", create=True)
    yield lib
    lib.close()


def _two_folders(library: Library, tmp_path: Path) -> dict[str, int]:
    """Folder A (3 photos: 2 done with faces, 1 failed) and B (1 photo); Alice has faces in both,
    Bob only in A, and an unnamed cluster only in A."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    with library.write() as s:
        version = ModelVersion(name="test", weights_sha256="0" * 64, is_active=True)
        root_a, root_b = Root(path=normalise(a)), Root(path=normalise(b))
        alice, bob, nobody = Person(name="Alice"), Person(name="Bob"), Person(name=None)
        p1 = _photo(root_a, str(a / "1.jpg"), n=1)
        p2 = _photo(root_a, str(a / "sub" / "2.jpg"), n=2)
        _photo(root_a, str(a / "bad.jpg"), PhotoStatus.FAILED, n=3)
        p4 = _photo(root_b, str(b / "4.jpg"), n=4)
        faces = [_face(p1, alice), _face(p1, bob), _face(p2, nobody), _face(p4, alice)]
        s.add_all([version, root_a, root_b, *faces])
        s.flush()
        for face in faces:
            s.add(Embedding(face=face, model_version=version, vector=bytes(128)))
        s.add(FaceRejection(face=faces[3], person=bob))
        alice.cover_face_id, bob.cover_face_id = faces[0].id, faces[1].id
        s.add_all([alice, bob])
        s.flush()
        ids = {
            "a": root_a.id,
            "b": root_b.id,
            "alice": alice.id,
            "bob": bob.id,
            "nobody": nobody.id,
            "a_face": faces[0].id,
            "b_face": faces[3].id,
            "p1": p1.id,
            "p4": p4.id,
        }
        face_ids = [face.id for face in faces]
    for face_id in face_ids:
        write_thumbnail(library.thumbnails_dir, face_id, b"jpeg")
    return ids


def test_roots_are_listed_with_their_counts(library: Library, tmp_path: Path) -> None:
    ids = _two_folders(library, tmp_path)
    roots = {r.id: r for r in list_roots(library)}
    a, b = roots[ids["a"]], roots[ids["b"]]
    assert (a.photos, a.faces, a.failed, a.pending, a.missing, a.exists) == (3, 3, 1, 0, 0, True)
    assert (b.photos, b.faces, b.failed) == (1, 1, 0)
    assert [f.path for f in failed_photos(library)] == [str(tmp_path / "a" / "bad.jpg")]
    assert failed_photos(library)[0].error == "not an image file"


def test_add_root_is_idempotent_and_refuses_files(library: Library, tmp_path: Path) -> None:
    folder = tmp_path / "new"
    folder.mkdir()
    first = add_root(library, folder)
    assert add_root(library, str(folder) + os.sep) == first
    assert [r.path for r in list_roots(library)] == [str(folder)]
    assert list_roots(library)[0].photos == 0
    (tmp_path / "file.jpg").write_bytes(b"x")
    with pytest.raises(NotADirectoryError):
        add_root(library, tmp_path / "file.jpg")
    with pytest.raises(NotADirectoryError):
        add_root(library, tmp_path / "nowhere")


def test_removing_a_folder_keeps_nothing_of_it_and_no_file_is_touched(
    library: Library, tmp_path: Path
) -> None:
    ids = _two_folders(library, tmp_path)
    on_disk = tmp_path / "a" / "1.jpg"
    on_disk.write_bytes(b"the user's photo")
    removed = remove_root(library, ids["a"])
    assert (removed.photos, removed.faces, removed.people) == (3, 3, 2)  # Bob and the cluster
    assert on_disk.read_bytes() == b"the user's photo"
    with library.session() as s:
        assert s.scalars(select(Root.path)).all() == [normalise(tmp_path / "b")]
        assert s.scalars(select(Photo.id)).all() == [ids["p4"]]
        assert s.scalars(select(Face.id)).all() == [ids["b_face"]]
        assert s.scalar(select(func.count()).select_from(Embedding)) == 1
        # Bob's rejection of the face in B went with Bob
        assert s.scalar(select(func.count()).select_from(FaceRejection)) == 0
        people = {p.name: p for p in s.scalars(select(Person))}
        assert set(people) == {"Alice"}
        assert people["Alice"].cover_face_id == ids["b_face"]  # the old cover went with A
    assert not thumbnail_path(library.thumbnails_dir, ids["a_face"]).exists()
    assert thumbnail_path(library.thumbnails_dir, ids["b_face"]).exists()
    assert [r.id for r in list_roots(library)] == [ids["b"]]
    with pytest.raises(LookupError):
        remove_root(library, ids["a"])


def test_photo_thumbnail_is_made_once_and_remade_when_the_photo_changes(
    tmp_path: Path, lfw_images: list[Path]
) -> None:
    photo = tmp_path / "face.jpg"
    shutil.copy(lfw_images[0], photo)
    folder = tmp_path / "thumbs"
    made = ensure_photo_thumbnail(folder, 7, photo)
    assert made == photo_thumbnail_path(folder, 7) and made.is_file()
    with Image.open(made) as image:
        assert max(image.size) <= PHOTO_THUMBNAIL_SIZE and image.size == (250, 250)
    stamp = made.stat().st_mtime_ns
    assert ensure_photo_thumbnail(folder, 7, photo) == made
    assert made.stat().st_mtime_ns == stamp  # not made again
    time.sleep(0.01)
    Image.new("RGB", (400, 200), "red").save(photo)  # the photo was edited
    again = ensure_photo_thumbnail(folder, 7, photo)
    with Image.open(again) as image:
        assert image.size == (320, 160)
        assert image.getpixel((10, 10))[0] > 200
    assert ensure_photo_thumbnail(folder, 8, tmp_path / "gone.jpg") is None


def test_photo_preview_is_upright_and_bounded(tmp_path: Path) -> None:
    path = tmp_path / "rotated.jpg"
    image = Image.new("RGB", (300, 100), "blue")
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    image.save(path, exif=exif)
    with Image.open(io.BytesIO(photo_preview(path, 150))) as preview:
        assert preview.size == (50, 150)


def test_folder_functions_load_without_torch_and_scan_stays_the_function() -> None:
    """The app's window imports the folder functions; torch (seconds to import) waits for the
    first scan. Importing the ``scan`` submodule first must not shadow the ``scan`` function."""
    import subprocess
    import sys

    code = (
        "import sys, facenet_core.library.roots, app.jobs\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "import facenet_core.library.scan\n"
        "from facenet_core.library import scan\n"
        "assert callable(scan) and scan.__name__ == 'scan', scan\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
