"""What the commands say: JSON alone on stdout, quiet closed pipes, honest counts, and fast
failures.

Finding 7: ``--json -`` mixed human text into the JSON on stdout; ``status | head -2`` ended in a
BrokenPipeError traceback.
Finding 8: status showed no missing or pending photos; after a resumed scan the finished photos
were in no category; after Ctrl-C the summary claimed faces the library did not hold; the first
progress line claimed 10,010 photos/s.
Finding 9: ``verify`` loaded the models (8 s) before saying a file did not exist, and its
"no face" hint suggested ``--upsample``, which only HOG uses.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing, redirect_stderr
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facenet_core.cli import main
from facenet_core.cli.common import ProgressBar
from facenet_core.cli.library import summary
from facenet_core.library import ingest, scan
from facenet_core.progress import CancelToken, Progress
from facenet_core.settings import Settings
from facenet_core.store import FolderProblem, Library, Photo
from tests.core.test_access import make_library
from tests.core.userland import REPO

SETTINGS = Settings(device="cpu", flip=False, workers=1)


def only_json(out: str) -> dict[str, object]:
    """stdout must be one JSON document and nothing else."""
    data = json.loads(out)
    assert isinstance(data, dict)
    return data


# -- output ---------------------------------------------------------------------------------


def test_json_dash_puts_only_json_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_models: None
) -> None:
    library = tmp_path / "library.db"
    make_library(library)
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "dead.jpg").symlink_to(odd / "nowhere.jpg")
    lib = ["--library", str(library)]
    for argv, key in (
        ([*lib, "status", "--json", "-"], "photos"),
        ([*lib, "status", "--failed", "--json"], "problems"),  # no FILE: stdout too
        ([*lib, "backup", str(tmp_path / "copy.db"), "--json", "-"], "backup"),
        ([*lib, "scan", str(odd), "--json", "-"], "photos_found"),
    ):
        assert main(argv) == 0, argv
        out, err = capsys.readouterr()
        assert key in only_json(out), argv
        assert err.strip(), argv  # the human text went to stderr
    # and with --json FILE, the human text stays on stdout and the file holds the JSON
    assert main([*lib, "status", "--json", str(tmp_path / "status.json")]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("library:") and only_json((tmp_path / "status.json").read_text())


@pytest.mark.slow
def test_json_dash_puts_only_json_on_stdout_for_the_model_commands(
    tmp_path: Path, lfw_mini: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = lfw_mini / "images"
    body = (lfw_mini / "pairs_fold1.txt").read_text().splitlines()[1:]
    same = next(line for line in body if len(line.split()) == 3)
    other = next(line for line in body if len(line.split()) == 4)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"1\t1\n{same}\n{other}\n")
    name, i, _ = same.split()
    face = f"{name}/{name}_{int(i):04d}.jpg"
    truth = tmp_path / "truth.txt"
    truth.write_text(f"{face}\n1\n70 70 110 110 0 0 0 0 0 0\n")
    dev = ["--device", "cpu"]
    for argv, key in (
        (["verify", str(images / face), str(images / face), "--json", "-", *dev], "same"),
        (
            ["eval-lfw", "--lfw-dir", str(images), "--pairs", str(pairs), "--json", "-", *dev],
            "accuracy",
        ),
        (
            ["eval-detect", "--images", str(images), "--truth", str(truth), "--json", "-", *dev],
            "recall_40",
        ),
    ):
        assert main(argv) == 0, argv
        out, err = capsys.readouterr()
        assert key in only_json(out), (argv, out)
        assert err.strip(), argv


def test_status_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    """More output than a pipe holds, and a reader that stops after two lines."""
    library = tmp_path / "library.db"
    make_library(library)
    with closing(sqlite3.connect(library)) as db, db:
        db.executemany(
            "INSERT INTO photos (path, size, mtime_ns, content_hash, status, error)"
            " VALUES (?, 1, 1, '', 'failed', 'not an image file')",
            [(f"/photos/{i:06d}_{'x' * 60}.jpg",) for i in range(20_000)],
        )
    command = [sys.executable, "-m", "facenet_core", "--library", str(library)]
    scanner = subprocess.Popen(
        [*command, "status", "--failed"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    head = subprocess.Popen(["head", "-2"], stdin=scanner.stdout, stdout=subprocess.PIPE)
    assert scanner.stdout is not None and scanner.stderr is not None
    scanner.stdout.close()  # only head reads it now
    shown, _ = head.communicate(timeout=300)
    err = scanner.stderr.read().decode()
    assert scanner.wait(timeout=300) == 0, err
    assert shown.decode().splitlines()[0].startswith("library:")
    assert len(shown.decode().splitlines()) == 2
    assert err == "", err  # no BrokenPipeError, no "Exception ignored"


# -- counts -----------------------------------------------------------------------------------


def test_status_counts_photos_in_every_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_models: None
) -> None:
    library = tmp_path / "library.db"
    make_library(library)  # done, failed, missing
    with Library.open(library) as lib, lib.write() as s:
        s.add_all(
            [
                Photo(path="/p/d.jpg", size=1, mtime_ns=1, content_hash="d" * 64),
                Photo(
                    path="/p/e.jpg",
                    size=1,
                    mtime_ns=1,
                    content_hash="e" * 64,
                    status="unavailable",
                    error="permission denied: the file cannot be read",
                ),
                FolderProblem(path="/p/locked", error="permission denied"),
            ]
        )
    assert main(["--library", str(library), "status", "--failed", "--json", "-"]) == 0
    out, err = capsys.readouterr()
    data = only_json(out)
    states = {k: data[k] for k in ("done", "pending", "failed", "missing", "unavailable")}
    assert states == {"done": 1, "pending": 1, "failed": 1, "missing": 1, "unavailable": 1}
    assert data["photos"] == 5 and data["faces"] == 1 and data["unreadable_folders"] == 1
    assert "5 (1 done, 1 pending, 1 failed, 1 missing, 1 unavailable)" in err
    what = sorted((p["what"], p["path"]) for p in data["problems"])  # type: ignore[attr-defined]
    assert what == [
        ("failed", "/p/b.jpg"),
        ("unavailable", "/p/e.jpg"),
        ("unreadable folder", "/p/locked"),
    ]


@pytest.fixture
def sixteen(tmp_path: Path, lfw_images: list[Path]) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for src in lfw_images[:16]:
        shutil.copy(src, folder / src.name)
    return folder


def _db_counts(library: Path) -> tuple[int, int, int]:
    with closing(sqlite3.connect(library)) as db:
        faces = db.execute("SELECT count(*) FROM faces").fetchone()[0]
        done = db.execute("SELECT count(*) FROM photos WHERE status = 'done'").fetchone()[0]
        pending = db.execute("SELECT count(*) FROM photos WHERE status = 'pending'").fetchone()[0]
    return faces, done, pending


def test_cancelled_then_resumed_scans_count_what_was_committed(
    tmp_path: Path, sixteen: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "BATCH_FACES", 1)  # commit after every photo
    library = tmp_path / "library.db"
    cancel = CancelToken()

    def stop_after_first_commit(event: Progress) -> None:
        if event.phase == "faces" and event.done >= 1:
            cancel.cancel()

    one_at_a_time = SETTINGS.replace(workers=0)  # no photos in flight when the cancel comes
    with Library.open(library, create=True) as lib:
        first = scan(lib, [sixteen], one_at_a_time, reporter=stop_after_first_commit, cancel=cancel)
    faces, done, pending = _db_counts(library)
    assert first.cancelled and first.photos_added == 16
    assert pending > 0 and done + pending == 16
    assert (first.faces_added, first.photos_detected, first.photos_pending) == (
        faces,
        done,
        pending,
    )
    text = "\n".join(summary(first))
    assert f"{faces} faces stored from {done} photos" in text
    assert f"{pending} photos still pending" in text

    with Library.open(library) as lib:
        second = scan(lib, [sixteen], SETTINGS)
    faces2, done2, pending2 = _db_counts(library)
    assert not second.cancelled and pending2 == 0 and done2 == 16
    # every photo found falls in exactly one category, the resumed ones included
    assert (second.photos_found, second.photos_unchanged, second.photos_resumed) == (
        16,
        done,
        pending,
    )
    assert second.photos_detected == pending and second.faces_added == faces2 - faces
    assert f"{pending} resumed from an earlier scan" in "\n".join(summary(second))


@pytest.mark.slow
def test_ctrl_c_summary_matches_the_library(tmp_path: Path, lfw_mini: Path) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    # enough photos that a Ctrl-C after the first commit leaves some pending: detection runs up
    # to a batch and the look-ahead beyond what is committed
    for src in sorted((lfw_mini / "images").glob("*/*.jpg"))[::3][:360]:
        shutil.copy(src, folder / src.name)
    library = tmp_path / "library.db"
    out = tmp_path / "scan.json"
    log = tmp_path / "scan.log"
    command = [sys.executable, "-m", "facenet_core", "--library", str(library), "scan"]
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [*command, str(folder), "--json", str(out), "--device", "cpu", "--workers", "1"],
            cwd=REPO,
            env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 300
        while not re.search(r"faces:.*\b[1-9]\d*/360 \[", log.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)  # Ctrl-C, once the first photos are committed
        code = proc.wait(timeout=300)
    finally:
        proc.kill()
        proc.wait()
    text = log.read_text()
    assert code == 130, text
    assert "Traceback" not in text and "stopping after the current photos" in text
    result = json.loads(out.read_text())
    faces, done, pending = _db_counts(library)
    assert result["cancelled"] is True and pending > 0
    assert (result["faces_added"], result["photos_detected"], result["photos_pending"]) == (
        faces,
        done,
        pending,
    )


def test_the_first_progress_line_has_an_honest_rate() -> None:
    """A bar that appears when 10 photos are done after 5 s shows 2 photos/s, not thousands."""
    stream = io.StringIO()
    with redirect_stderr(stream):
        bar = ProgressBar()
        bar(Progress("scan", "faces", 10, 100, "photo", elapsed=5.0))
        bar.close()
    rates = [float(r) for r in re.findall(r"([\d.]+)photo/s", stream.getvalue())]
    assert rates and all(1.5 < r < 2.5 for r in rates), stream.getvalue()


# -- failing fast -----------------------------------------------------------------------------


def test_bad_arguments_and_files_fail_before_any_model_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_models: None, lfw_images: list[Path]
) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    good = str(lfw_images[0])
    for argv, words in (
        (["verify", good, str(tmp_path / "missing.jpg")], "missing.jpg"),
        (["verify", str(text), good], "not an image"),
        (["verify", good, str(tmp_path)], str(tmp_path)),
        (["scan", str(tmp_path / "nowhere")], "not a folder"),
        (["scan", good], "not a folder"),
        (["eval-lfw", "--lfw-dir", str(tmp_path / "nowhere")], "not a folder"),
        (["eval-detect", "--images", str(tmp_path), "--truth", str(text)], "not"),
    ):
        started = time.perf_counter()
        code = main(["--library", str(tmp_path / "library.db"), *argv])
        took = time.perf_counter() - started
        _, err = capsys.readouterr()
        assert code == 1, (argv, err)
        assert len(err.strip().splitlines()) == 1 and words in err, (argv, err)
        assert took < 5, (argv, took)  # no model: nothing but the file was looked at


def test_no_face_hint_names_the_option_of_the_detector_in_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], lfw_images: list[Path]
) -> None:
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(blank)
    good = str(lfw_images[0])
    assert main(["verify", good, str(blank), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "no face found" in err and "--min-face-size" in err and "--upsample" not in err
    assert main(["verify", good, str(blank), "--device", "cpu", "--detector", "hog"]) == 1
    err = capsys.readouterr().err
    assert "no face found" in err and "--upsample" in err and "--min-face-size" not in err


def test_backup_refuses_the_library_itself_and_existing_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_models: None
) -> None:
    library = tmp_path / "lib" / "library.db"
    make_library(library)
    (tmp_path / "link.db").symlink_to(library)
    lib = ["--library", str(library)]
    for dest in (
        library,
        tmp_path / "link.db",
        tmp_path / "lib" / ".." / "lib" / "library.db",
        tmp_path / "lib" / "library.db-wal",
    ):
        assert main([*lib, "backup", str(dest), "--force"]) == 1, dest
        err = capsys.readouterr().err
        assert "is the library itself" in err and len(err.strip().splitlines()) == 1, err
    assert main([*lib, "status", "--json", "-"]) == 0  # untouched
    assert only_json(capsys.readouterr().out)["photos"] == 3
    other = tmp_path / "other.db"
    other.write_text("keep me")
    assert main([*lib, "backup", str(other)]) == 1
    assert "already exists" in capsys.readouterr().err and other.read_text() == "keep me"
    assert main([*lib, "backup", str(other), "--force", "--json", "-"]) == 0
    assert only_json(capsys.readouterr().out)["photos"] == 3
    with closing(sqlite3.connect(other)) as db:
        assert db.execute("SELECT count(*) FROM photos").fetchone() == (3,)
    # a folder: a dated copy inside it
    folder = tmp_path / "backups"
    folder.mkdir()
    assert main([*lib, "backup", str(folder)]) == 0
    capsys.readouterr()
    (copy,) = folder.iterdir()
    assert copy.name.startswith("library-") and copy.suffix == ".db"
    assert not list(folder.glob(".*.tmp")) and not list((tmp_path / "lib").glob(".*.tmp"))
