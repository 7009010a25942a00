"""Where the app keeps things (data and cache folders), and the one atomic-write helper.

A leaf module: it imports nothing from the rest of the package.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterable
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


OWNER_ONLY_UMASK = 0o077
"""The umask under which the app creates files: owner-only (folders 0700, files 0600)."""

SHARED_BITS = stat.S_IRWXG | stat.S_IRWXO
"""Permission bits that let another account read, change or enter a file or folder."""


def keep_private() -> None:
    """From now on, every file and folder this process creates is owner-only, whatever the
    user's umask: the library holds biometric data (face embeddings, face thumbnails, names) of
    people who never chose to be in it, and a family computer has other accounts. Process-wide
    (umask is), and inherited by the processes a scan starts. Called when a library opens."""
    os.umask(os.umask(OWNER_ONLY_UMASK) | OWNER_ONLY_UMASK)


def tighten(paths: Iterable[Path]) -> list[Path]:
    """Take group and other permissions away from these files and folders and everything inside
    the folders (links are never followed). Returns what was changed, so the caller can say so
    once; a path that is missing or not ours to change is left as it is."""
    changed: list[Path] = []

    def fix(path: Path) -> None:
        try:
            info = path.lstat()
        except OSError:
            return
        if stat.S_ISLNK(info.st_mode) or not info.st_mode & SHARED_BITS:
            return
        try:
            os.chmod(path, stat.S_IMODE(info.st_mode) & ~SHARED_BITS)
        except OSError:
            return
        changed.append(path)

    for top in paths:
        fix(top)
        if top.is_dir() and not top.is_symlink():
            for folder, dirs, files in os.walk(top):
                for name in (*dirs, *files):
                    fix(Path(folder) / name)
    return changed


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
