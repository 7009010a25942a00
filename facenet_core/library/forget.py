"""Forgetting: a person, single faces, or a whole library, gone for good.

What a library keeps of a face is biometric data (its 128-byte code, its thumbnail) and what it
keeps of a person is a name given by the user. Deleting rows is not enough: SQLite leaves their
bytes in the file until the pages are reused, the WAL keeps older copies of pages, thumbnails
and training checkpoints lie beside the library, and backups hold a copy of everything. So:

- the rows go in one write transaction under ``PRAGMA secure_delete`` (SQLite overwrites what it
  deletes with zeros), then the WAL is checkpointed and truncated;
- a forgotten person's photo-level tags (on a photo without a face box) and the record of
  which of their faces a tag import named go with them;
- each forgotten face leaves only its place in its photo (:class:`ForgottenFace`: photo and box,
  no code, no person), so that detecting the photo again does not bring it back;
- every edit in the history that touched a forgotten face or the person is deleted (so undo can
  never bring them back), and forgetting itself is not an edit: it cannot be undone;
- their thumbnails are deleted, an unfinished training run's checkpoint is deleted when it could
  hold their faces, fine-tuned model versions that may have been trained on them are marked (the
  caller tells the user, who can restore a version that did not see them, or train again), and
  the library's backups are scrubbed the same way (a backup that cannot be scrubbed is deleted);
- :func:`forget_library` removes a library with everything it created, never the photos.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from facenet_core.errors import UserError
from facenet_core.people.exportable import exportable, write_people
from facenet_core.people.history_trace import delete_edits, edits_touching
from facenet_core.store import (
    Assignment,
    Face,
    FaceRejection,
    ForgottenFace,
    Library,
    LibraryError,
    ModelVersion,
    Person,
    Photo,
    PhotoPerson,
)
from facenet_core.store.chunks import chunks
from facenet_core.tags.write import sidecar_path
from facenet_core.thumbnails import remove_thumbnails

log = logging.getLogger(__name__)

SAW_FORGOTTEN = "saw_forgotten"
"""Key in a fine-tuned :class:`ModelVersion`'s metrics: how many forgotten people or faces it
may have been trained on (a count only: no name or id of theirs is kept)."""


class NotFound(UserError, LookupError):
    """No person or face of that id (removed meanwhile, or a wrong id): nothing was forgotten."""


@dataclass(slots=True)
class ForgetReport:
    """What forgetting removed, for the CLI and the app to put into words."""

    faces: int = 0
    confirmed_faces: int = 0
    person_name: str | None = None
    people: int = 0
    edits: int = 0
    thumbnails: int = 0
    checkpoint_removed: bool = False
    models_marked: list[str] = field(default_factory=list)
    """Names of fine-tuned model versions that may have been trained on what was forgotten."""
    active_model_marked: bool = False
    backups_scrubbed: int = 0
    backups_removed: int = 0
    sidecars_cleaned: int = 0
    """XMP sidecars beside their photos that named them and were written again without them."""
    sidecar_problems: list[tuple[str, str]] = field(default_factory=list)
    """Sidecars that still name them and could not be written (path, reason)."""
    _photos: set[int] = field(default_factory=set, repr=False)
    _names: set[str] = field(default_factory=set, repr=False)


@dataclass(frozen=True, slots=True)
class ForgetPlan:
    """What forgetting a person would remove (for the confirmation the user reads first)."""

    person_id: int
    name: str | None
    faces: int
    confirmed_faces: int
    photos: int
    edits: int
    models: list[str]
    backups: int


def _person_faces(session: Session, person_id: int) -> list[Face]:
    return list(session.scalars(select(Face).where(Face.person_id == person_id)))


def _marked_versions(
    session: Session, people: list[Person], faces: list[Face]
) -> list[ModelVersion]:
    """Fine-tuned versions that may have seen these faces: made after the earliest of them was
    confirmed could have been, i.e. after the person (or the face) existed, when any was
    confirmed. Training uses confirmed faces only, so no confirmed face means no version."""
    confirmed = [f for f in faces if f.assignment == Assignment.CONFIRMED]
    if not confirmed:
        return []
    since = min([f.created_at for f in confirmed] + [p.created_at for p in people])
    return list(
        session.scalars(
            select(ModelVersion).where(
                ModelVersion.parent_id.is_not(None), ModelVersion.created_at >= since
            )
        )
    )


def _forget_rows(
    session: Session, faces: list[Face], people: list[Person], report: ForgetReport
) -> list[int]:
    """Delete the faces (keeping their places), the people and every edit that touched them, in
    the caller's transaction. Returns the forgotten face ids."""
    session.execute(text("PRAGMA secure_delete = ON"))
    face_ids = [f.id for f in faces]
    person_ids = [p.id for p in people]
    report._photos.update(f.photo_id for f in faces)
    if person_ids:
        report._photos.update(
            session.scalars(
                select(PhotoPerson.photo_id).where(PhotoPerson.person_id.in_(person_ids))
            )
        )
    owners = {f.person_id for f in faces if f.person_id is not None} | set(person_ids)
    if owners:
        report._names.update(
            n for n in session.scalars(select(Person.name).where(Person.id.in_(owners))) if n
        )
    edit_ids = edits_touching(session, face_ids, person_ids)
    for version in _marked_versions(session, people, faces):
        metrics = dict(version.metrics or {})
        metrics[SAW_FORGOTTEN] = int(metrics.get(SAW_FORGOTTEN, 0)) + 1
        version.metrics = metrics
        report.models_marked.append(version.name)
        report.active_model_marked |= version.is_active
    for face in faces:
        session.add(
            ForgottenFace(photo_id=face.photo_id, x1=face.x1, y1=face.y1, x2=face.x2, y2=face.y2)
        )
    delete_edits(session, edit_ids)
    if person_ids:
        session.execute(delete(FaceRejection).where(FaceRejection.person_id.in_(person_ids)))
        session.execute(delete(PhotoPerson).where(PhotoPerson.person_id.in_(person_ids)))
    for chunk in chunks(face_ids):
        session.execute(delete(Face).where(Face.id.in_(chunk)))
    if person_ids:
        session.execute(delete(Person).where(Person.id.in_(person_ids)))
    session.flush()
    report.faces += len(faces)
    report.confirmed_faces += sum(f.assignment == Assignment.CONFIRMED for f in faces)
    report.people += len(people)
    report.edits += len(edit_ids)
    return face_ids


def _checkpoint(library: Library) -> None:
    """Copy the WAL into the file (overwriting the deleted bytes there) and empty it."""
    with library.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _scrub_copy(path: Path, face_ids: list[int], person_ids: list[int]) -> None:
    """The same deletions in a backup copy, in plain SQL on the file as it is (opening it as a
    library could upgrade it, and an upgrade keeps a copy of its own)."""
    conn = sqlite3.connect(path, timeout=10)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA secure_delete = ON")
        with conn:
            conn.execute("CREATE TEMP TABLE gone_faces (id INTEGER PRIMARY KEY)")
            conn.execute("CREATE TEMP TABLE gone_people (id INTEGER PRIMARY KEY)")
            conn.executemany("INSERT INTO gone_faces VALUES (?)", [(i,) for i in face_ids])
            conn.executemany("INSERT INTO gone_people VALUES (?)", [(i,) for i in person_ids])
            conn.execute(
                "INSERT OR IGNORE INTO gone_faces SELECT id FROM faces"
                " WHERE person_id IN (SELECT id FROM gone_people)"
            )
            if conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'edit_photo_people'"
            ).fetchone():  # a backup made before migration 0010 has no photo-level tags
                conn.execute(
                    "DELETE FROM edits WHERE id IN (SELECT edit_id FROM edit_photo_people"
                    " WHERE person_id IN (SELECT id FROM gone_people))"
                )
                conn.execute(
                    "DELETE FROM photo_people WHERE person_id IN (SELECT id FROM gone_people)"
                )
            conn.execute(
                "DELETE FROM edits WHERE id IN ("
                " SELECT edit_id FROM edit_faces WHERE face_id IN (SELECT id FROM gone_faces)"
                "  OR person_id IN (SELECT id FROM gone_people)"
                " UNION SELECT edit_id FROM edit_rejections"
                "  WHERE face_id IN (SELECT id FROM gone_faces)"
                "  OR person_id IN (SELECT id FROM gone_people)"
                " UNION SELECT edit_id FROM edit_people"
                "  WHERE person_id IN (SELECT id FROM gone_people))"
            )
            conn.execute(
                "DELETE FROM face_rejections WHERE person_id IN (SELECT id FROM gone_people)"
            )
            conn.execute("DELETE FROM faces WHERE id IN (SELECT id FROM gone_faces)")
            conn.execute("DELETE FROM people WHERE id IN (SELECT id FROM gone_people)")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def _scrub_backups(
    library: Library, face_ids: list[int], person_ids: list[int], report: ForgetReport
) -> None:
    """Forget the same rows in every backup copy of the library (same ids: they are copies);
    a backup that cannot be scrubbed is deleted instead, never left holding them."""
    folder = library.backups_dir
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.db")):
        try:
            _scrub_copy(path, face_ids, person_ids)
            report.backups_scrubbed += 1
        except (sqlite3.Error, OSError) as exc:
            log.warning("could not scrub the backup %s (%s): deleting it", path, exc)
            for side in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                side.unlink(missing_ok=True)
            report.backups_removed += 1


def _after(
    library: Library, face_ids: list[int], person_ids: list[int], report: ForgetReport
) -> None:
    _checkpoint(library)
    remove_thumbnails(library.thumbnails_dir, face_ids)
    report.thumbnails = len(face_ids)
    if report.confirmed_faces and library.training_dir.exists():
        shutil.rmtree(library.training_dir, ignore_errors=True)
        report.checkpoint_removed = True
    _scrub_backups(library, face_ids, person_ids, report)
    _clean_sidecars(library, report)


def _clean_sidecars(library: Library, report: ForgetReport) -> None:
    """Write again, without the forgotten faces, the XMP sidecars of their photos that name
    them (written by an earlier export or by another program): a forgotten name must not stay
    beside a photo that may be shared. Only sidecars change, never photos; the backup copy the
    writer keeps of the old sidecar would hold the name, so it goes too."""
    if not report._photos or not report._names:
        return
    needles = [v.encode() for n in report._names for v in {n, escape(n)}]
    with library.session() as session:
        photos = session.execute(
            select(Photo.path, Photo.width, Photo.height).where(Photo.id.in_(report._photos))
        ).all()
        remaining = exportable(session, sorted(report._photos))
    for path_text, width, height in photos:
        photo = Path(path_text)
        for naming in ("ext.xmp", "xmp"):
            sidecar = sidecar_path(photo, naming)
            try:
                data = sidecar.read_bytes()
            except OSError:
                continue
            if not any(needle in data for needle in needles):
                continue
            written = write_people(
                photo, (width or 0, height or 0), remaining.get(path_text), naming
            )
            if written.written:
                report.sidecars_cleaned += 1
                if written.backup is not None:
                    written.backup.unlink(missing_ok=True)
            else:
                report.sidecar_problems.append((str(sidecar), written.reason or "not written"))


def plan_forget_person(library: Library, person_id: int) -> ForgetPlan:
    """What :func:`forget_person` would remove, for the confirmation dialog."""
    with library.session() as session:
        person = session.get(Person, person_id)
        if person is None:
            raise NotFound(f"no person {person_id}")
        faces = _person_faces(session, person_id)
        edits = edits_touching(session, [f.id for f in faces], [person_id])
        models = [v.name for v in _marked_versions(session, [person], faces)]
        name = person.name
        tagged = set(
            session.scalars(select(PhotoPerson.photo_id).where(PhotoPerson.person_id == person_id))
        )
    backups = len(list(library.backups_dir.glob("*.db"))) if library.backups_dir.is_dir() else 0
    return ForgetPlan(
        person_id=person_id,
        name=name,
        faces=len(faces),
        confirmed_faces=sum(f.assignment == Assignment.CONFIRMED for f in faces),
        photos=len({f.photo_id for f in faces} | tagged),
        edits=len(edits),
        models=models,
        backups=backups,
    )


def forget_person(library: Library, person_id: int) -> ForgetReport:
    """Forget a person for good: every face of theirs (confirmed or automatic), their name,
    their rejections, every edit that touched them, their thumbnails; see the module's doc."""
    report = ForgetReport()
    with library.writer("forget", wait=True), library.write() as session:
        person = session.get(Person, person_id)
        if person is None:
            raise NotFound(f"no person {person_id}")
        report.person_name = person.name
        face_ids = _forget_rows(session, _person_faces(session, person_id), [person], report)
    _after(library, face_ids, [person_id], report)
    return report


def forget_faces(library: Library, face_ids: Iterable[int]) -> ForgetReport:
    """Forget single faces the same way (their person stays, with the faces left)."""
    wanted = sorted(set(face_ids))
    report = ForgetReport()
    with library.writer("forget", wait=True), library.write() as session:
        faces = list(session.scalars(select(Face).where(Face.id.in_(wanted))))
        missing = sorted(set(wanted) - {f.id for f in faces})
        if missing:
            raise NotFound(f"no face {', '.join(map(str, missing))}")
        forgotten = _forget_rows(session, faces, [], report)
    _after(library, forgotten, [], report)
    return report


def forgotten_boxes_of(
    session: Session, photo_ids: list[int]
) -> dict[int, list[tuple[float, float, float, float]]]:
    """The places of the faces forgotten in each of ``photo_ids`` (a re-detection must not bring
    them back), in one query; photos with none are absent."""
    found: dict[int, list[tuple[float, float, float, float]]] = {}
    rows = session.scalars(select(ForgottenFace).where(ForgottenFace.photo_id.in_(photo_ids)))
    for row in rows:
        found.setdefault(row.photo_id, []).append(row.box)
    return found


def library_paths(library_path: Path) -> list[Path]:
    """Everything a library created: the database, its SQLite side files, thumbnails, models,
    training checkpoints, backups and locks (the photos are never among them)."""
    name = library_path.name
    suffixes = (
        "",
        "-wal",
        "-shm",
        "-journal",
        ".writer.lock",
        ".writer.json",
        ".thumbnails",
        ".models",
        ".training",
        ".backups",
    )
    return [library_path.with_name(name + s) for s in suffixes]


def forget_library(library_path: Path) -> list[Path]:
    """Remove a library and all it created, leaving the photos untouched. The library must not
    be open (the caller closes it first); its writer lock is taken so a running scan of another
    process is never pulled from under it. Returns what was removed."""
    from filelock import FileLock, Timeout

    path = library_path.expanduser().absolute()
    if not path.is_file():
        raise LibraryError(f"no library at {path}")
    lock = FileLock(str(path.with_name(path.name + ".writer.lock")), mode=0o600)
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        raise LibraryError(
            f"the library {path} is in use by another job; stop it first, then remove the library"
        ) from exc
    removed: list[Path] = []
    try:
        for item in library_paths(path):
            if item.name.endswith(".writer.lock"):
                continue
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item)
                removed.append(item)
            elif item.exists() or item.is_symlink():
                item.unlink()
                removed.append(item)
    finally:
        lock.release()
    lock_file = path.with_name(path.name + ".writer.lock")
    if lock_file.exists():
        lock_file.unlink()
        removed.append(lock_file)
    return removed


# -- the words every front end shows (the CLI and the app share them) ------------------------------

APP_RESTORE = "the Training page restores one that was not, or trains again without them"
"""How an app user gets a model that never saw what was forgotten (see :func:`describe_report`)."""


def _n(count: int, word: str, words: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (words or word + 's')}"


def describe_plan(plan: ForgetPlan) -> str:
    """What forgetting a person removes, in the words the confirmation shows (CLI and app)."""
    who = plan.name or f"person {plan.person_id}"
    lines = [
        f"Forget {who} for good: {_n(plan.faces, 'face')} ({plan.confirmed_faces:,} confirmed"
        f" by you) in {_n(plan.photos, 'photo')}, their face codes, thumbnails and name, and"
        f" {_n(plan.edits, 'edit')} of your history that touched them.",
        "Their faces are remembered only as forgotten places, so a rescan does not bring them"
        " back. This cannot be undone, and Undo will not bring them back.",
    ]
    if plan.models:
        lines.append(
            "Fine-tuned model versions that may have been trained on them:"
            f" {', '.join(plan.models)}"
            " (they stay; restore a version that did not see them, or train again)."
        )
    if plan.backups:
        backups = "backup is" if plan.backups == 1 else f"{plan.backups:,} backups are"
        lines.append(f"The library's {backups} cleaned of them too.")
    return "\n".join(lines)


def describe_faces(count: int) -> str:
    """The confirmation for forgetting single faces."""
    return (
        f"Forget {_n(count, 'face')} for good: {'its' if count == 1 else 'their'} face code,"
        " thumbnail and every edit of your history that touched "
        f"{'it' if count == 1 else 'them'}. A rescan does not bring "
        f"{'it' if count == 1 else 'them'} back. This cannot be undone, and Undo will not"
        f" bring {'it' if count == 1 else 'them'} back."
    )


def describe_report(report: ForgetReport, *, how_to_restore: str = APP_RESTORE) -> str:
    """What forgetting did, in one or a few lines; ``how_to_restore`` says, in the front end's
    words, how to get a model that did not see them."""
    who = f"{report.person_name!r}" if report.person_name else None
    head = f"forgot {who}: " if who else "forgot "
    parts = [_n(report.faces, "face"), f"{_n(report.edits, 'edit')} of the history"]
    if report.checkpoint_removed:
        parts.append("the unfinished training run (it held their faces)")
    if report.backups_scrubbed or report.backups_removed:
        parts.append(
            f"{_n(report.backups_scrubbed, 'backup')} cleaned"
            + (f", {report.backups_removed} removed" if report.backups_removed else "")
        )
    if report.sidecars_cleaned:
        parts.append(f"their names in {_n(report.sidecars_cleaned, 'sidecar')} beside the photos")
    lines = [head + ", ".join(parts)]
    for sidecar, reason in report.sidecar_problems:
        lines.append(f"warning: {sidecar} still names them and could not be written: {reason}")
    if report.models_marked:
        active = " (the active one among them)" if report.active_model_marked else ""
        lines.append(
            "note: these fine-tuned model versions may have been trained on them"
            f"{active}: {', '.join(report.models_marked)}; {how_to_restore}"
        )
    return "\n".join(lines)


def describe_library_removal(library_path: Path) -> str:
    """The confirmation for removing a library: what goes (what exists of it), and that the
    photos stay."""
    path = library_path.expanduser().absolute()
    present = [p.name for p in library_paths(path) if p.exists() or p.is_symlink()]
    return (
        f"Remove the library {path} with everything it created beside it"
        f" ({', '.join(present) or path.name}): every face code, thumbnail, name, fine-tuned"
        " model, training checkpoint and backup. Your photos are not touched."
        " This cannot be undone."
    )
