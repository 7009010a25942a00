"""Where the app keeps things (data and cache folders), and the one atomic-write helper.

A leaf module: it imports nothing from the rest of the package.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

import platformdirs

APP_NAME = "facenet-photos"
APP_TITLE = "FaceNet Photos"
LIBRARY_FILENAME = "library.db"
CACHE_ENV = "FACENET_PHOTOS_CACHE"
"""Environment variable that replaces the user cache folder (CI points it into its venv)."""


def data_dir() -> Path:
    """The per-user data folder (``~/.local/share/facenet-photos`` on Linux)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_library_path() -> Path:
    """Where the library lives unless the user picks another file."""
    return data_dir() / LIBRARY_FILENAME


def cache_dir() -> Path:
    """Folder for converted model weights (``FACENET_PHOTOS_CACHE`` overrides it)."""
    override = os.environ.get(CACHE_ENV)
    return Path(override) if override else Path(platformdirs.user_cache_dir(APP_NAME)) / "models"


def thumbnails_dir(library_path: Path) -> Path:
    """The face-thumbnail folder that belongs to a library file: ``<library>.thumbnails``."""
    return library_path.with_name(library_path.name + ".thumbnails")


def sha256_file(path: Path | str) -> str:
    """Hex sha256 of a file's bytes."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one,
    never half of one (a temporary file in the same folder, then a rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
