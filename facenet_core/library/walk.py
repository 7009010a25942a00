"""Finding photos on disk: every supported image file below the roots, with a reason for each
one that cannot be examined (permission denied, broken link, a name that is not text)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from facenet_core.paths import sha256_file

SUPPORTED_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".heic", ".heif"}
)


@dataclass
class FoundFile:
    path: str
    size: int = 0
    mtime_ns: int = 0
    error: str | None = None


def _stat_error(exc: OSError, path: str) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop: the link points back to itself"
    if isinstance(exc, FileNotFoundError) and os.path.islink(path):
        return "broken symbolic link: its target does not exist"
    if isinstance(exc, PermissionError):
        return "permission denied: the file cannot be read"
    return f"cannot read the file ({exc.strerror or exc})"


_BAD_NAME = "the file name is not valid UTF-8 text; rename the file to scan it"


def _is_text(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept by Python as lone surrogates
        return False
    return True


def walk_photos(roots: Iterable[Path]) -> Iterator[FoundFile]:
    """Every file with a supported image suffix below ``roots``, following symbolic links to
    folders once (loops are cut), with a reason for each file that cannot be examined."""
    seen_dirs: set[tuple[int, int]] = set()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            try:
                st = os.stat(dirpath)
            except OSError:
                dirnames[:] = []
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen_dirs:
                dirnames[:] = []
                continue
            seen_dirs.add(key)
            dirnames.sort()
            for name in sorted(filenames):
                if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
                    continue
                path = os.path.join(dirpath, name)
                if not _is_text(path):
                    # a name in a legacy encoding cannot be stored (SQLite text is UTF-8): record
                    # it under a readable, escaped spelling instead of failing the whole scan
                    shown = os.fsencode(path).decode("utf-8", "backslashreplace")
                    yield FoundFile(os.path.abspath(shown), error=_BAD_NAME)
                    continue
                try:
                    st = os.stat(path)
                except OSError as exc:
                    yield FoundFile(os.path.abspath(path), error=_stat_error(exc, path))
                    continue
                if not os.path.isfile(path):
                    continue
                yield FoundFile(os.path.abspath(path), st.st_size, st.st_mtime_ns)


def hash_file(path: str) -> tuple[str, str | None]:
    """``(sha256, None)``, or ``("", reason)`` when the file cannot be read."""
    try:
        return sha256_file(Path(path)), None
    except PermissionError:
        return "", "permission denied: the file cannot be read"
    except OSError as exc:
        return "", f"cannot read the file ({exc.strerror or exc})"
