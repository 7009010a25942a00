"""The :class:`Library`: one open photo library, the only way the CLI and the app reach one.

It owns the SQLAlchemy engine and its session factory, the face-thumbnail folder beside the file,
the schema upgrade on opening, the library's saved settings, and :meth:`Library.close`. Sessions
are short-lived and one per thread (``with library.session() as s: ...``).

Opening fails with a :class:`~facenet_core.store.db.LibraryError` whose one-line message says
what happened and what to do: no library at that path (only a scan, or the app's first start,
creates one), a file that is not a library, a library from a newer app, a locked or read-only
file.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from facenet_core.paths import thumbnails_dir
from facenet_core.settings import Settings, SettingsError
from facenet_core.store.db import LibraryError, copy_database, open_library
from facenet_core.store.models import LibrarySetting, utcnow

log = logging.getLogger(__name__)


class Library:
    """An open photo library. Use :meth:`open`; close it (or use ``with``) when done."""

    def __init__(self, path: Path, sessions: sessionmaker[Session]) -> None:
        self.path = path
        self.sessions = sessions
        self.thumbnails_dir = thumbnails_dir(path)
        self._closed = False

    @classmethod
    def open(cls, path: Path | str, *, create: bool = False) -> Library:
        """Open the library at ``path``, upgrading an older schema (after a backup copy).

        ``create``: make a new, empty library when there is none (only scanning and the app's
        first start do this); otherwise a missing file is an error, so a mistyped path never
        looks like an emptied library."""
        path = Path(path).expanduser().absolute()
        if path.is_dir():
            raise LibraryError(f"{path} is a folder; give the library's .db file")
        if not path.exists() and not create:
            raise LibraryError(
                f"no library at {path}; check the path, or scan a folder to create one"
            )
        return cls(path, open_library(path))

    @property
    def engine(self) -> Engine:
        engine = self.sessions.kw["bind"]
        assert isinstance(engine, Engine)
        return engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A new session (not shared across threads); the caller commits."""
        with self.sessions() as session:
            yield session

    # -- settings --------------------------------------------------------------------------------

    def settings(self) -> Settings:
        """The library's saved settings over the defaults (a bad saved value is skipped)."""
        with self.session() as session:
            saved = {row.key: row.value for row in session.scalars(select(LibrarySetting))}
        values: dict[str, Any] = {}
        for key, value in saved.items():
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
        with self.session() as session, session.begin():
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

    def backup(self, dest: Path) -> Path:
        """A consistent copy of the library while it is in use (SQLite's backup API)."""
        return copy_database(self.path, Path(dest))

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
