"""File identity: one file is one photo however it is reached (links, ``..``, overlapping roots,
hard links, the library's own folder inside a root), and thumbnails follow their faces.

Finding 1: scanning a folder through a symbolic link used to add every photo and face again.
Finding 6: a changed photo left its old faces' thumbnails behind, and a ``touch`` (same bytes,
new time) detected the photo again.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from facenet_core.library import ScanResult, scan
from facenet_core.library.thumbs import thumbnail_files
from facenet_core.library.walk import FoundFile, UnreadableFolder, walk_photos
from facenet_core.settings import Settings
from facenet_core.store import Face, Library, Photo, Root

SETTINGS = Settings(device="cpu", flip=False, workers=1)


def run(library: Path, *roots: Path) -> ScanResult:
    with Library.open(library, create=True) as lib:
        return scan(lib, list(roots), SETTINGS)


def counts(library: Path) -> tuple[int, int, set[int]]:
    with Library.open(library) as lib, lib.session() as s:
        photos = s.scalar(select(func.count()).select_from(Photo)) or 0
        faces = set(s.scalars(select(Face.id)))
        return photos, len(faces), faces


def test_walk_yields_each_file_once_under_its_real_path(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.png"):
        Image.new("RGB", (8, 8)).save(root / name)
    os.link(root / "a.png", root / "z_hard.png")  # a second name for a.png
    (root / "alias.png").symlink_to("sub/b.png")
    (root / "sub" / "up").symlink_to(root)  # a loop back to the root
    (tmp_path / "elsewhere").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "elsewhere" / "c.png")
    (root / "outside").symlink_to(tmp_path / "elsewhere")  # a folder outside the root
    (tmp_path / "link").symlink_to(root)
    (root / "excluded").mkdir()
    Image.new("RGB", (8, 8)).save(root / "excluded" / "thumb.png")
    (root / "to_excluded").symlink_to(root / "excluded")

    found = list(walk_photos([tmp_path / "link", root / ".." / "photos", root / "sub"],
                             exclude=[root / "excluded"]))  # fmt: skip
    assert all(isinstance(f, FoundFile) and f.error is None for f in found), found
    paths = [f.path for f in found]  # type: ignore[union-attr]
    real = os.path.realpath(root)
    assert paths == [
        f"{real}/a.png",
        f"{real}/sub/b.png",
        os.path.realpath(tmp_path / "elsewhere" / "c.png"),
    ]


def test_unreadable_folder_is_reported_by_the_walk(tmp_path: Path) -> None:
    (tmp_path / "locked").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "locked" / "x.png")
    (tmp_path / "locked").chmod(0)
    try:
        if os.access(tmp_path / "locked", os.R_OK):
            pytest.skip("chmod 000 does not stop this process (root): see test_access.py")
        found = list(walk_photos([tmp_path]))
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert len(found) == 1 and isinstance(found[0], UnreadableFolder)
    assert found[0].path == os.path.realpath(tmp_path / "locked")
    assert "permission denied" in found[0].error


@pytest.fixture
def photos(tmp_path: Path, lfw_images: list[Path]) -> Path:
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for i, src in enumerate(lfw_images[:6]):
        shutil.copy(src, folder / ("sub" if i >= 4 else "") / f"img_{i}.jpg")
    return folder


def test_links_dotdot_overlapping_roots_and_the_library_folder_add_nothing(
    tmp_path: Path, photos: Path
) -> None:
    # the library lives inside the scanned folder: its thumbnails must never become photos
    library = photos / "library" / "library.db"
    first = run(library, photos)
    assert first.photos_added == 6 and first.faces_added >= 6
    n_photos, n_faces, face_ids = counts(library)
    assert n_photos == 6

    (tmp_path / "photolink").symlink_to(photos)
    (tmp_path / "sublink").symlink_to(photos / "sub")
    (photos / "alias.jpg").symlink_to("img_0.jpg")
    os.link(photos / "img_1.jpg", photos / "sub" / "zz_hard_link.jpg")
    (photos / "sub" / "up").symlink_to(photos)
    (photos / "thumbs").symlink_to(photos / "library" / "library.db.thumbnails")
    (photos / "db.jpg").symlink_to(photos / "library" / "library.db")

    for roots in (
        [tmp_path / "photolink"],
        [photos / ".." / "photos" / "."],
        [tmp_path / "sublink"],
        [photos, photos / "sub", tmp_path / "photolink"],
    ):
        again = run(library, *roots)
        assert (again.photos_added, again.photos_moved, again.photos_changed) == (0, 0, 0), roots
        assert again.faces_added == 0 and again.photos_missing == 0, roots
        assert again.photos_failed == 0, roots
    assert counts(library) == (n_photos, n_faces, face_ids)
    with Library.open(library) as lib, lib.session() as s:
        roots = {r.path: r.added_path for r in s.scalars(select(Root))}
        paths = set(s.scalars(select(Photo.path)))
    real = os.path.realpath(photos)
    # two roots (the folder and its subfolder, both real paths); each keeps what the user typed
    assert roots == {real: str(photos), f"{real}/sub": str(tmp_path / "sublink")}
    assert all(p.startswith(real + "/") and os.path.realpath(p) == p for p in paths)
    assert set(thumbnail_files(library.with_name("library.db.thumbnails"))) == face_ids


def test_touch_is_not_a_change_and_thumbnails_follow_their_faces(
    tmp_path: Path, photos: Path
) -> None:
    library = tmp_path / "library.db"
    thumbs = tmp_path / "library.db.thumbnails"
    run(library, photos)
    _, _, face_ids = counts(library)
    assert set(thumbnail_files(thumbs)) == face_ids

    # touched: same bytes, a new time -> only the stat is updated, nothing detected again
    touched = photos / "img_0.jpg"
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 7_000_000_000))
    again = run(library, photos)
    assert (again.photos_changed, again.faces_added, again.photos_detected) == (0, 0, 0)
    assert again.photos_unchanged == 6
    assert counts(library)[2] == face_ids
    with Library.open(library) as lib, lib.session() as s:
        row = s.scalars(select(Photo).where(Photo.path == str(touched))).one()
        assert row.mtime_ns == st.st_mtime_ns + 7_000_000_000

    # changed bytes (a trailer after the JPEG's end: same pixels, new sha256) -> detected again;
    # the old faces' thumbnails go with them
    changed = photos / "img_1.jpg"
    with Library.open(library) as lib, lib.session() as s:
        old = set(s.scalars(select(Face.id).join(Photo).where(Photo.path == str(changed))))
    assert old
    with open(changed, "ab") as f:
        f.write(b"edited by a photo app")
    again = run(library, photos)
    assert again.photos_changed == 1 and again.faces_removed == len(old)
    assert again.faces_added == len(old)  # the same faces, found again
    _, _, now = counts(library)
    assert not now & old and len(now) == len(face_ids)
    assert set(thumbnail_files(thumbs)) == now

    # a lost thumbnail is made again, a stray one removed, by the next scan
    lost = min(now)
    (thumbs / f"{lost // 1000:04d}" / f"{lost}.jpg").unlink()
    stray = thumbs / "0099" / "99999.jpg"
    stray.parent.mkdir()
    stray.write_bytes(b"not ours")
    again = run(library, photos)
    assert (again.thumbnails_made, again.thumbnails_removed) == (1, 1)
    assert set(thumbnail_files(thumbs)) == now
