"""A real scan process killed with SIGKILL at random moments, again and again, loses nothing:
the library stays consistent, the user's labels survive, and a last scan finishes the job with
exactly the faces a clean scan finds."""

from __future__ import annotations

import math
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from sqlalchemy import select

from facenet_core import cli
from facenet_core.store import Assignment, Face, FaceRejection, Person, Photo, open_library
from tests.helpers import DEFAULT_CODE_BYTES

pytestmark = pytest.mark.slow

SEED = 1312
REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0  # seconds a scan may take to reach a kill point on a slow, busy machine


@dataclass
class Kill:
    """Where to kill a scan: ``delay`` seconds after ``anchor``, which is ``"start"`` (the
    process started), ``"found"`` (the plan is committed: `scan` prints "found N photos") or
    ``"faces"`` (the progress bar shows at least ``fraction`` of this run's photos committed,
    and at least one)."""

    anchor: str
    delay: float
    fraction: float = 0.0
    reached: bool = False  # the anchor was seen before the process ended by itself
    killed_running: bool = False  # the process was still running when killed
    done_after: int = 0  # photos done in the library after the kill


def kill_plan(rng: random.Random) -> list[Kill]:
    """Four kills: during start-up or the plan, just after the plan, just after the first
    photos' commit, and at a random point of the faces phase. The points are found from what
    the scan prints, not from the clock, because start-up (imports, the model) takes seconds
    and the speed varies from machine to machine; the delays after them are random."""
    return [
        Kill("start", rng.uniform(0.5, 3.0)),
        Kill("found", rng.uniform(0.0, 1.5)),
        Kill("faces", rng.uniform(0.0, 0.5)),
        Kill("faces", rng.uniform(0.0, 0.5), fraction=rng.uniform(0.3, 0.8)),
    ]


PROGRESS = re.compile(r"(\d+)/(\d+) \[")  # tqdm's "faces:  40%|####  | 8/20 [00:02<..."


def reached(anchor: Kill, text: str) -> bool:
    if anchor.anchor == "found":
        return "found " in text
    counts = PROGRESS.findall(text)
    if not counts:
        return False
    done, total = map(int, counts[-1])
    return done >= max(1, math.ceil(anchor.fraction * total))


def scan_command(library: Path, folder: Path) -> list[str]:
    return [
        sys.executable, "-m", "facenet_core", "--library", str(library), "scan", str(folder),
        "--workers", "1", "--device", "cpu",
    ]  # fmt: skip


def start_scan(library: Path, folder: Path, log: Path) -> subprocess.Popen[bytes]:
    # one torch thread: on two shared cores torch's thread pool oversubscribes and runs ~10x
    # slower; the kill points do not depend on it
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    with open(log, "wb") as err:
        return subprocess.Popen(
            scan_command(library, folder),
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,  # its own process group: the worker pool dies with it
        )


def group_alive(pgid: int) -> list[int]:
    """Processes of group ``pgid`` that are still running (zombies waiting for a reaper are
    dead: they hold no files and run no code)."""
    proc = Path("/proc")
    if not proc.is_dir():  # no /proc: ask the kernel whether anyone is left in the group
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        return [pgid]
    alive = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            alive.append(int(entry.name))
    return alive


def wait_group_gone(pgid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (left := group_alive(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes {left} of the killed scan are still running"


def kill_group(proc: subprocess.Popen[bytes]) -> bool:
    """SIGKILL the scan and all its workers; True when it was still running."""
    running = proc.poll() is None
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    wait_group_gone(proc.pid)
    return running


def wait_for_anchor(proc: subprocess.Popen[bytes], log: Path, kill: Kill) -> bool:
    """Wait until the scan reached ``kill``'s anchor (True) or ended by itself (False)."""
    if kill.anchor == "start":
        return True
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if reached(kill, log.read_text(errors="replace")):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.02)
    raise AssertionError(f"the scan never reached {kill} in {START_TIMEOUT} s")


def sleep_unless_ended(proc: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)


def in_process_scan(library: Path, folder: Path) -> None:
    """The same `scan` command, run in this process (no worker processes, no start-up cost)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see start_scan
    try:
        code = cli.main(["--library", str(library), "scan", str(folder), "--workers", "0",
                         "--device", "cpu"])  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    assert code == 0


def count_done(library: Path) -> int:
    with closing(sqlite3.connect(library)) as db:
        return db.execute("SELECT count(*) FROM photos WHERE status = 'done'").fetchone()[0]


def faces_per_photo(library: Path, folder: Path) -> dict[str, int]:
    with closing(sqlite3.connect(library)) as db:
        rows = db.execute(
            "SELECT p.path, count(f.id) FROM photos p LEFT JOIN faces f ON f.photo_id = p.id"
            " GROUP BY p.id"
        ).fetchall()
    return {os.path.relpath(path, folder): n for path, n in rows}


@pytest.fixture
def photo_sets(tmp_path: Path, lfw_mini: Path) -> tuple[list[Path], list[Path]]:
    """Different real photos: 20 for the first scan, 100 arriving later (enough that the faces
    phase of a scan lasts a few seconds even with a fast detector: the kills must land in it),
    each set with a few bad files."""
    sources = sorted((lfw_mini / "images").glob("*/*.jpg"))[::9][:120]
    assert len(sources) == 120
    staging = tmp_path / "staging"
    staging.mkdir()
    first, second = [], []
    for i, src in enumerate(sources):
        target = staging / f"{'a' if i < 20 else 'b'}_{i:02d} {src.stem}.jpg"
        shutil.copy(src, target)
        (first if i < 20 else second).append(target)
    bad = {
        "a_broken.jpg": b"\xff\xd8\xff not really a photo",
        "b_empty.png": b"",
        "b_notes.jpg": b"shopping list: milk, eggs\n",
        "b_truncated.jpg": sources[0].read_bytes()[:3000],
    }
    for name, data in bad.items():
        (staging / name).write_bytes(data)
        (first if name.startswith("a_") else second).append(staging / name)
    return first, second


def test_killed_scans_lose_nothing(tmp_path: Path, photo_sets) -> None:
    first, second = photo_sets
    folder = tmp_path / "photos"
    folder.mkdir()
    library = tmp_path / "library" / "library.db"
    library.parent.mkdir()  # the command line makes a new library only in an existing folder

    # 1. a complete scan of the first half, then the user's labels
    for path in first:
        shutil.move(path, folder / path.name)
    in_process_scan(library, folder)
    sessions = open_library(library)
    with sessions() as s, s.begin():
        faces = s.scalars(select(Face).join(Photo).order_by(Photo.path, Face.id)).all()
        by_photo: dict[int, Face] = {}
        for face in faces:
            by_photo.setdefault(face.photo_id, face)
        confirmed_a, confirmed_b, rejected = list(by_photo.values())[:3]
        alice = Person(name="Alice")
        s.add(alice)
        s.flush()
        for face in (confirmed_a, confirmed_b):
            face.person_id, face.assignment = alice.id, Assignment.CONFIRMED
        s.add(FaceRejection(face_id=rejected.id, person_id=alice.id))
        confirmed_paths = {confirmed_a.photo.path, confirmed_b.photo.path}
        rejected_path = rejected.photo.path
        touched = (sorted(confirmed_paths)[0], rejected_path)
        old_face_ids = {f.id for f in faces if f.photo.path in touched}
    sessions.kw["bind"].dispose()

    # 2. the second half arrives, and two labelled photos are edited (bytes appended after the
    # JPEG's end: new content, same pixels), so the killed scans also re-detect them and must
    # carry the labels over atomically (a mere touch is not a change: nothing is re-detected)
    for path in second:
        shutil.move(path, folder / path.name)
    for path in touched:
        with open(path, "ab") as f:
            f.write(b"edited")

    # 3. kill real scans at random moments
    rng = random.Random(SEED)
    kills = kill_plan(rng)
    for i, kill in enumerate(kills):
        log = tmp_path / f"scan_{i}.log"
        proc = start_scan(library, folder, log)
        try:
            kill.reached = wait_for_anchor(proc, log, kill)
            if kill.reached:
                sleep_unless_ended(proc, kill.delay)
        finally:
            kill.killed_running = kill_group(proc)
        kill.done_after = count_done(library)
    print("kills:", kills)

    # 4. a last scan, left to finish
    log = tmp_path / "scan_final.log"
    proc = start_scan(library, folder, log)
    try:
        code = proc.wait(timeout=300)
    finally:
        kill_group(proc)
    assert code == 0, log.read_text(errors="replace")[-3000:]

    # the kills did hit a running scan, at least once after faces were committed
    assert sum(k.killed_running for k in kills) >= 2, kills
    assert any(k.anchor == "faces" and k.reached and k.killed_running for k in kills), kills

    # 5. a clean reference scan of the same folder, in another library
    reference = tmp_path / "reference" / "library.db"
    reference.parent.mkdir()
    in_process_scan(reference, folder)

    check_library(library, folder)
    assert faces_per_photo(library, folder) == faces_per_photo(reference, folder)

    sessions = open_library(library)
    with sessions() as s:
        alice = s.scalars(select(Person).where(Person.name == "Alice")).one()
        mine = [f for f in alice.faces if f.assignment == Assignment.CONFIRMED]
        assert len(mine) == 2  # the user's two faces; recognition may suggest more
        others = [f for f in alice.faces if f.assignment != Assignment.CONFIRMED]
        assert all(f.assignment in (Assignment.AUTO, Assignment.SUGGESTED) for f in others)
        assert rejected_path not in {f.photo.path for f in alice.faces}
        assert {f.photo.path for f in mine} == confirmed_paths
        rejections = s.scalars(select(FaceRejection)).all()
        assert len(rejections) == 1
        assert rejections[0].person_id == alice.id
        assert rejections[0].face.photo.path == rejected_path
        assert rejections[0].face.person_id != alice.id
        # the touched photos really were detected again: their labels moved to new faces
        new_faces = s.scalars(select(Face).join(Photo).where(Photo.path.in_(touched))).all()
        assert new_faces and not {f.id for f in new_faces} & old_face_ids
    sessions.kw["bind"].dispose()


def check_library(library: Path, folder: Path) -> None:
    """Structural soundness after the kills: nothing half-written, nothing twice."""
    files = {str(p) for p in folder.iterdir()}
    with closing(sqlite3.connect(library)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        paths = [row[0] for row in db.execute("SELECT path FROM photos")]
        assert len(paths) == len(set(paths)) and set(paths) == files  # each file exactly once
        statuses = dict(db.execute("SELECT status, count(*) FROM photos GROUP BY status"))
        assert set(statuses) <= {"done", "failed"}, statuses
        assert statuses.get("failed") == 4  # the bad files, and only they
        duplicate_faces = db.execute(
            "SELECT photo_id, x1, y1, x2, y2, count(*) FROM faces"
            " GROUP BY photo_id, x1, y1, x2, y2 HAVING count(*) > 1"
        ).fetchall()
        assert duplicate_faces == []
        per_face = db.execute(
            "SELECT f.id, count(e.face_id), min(length(e.vector)), max(length(e.vector))"
            " FROM faces f LEFT JOIN embeddings e ON e.face_id = f.id GROUP BY f.id"
        ).fetchall()
        size = DEFAULT_CODE_BYTES  # the CLI scans with the default face model
        assert per_face and all(row[1:] == (1, size, size) for row in per_face)
        assert db.execute(
            "SELECT count(*) FROM faces f JOIN photos p ON p.id = f.photo_id"
            " WHERE p.status != 'done'"
        ).fetchone() == (0,)
        jobs = [row[0] for row in db.execute("SELECT status FROM scan_jobs ORDER BY id")]
        assert jobs[-1] == "done" and "running" not in jobs, jobs
