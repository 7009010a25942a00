"""Fixtures the face-tag tests share: a small scanned library of named people whose copies a
test may change, beside a photo folder that tests write sidecars into."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from facenet_core.store import Library
from tests.helpers import copy_library, named_library


@pytest.fixture(scope="module")
def three_people(lfw_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """3 named people, 2 real lfw-mini photos each (the main face confirmed), scanned once per
    module: the library's path and the photos' folder."""
    return named_library(lfw_mini, tmp_path_factory, 3, 2)


@pytest.fixture
def sidecar_library(
    three_people: tuple[Path, Path], tmp_path: Path
) -> Iterator[tuple[Library, Path]]:
    """An open copy of :func:`three_people`'s library and the photos' folder, which holds no
    sidecar before the test nor after it (the tests of a module share the folder)."""
    source, photos = three_people
    for old in photos.glob("*.xmp*"):
        old.unlink()
    with Library.open(copy_library(source, tmp_path / "lib")) as lib:
        yield lib, photos
    for old in photos.glob("*.xmp*"):
        old.unlink()
