"""Over a thousand bad and odd files (see ``corpus.py``): opening each never does anything but
return an upright RGB image or raise :class:`ImageLoadError`, and a scan of them all finishes,
with every file recorded once, ``done`` or ``failed`` (with a reason a person can read), every
unreadable folder recorded, nothing of the library's own scanned, and the database sound. The
scan runs as a child process that file permissions bind (even as root, see ``userland.py``),
while a thread rewrites some of the files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from facenet_core.imageio import ImageLoadError, open_photo
from facenet_core.paths import sha256_file, thumbnails_dir
from facenet_core.store import FolderProblem, Library, Photo, PhotoStatus, integrity_check
from facenet_core.thumbnails import thumbnail_path
from tests.core.corpus import (
    ORIENTATION_UNDO,
    ORIENTED_CROP,
    Corpus,
    Entry,
    build_corpus,
    face_photo_path,
    restore_permissions,
)
from tests.core.userland import REPO, bound_kwargs, children_are_bound
from tests.helpers import DEFAULT_CODE_BYTES

# damaged TIFF/EXIF data makes PIL warn before it gives up or carries on: expected here
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")

# what a reason shown to a person must never look like
TECHNICAL = re.compile(
    r"Traceback|\b[A-Za-z]*(Error|Exception|Warning)\b|\[Errno|\w\(['\"]|<[\w.]+ object|File \""
)
# failures of the scanner rather than of the file's content: open_photo itself may succeed
NOT_CONTENT = {"bad-name", "no-permission"}


def db_path(path: Path) -> str:
    """How the library spells ``path``: its folder's real path and its own name exactly (names
    that are not UTF-8 are stored escaped)."""
    real = os.path.join(os.path.realpath(path.parent), path.name)
    return os.fsencode(real).decode("utf-8", "backslashreplace")


def humane(reason: str | None) -> bool:
    return bool(reason and reason.strip()) and not TECHNICAL.search(reason) and len(reason) < 400


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    if not face_photo_path().is_file():
        pytest.skip(f"real faces not available: {face_photo_path()} is missing")
    folder = tmp_path_factory.mktemp("corpus") / "photos"
    # the library lives inside the scanned folder, and links point into it
    entries = build_corpus(folder, face_photo_path(), library=library_of(folder))
    yield entries
    restore_permissions(entries)  # let the temporary folder be cleaned up


def library_of(folder: Path) -> Path:
    return folder / "zz_library" / "library.db"


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
    content_hash: str


@dataclass
class Scanned:
    rows: dict[str, Row]
    folders: dict[str, str]  # unreadable folders and why
    library: Path
    result: dict[str, Any]
    bound: bool  # permissions bound the scanning process: unreadable entries were unreadable


class Rewriter(threading.Thread):
    """Rewrites the corpus's "changing" files, one version after another, while a scan runs;
    ends with each file's last version (its original bytes)."""

    def __init__(self, entries: list[Entry]) -> None:
        super().__init__(daemon=True)
        self.changing = [e for e in entries if e.versions]
        self.stop = threading.Event()
        self.writes = 0

    def run(self) -> None:
        k = 0
        while not self.stop.is_set():
            for entry in self.changing:
                entry.path.write_bytes(entry.versions[k % len(entry.versions)])
                self.writes += 1
            k += 1
            time.sleep(0.003)

    def finish(self) -> None:
        self.stop.set()
        self.join()
        for entry in self.changing:
            entry.path.write_bytes(entry.versions[-1])


def scan_child(library: Path, folder: Path, bound: bool) -> dict[str, Any]:
    """The scan command in a child process (bound by permissions when possible), its JSON."""
    out = library.parent / "scan.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "facenet_core",
            "--library",
            str(library),
            "scan",
            str(folder),
            "--device",
            "cpu",
            "--workers",
            "1",
            "--no-flip",
            "--json",
            str(out),
        ],
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=900,
        **(bound_kwargs() if bound else {}),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]  # must not fail
    assert "Traceback" not in proc.stderr
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def read_library(library: Path) -> tuple[dict[str, Row], dict[str, str]]:
    thumbs = thumbnails_dir(library)
    rows: dict[str, Row] = {}
    with Library.open(library) as lib, lib.session() as s:
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
                photo.content_hash,
            )
        folders = {f.path: f.error for f in s.scalars(select(FolderProblem))}
        assert integrity_check(lib.engine) == "ok"
    return rows, folders


@pytest.fixture(scope="module")
def scanned(corpus: Corpus) -> Scanned:
    """One scan of the whole corpus, while its "changing" files are being rewritten."""
    library = library_of(corpus.root)
    library.parent.mkdir()
    bound = children_are_bound()
    rewriter = Rewriter(corpus)
    rewriter.start()
    try:
        result = scan_child(library, corpus.root, bound)
    finally:
        rewriter.finish()
    assert rewriter.writes > 100  # the files really changed during the scan
    assert not result["cancelled"]
    rows, folders = read_library(library)
    return Scanned(rows, folders, library, result, bound)


@pytest.fixture(scope="module")
def rescanned(scanned: Scanned, corpus: Corpus) -> Scanned:
    """The same scan again, once nothing changes any more."""
    result = scan_child(scanned.library, corpus.root, scanned.bound)
    rows, folders = read_library(scanned.library)
    return Scanned(rows, folders, scanned.library, result, scanned.bound)


def test_corpus_is_large_varied_and_deterministic(corpus: Corpus, tmp_path: Path) -> None:
    assert len(corpus) >= 1000
    files = [e for e in corpus if e.expect != "none"]
    assert len(files) >= 900
    kinds = {e.kind for e in corpus}
    for kind in (
        "truncated-jpeg", "corrupt-jpeg", "zero-bytes", "text", "html", "bomb", "no-permission",
        "broken-link", "link-loop", "16-bit", "cmyk", "palette", "alpha", "grey", "1-bit",
        "multi-frame", "tiny", "aspect", "bmp", "orientation", "garbage-exif", "wrong-suffix",
        "name", "folder-named-photo", "unicode", "unicode-folder", "hard-link", "folder-link",
        "link-outside", "into-library", "unreadable-folder", "in-locked-folder", "changing",
        "bulk-valid", "bulk-junk", "bulk-truncated", "bulk-mutated",
    ):  # fmt: skip
        assert kind in kinds, kind
    # every Unicode normalisation of a name is its own file, spelled as written
    spellings = {e.path.name for e in corpus if e.kind == "unicode"}
    assert len(spellings) >= 25
    assert {unicodedata.normalize("NFC", n) for n in spellings} != spellings
    # the same seed writes the same bytes
    again = build_corpus(tmp_path / "again", face_photo_path(), library=library_of(corpus.root))
    try:
        for a, b in zip(corpus, again, strict=True):
            rel_a, rel_b = (os.path.relpath(x.path, c.root) for x, c in ((a, corpus), (b, again)))
            assert rel_a.replace(corpus.root.name, "") == rel_b.replace(again.root.name, "")
            if a.path.is_file() and not a.path.is_symlink() and not a.needs_unreadable:
                assert a.path.read_bytes() == b.path.read_bytes(), a.path
    finally:
        restore_permissions(again)


def test_open_photo_returns_rgb_or_raises_image_load_error(corpus: Corpus) -> None:
    problems = []
    for entry in corpus:
        if entry.kind == "named-pipe" or entry.needs_unreadable:
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


def test_orientation_variants_open_upright(corpus: Corpus) -> None:
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


def expected_rows(corpus: Corpus, bound: bool) -> set[str]:
    """The library paths a scan must record: every photo file once, nothing else (not links to
    photos already known, folders, pipes, the library's own files, or, where permissions bind,
    what is inside a folder that cannot be listed)."""
    return {
        db_path(e.path)
        for e in corpus
        if e.expect in ("done", "failed", "either") and not (bound and e.kind == "in-locked-folder")
    }


@pytest.mark.slow
def test_scan_of_the_corpus_records_every_file(corpus: Corpus, scanned: Scanned) -> None:
    rows = scanned.rows
    assert set(rows) == expected_rows(corpus, scanned.bound)
    problems = []
    for entry in corpus:
        if entry.expect in ("none", "folder-problem"):
            continue
        if entry.path.is_relative_to(corpus.root):
            name = str(entry.path.relative_to(corpus.root))
        else:
            name = str(entry.path)
        key = db_path(entry.path)
        if key not in rows:
            continue  # inside a locked folder (checked by test_unreadable_files_and_folders)
        row = rows[key]
        if row.status not in (PhotoStatus.DONE, PhotoStatus.FAILED):
            problems.append(f"{name}: status {row.status}")
            continue
        if row.status == PhotoStatus.FAILED and not humane(row.error):
            problems.append(f"{name}: failed without a readable reason: {row.error!r}")
        if entry.needs_unreadable:
            continue  # checked (or skipped) by test_unreadable_files_and_folders
        if entry.expect in ("done", "failed") and row.status != entry.expect:
            problems.append(f"{name}: {row.status} ({row.error}), expected {entry.expect}")
            continue
        if entry.reason and entry.reason not in (row.error or ""):
            problems.append(f"{name}: reason {row.error!r} should mention {entry.reason!r}")
        if row.status == PhotoStatus.DONE:
            problems += check_done(name, entry, row)
        elif row.boxes and entry.kind != "changing":
            problems.append(f"{name}: failed, yet has {len(row.boxes)} faces")
    assert not problems, "\n".join(problems)
    statuses = [r.status for r in rows.values()]
    assert statuses.count(PhotoStatus.DONE) >= 500 and statuses.count(PhotoStatus.FAILED) >= 300
    result = scanned.result
    assert result["photos_found"] == len(rows)
    assert result["photos_added"] + result["photos_failed"] >= len(rows)


def check_done(name: str, entry: Entry, row: Row) -> list[str]:
    problems = []
    if row.error is not None or not row.width or not row.height:
        problems.append(f"{name}: done but error={row.error!r} size={row.width}")
    if entry.faces is not None and len(row.boxes) != entry.faces and entry.kind != "changing":
        problems.append(f"{name}: {len(row.boxes)} faces, expected {entry.faces}")
    if any(n != 1 for n in row.embeddings) or row.vector_lengths - {DEFAULT_CODE_BYTES}:
        problems.append(f"{name}: embeddings {row.embeddings} {row.vector_lengths}")
    if row.thumbnails != len(row.boxes):
        problems.append(f"{name}: {row.thumbnails} thumbnails for {len(row.boxes)} faces")
    for x1, y1, x2, y2 in row.boxes:
        if not (-50 <= x1 < x2 <= row.width + 50 and -50 <= y1 < y2 <= row.height + 50):
            problems.append(f"{name}: face box {x1, y1, x2, y2} outside the photo")
    return problems


@pytest.mark.slow
def test_orientation_is_honoured_by_the_scan(corpus: Corpus, scanned: Scanned) -> None:
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
def test_rescanning_the_corpus_changes_nothing_but_what_changed(
    corpus: Corpus, scanned: Scanned, rescanned: Scanned
) -> None:
    stats = rescanned.result
    changing = {db_path(e.path) for e in corpus if e.versions}
    assert (stats["photos_added"], stats["photos_moved"], stats["photos_missing"]) == (0, 0, 0)
    assert stats["photos_changed"] <= len(changing)
    assert set(rescanned.rows) == set(scanned.rows)
    for path, row in rescanned.rows.items():
        if path in changing:
            continue
        before = scanned.rows[path]
        assert (row.status, row.error, row.boxes) == (before.status, before.error, before.boxes)
    assert rescanned.folders == scanned.folders


@pytest.mark.slow
def test_files_changing_during_the_scan_settle_on_the_next_scan(
    corpus: Corpus, rescanned: Scanned
) -> None:
    """A file rewritten while the scan read it is never stored with faces of other bytes than
    its recorded hash; once it stops changing, the next scan gets it right."""
    for entry in corpus:
        if not entry.versions:
            continue
        row = rescanned.rows[db_path(entry.path)]
        assert row.status == PhotoStatus.DONE, (entry.path.name, row.error)
        assert row.content_hash == sha256_file(entry.path), entry.path.name
        assert len(row.boxes) == entry.faces, (entry.path.name, row.boxes)


@pytest.mark.slow
def test_unreadable_files_and_folders(corpus: Corpus, scanned: Scanned) -> None:
    if not scanned.bound:
        pytest.skip(
            "no child process here is bound by file permissions, so unreadable files cannot be made"
        )
    for entry in corpus:
        if not entry.needs_unreadable:
            continue
        key = db_path(entry.path)
        if entry.kind == "unreadable-folder":
            assert scanned.folders[key].startswith("permission denied"), scanned.folders
        elif entry.kind == "in-locked-folder":
            assert key not in scanned.rows  # it cannot even be named
        else:
            row = scanned.rows[key]
            assert row.status == PhotoStatus.FAILED, (key, row)
            assert (row.error or "").startswith("permission denied"), (key, row.error)
    assert set(scanned.folders) == {
        db_path(e.path) for e in corpus if e.kind == "unreadable-folder"
    }
    assert scanned.result["folders_unreadable"] == 1


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
