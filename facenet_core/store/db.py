"""Opening the photo library: one SQLite file, always migrated to the newest schema.

Typical use::

    factory = open_library(default_library_path())
    with factory() as session:
        ...

:func:`open_library` returns a :class:`~sqlalchemy.orm.sessionmaker`; pass it to whatever needs
the database and make short-lived sessions from it, one per thread (sessions are not
thread-safe). Nothing here keeps a global engine or session.

Every connection runs with WAL journaling (readers do not block the writer), ``synchronous =
NORMAL`` (durable across application crashes; the last transactions may roll back after a power
loss, never corrupting the file), a busy timeout (a second writer waits instead of failing at
once) and ``foreign_keys = ON`` (SQLite's default is off, which would silently break cascades).

A transaction that may write must begin as a writer (``BEGIN IMMEDIATE``: ``Library.write``):
SQLite lets a reader that wants to write wait for nobody; it refuses at once with "database is
locked" when another connection wrote since the reader began. A writer waiting for the lock
polls it every few milliseconds (:func:`create_library_engine`), so it gets in between two
short transactions of a long job. See ``docs/design/storage.md``.

Schema changes are Alembic revisions in ``migrations/versions``. To write a new one during
development, start from autogenerate and then review it by hand::

    from alembic import command
    from facenet_core.store.db import alembic_config
    command.revision(alembic_config(url="sqlite:///dev.db"), "what changed",
                     autogenerate=True, rev_id="0002")
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from facenet_core.errors import UserError

if TYPE_CHECKING:  # Alembic loads only when a library must be upgraded (a quarter second)
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
"""How long a connection waits for another writer before giving up with "database is locked"."""

SCHEMA_HEAD = "0010"
"""The newest revision in ``migrations/versions``: a library already there opens without loading
Alembic (the commands that only read start at once). A test keeps it equal to Alembic's head;
a new revision changes it."""

WRITER_POLL_S = 0.002
"""How often a transaction waiting to begin as a writer tries the lock again. SQLite's own busy
handler backs off to 100 ms between tries, so a writer waiting behind a job that commits batch
after batch would rarely catch the gap between two of them; polling this often does."""

WRITER_PAUSE_S = 0.005
"""What a long job leaves between two of its write transactions (:func:`let_others_write`):
longer than :data:`WRITER_POLL_S`, so a waiting edit always gets its turn."""

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
"""Alembic's script location (``env.py``, ``script.py.mako``, ``versions/``), shipped as package
data so that an installed app can upgrade its users' libraries."""

Access = Literal["rw", "ro", "immutable"]
"""How a connection opens the file: read-write; read-only (SQLite ``mode=ro``: another process
may still write, WAL readers see its commits); or ``immutable`` (nothing can change the file: no
locks, no ``-shm`` file, for a library in a folder this process cannot write)."""


class LibraryError(UserError, RuntimeError):
    """The library file cannot be opened or upgraded; the message says why and what to do."""


class WriteInReadTransaction(RuntimeError):
    """A bug: a statement wrote in a transaction that began as a reader and had already read.
    Under concurrent writers SQLite may refuse such a write at once ("database is locked");
    make the change in ``Library.write()`` instead."""


def _sqlite_url(path: Path) -> URL:
    return URL.create("sqlite", database=str(path))


def sqlite_uri(path: Path, access: Access) -> str:
    """The SQLite URI that opens ``path`` with ``access`` (percent-encoded, so any name works)."""
    uri = Path(os.path.abspath(path)).as_uri()
    return {"rw": uri, "ro": f"{uri}?mode=ro", "immutable": f"{uri}?mode=ro&immutable=1"}[access]


def connect(path: Path, access: Access = "rw") -> sqlite3.Connection:
    """A plain ``sqlite3`` connection (for the backup API) with the library's busy timeout."""
    return sqlite3.connect(
        sqlite_uri(path, access),
        uri=True,
        timeout=BUSY_TIMEOUT_MS / 1000,
        check_same_thread=False,
    )


def _set_pragmas(dbapi_connection: Any, *, foreign_keys: bool, access: Access) -> None:
    cursor = dbapi_connection.cursor()
    try:
        if access == "rw":
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
    finally:
        cursor.close()


def create_library_engine(
    path: Path,
    *,
    foreign_keys: bool = True,
    access: Access = "rw",
    begin: str = "DEFERRED",
    **kwargs: Any,
) -> Engine:
    """An Engine for the SQLite file at ``path`` with the library's connection settings.

    This does not create tables or migrate: use :func:`open_library` for that. ``foreign_keys``
    is only turned off for migrations (SQLite rebuilds tables to alter them, and enforcing
    foreign keys mid-rebuild would cascade deletes); keep it on everywhere else.

    Transactions are begun explicitly (the driver's own implicit transactions are off):
    ``BEGIN`` + ``begin`` (``DEFERRED`` by default; a connection or engine with the execution
    option ``sqlite_begin="IMMEDIATE"`` takes the write lock at once, so a transaction that reads
    and then writes never fails half way with "database is locked" because another connection
    committed in between).
    """
    engine = create_engine(
        _sqlite_url(path),
        creator=lambda: connect(path, access),
        **kwargs,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy begins every transaction (below)
        _set_pragmas(dbapi_connection, foreign_keys=foreign_keys, access=access)

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", begin)
        connection.info["begin_mode"] = mode
        connection.info["has_read"] = False
        if mode == "IMMEDIATE" and access == "rw":
            _begin_writer(connection)
        else:
            connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _begin_writer(connection: Connection) -> None:
    """``BEGIN IMMEDIATE``, trying every :data:`WRITER_POLL_S` while another connection holds
    the write lock (for up to :data:`BUSY_TIMEOUT_MS`; the last try waits under SQLite's own
    busy handler, so a timeout fails the usual way)."""
    raw = connection.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        while time.monotonic() < deadline:
            try:
                raw.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
            time.sleep(WRITER_POLL_S)
    finally:
        raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def let_others_write(since: float | None = None) -> None:
    """Call between two write transactions of a long job: a short pause in which a writer
    waiting for the lock (a user's edit) begins, instead of the job taking it straight back.
    ``since``: when the job's last transaction ended (``time.monotonic()``); the work done
    since then counts towards the pause, so a job that prepares its next batch outside the
    lock does not wait for nothing."""
    pause = WRITER_PAUSE_S if since is None else WRITER_PAUSE_S - (time.monotonic() - since)
    if pause > 0:
        time.sleep(pause)


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def guard_writes(engine: Engine) -> None:
    """Make a write after a read in a transaction begun as a reader fail loudly, every time
    (:class:`WriteInReadTransaction`), instead of failing only when another process happens
    to write at the same moment. A write as the first statement is allowed: SQLite then waits
    for the lock under the busy timeout like a writer."""

    @event.listens_for(engine, "before_cursor_execute")
    def _check(
        connection: Connection,
        _cursor: Any,
        statement: str,
        _parameters: Any,
        _context: Any,
        _executemany: bool,
    ) -> None:
        info = connection.info
        if info.get("begin_mode") == "IMMEDIATE":
            return
        verb = statement.lstrip()[:7].upper()
        if verb.startswith(_WRITES):
            if info.get("has_read"):
                raise WriteInReadTransaction(
                    f"{verb.split()[0]} in a transaction that began as a reader; use"
                    " Library.write() for a transaction that may write"
                )
        elif verb.startswith(("SELECT", "WITH")):
            info["has_read"] = True


def _migration_engine(path: Path) -> Engine:
    """An engine for schema upgrades: foreign keys off, and one real SQLite transaction.

    SQLAlchemy's ``begin`` emits ``BEGIN IMMEDIATE`` (the driver's implicit transactions are off,
    see :func:`create_library_engine`), so a migration that fails half way rolls back completely
    (SQLite's DDL is transactional) instead of leaving a half-changed library behind, and a second
    app instance opening the same file waits for this upgrade to finish and then finds the schema
    already current.
    """
    return create_library_engine(path, foreign_keys=False, begin="IMMEDIATE", poolclass=NullPool)


def alembic_config(*, connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic :class:`~alembic.config.Config` built in code (no ``alembic.ini`` needed).

    Pass an open ``connection`` to migrate through it (what :func:`open_library` does), or a
    ``url`` for Alembic commands that make their own connection.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


# -- what went wrong, in words -------------------------------------------------------------


def _why_not(exc: OSError, what: str) -> str:
    if exc.errno == errno.EROFS:
        return f"{what} is on a read-only file system"
    if exc.errno == errno.EPERM:
        return f"{what} is marked unchangeable by the system (immutable, e.g. chattr +i)"
    if exc.errno == errno.EACCES:
        return f"you have no permission to change {what}"
    return f"{what} cannot be changed ({exc.strerror or exc})"


def write_problem(path: Path) -> str | None:
    """Why this process cannot write the library at ``path`` (the file, and its folder, where
    SQLite keeps its ``-wal`` and ``-shm`` files and the app its thumbnails); None when it can.
    Asks the file system itself, so it is right for root, for ``chattr +i`` and read-only mounts.
    """
    path = Path(path)
    if path.exists():
        try:
            os.close(os.open(path, os.O_RDWR))
        except OSError as exc:
            return _why_not(exc, f"the file {path}")
    folder = path.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        try:  # ask for the real reason
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".facenet-probe-")
        except OSError as exc:
            return _why_not(exc, f"its folder {folder}")
        os.close(fd)
        os.unlink(probe)
    return None


DAMAGED = (
    "If this file is not a FaceNet Photos library or is damaged, choose another file (or restore"
    " a backup)."
)


def describe_sqlite_error(exc: BaseException, path: Path) -> str:
    """One line for a person: what an SQLite error means for the library at ``path``. Permission
    and space problems are named as such, never called damage."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig)
    low = text.lower()
    if "readonly" in low or "read-only" in low:
        return f"the library {path} is read-only for this process ({text})"
    if "unable to open" in low or "permission" in low:
        return (
            f"cannot open the library {path}: {text} (check that you may read the file and its"
            " folder)"
        )
    if "locked" in low or "busy" in low:
        return f"the library {path} is busy: another program is writing to it ({text}); try again"
    if "full" in low:
        return (
            f"cannot write the library {path}: the disk is full or the file reached its size"
            f" limit ({text}); nothing already saved was lost: free some space and run it again"
        )
    if "disk i/o" in low:
        return (
            f"reading or writing the library {path} failed ({text}: the disk may be full or"
            " failing, or the file too large for this system); what was already saved is kept:"
            " fix that and run the command again"
        )
    return f"Cannot open the photo library {path}: {text}. {DAMAGED}"


# -- opening and upgrading ----------------------------------------------------------------------


def _backup(path: Path, current: str) -> Path:
    """Copy the library (WAL included) before changing its schema, using SQLite's backup API."""
    target = path.with_name(f"{path.name}.before-upgrade-from-{current}.bak")
    source = connect(path)
    try:
        dest = sqlite3.connect(target)
        try:
            source.backup(dest)
        finally:
            dest.close()
    finally:
        source.close()
    log.info("backed up %s to %s before upgrading its schema", path, target)
    return target


def _current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _stored_revision(connection: Connection) -> str | None:
    """The schema revision the file records (what Alembic reads), without loading Alembic; None
    for a file without one (new, or not a library: the full check below says which)."""
    try:
        rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version").fetchall()
    except DBAPIError:  # no such table
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


def _check_known(script: ScriptDirectory, current: str | None, path: Path) -> None:
    from alembic.util.exc import CommandError

    if current is None:
        return
    try:
        known = script.get_revision(current) is not None
    except CommandError:
        known = False
    if not known:
        raise LibraryError(
            f"The photo library {path} was written by a newer version of FaceNet"
            f" Photos (schema revision {current!r}). Update the app, or choose"
            " another library file."
        )


def upgrade_library(path: Path, revision: str = "head", *, access: Access = "rw") -> None:
    """Bring the library file at ``path`` to ``revision`` (creating it if it does not exist).

    The schema version is read first without taking the write lock, so opening a current library
    never waits for a running scan. All revisions run in one transaction: if one fails, the file
    is left as it was. An existing library made by an older version of the app is also copied to
    ``<name>.before-upgrade-from-<revision>.bak`` first. A library from a *newer* version of the
    app is refused rather than damaged; a read-only library that needs upgrading is refused.
    A library already at :data:`SCHEMA_HEAD` is recognised without loading Alembic.
    """
    try:
        reader = create_library_engine(path, access=access, poolclass=NullPool)
        try:
            with reader.connect() as connection:
                if revision == "head" and _stored_revision(connection) == SCHEMA_HEAD:
                    return
                current = _current_revision(connection)
        finally:
            reader.dispose()
        from alembic import command
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(alembic_config())
        target = script.get_revision(revision)
        _check_known(script, current, path)
        if target is not None and current == target.revision:
            return
        if access != "rw":
            raise LibraryError(
                f"the library {path} is from an older version of FaceNet Photos and must be"
                " upgraded, but this process cannot write it; open it once with write access"
            )
        engine = _migration_engine(path)
        try:
            with engine.begin() as connection:
                current = _current_revision(connection)  # another process may have upgraded
                _check_known(script, current, path)
                if target is not None and current == target.revision:
                    return
                config = alembic_config(connection=connection)
                if current is not None:
                    _backup(path, current)
                log.info("upgrading library %s from %s to %s", path, current or "empty", revision)
                command.upgrade(config, revision)
                problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if problems:
                    raise LibraryError(
                        f"Upgrading the photo library {path} left {len(problems)} broken"
                        f" references (first: {tuple(problems[0])}); nothing was changed."
                    )
        finally:
            engine.dispose()
    except (DBAPIError, sqlite3.DatabaseError) as exc:
        raise LibraryError(describe_sqlite_error(exc, path)) from exc


def open_library(path: Path, *, access: Access = "rw") -> sessionmaker[Session]:
    """Open (or create) the library at ``path``, upgrade its schema, and return a session factory.

    The parent folder is created if needed (read-write only). The factory's engine is
    ``factory.kw["bind"]``.
    """
    path = Path(path).expanduser()
    if access == "rw":
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LibraryError(
                f"Cannot create the folder {path.parent} for the photo library: {exc.strerror}."
                " Choose a folder you can write to."
            ) from exc
    upgrade_library(path, access=access)
    return sessionmaker(bind=create_library_engine(path, access=access))


def integrity_check(engine: Engine) -> str:
    """SQLite's ``PRAGMA integrity_check``: ``"ok"``, or one line per problem found."""
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("PRAGMA integrity_check").scalars().all()
    return "\n".join(str(row) for row in rows)
