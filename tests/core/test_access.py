"""Read-only libraries, unreadable folders and files, mistyped paths, and failed writes.

Finding 3: a read-only library made ``scan`` end in a 40-line traceback, and in a read-only
folder even ``status`` failed, calling the file possibly damaged.
Finding 4: a mistyped ``--library`` silently created folders and a new empty library.
Finding 5: a folder the user cannot read was skipped silently; its photos counted as vanished,
and an identical copy elsewhere took over their rows and labels ("1 moved").
Plus: a write that fails (file size limit, a full disk) loses nothing and the next scan finishes.

Permission tests need a process that permissions bind: as root, the command runs without the
capabilities that let root ignore them (see ``userland.py``); ``chattr +i`` binds root too and is
tested as well where available.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import select

from facenet_core.cli import main
from facenet_core.library import scan
from facenet_core.settings import Settings
from facenet_core.store import (
    Assignment,
    Face,
    Library,
    Person,
    Photo,
    PhotoStatus,
)
from tests.core.userland import REPO, error_line, require_bound_children, run_cli
from tests.helpers import make_face

SETTINGS = Settings(device="cpu", flip=False, workers=1)


def make_library(path: Path) -> None:
    """A small library written with the store alone (no model): three photos, one face."""
    with Library.open(path, create=True) as lib, lib.write() as s:
        done = Photo(path="/p/a.jpg", size=1, mtime_ns=1, content_hash="a" * 64, status="done")
        s.add_all(
            [
                done,
                Photo(
                    path="/p/b.jpg",
                    size=1,
                    mtime_ns=1,
                    content_hash="",
                    status="failed",
                    error="not an image file",
                ),
                Photo(path="/p/c.jpg", size=1, mtime_ns=1, content_hash="c" * 64, status="missing"),
                make_face(
                    done,
                    x1=1,
                    y1=1,
                    x2=9,
                    y2=9,
                    landmark_scheme="mtcnn5",
                    detector="mtcnn",
                    det_score=0.9,
                ),
            ]
        )


@pytest.fixture
def odd_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "dead.jpg").symlink_to(folder / "nowhere.jpg")
    return folder


# -- read-only libraries -----------------------------------------------------------------------


def _chattr(flag: str, *paths: Path) -> bool:
    try:
        proc = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True)
    except FileNotFoundError:
        return False
    return proc.returncode == 0


@pytest.fixture
def immutable() -> Iterator[list[Path]]:
    """Paths appended here are made immutable (``chattr +i``) by the test and released after."""
    marked: list[Path] = []
    yield marked
    for path in reversed(marked):
        _chattr("-i", path)


def _status(library: Path, **kw: object) -> dict[str, object]:
    proc = run_cli("--library", str(library), "status", "--json", "-", **kw)  # type: ignore[arg-type]
    assert proc.returncode == 0, proc.stderr
    assert "damaged" not in proc.stderr and "Traceback" not in proc.stderr
    data = json.loads(proc.stdout)  # stdout is the JSON and nothing else
    assert (data["photos"], data["done"], data["failed"], data["missing"]) == (3, 1, 1, 1)
    assert data["faces"] == 1
    return data


def test_immutable_library_is_read_and_refused_for_writing(
    tmp_path: Path, odd_folder: Path, immutable: list[Path]
) -> None:
    library = tmp_path / "lib" / "library.db"
    make_library(library)
    if not _chattr("+i", library):
        pytest.skip("chattr +i is not available (it needs root and a file system that has it)")
    immutable.append(library)

    data = _status(library)
    assert "immutable" in str(data["read_only"])
    proc = run_cli("--library", str(library), "scan", str(odd_folder))
    assert proc.returncode == 1
    line = error_line(proc)
    assert f"cannot change the library {library}" in line and "immutable" in line
    assert "damaged" not in line
    backup = run_cli("--library", str(library), "backup", str(tmp_path / "copy.db"))
    assert backup.returncode == 0, backup.stderr

    # the folder too: SQLite cannot make its -wal/-shm files there, the library opens immutable
    assert _chattr("-i", library) and _chattr("+i", library.parent)
    immutable.append(library.parent)
    data = _status(library)
    assert "its folder" in str(data["read_only"])
    proc = run_cli("--library", str(library), "scan", str(odd_folder))
    assert proc.returncode == 1
    line = error_line(proc)
    assert f"its folder {library.parent}" in line and "damaged" not in line


def test_read_only_library_for_a_user_who_may_not_change_it(
    tmp_path: Path, odd_folder: Path
) -> None:
    require_bound_children()
    library = tmp_path / "lib" / "library.db"
    make_library(library)
    library.chmod(0o444)
    data = _status(library, bound=True)
    assert "no permission to change the file" in str(data["read_only"])
    proc = run_cli("--library", str(library), "scan", str(odd_folder), bound=True)
    assert proc.returncode == 1
    line = error_line(proc)
    assert "no permission to change the file" in line and "damaged" not in line

    library.chmod(0o644)
    library.parent.chmod(0o555)  # a read-only folder: even status used to fail here
    try:
        data = _status(library, bound=True)
        assert "no permission to change its folder" in str(data["read_only"])
        proc = run_cli("--library", str(library), "scan", str(odd_folder), bound=True)
    finally:
        library.parent.chmod(0o755)
    assert proc.returncode == 1
    assert "no permission to change its folder" in error_line(proc)


# -- mistyped paths ----------------------------------------------------------------------------


def test_a_mistyped_library_path_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_models: None
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    typo = tmp_path / "typo"
    mistyped = typo / "library.db"
    for argv in (
        ["status"],
        ["status", "--failed", "--json", "-"],
        ["backup", str(tmp_path / "copy.db")],
        ["scan", str(empty)],
        ["scan", str(empty), "--wait", "--json", "-"],
    ):
        assert main(["--library", str(mistyped), *argv]) == 1, argv
        out, err = capsys.readouterr()
        assert out == "" and len(err.strip().splitlines()) == 1, (argv, err)
        assert str(typo) in err and ("no library at" in err or "does not exist" in err), err
        assert not typo.exists(), argv
    # verify and the evaluations do not use the library: nothing is made for them either
    assert main(["--library", str(mistyped), "verify", "a.jpg", "b.jpg"]) == 1
    assert main(["--library", str(mistyped), "eval-lfw", "--lfw-dir", str(tmp_path / "x")]) == 1
    capsys.readouterr()
    assert not typo.exists()

    # a new file in an existing folder: reading commands refuse, only scan creates, and says so
    new = tmp_path / "library.db"
    assert main(["--library", str(new), "status"]) == 1
    assert "no library at" in capsys.readouterr().err and not new.exists()
    assert main(["--library", str(new), "scan", str(empty)]) == 0
    assert f"created a new library at {new}" in capsys.readouterr().out
    assert main(["--library", str(new), "status"]) == 0
    with pytest.raises(Exception, match="no library at"):
        Library.open(tmp_path / "other.db")


# -- unreadable folders and files ----------------------------------------------------------


def _photo_rows(library: Path) -> dict[str, tuple[str, str | None, list[int], list[str]]]:
    with closing(sqlite3.connect(library)) as db:
        rows = db.execute("SELECT id, path, status, error FROM photos").fetchall()
        out = {}
        for pid, path, status, error in rows:
            faces = db.execute(
                "SELECT f.id, coalesce(p.name, '') FROM faces f LEFT JOIN people p"
                " ON p.id = f.person_id WHERE f.photo_id = ? ORDER BY f.id",
                (pid,),
            ).fetchall()
            ids, names = [f for f, _ in faces], [n for _, n in faces]
            out[os.path.basename(path)] = (status, error, ids, names)
    return out


@pytest.mark.slow
def test_unreadable_folders_and_files_keep_their_photos(
    tmp_path: Path, lfw_images: list[Path]
) -> None:
    require_bound_children()
    photos = tmp_path / "photos"
    for sub in ("locked", "open", "files"):
        (photos / sub).mkdir(parents=True)
    shutil.copy(lfw_images[0], photos / "locked" / "x.jpg")
    shutil.copy(lfw_images[1], photos / "files" / "y.jpg")
    shutil.copy(lfw_images[2], photos / "open" / "z.jpg")
    library = tmp_path / "library" / "library.db"
    with Library.open(library, create=True) as lib:
        first = scan(lib, [photos], SETTINGS)
        assert first.photos_added == 3
        with lib.write() as s:  # the user's word on the face in x.jpg
            face = s.scalars(select(Face).join(Photo).where(Photo.path.endswith("/x.jpg"))).one()
            alice = Person(name="Alice")
            s.add(alice)
            s.flush()
            face.person_id, face.assignment = alice.id, Assignment.CONFIRMED
    before = _photo_rows(library)

    # x.jpg's folder and y.jpg itself become unreadable; an identical copy of x.jpg appears
    (photos / "locked").chmod(0)
    (photos / "files" / "y.jpg").chmod(0)
    shutil.copy(lfw_images[0], photos / "open" / "copy_of_x.jpg")
    out = tmp_path / "scan.json"
    scan_args = ["--library", str(library), "scan", str(photos), "--json", str(out)]
    # --no-recognize: the copy is a photo of its own with an unlabelled face (recognition would
    # rightly suggest Alice for it, which the people tests cover)
    scan_args.append("--no-recognize")
    try:
        proc = run_cli(*scan_args, "--device", "cpu", bound=True)
        status = run_cli("--library", str(library), "status", "--failed", "--json", "-", bound=True)
    finally:
        (photos / "locked").chmod(0o755)
        (photos / "files" / "y.jpg").chmod(0o644)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["photos_moved"] == 0 and result["photos_missing"] == 0
    assert result["photos_unavailable"] == 2 and result["folders_unreadable"] == 1
    assert result["photos_added"] == 1 and result["faces_added"] == 1
    rows = _photo_rows(library)
    x_status, x_error, x_faces, x_names = rows["x.jpg"]
    assert x_status == PhotoStatus.UNAVAILABLE and "permission denied" in (x_error or "")
    assert x_faces == before["x.jpg"][2] and x_names == ["Alice"]  # kept, with the user's word
    assert rows["y.jpg"][0] == PhotoStatus.UNAVAILABLE and rows["y.jpg"][2] == before["y.jpg"][2]
    assert rows["copy_of_x.jpg"][0] == PhotoStatus.DONE and rows["copy_of_x.jpg"][3] == [""]

    assert status.returncode == 0, status.stderr
    data = json.loads(status.stdout)
    assert (data["unavailable"], data["unreadable_folders"], data["missing"]) == (2, 1, 0)
    problems = {(p["what"], os.path.basename(p["path"])): p["reason"] for p in data["problems"]}
    assert problems[("unreadable folder", "locked")].startswith("permission denied")
    assert problems[("unavailable", "x.jpg")].startswith("permission denied")
    assert problems[("unavailable", "y.jpg")].startswith("permission denied")

    # readable again: back to done, the same faces, nothing detected again, nothing moved
    proc = run_cli(*scan_args, "--device", "cpu", bound=True)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert (result["photos_detected"], result["faces_added"], result["photos_moved"]) == (0, 0, 0)
    assert result["folders_unreadable"] == 0 and result["photos_unchanged"] == 4
    rows = _photo_rows(library)
    assert rows["x.jpg"][:1] == ("done",) and rows["x.jpg"][2:] == before["x.jpg"][2:]
    assert rows["y.jpg"][0] == "done" and rows["y.jpg"][2] == before["y.jpg"][2]


# -- a write that fails -------------------------------------------------------------------------


LIMITED_SCAN = """
import importlib, os, resource, signal, sys
from facenet_core.cli import main
from facenet_core.library import ingest

scan_module = importlib.import_module("facenet_core.library.scan")  # the module, not scan()
plan_scan = scan_module.plan_scan


def plan_then_limit(library, *args, **kwargs):
    # once the plan is written, no file may grow past a little more than the write-ahead log
    # holds now: a few of the faces' commits fit, then a write fails (EFBIG)
    plan_scan(library, *args, **kwargs)
    # (the limit is per file: it must also leave the database file itself room to grow)
    files = (str(library.path), str(library.path) + "-wal")
    limit = max(os.path.getsize(f) for f in files) + int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


scan_module.plan_scan = plan_then_limit
ingest.BATCH_FACES = 1  # a commit per photo
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing
sys.exit(main(sys.argv[2:]))
"""


def _faces_per_photo(library: Path) -> dict[str, int]:
    with closing(sqlite3.connect(library)) as db:
        rows = db.execute(
            "SELECT p.path, count(f.id) FROM photos p LEFT JOIN faces f ON f.photo_id = p.id"
            " GROUP BY p.id"
        ).fetchall()
    return {os.path.basename(path): n for path, n in rows}


@pytest.mark.slow
def test_a_failed_write_loses_nothing_and_the_next_scan_finishes(
    tmp_path: Path, lfw_images: list[Path]
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for src in lfw_images[:6]:
        shutil.copy(src, photos / src.name)
    library = tmp_path / "library.db"
    with Library.open(library, create=True) as lib:
        scan(lib, [photos], SETTINGS)
    kept = _faces_per_photo(library)
    for src in lfw_images[6:30]:
        shutil.copy(src, photos / src.name)
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            LIMITED_SCAN,
            str(40 * 1024 + 1000),
            "--library",
            str(library),
            "scan",
            str(photos),
            "--device",
            "cpu",
            "--workers",
            "1",
        ],
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "Traceback" not in proc.stderr
    assert last.startswith(f"facenet-photos scan: error: reading or writing the library {library}")
    assert "disk" in last and "what was already saved is kept" in last, last
    with closing(sqlite3.connect(library)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        pending = db.execute("SELECT count(*) FROM photos WHERE status = 'pending'").fetchone()
        done = db.execute("SELECT count(*) FROM photos WHERE status = 'done'").fetchone()
        assert pending[0] > 0 and done[0] > len(kept)  # it did fail part way
        assert db.execute(
            "SELECT count(*) FROM faces f JOIN photos p ON p.id = f.photo_id"
            " WHERE p.status != 'done'"
        ).fetchone() == (0,)
    after = _faces_per_photo(library)
    assert {k: after[k] for k in kept} == kept  # what was saved before is all there

    with Library.open(library) as lib:
        result = scan(lib, [photos], SETTINGS)
    assert not result.cancelled and result.photos_resumed == pending[0]
    reference = tmp_path / "reference.db"
    with Library.open(reference, create=True) as lib:
        scan(lib, [photos], SETTINGS)
    assert _faces_per_photo(library) == _faces_per_photo(reference)
    with closing(sqlite3.connect(library)) as db:
        jobs = [r[0] for r in db.execute("SELECT status FROM scan_jobs ORDER BY id")]
    assert jobs[-1] == "done" and "running" not in jobs
