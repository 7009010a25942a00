"""One writer at a time, with real concurrent processes.

Finding 2: two scans of one library at once ended in a traceback (UNIQUE constraint failed), or
both finished having detected photos twice, reporting extra faces and leaving orphan thumbnails.
Now a scan holds the library's writer lock: a second one fails at once with a one-line error that
names the process (exit status 75) or, with ``--wait``, waits for it; readers are never blocked.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import func, select

from facenet_core.library import scan
from facenet_core.library.thumbs import thumbnail_files
from facenet_core.progress import Progress
from facenet_core.settings import Settings
from facenet_core.store import Face, Library, LibraryBusy, Photo, Root, ScanJob
from tests.core.userland import REPO, error_line, run_cli

HOLD = """
import sys
from facenet_core.store import Library
library = Library.open(sys.argv[1], create=True)
with library.writer("scan"):
    print("locked", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


def hold_lock(library: Path) -> subprocess.Popen[str]:
    """Another process that holds the library's writer lock until a line arrives on its stdin
    (or it is killed)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(library)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def scan_cli(library: Path, *args: str, log: Path | None = None) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "facenet_core", "--library", str(library), "scan", *args]
    return subprocess.Popen(
        [*command, "--device", "cpu", "--workers", "1"],
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=open(log, "w") if log else subprocess.PIPE,
        text=True,
    )


def copies(tmp_path: Path, photos: list[Path]) -> Path:
    """A folder ``photos`` in ``tmp_path`` holding copies of ``photos``."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for src in photos:
        shutil.copy(src, folder / src.name)
    return folder


def scan_copies(
    tmp_path: Path, photos: list[Path]
) -> tuple[Path, Path, Path, subprocess.Popen[str]]:
    """A command-line scan of copies of ``photos`` into a new library, started in the
    background: the photos' folder, the library's path, the log its progress goes to, and the
    process."""
    folder = copies(tmp_path, photos)
    library = tmp_path / "library.db"
    log = tmp_path / "scan.log"
    return folder, library, log, scan_cli(library, str(folder), log=log)


@pytest.fixture
def odd_folder(tmp_path: Path) -> Path:
    """A folder whose scan needs no model: a broken link named like a photo, and a text file."""
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "dead.jpg").symlink_to(folder / "nowhere.jpg")
    (folder / "notes.txt").write_text("not a photo")
    return folder


def jobs_and_roots(library: Path) -> tuple[int, int]:
    with closing(sqlite3.connect(library)) as db:
        jobs = db.execute("SELECT count(*) FROM scan_jobs").fetchone()[0]
        roots = db.execute("SELECT count(*) FROM roots").fetchone()[0]
    return jobs, roots


def test_second_scan_fails_at_once_naming_the_process(tmp_path: Path, odd_folder: Path) -> None:
    library = tmp_path / "library.db"
    holder = hold_lock(library)
    try:
        before = jobs_and_roots(library)
        started = time.monotonic()
        proc = run_cli("--library", str(library), "scan", str(odd_folder), timeout=120)
        took = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 75, proc.stderr
    line = error_line(proc)
    assert line.startswith("facenet-photos scan: error: the library ")
    assert f"is being scanned by process {holder.pid}" in line and "--wait" in line
    assert took < 100  # it did not wait for the holder (which never lets go by itself)
    assert jobs_and_roots(library) == before  # nothing was written


def test_waiting_scan_runs_when_the_holder_finishes(tmp_path: Path, odd_folder: Path) -> None:
    library = tmp_path / "library.db"
    holder = hold_lock(library)
    log = tmp_path / "scan.log"
    proc = scan_cli(library, str(odd_folder), "--wait", "--json", "-", log=log)
    try:
        deadline = time.monotonic() + 120
        while "waiting: " not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        time.sleep(1)
        assert proc.poll() is None  # still waiting
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        out, _ = proc.communicate(timeout=120)
    finally:
        holder.kill()
        holder.wait()
        proc.kill()
        proc.wait()
    text = log.read_text()
    assert proc.returncode == 0, text
    assert f"waiting: the library {library} is being scanned by process {holder.pid}" in text
    result = json.loads(out)
    assert result["photos_failed"] == 1 and result["cancelled"] is False


def test_a_scan_in_another_process_refuses_this_one(tmp_path: Path, lfw_images: list[Path]) -> None:
    """The other order: a real command-line scan runs first; a scan started from this process
    (as the app would) is refused with the command's process id, and waits when asked to."""
    folder, library, log, proc = scan_copies(tmp_path, lfw_images[:8])
    try:
        deadline = time.monotonic() + 120
        while "found " not in log.read_text() and proc.poll() is None:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        assert proc.poll() is None, log.read_text()  # still scanning: it holds the lock
        settings = Settings(device="cpu", flip=False, workers=1)
        with Library.open(library) as lib:
            with pytest.raises(LibraryBusy) as busy:
                scan(lib, [folder], settings)
            assert busy.value.pid == proc.pid
            waited: list[str] = []

            def report(event: Progress) -> None:
                if event.phase == "wait":
                    waited.append(event.message)

            result = scan(lib, [folder], settings, wait=True, reporter=report)
        assert proc.wait(timeout=300) == 0, log.read_text()
    finally:
        proc.kill()
        proc.wait()
    assert waited and f"process {proc.pid}" in waited[0]
    assert (result.photos_added, result.faces_added, result.photos_unchanged) == (0, 0, 8)


def _faces_and_thumbnails(library: Path) -> None:
    """No photo, face or thumbnail twice, and every face with exactly one embedding and its
    thumbnail."""
    with closing(sqlite3.connect(library)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        paths = [r[0] for r in db.execute("SELECT path FROM photos")]
        assert len(paths) == len(set(paths))
        assert (
            db.execute(
                "SELECT photo_id, x1, y1, x2, y2, count(*) FROM faces"
                " GROUP BY photo_id, x1, y1, x2, y2 HAVING count(*) > 1"
            ).fetchall()
            == []
        )
        per_face = db.execute(
            "SELECT f.id, count(e.face_id) FROM faces f LEFT JOIN embeddings e"
            " ON e.face_id = f.id GROUP BY f.id"
        ).fetchall()
        assert all(n == 1 for _, n in per_face)
        face_ids = {f for f, _ in per_face}
    assert set(thumbnail_files(library.with_name(library.name + ".thumbnails"))) == face_ids


@pytest.mark.slow
def test_concurrent_scans_of_170_photos_do_nothing_twice(tmp_path: Path, lfw_mini: Path) -> None:
    sources = sorted((lfw_mini / "images").glob("*/*.jpg"))[:170]
    assert len(sources) == 170
    folder = copies(tmp_path, sources)
    library = tmp_path / "library" / "library.db"
    library.parent.mkdir()

    # two scans started at the same moment on a new library: one scans, one is refused
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [scan_cli(library, str(folder), "--json", "-", log=log) for log in logs]
    # a third one, started once the first holds the lock, waits for it
    deadline = time.monotonic() + 180
    while not any("found " in log.read_text() for log in logs):
        assert time.monotonic() < deadline
        assert all(p.poll() is None or p.returncode == 75 for p in procs)
        time.sleep(0.05)
    waiter_log = tmp_path / "c.log"
    waiter = scan_cli(library, str(folder), "--wait", "--json", "-", log=waiter_log)
    # readers keep working during the scan
    status = run_cli("--library", str(library), "status", "--json", "-", timeout=120)
    assert status.returncode == 0, status.stderr
    during = json.loads(status.stdout)
    outs = [p.communicate(timeout=900)[0] for p in procs]
    waited_out = waiter.communicate(timeout=900)[0]

    codes = sorted(p.returncode for p in procs)
    texts = [log.read_text() for log in logs]
    assert codes == [0, 75], texts
    for text in [*texts, waiter_log.read_text()]:
        assert "Traceback" not in text and "UNIQUE" not in text, text
    winner = next(i for i, p in enumerate(procs) if p.returncode == 0)
    loser = 1 - winner
    assert f"is being scanned by process {procs[winner].pid}" in texts[loser]
    # status worked while scans ran; when it caught one holding the lock, it named the winner or
    # (once the winner had finished) the waiter. How far the scans got by then depends on the
    # machine's load, so it may also have come after both.
    if during["scanning"] is not None:
        assert during["scanning"]["pid"] in (procs[winner].pid, waiter.pid)
    first = json.loads(outs[winner])
    assert first["photos_added"] == 170 and first["photos_detected"] == 170
    assert waiter.returncode == 0, waiter_log.read_text()
    # it waited, unless the first scan had already ended when it reached the lock (the waiting
    # itself is tested deterministically in test_waiting_scan_runs_when_the_holder_finishes)
    second = json.loads(waited_out)
    assert (second["photos_added"], second["photos_detected"], second["faces_added"]) == (0, 0, 0)
    assert second["photos_unchanged"] == 170

    _faces_and_thumbnails(library)
    with Library.open(library) as lib, lib.session() as s:
        assert s.scalar(select(func.count()).select_from(Photo)) == 170
        assert s.scalar(select(func.count()).select_from(Root)) == 1
        with_faces = s.scalar(select(func.count()).select_from(Photo).where(Photo.faces.any()))
        assert with_faces is not None and with_faces >= 160
        assert s.scalar(select(func.count()).select_from(Face)) == first["faces_added"]
        jobs = [j.status for j in s.scalars(select(ScanJob).order_by(ScanJob.id))]
    assert jobs == ["done", "done"]  # the refused scan wrote nothing


@pytest.mark.slow
def test_backup_while_a_scan_writes_is_consistent(tmp_path: Path, lfw_images: list[Path]) -> None:
    _, library, log, proc = scan_copies(tmp_path, lfw_images[:20])
    try:
        deadline = time.monotonic() + 180
        while not re.search(r"faces:.*\b([1-9]\d*)/20 \[", log.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        copy = tmp_path / "copy.db"
        backup = run_cli("--library", str(library), "backup", str(copy), "--json", "-")
        assert proc.wait(timeout=300) == 0
    finally:
        proc.kill()
        proc.wait()
    assert backup.returncode == 0, backup.stderr
    report = json.loads(backup.stdout)
    assert report["backup"] == str(copy) and report["bytes"] == copy.stat().st_size
    with closing(sqlite3.connect(copy)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        photos = db.execute("SELECT count(*) FROM photos").fetchone()[0]
        done = db.execute("SELECT count(*) FROM photos WHERE status = 'done'").fetchone()[0]
        orphans = db.execute(
            "SELECT count(*) FROM faces f LEFT JOIN embeddings e ON e.face_id = f.id"
            " WHERE e.face_id IS NULL"
        ).fetchone()[0]
    assert photos == 20 and 1 <= done <= 20 and orphans == 0
    assert report["photos"] == 20
    with Library.open(copy) as lib:  # a library in its own right
        assert lib.read_only is None
