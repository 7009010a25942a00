"""Owner-only files: whatever the user's umask, nothing the app writes for a library (database,
WAL, thumbnails, models, checkpoints, backups, locks) can be read by another account, and an
older library that could be is tightened when it opens, with one line saying so."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from facenet_core.library import scan
from facenet_core.paths import SHARED_BITS, tighten
from facenet_core.settings import Settings
from facenet_core.store import Library
from facenet_core.training import decision, finetune
from facenet_core.training.config import TrainConfig
from tests.helpers import confirm_owners, copy_people

SETTINGS = Settings(device="cpu", flip=False, workers=1)
TINY = TrainConfig(epochs=1, top_blocks=1, batch_size=32, faces_per_person=8, learning_rate=1e-4)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask of a desktop account: files 0644, folders 0755."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def shared(top: Path) -> list[str]:
    """Every file and folder under ``top`` (itself excluded) that others may read or enter."""
    found = []
    for folder, dirs, files in os.walk(top):
        for name in (*dirs, *files):
            path = Path(folder) / name
            mode = path.lstat().st_mode
            if mode & SHARED_BITS:
                found.append(f"{path.relative_to(top)} {stat.filemode(mode)}")
    return found


@pytest.mark.slow
def test_scan_training_and_backup_under_umask_022_create_nothing_others_can_read(
    lfw_mini: Path, tmp_path: Path, umask_022: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = tmp_path / "photos"
    people = copy_people(lfw_mini, photos, people=4, each=8)
    home = tmp_path / "home"  # the folder the user chose for the library: not ours to change
    home.mkdir()
    with Library.open(home / "library.db", create=True) as lib:
        scan(lib, [photos], SETTINGS)
        confirm_owners(lib, people, label=str)
        monkeypatch.setattr(
            finetune, "decide", lambda *a: decision.Decision(True, decision.decide(*a).checks)
        )
        result = finetune.finetune_library(lib, SETTINGS, guard=None, config=TINY)
        assert result.promoted and result.backup is not None
        lib.backup(home / "copy.db")
        with lib.writer("test"):  # the writer lock and its owner record
            assert lib.lock_path.exists()
        created = [p.name for p in home.iterdir()]
        for own in ("library.db", "library.db.thumbnails", "library.db.models", "copy.db"):
            assert own in created
        assert list(lib.thumbnails_dir.rglob("*.jpg")) or list(lib.thumbnails_dir.rglob("*.*"))
        assert list(lib.models_dir.iterdir()) and list(lib.backups_dir.iterdir())
        assert (home / "library.db-wal").exists()  # checked while the library is open
        assert shared(home) == []
    assert shared(home) == []


def test_an_older_library_readable_by_others_is_tightened_once_on_open(
    tmp_path: Path, umask_022: None
) -> None:
    path = tmp_path / "library.db"
    Library.open(path, create=True).close()
    thumbs = tmp_path / "library.db.thumbnails" / "ab"
    thumbs.mkdir(parents=True)
    (thumbs / "1.jpg").write_bytes(b"x")
    unrelated = tmp_path / "holiday.jpg"  # a photo beside the library: never touched
    unrelated.write_bytes(b"photo")
    for p in (path, thumbs.parent, thumbs, thumbs / "1.jpg", unrelated):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)

    with Library.open(path) as lib:
        note = lib.privacy_note()
        assert note is not None and "4 files and folders" in note and "private" in note
        assert {p.name for p in lib.tightened} == {
            "library.db",
            "library.db.thumbnails",
            "ab",
            "1.jpg",
        }
        assert stat.S_IMODE((thumbs / "1.jpg").stat().st_mode) == 0o600
        assert stat.S_IMODE(thumbs.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(unrelated.stat().st_mode) == 0o644
    with Library.open(path) as again:  # said once: nothing left to do
        assert again.privacy_note() is None and again.tightened == []


def test_a_library_this_process_may_not_change_is_left_as_it_is(
    tmp_path: Path, umask_022: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facenet_core.store import library as library_module

    path = tmp_path / "library.db"
    Library.open(path, create=True).close()
    os.chmod(path, 0o644)
    # what a file of another account looks like to this process (tests run as root here)
    monkeypatch.setattr(library_module, "write_problem", lambda _p: "permission denied")
    with Library.open(path, write=False) as lib:
        assert lib.read_only == "permission denied" and lib.tightened == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_tighten_follows_no_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"photo")
    os.chmod(outside, 0o644)
    folder = tmp_path / "thumbs"
    folder.mkdir()
    (folder / "link.jpg").symlink_to(outside)
    os.chmod(folder, 0o755)
    assert tighten([folder]) == [folder]
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644


def test_the_command_line_says_once_that_it_tightened_a_library(
    tmp_path: Path, umask_022: None, capsys: pytest.CaptureFixture[str]
) -> None:
    from facenet_core.cli import main as cli_main

    path = tmp_path / "library.db"
    Library.open(path, create=True).close()
    os.chmod(path, 0o644)
    assert cli_main(["--library", str(path), "status"]) == 0
    assert "could be read by other accounts" in capsys.readouterr().err
    assert cli_main(["--library", str(path), "status"]) == 0
    assert "could be read by other accounts" not in capsys.readouterr().err
