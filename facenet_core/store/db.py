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

Schema changes are Alembic revisions in ``migrations/versions``. To write a new one during
development, start from autogenerate and then review it by hand::

    from alembic import command
    from facenet_core.store.db import alembic_config
    command.revision(alembic_config(url="sqlite:///dev.db"), "what changed",
                     autogenerate=True, rev_id="0002")
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import URL, Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
"""How long a connection waits for another writer before giving up with "database is locked"."""

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
"""Alembic's script location (``env.py``, ``script.py.mako``, ``versions/``), shipped as package
data so that an installed app can upgrade its users' libraries."""


class LibraryError(RuntimeError):
    """The library file cannot be opened or upgraded; the message says why and what to do."""


def _sqlite_url(path: Path) -> URL:
    return URL.create("sqlite", database=str(path))


def _set_pragmas(dbapi_connection: Any, *, foreign_keys: bool) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
    finally:
        cursor.close()


def create_library_engine(path: Path, *, foreign_keys: bool = True, **kwargs: Any) -> Engine:
    """An Engine for the SQLite file at ``path`` with the library's connection settings.

    This does not create tables or migrate: use :func:`open_library` for that. ``foreign_keys``
    is only turned off for migrations (SQLite rebuilds tables to alter them, and enforcing
    foreign keys mid-rebuild would cascade deletes); keep it on everywhere else.
    """
    engine = create_engine(
        _sqlite_url(path), connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, **kwargs
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        _set_pragmas(dbapi_connection, foreign_keys=foreign_keys)

    return engine


def _migration_engine(path: Path) -> Engine:
    """An engine for schema upgrades: foreign keys off, and one real SQLite transaction.

    Python's ``sqlite3`` does not wrap DDL in a transaction by itself; here the driver is put in
    autocommit mode and SQLAlchemy's ``begin`` emits ``BEGIN IMMEDIATE``, so a migration that
    fails half way rolls back completely (SQLite's DDL is transactional) instead of leaving a
    half-changed library behind.
    """
    engine = create_library_engine(path, foreign_keys=False, poolclass=NullPool)

    @event.listens_for(engine, "connect")
    def _driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # IMMEDIATE: take the write lock now, so a second app instance opening the same file
        # waits for this upgrade to finish and then finds the schema already current.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def alembic_config(*, connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic :class:`~alembic.config.Config` built in code (no ``alembic.ini`` needed).

    Pass an open ``connection`` to migrate through it (what :func:`open_library` does), or a
    ``url`` for Alembic commands that make their own connection.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def copy_database(path: Path, target: Path) -> Path:
    """A consistent copy of the SQLite file at ``path`` (WAL included) made with SQLite's backup
    API, safe while other connections read and write it."""
    source = sqlite3.connect(path)
    try:
        dest = sqlite3.connect(target)
        try:
            source.backup(dest)
        finally:
            dest.close()
    finally:
        source.close()
    return target


def _backup(path: Path, current: str) -> Path:
    """Copy the library before changing its schema."""
    target = copy_database(path, path.with_name(f"{path.name}.before-upgrade-from-{current}.bak"))
    log.info("backed up %s to %s before upgrading its schema", path, target)
    return target


def upgrade_library(path: Path, revision: str = "head") -> None:
    """Bring the library file at ``path`` to ``revision`` (creating it if it does not exist).

    All revisions run in one transaction: if one fails, the file is left as it was. An existing
    library made by an older version of the app is also copied to
    ``<name>.before-upgrade-from-<revision>.bak`` first. A library from a *newer* version of the
    app is refused rather than damaged.
    """
    engine = _migration_engine(path)
    try:
        with engine.begin() as connection:
            config = alembic_config(connection=connection)
            script = ScriptDirectory.from_config(config)
            current = MigrationContext.configure(connection).get_current_revision()
            if current is not None:
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
            target = script.get_revision(revision)
            if current is not None and target is not None and current == target.revision:
                return
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
    except DBAPIError as exc:
        raise LibraryError(
            f"Cannot open the photo library {path}: {exc.orig}. If this file is not a"
            " FaceNet Photos library or is damaged, choose another file (or restore a backup)."
        ) from exc
    except sqlite3.DatabaseError as exc:
        raise LibraryError(
            f"Cannot open the photo library {path}: {exc}. If this file is not a FaceNet Photos"
            " library or is damaged, choose another file (or restore a backup)."
        ) from exc
    finally:
        engine.dispose()


def open_library(path: Path) -> sessionmaker[Session]:
    """Open (or create) the library at ``path``, upgrade its schema, and return a session factory.

    The parent folder is created if needed. The factory's engine is ``factory.kw["bind"]``.
    """
    path = Path(path).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LibraryError(
            f"Cannot create the folder {path.parent} for the photo library: {exc.strerror}."
            " Choose a folder you can write to."
        ) from exc
    upgrade_library(path)
    return sessionmaker(bind=create_library_engine(path))


def integrity_check(engine: Engine) -> str:
    """SQLite's ``PRAGMA integrity_check``: ``"ok"``, or one line per problem found."""
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("PRAGMA integrity_check").scalars().all()
    return "\n".join(str(row) for row in rows)
