"""A few hundred bad and odd files (see ``corpus.py``): opening each never does anything but
return an upright RGB image or raise :class:`ImageLoadError`, and a scan of them all finishes,
with every file ``done`` or ``failed`` (with a reason a person can read)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from facenet_core.imageio import ImageLoadError, open_photo
from facenet_core.library import scan
from facenet_core.paths import thumbnails_dir
from facenet_core.settings import Settings
from facenet_core.store import (
    Face,
    Library,
    Photo,
    PhotoStatus,
    integrity_check,
    open_library,
)
from facenet_core.thumbnails import thumbnail_path
from tests.core.corpus import (
    ORIENTATION_UNDO,
    ORIENTED_CROP,
    Entry,
    build_corpus,
    face_photo_path,
)

SETTINGS = Settings(device="cpu", flip=False, workers=1)

# damaged TIFF/EXIF data makes PIL warn before it gives up or carries on: expected here
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")

# what a reason shown to a person must never look like
TECHNICAL = re.compile(
    r"Traceback|\b[A-Za-z]*(Error|Exception|Warning)\b|\[Errno|\w\(['\"]|<[\w.]+ object|File \""
)
# failures of the scanner rather than of the file's content: open_photo itself may succeed
NOT_CONTENT = {"bad-name", "no-permission"}


def db_path(path: Path) -> str:
    """How the library spells ``path`` (names that are not UTF-8 are stored escaped)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def humane(reason: str | None) -> bool:
    return bool(reason and reason.strip()) and not TECHNICAL.search(reason) and len(reason) < 400


def unreadable(path: Path) -> bool:
    """Whether this process really cannot read ``path`` (as root, chmod 000 stops nothing)."""
    try:
        with open(path, "rb") as f:
            f.read(1)
    except PermissionError:
        return True
    return False


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Entry]]:
    if not face_photo_path().is_file():
        pytest.skip(f"real faces not available: {face_photo_path()} is missing")
    folder = tmp_path_factory.mktemp("corpus") / "photos"
    entries = build_corpus(folder, face_photo_path())
    yield entries
    for entry in entries:  # let the temporary folder be cleaned up
        if entry.needs_unreadable:
            entry.path.chmod(0o644)


@dataclass
class Row:
    status: str
    error: str | None
    width: int | None
    height: int | None
    boxes: list[tuple[float, float, float, float]]
    embeddings: list[int]  # number of embeddings of each face
    vector_lengths: set[int]
    thumbnails: int


@dataclass
class Scanned:
    rows: dict[str, Row]
    library: Path
    seconds: float


@pytest.fixture(scope="module")
def scanned(corpus: list[Entry], tmp_path_factory: pytest.TempPathFactory) -> Scanned:
    folder = _root(corpus)
    library = tmp_path_factory.mktemp("library") / "library.db"
    thumbs = thumbnails_dir(library)
    with Library.open(library, create=True) as lib:
        result = scan(lib, [folder], SETTINGS)  # must not raise
    assert not result.cancelled
    rows: dict[str, Row] = {}
    sessions = open_library(library)
    with sessions() as s:
        for photo in s.scalars(select(Photo)):
            faces = list(photo.faces)
            rows[photo.path] = Row(
                photo.status,
                photo.error,
                photo.width,
                photo.height,
                [f.box for f in faces],
                [len(f.embeddings) for f in faces],
                {len(e.vector) for f in faces for e in f.embeddings},
                sum(thumbnail_path(thumbs, f.id).is_file() for f in faces),
            )
    assert integrity_check(sessions.kw["bind"]) == "ok"
    return Scanned(rows, library, result.seconds)


def _root(corpus: list[Entry]) -> Path:
    return Path(os.path.commonpath([e.path for e in corpus]))


def test_corpus_is_large_varied_and_deterministic(corpus: list[Entry], tmp_path: Path) -> None:
    files = [e for e in corpus if e.expect != "none"]
    assert len(files) >= 200
    kinds = {e.kind for e in corpus}
    for kind in (
        "truncated-jpeg", "corrupt-jpeg", "zero-bytes", "text", "html", "bomb", "no-permission",
        "broken-link", "link-loop", "16-bit", "cmyk", "palette", "alpha", "grey", "1-bit",
        "multi-frame", "tiny", "aspect", "bmp", "orientation", "garbage-exif", "wrong-suffix",
        "name", "folder-named-photo",
    ):  # fmt: skip
        assert kind in kinds, kind
    # the same seed writes the same bytes
    again = build_corpus(tmp_path / "again", face_photo_path())
    root = _root(corpus)
    for a, b in zip(corpus, again, strict=True):
        assert a.path.relative_to(root) == b.path.relative_to(tmp_path / "again")
        if a.path.is_file() and not a.path.is_symlink() and not a.needs_unreadable:
            assert a.path.read_bytes() == b.path.read_bytes(), a.path
    for entry in again:
        if entry.needs_unreadable:
            entry.path.chmod(0o644)


def test_open_photo_returns_rgb_or_raises_image_load_error(corpus: list[Entry]) -> None:
    problems = []
    for entry in corpus:
        if entry.kind == "named-pipe":
            continue  # opening a pipe waits for a writer; the scanner never opens one
        for reduce_to in (None, 1600):
            try:
                photo = open_photo(entry.path, reduce_to=reduce_to)
            except ImageLoadError as exc:
                if entry.expect == "done":
                    problems.append(f"{entry.path.name}: refused ({exc.reason})")
                if not humane(exc.reason):
                    problems.append(f"{entry.path.name}: technical reason {exc.reason!r}")
                continue
            except BaseException as exc:  # anything else is a bug
                problems.append(f"{entry.path.name}: raised {exc!r}")
                continue
            image = photo.image
            if not (
                isinstance(image, np.ndarray)
                and image.dtype == np.uint8
                and image.ndim == 3
                and image.shape[2] == 3
                and image.shape[0] >= 1
                and image.shape[1] >= 1
                and image.flags.c_contiguous
            ):
                problems.append(f"{entry.path.name}: bad image {type(image)} {image.shape}")
            if reduce_to is None and (photo.width, photo.height) != image.shape[1::-1]:
                problems.append(f"{entry.path.name}: size {photo.width}x{photo.height} wrong")
            if entry.expect == "failed" and entry.kind not in NOT_CONTENT:
                problems.append(f"{entry.path.name}: opened, but should be refused")
    assert not problems, "\n".join(problems)


def test_orientation_variants_open_upright(corpus: list[Entry]) -> None:
    with Image.open(face_photo_path()) as src:
        upright = np.asarray(src.convert("RGB").crop(ORIENTED_CROP), dtype=np.float32)
    variants = {e.path.name: e.path for e in corpus if e.kind == "orientation"}
    assert len(variants) == len(ORIENTATION_UNDO) + 2
    for name, path in variants.items():
        image = open_photo(path).image
        assert image.shape == upright.shape, name
        diff = float(np.abs(image.astype(np.float32) - upright).mean())
        assert diff < 6, f"{name}: not upright (mean difference {diff:.1f})"
        with Image.open(path) as raw:  # the stored pixels really are turned or mirrored
            stored = np.asarray(raw.convert("RGB"), dtype=np.float32)
        if not name.startswith("orientation_1."):
            assert stored.shape != upright.shape or np.abs(stored - upright).mean() > 20, name


@pytest.mark.slow
def test_scan_of_the_corpus_records_every_file(corpus: list[Entry], scanned: Scanned) -> None:
    rows = scanned.rows
    expected_rows = {db_path(e.path) for e in corpus if e.expect != "none"}
    assert set(rows) == expected_rows  # every file once, nothing else (links, folders, pipes)
    problems = []
    for entry in corpus:
        if entry.expect == "none":
            continue
        row = rows[db_path(entry.path)]
        name = str(entry.path.relative_to(_root(corpus)))
        if row.status not in (PhotoStatus.DONE, PhotoStatus.FAILED):
            problems.append(f"{name}: status {row.status}")
            continue
        if row.status == PhotoStatus.FAILED and not humane(row.error):
            problems.append(f"{name}: failed without a readable reason: {row.error!r}")
        if entry.needs_unreadable:
            continue  # checked (or skipped, as root) by test_unreadable_file_gets_a_reason
        if entry.expect in ("done", "failed") and row.status != entry.expect:
            problems.append(f"{name}: {row.status} ({row.error}), expected {entry.expect}")
            continue
        if entry.reason and entry.reason not in (row.error or ""):
            problems.append(f"{name}: reason {row.error!r} should mention {entry.reason!r}")
        if row.status == PhotoStatus.DONE:
            if row.error is not None or not row.width or not row.height:
                problems.append(f"{name}: done but error={row.error!r} size={row.width}")
            if entry.faces is not None and len(row.boxes) != entry.faces:
                problems.append(f"{name}: {len(row.boxes)} faces, expected {entry.faces}")
            if any(n != 1 for n in row.embeddings) or row.vector_lengths - {128}:
                problems.append(f"{name}: embeddings {row.embeddings} {row.vector_lengths}")
            if row.thumbnails != len(row.boxes):
                problems.append(f"{name}: {row.thumbnails} thumbnails for {len(row.boxes)} faces")
            for x1, y1, x2, y2 in row.boxes:
                if not (-50 <= x1 < x2 <= row.width + 50 and -50 <= y1 < y2 <= row.height + 50):
                    problems.append(f"{name}: face box {x1, y1, x2, y2} outside the photo")
        elif row.boxes:
            problems.append(f"{name}: failed, yet has {len(row.boxes)} faces")
    assert not problems, "\n".join(problems)
    statuses = [r.status for r in rows.values()]
    assert statuses.count(PhotoStatus.DONE) >= 60 and statuses.count(PhotoStatus.FAILED) >= 100


@pytest.mark.slow
def test_orientation_is_honoured_by_the_scan(corpus: list[Entry], scanned: Scanned) -> None:
    oriented = {
        e.path.name: scanned.rows[db_path(e.path)] for e in corpus if e.kind == "orientation"
    }
    reference = oriented["orientation_1.jpg"]
    assert len(reference.boxes) == 1
    for name, row in oriented.items():
        # displayed size (the crop is 250 x 200), and the face where it is in the upright photo
        assert (row.width, row.height) == (250, 200), name
        assert len(row.boxes) == 1, name
        assert _iou(row.boxes[0], reference.boxes[0]) > 0.6, (name, row.boxes, reference.boxes)


@pytest.mark.slow
def test_rescanning_the_corpus_changes_nothing(corpus: list[Entry], scanned: Scanned) -> None:
    sessions = open_library(scanned.library)
    with Library.open(scanned.library) as lib:
        stats = scan(lib, [_root(corpus)], SETTINGS)
    assert (stats.photos_added, stats.photos_changed, stats.photos_moved) == (0, 0, 0)
    assert (stats.faces_added, stats.photos_missing) == (0, 0)
    assert stats.photos_unchanged == len(scanned.rows)
    with sessions() as s:
        assert {p.path: p.status for p in s.scalars(select(Photo))} == {
            path: row.status for path, row in scanned.rows.items()
        }
        assert len(s.scalars(select(Face)).all()) == sum(
            len(r.boxes) for r in scanned.rows.values()
        )


@pytest.mark.slow
def test_unreadable_file_gets_a_reason(corpus: list[Entry], scanned: Scanned) -> None:
    locked = [e for e in corpus if e.needs_unreadable]
    assert locked
    if not all(unreadable(e.path) for e in locked):
        pytest.skip(
            "chmod 000 does not stop this process reading files (running as root?), so an "
            "unreadable file cannot be made here"
        )
    for entry in locked:
        row = scanned.rows[db_path(entry.path)]
        assert row.status == PhotoStatus.FAILED and "permission denied" in (row.error or "")
        with pytest.raises(ImageLoadError, match="permission denied"):
            open_photo(entry.path)


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
