"""The :class:`Library`: one open photo library, the only way the CLI and the app reach one.

It owns the SQLAlchemy engine and its session factories, the face-thumbnail folder beside the
file, the schema upgrade on opening, the library's saved settings, the writer lock, backups, and
:meth:`Library.close`. Sessions are short-lived and one per thread (``with library.session() as
s: ...`` to read; ``with library.write() as s: ...`` for every transaction that may write: it
begins as the writer, ``BEGIN IMMEDIATE``, and waits its turn, so it is never refused half way;
a write after a read in a ``session()`` raises
:class:`~facenet_core.store.db.WriteInReadTransaction`).

A library is known by its real path (links and ``..`` resolved), so every spelling of one file
shares one lock, one thumbnail folder and one database.

Opening fails with a :class:`~facenet_core.store.db.LibraryError` whose one-line message says
what happened and what to do: no library at that path (only a scan, or the app's first start,
creates one), a folder that does not exist, a file that is not a library, a library from a newer
app, a file this process may not change.

**Read-only libraries.** ``Library.open(path, write=False)`` (what reading commands use) opens a
library this process cannot change read-only (SQLite ``mode=ro``, or ``immutable`` when its
folder cannot be written either) and says so in :attr:`Library.read_only`; with ``write=True``
such a library is refused with the reason (permission, immutable file, read-only file system).

**One writer.** Long writing jobs (a scan) hold :meth:`Library.writer`, a lock file beside the
library (``<name>.writer.lock``, taken with ``filelock``; the kernel drops it if the process
dies). A second job either fails at once with :class:`LibraryBusy`, naming the process that
holds it, or waits. Readers never take it: SQLite's WAL lets them read while a scan writes.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from filelock import FileLock, Timeout
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from facenet_core.paths import atomic_write_bytes, data_dir, keep_private, thumbnails_dir, tighten
from facenet_core.settings import Settings, SettingsError
from facenet_core.store.db import (
    Access,
    LibraryError,
    connect,
    describe_sqlite_error,
    guard_writes,
    open_library,
    write_problem,
)
from facenet_core.store.models import LibrarySetting, utcnow

log = logging.getLogger(__name__)


class LibraryBusy(LibraryError):
    """Another process (or job) holds the library's writer lock."""

    hint = "Try again when it has finished."

    def __init__(self, path: Path, owner: dict[str, Any] | None) -> None:
        self.path = path
        self.owner = owner or {}
        self.pid: int | None = self.owner.get("pid")
        super().__init__(f"the library {path} {describe_owner(self.owner)}")


def describe_owner(owner: dict[str, Any]) -> str:
    """ "is being scanned by process 123 (since 14:02)" from a writer-lock owner record."""
    job = owner.get("job", "changed")
    verb = {"scan": "scanned"}.get(job, job)
    pid = owner.get("pid")
    who = f"process {pid}" if pid else "another process"
    host = owner.get("host")
    if host and host != socket.gethostname():
        who += f" on {host}"
    since = ""
    with suppress(KeyError, TypeError, ValueError):
        since = f" (since {datetime.fromisoformat(owner['started']):%H:%M:%S})"
    return f"is being {verb} by {who}{since}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


class Library:
    """An open photo library. Use :meth:`open`; close it (or use ``with``) when done."""

    def __init__(
        self,
        path: Path,
        sessions: sessionmaker[Session],
        read_only: str | None = None,
        access: Access = "rw",
    ) -> None:
        self.path = path
        self.sessions = sessions
        self.read_only = read_only
        """Why this process cannot change the library, or None when it can."""
        self.access: Access = access
        """How the file is open: ``rw``, ``ro`` or ``immutable`` (see :data:`~.db.Access`)."""
        self.thumbnails_dir = thumbnails_dir(path)
        self.models_dir = path.with_name(path.name + ".models")
        """Fine-tuned weights of this library's model versions (they travel with it)."""
        self.training_dir = path.with_name(path.name + ".training")
        """Checkpoints of a fine-tuning run in progress."""
        self.backups_dir = path.with_name(path.name + ".backups")
        self._writes: sessionmaker[Session] = sessionmaker(
            bind=self.engine.execution_options(sqlite_begin="IMMEDIATE")
        )
        if access == "rw":
            guard_writes(self.engine)
        self._writer_depth = 0
        self._closed = False
        self.tightened: list[Path] = []
        """Files and folders of this library that others could read when it opened, and that
        opening made owner-only (empty when there were none: the app says so once)."""

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        create: bool = False,
        create_folder: bool = True,
        write: bool = True,
    ) -> Library:
        """Open the library at ``path``, upgrading an older schema (after a backup copy).

        ``create``: make a new, empty library when there is none (only scanning and the app's
        first start do this); otherwise a missing file is an error, so a mistyped path never
        looks like an emptied library. ``create_folder``: with ``create``, also make its folder
        (the command line allows it for the default location only: a mistyped folder is an
        error there, not a new folder). ``write``: the caller
        will change the library; False opens one this process cannot change read-only."""
        keep_private()
        given = Path(path).expanduser().absolute()
        if given.is_dir():
            raise LibraryError(f"{given} is a folder; give the library's .db file")
        real = Path(os.path.realpath(given))
        if not real.exists():
            if not create:
                raise LibraryError(
                    f"no library at {given}; check the path, or scan a folder to create one"
                )
            if not real.parent.is_dir():
                if not create_folder:
                    raise LibraryError(
                        f"the folder {real.parent} does not exist; check the path (create the"
                        " folder first to start a new library there)"
                    )
                try:
                    real.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise LibraryError(
                        f"cannot create the folder {real.parent} for the library:"
                        f" {exc.strerror}; choose a folder you can write to"
                    ) from exc
        problem = write_problem(real)
        access: Access = "rw"
        early: list[Path] = []
        if problem is not None:
            if write or not real.exists():
                verb = "create" if not real.exists() else "change"
                raise LibraryError(f"cannot {verb} the library {real}: {problem}")
            access = _read_only_access(real)
        elif real.exists():  # before SQLite opens it: its -wal and -shm files copy its mode
            early = tighten([real])
        library = cls(real, open_library(real, access=access), read_only=problem, access=access)
        if problem is None:
            library.tightened = early + library.make_private()
        return library

    def privacy_note(self) -> str | None:
        """One line for the user when opening tightened the library's permissions, else None
        (the CLI and the app say the same thing, once: the next opening finds nothing to do)."""
        if not self.tightened:
            return None
        n = len(self.tightened)
        files = "file or folder" if n == 1 else "files and folders"
        return (
            f"{n} {files} of the library {self.path.name} could be read by other accounts on"
            " this computer; they are now private to yours"
        )

    def make_private(self) -> list[Path]:
        """Make the library's own files and folders owner-only (and the app's data folder,
        when the library lives there); returns what had been readable by others."""
        paths = [self.path, *self.own_paths()]
        if self.path.parent == data_dir():
            paths.insert(0, self.path.parent)
        return tighten(paths)

    @property
    def engine(self) -> Engine:
        engine = self.sessions.kw["bind"]
        assert isinstance(engine, Engine)
        return engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A new session for reading (not shared across threads). Its transaction begins as a
        reader: write in :meth:`write` instead (a write here after a read raises
        :class:`~facenet_core.store.db.WriteInReadTransaction`)."""
        with self.sessions() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction, committed at the end (rolled back on an exception). It takes
        SQLite's write lock when it begins (``BEGIN IMMEDIATE``), waiting up to the busy timeout
        for another writer, so it never fails half way because someone else wrote meanwhile.
        Keep it short: every other writer (a user's edit) waits while it is open."""
        with self._writes() as session, session.begin():
            yield session

    # -- the writer lock ---------------------------------------------------------------------

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".writer.lock")

    @property
    def _owner_path(self) -> Path:
        return self.path.with_name(self.path.name + ".writer.json")

    def writer_owner(self) -> dict[str, Any] | None:
        """Who holds the writer lock, as they recorded it (pid, host, job, started), when that
        process is still alive; None otherwise. For showing, not for deciding: the lock decides.
        """
        try:
            owner = json.loads(self._owner_path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(owner, dict):
            return None
        pid = owner.get("pid")
        here = owner.get("host") == socket.gethostname()
        if here and isinstance(pid, int) and not _pid_alive(pid):
            return None
        return owner

    @contextmanager
    def writer(
        self,
        job: str = "scan",
        *,
        wait: bool = False,
        on_wait: Callable[[str], None] | None = None,
    ) -> Iterator[None]:
        """Hold the library's writer lock for a long writing job (re-entrant in this object).

        Taken: fails at once with :class:`LibraryBusy` (naming the process that holds it), or
        with ``wait`` calls ``on_wait(message)`` once and waits for it."""
        if self._writer_depth:
            self._writer_depth += 1
            try:
                yield
            finally:
                self._writer_depth -= 1
            return
        if self.read_only is not None:
            raise LibraryError(f"cannot change the library {self.path}: {self.read_only}")
        lock = FileLock(str(self.lock_path), mode=0o600)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            busy = LibraryBusy(self.path, self.writer_owner())
            if not wait:
                raise busy from None
            if on_wait is not None:
                on_wait(f"waiting: {busy}")
            lock.acquire(poll_interval=0.2)
        except OSError as exc:
            raise LibraryError(
                f"cannot lock the library {self.path} for writing: {exc.strerror or exc}"
            ) from exc
        try:
            owner = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "job": job,
                "started": datetime.now().astimezone().isoformat(timespec="seconds"),
            }
            with suppress(OSError):  # only for showing who holds it
                atomic_write_bytes(self._owner_path, json.dumps(owner).encode())
            self._writer_depth = 1
            yield
        finally:
            self._writer_depth = 0
            with suppress(OSError):
                self._owner_path.unlink()
            lock.release()

    # -- settings --------------------------------------------------------------------------------

    def settings(self) -> Settings:
        """The library's saved settings over the defaults (a bad saved value is skipped)."""
        with self.session() as session:
            saved = {row.key: row.value for row in session.scalars(select(LibrarySetting))}
        values: dict[str, Any] = {}
        for key, value in saved.items():
            if "." in key:  # the library's own lists (``privacy.never_export``), not a setting
                continue
            try:
                Settings().replace(**{key: value})
            except SettingsError as exc:
                log.warning("ignoring the saved setting %s: %s", key, exc)
                continue
            values[key] = value
        return Settings.from_mapping(values)

    def save_settings(self, settings: Settings) -> None:
        """Save every setting that differs from the default (and forget the others)."""
        defaults = Settings().as_dict()
        with self.write() as session:
            existing = {row.key: row for row in session.scalars(select(LibrarySetting))}
            for key, value in settings.as_dict().items():
                row = existing.get(key)
                if value == defaults[key]:
                    if row is not None:
                        session.delete(row)
                elif row is None:
                    session.add(LibrarySetting(key=key, value=value))
                elif row.value != value:
                    row.value, row.updated_at = value, utcnow()

    # -- copies and closing ----------------------------------------------------------------------

    def own_paths(self) -> list[Path]:
        """The library's own files and folders (database, its SQLite side files, the writer
        lock, the thumbnails): never photos, however a scan reaches them."""
        names = (
            self.path.name,
            self.path.name + "-wal",
            self.path.name + "-shm",
            self.path.name + "-journal",
            self.lock_path.name,
            self._owner_path.name,
        )
        own = (self.thumbnails_dir, self.models_dir, self.training_dir, self.backups_dir)
        return [*(self.path.with_name(n) for n in names), *own]

    def _own_files(self) -> set[str]:
        return {os.path.realpath(p) for p in self.own_paths()}

    def backup(self, dest: Path | str, *, overwrite: bool = False) -> Path:
        """A consistent copy of the library while it is in use (SQLite's backup API), written
        to a temporary file and renamed, so ``dest`` is never half a library. ``dest`` may be a
        folder (the copy is named after the library and the time). Never the library itself,
        nor (unless ``overwrite``) an existing file. Thumbnails are not copied (they are a
        cache, made again from the photos)."""
        dest = Path(dest).expanduser().absolute()
        if dest.is_dir():
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            dest = dest / f"{self.path.stem}-{stamp}{self.path.suffix}"
        if os.path.realpath(dest) in self._own_files() or (
            dest.exists() and os.path.samefile(dest, self.path)
        ):
            raise LibraryError(f"{dest} is the library itself; give another file to back up to")
        if dest.exists() and not overwrite:
            raise LibraryError(f"{dest} already exists; give a new file name (or overwrite it)")
        if not dest.parent.is_dir():
            raise LibraryError(f"the folder {dest.parent} does not exist")
        try:
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
        except OSError as exc:
            raise LibraryError(f"cannot write in {dest.parent}: {exc.strerror}") from exc
        os.close(fd)
        try:
            source = connect(self.path, self.access)
            try:
                target = sqlite3.connect(tmp)
                try:
                    source.backup(target)
                    check = target.execute("PRAGMA integrity_check").fetchone()
                    if check != ("ok",):
                        raise LibraryError(f"the copy failed its integrity check: {check}")
                finally:
                    target.close()
            finally:
                source.close()
            os.replace(tmp, dest)
        except sqlite3.Error as exc:
            raise LibraryError(describe_sqlite_error(exc, self.path)) from exc
        finally:
            with suppress(OSError):
                os.unlink(tmp)
        return dest

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.engine.dispose()

    def __enter__(self) -> Library:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Library({str(self.path)!r})"


def _read_only_access(path: Path) -> Access:
    """``ro`` when SQLite can read the file that way (it needs to create or use the ``-shm``
    file beside it), else ``immutable`` (a folder nobody lets us write: no one else writes it
    either, as far as this process can tell)."""
    try:
        conn = connect(path, "ro")
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return "immutable"
    return "ro"
