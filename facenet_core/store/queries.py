"""Small query helpers shared by the scanner, the people logic, the CLI and the GUI.

They take a :class:`~sqlalchemy.orm.Session` and never commit: the caller owns the transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from facenet_core.store.models import Face, FolderProblem, ModelVersion, Person, Photo, PhotoStatus


def get_active_model_version(session: Session) -> ModelVersion | None:
    """The model version whose embeddings are current, or None in a library never scanned."""
    return session.scalars(select(ModelVersion).where(ModelVersion.is_active)).one_or_none()


def activate_model_version(session: Session, version: ModelVersion) -> ModelVersion:
    """Make ``version`` the one active version (deactivating every other one).

    Used when a fine-tuned version is promoted, and to restore an older version: its stored
    embeddings become current again without re-embedding.
    """
    if version.id is None:
        version.is_active = False  # inserted inactive, activated below once the others are off
        session.add(version)
        session.flush()
    # Deactivate the others first, in SQL, so the "one active" unique index never sees two.
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.is_active, ModelVersion.id != version.id)
        .values(is_active=False)
        .execution_options(synchronize_session="fetch")
    )
    version.is_active = True
    session.flush()
    return version


def ensure_active_model_version(
    session: Session, name: str, weights_sha256: str, *, parent: ModelVersion | None = None
) -> ModelVersion:
    """The version for these weights (``name`` + ``weights_sha256``), created if new (as a child
    of ``parent``), and active.

    The embedder calls this before a scan stores embeddings, so every embedding records the
    weights that made it.
    """
    version = ensure_model_version(session, name, weights_sha256, parent=parent)
    if not version.is_active:
        activate_model_version(session, version)
    return version


def ensure_model_version(
    session: Session, name: str, weights_sha256: str, **columns: Any
) -> ModelVersion:
    """The version for these weights (``name`` + ``weights_sha256``), recorded if new with
    ``columns`` (``parent``, ``weights_path``, ``notes``: :class:`ModelVersion`'s own keywords);
    an existing one is returned unchanged: a version is its weights, so the same weights never
    make a second version."""
    version = session.scalars(
        select(ModelVersion).where(
            ModelVersion.name == name, ModelVersion.weights_sha256 == weights_sha256
        )
    ).one_or_none()
    if version is None:
        version = ModelVersion(name=name, weights_sha256=weights_sha256, **columns)
        session.add(version)
        session.flush()
    return version


def next_face_id(session: Session) -> int:
    """The id SQLite would give the next face (``faces`` is ``AUTOINCREMENT``: one more than the
    largest id it ever gave, kept in ``sqlite_sequence``), so that a writer inserting many faces
    can number them itself and insert them in one ``executemany`` with no ``RETURNING``.

    Only valid inside a write transaction (``Library.write``): no other connection inserts a
    face before it commits. Explicit ids move ``sqlite_sequence`` on, so the ids given this way
    are never given again, as SQLite's own."""
    largest = session.execute(
        text(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'faces'), 0),"
            " coalesce((SELECT max(id) FROM faces), 0))"
        )
    ).scalar_one()
    return int(largest) + 1


def photo_counts(session: Session) -> dict[str, int]:
    """How many photos are in each state: a key per :class:`PhotoStatus` value (0 when none)."""
    counts = dict.fromkeys((s.value for s in PhotoStatus), 0)
    for status, n in session.execute(select(Photo.status, func.count()).group_by(Photo.status)):
        counts[status] = n
    return counts


def status_counts(session: Session) -> dict[str, int | str | None]:
    """What the status bar and ``facenet-photos status`` show.

    Keys: ``photos`` (every photo row, whatever its state) and one key per state that adds up
    to it: ``done`` (faces found, possibly none), ``pending`` (waiting for a scan to finish
    them), ``failed`` (could not be processed; ``status --failed`` says why), ``missing`` (the
    file is gone; faces and labels kept) and ``unavailable`` (the file cannot be read now,
    e.g. permission denied; faces and labels kept); ``faces`` (every detected face, ignored ones
    included), ``people`` (every person, hidden ones included), ``named_people`` (people with a
    non-empty name), ``unreadable_folders`` (folders the last scan could not read) and
    ``model_version`` (the active version's name, or None).
    """
    active = get_active_model_version(session)
    by_state = photo_counts(session)
    return {
        "photos": sum(by_state.values()),
        **by_state,
        "faces": session.scalar(select(func.count()).select_from(Face)) or 0,
        "people": session.scalar(select(func.count()).select_from(Person)) or 0,
        "named_people": session.scalar(
            select(func.count()).select_from(Person).where(func.trim(Person.name) != "")
        )
        or 0,
        "unreadable_folders": session.scalar(select(func.count()).select_from(FolderProblem)) or 0,
        "model_version": active.name if active is not None else None,
    }
