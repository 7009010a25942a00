"""Finding photos on disk: every supported image file below the roots, each once, under its real
path, with a reason for each file or folder that cannot be examined (permission denied, broken
link, a name that is not text).

**File identity.** A photo is known by its real path (``os.path.realpath``: symbolic links and
``..`` resolved), so a folder reached through a link, two overlapping roots, or a link to a file
elsewhere never make a second photo of one file. Folders are also told apart by device and inode
(bind mounts, different spellings on case-insensitive file systems) and so are hard-linked files;
inodes are only trusted where they can be (a file system that reports inode 0 is not deduplicated
by inode). Names are never Unicode-normalised: on most Linux file systems ``café`` in NFC and in
NFD are two different files, and each is stored exactly as the disk spells it.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from facenet_core.imageio import VIDEO_SUFFIXES, is_video
from facenet_core.paths import sha256_file

PHOTO_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".heic", ".heif"}
)
SUPPORTED_SUFFIXES = PHOTO_SUFFIXES | VIDEO_SUFFIXES


def media_kind(path: str) -> str:
    """``"video"`` or ``"photo"`` (a :class:`~facenet_core.store.MediaKind`), by the name."""
    return "video" if is_video(path) else "photo"


PERMISSION_FILE = "permission denied: the file cannot be read"
PERMISSION_FOLDER = "permission denied: the folder cannot be read"
CHANGED_WHILE_READ = "the file changed while it was being read; the next scan reads it again"
_BAD_NAME = "the file name is not valid UTF-8 text; rename the file to scan it"


@dataclass
class FoundFile:
    """A photo file (``error`` None) or a file that cannot be examined and why. ``access``: the
    reason is an access problem (permission denied): the file is there, just not readable now.
    """

    path: str
    size: int = 0
    mtime_ns: int = 0
    error: str | None = None
    access: bool = False
    file_id: tuple[int, int] | None = None
    """Device and inode when the file has more than one name (a hard link), else None."""


@dataclass
class UnreadableFolder:
    """A folder below a root whose contents could not be listed."""

    path: str
    error: str


def is_access_error(reason: str | None) -> bool:
    """Whether a recorded reason is an access problem (it may go away: try again)."""
    return reason is not None and reason.startswith("permission denied")


def is_transient(reason: str | None) -> bool:
    """Whether a recorded failure may go away by itself (permission, a file being written):
    the next scan tries again even if the file's stat did not change."""
    return is_access_error(reason) or reason == CHANGED_WHILE_READ


def _stat_error(exc: OSError, path: str) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop: the link points back to itself"
    if isinstance(exc, FileNotFoundError) and os.path.islink(path):
        return "broken symbolic link: its target does not exist"
    if isinstance(exc, PermissionError):
        return PERMISSION_FILE
    return f"cannot read the file ({exc.strerror or exc})"


def _folder_error(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return PERMISSION_FOLDER
    return f"cannot read the folder ({exc.strerror or exc})"


def _is_text(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept by Python as lone surrogates
        return False
    return True


def _inside(path: str, folders: Iterable[str]) -> bool:
    return any(path == f or path.startswith(os.path.join(f, "")) for f in folders)


def walk_photos(
    roots: Iterable[Path | str], exclude: Iterable[Path | str] = ()
) -> Iterator[FoundFile | UnreadableFolder]:
    """Every file with a supported image suffix below ``roots``, once each, under its real path;
    links to folders are followed once (loops are cut). ``exclude``: files and folders never to
    look at (the library's own database and thumbnails), however they are reached."""
    excluded = {os.path.realpath(p) for p in exclude}
    seen_dirs: set[str] = set()
    seen_dir_ids: set[tuple[int, int]] = set()
    seen_files: set[str] = set()
    seen_file_ids: set[tuple[int, int]] = set()
    for root in roots:
        stack = [os.path.realpath(root)]
        while stack:
            folder = stack.pop()
            if folder in seen_dirs or _inside(folder, excluded):
                continue
            seen_dirs.add(folder)
            try:
                st = os.stat(folder)
                if st.st_ino:
                    key = (st.st_dev, st.st_ino)
                    if key in seen_dir_ids:
                        continue
                    seen_dir_ids.add(key)
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                yield UnreadableFolder(folder, _folder_error(exc))
                continue
            subfolders: list[str] = []
            for entry in entries:
                path = os.path.join(folder, entry.name)
                try:
                    is_dir = entry.is_dir()  # follows links
                except OSError:
                    is_dir = False
                if is_dir:
                    subfolders.append(os.path.realpath(path) if entry.is_symlink() else path)
                    continue
                if Path(entry.name).suffix.lower() not in SUPPORTED_SUFFIXES:
                    continue
                found, file_id = _examine(path, entry.is_symlink(), excluded)
                if found is None or found.path in seen_files or file_id in seen_file_ids:
                    continue
                if file_id is not None:
                    seen_file_ids.add(file_id)
                seen_files.add(found.path)
                yield found
            stack.extend(reversed(subfolders))


def _examine(
    path: str, is_link: bool, excluded: set[str]
) -> tuple[FoundFile | None, tuple[int, int] | None]:
    """One file: its identity and stat, or the reason it cannot be examined (None when it is not
    a photo file at all, such as a pipe, or belongs to the library itself); and its device and
    inode when it has more than one name (a hard link)."""
    if not _is_text(path):
        # a name in a legacy encoding cannot be stored (SQLite text is UTF-8): record it under a
        # readable, escaped spelling instead of failing the whole scan
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        return FoundFile(shown, error=_BAD_NAME), None
    try:
        st = os.stat(path)
    except OSError as exc:
        denied = isinstance(exc, PermissionError)
        return FoundFile(path, error=_stat_error(exc, path), access=denied), None
    if not stat.S_ISREG(st.st_mode):
        return None, None
    real = os.path.realpath(path) if is_link else path
    if _inside(real, excluded):
        return None, None
    if not _is_text(real):
        shown = os.fsencode(real).decode("utf-8", "backslashreplace")
        return FoundFile(shown, error=_BAD_NAME), None
    key = (st.st_dev, st.st_ino) if st.st_nlink > 1 and st.st_ino else None
    if not os.access(real, os.R_OK):
        found = FoundFile(real, st.st_size, st.st_mtime_ns, PERMISSION_FILE, True, key)
        return found, key
    return FoundFile(real, st.st_size, st.st_mtime_ns, file_id=key), key


def hash_file(path: str) -> tuple[str, str | None]:
    """``(sha256, None)``, or ``("", reason)`` when the file cannot be read."""
    try:
        return sha256_file(Path(path)), None
    except PermissionError:
        return "", PERMISSION_FILE
    except OSError as exc:
        return "", f"cannot read the file ({exc.strerror or exc})"
