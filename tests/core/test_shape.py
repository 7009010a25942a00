"""The shape of the core: the library handle, the device policy, progress and cancel."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from facenet_core.library import scan
from facenet_core.progress import Cancelled, CancelToken, PhaseClock, Progress
from facenet_core.settings import Settings
from facenet_core.store import Library, LibraryError
from facenet_core.vision import device as device_policy
from facenet_core.vision.detectors import DetectorConfig
from facenet_core.vision.engines import Engines


def test_library_open_errors_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match=r"no library at .*scan a folder to create one"):
        Library.open(tmp_path / "typo.db")
    assert not (tmp_path / "typo.db").exists()
    with pytest.raises(LibraryError, match="is a folder"):
        Library.open(tmp_path)
    junk = tmp_path / "junk.db"
    junk.write_text("this is not a database at all, it is a shopping list\n" * 100)
    with pytest.raises(LibraryError, match="not a FaceNet Photos library"):
        Library.open(junk)
    with Library.open(tmp_path / "new.db", create=True) as library:
        assert library.thumbnails_dir == tmp_path / "new.db.thumbnails"
        with library.session() as session:
            assert session.connection().exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        copy = library.backup(tmp_path / "copy.db")
    conn = sqlite3.connect(copy)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()


def test_device_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_policy, "_mps_available", lambda: False)
    assert device_policy.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="no usable CUDA GPU"):
        device_policy.resolve_device("cuda")
    monkeypatch.setattr(device_policy, "_mps_available", lambda: True)
    assert device_policy.resolve_device("auto") == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device_policy.resolve_device("auto") == torch.device("cuda")
    assert device_policy.resolve_device(None) == torch.device("cuda")
    assert device_policy.resolve_device("cpu") == torch.device("cpu")


class _Stop(Exception):
    pass


class _FakeEmbedder:
    info = SimpleNamespace(name="test-model", sha256="0" * 64)
    wants_arcface = False


class _Recorder(Engines):
    """Engines that record which devices the scan asks for, then stop it before loading."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: dict[str, str] = {}

    def embedder(self, settings: Settings, model: Any = None) -> Any:
        self.asked["embedder"] = str(device_policy.resolve_device(settings.device))
        return _FakeEmbedder()

    def detector(self, config: DetectorConfig) -> Any:
        self.asked["detector"] = config.device
        raise _Stop


def test_a_scan_on_a_cuda_machine_detects_and_embeds_on_cuda(
    lfw_images: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The device comes from the policy for the detector and the embedder alike (no GPU
    needed: the policy is asked as if CUDA were present, and the scan stops before loading)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(lfw_images[0], photos / "a.jpg")
    engines = _Recorder()
    with Library.open(tmp_path / "lib.db", create=True) as library, pytest.raises(_Stop):
        scan(library, [photos], Settings(), engines=engines)
    assert engines.asked == {"embedder": "cuda", "detector": "cuda"}


def test_progress_events_and_cancel() -> None:
    clock = PhaseClock("scan", "faces", "photo")
    event = clock.event(5, 10, faces=3)
    assert isinstance(event, Progress) and event.fraction == 0.5
    assert event.counters["faces"] == 3
    with pytest.raises(AttributeError):
        event.done = 6  # type: ignore[misc]
    with pytest.raises(TypeError):
        event.counters["faces"] = 4  # type: ignore[index]
    slow = Progress("scan", "faces", done=10, total=40, elapsed=5.0)
    assert slow.rate == 2.0 and slow.seconds_left == 15.0
    assert Progress("scan", "walk", done=0).rate is None
    token = CancelToken()
    token.raise_if_cancelled()
    token.cancel()
    assert token.cancelled
    with pytest.raises(Cancelled):
        token.raise_if_cancelled()


def test_a_cancelled_scan_stops_cleanly_and_resumes(lfw_images: list[Path], tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, src in enumerate(lfw_images[:6]):
        shutil.copy(src, photos / f"{i}.jpg")
    token = CancelToken()
    settings = Settings(device="cpu", flip=False, workers=0)

    def stop_after_first_batch(event: Progress) -> None:
        if event.phase == "faces" and event.done >= 1:
            token.cancel()

    with Library.open(tmp_path / "lib.db", create=True) as library:
        first = scan(library, [photos], settings, reporter=stop_after_first_batch, cancel=token)
        assert first.cancelled and first.photos_added == 6
        again = scan(library, [photos], settings)
    assert not again.cancelled
    assert first.faces_added + again.faces_added >= 5
    assert again.photos_added == 0
