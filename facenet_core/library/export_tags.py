"""Write the people named in the library to XMP sidecars beside the photos (``export-tags``).

Only named people's faces are written: a face the user ignored, a suggestion not yet answered,
faces of unnamed people, of people the user hid, and of people the user marked "never write to
photos" (:func:`set_never_export`; a forgotten person no longer exists at all) are not.
Choosing people chooses *photos* (those showing one of them);
each photo's sidecar then gets every named face it holds, since a sidecar's people parts are
replaced as a whole (:mod:`facenet_core.tags.write`). Originals are never modified. Each photo's
problem (a folder that cannot be written, a sidecar another program keeps changing, an unreadable
one) is recorded with its reason, and the job goes on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from facenet_core.people.queries import person_label
from facenet_core.progress import CancelToken, PhaseClock, Reporter, ignore_progress
from facenet_core.store import Assignment, Face, Library, LibrarySetting, Person, Photo
from facenet_core.store.models import utcnow
from facenet_core.tags.model import name_key
from facenet_core.tags.rdf import XmpError
from facenet_core.tags.write import FaceTag, Naming, prepare, sidecar_path, write_sidecar

_EXIF_ORIENTATION = 0x0112
NEVER_EXPORT = "privacy.never_export"
"""The library's list of people (ids) whose names are never written to photos or sidecars."""
_WRITTEN = (Assignment.AUTO.value, Assignment.CONFIRMED.value)


@dataclass
class ExportResult:
    """What an export did (``dry_run``: would do): sidecars written (``sidecars_new`` of them
    where there was none, the others rewritten with the old one kept as ``.bak``) or already up
    to date, the named faces written and the ``people`` (names) they show, the people left out
    because they are on the "never write" list (``never_written``, labels), and each photo that
    could not be written with its reason."""

    photos: int = 0
    sidecars_written: int = 0
    sidecars_new: int = 0
    sidecars_unchanged: int = 0
    faces_written: int = 0
    people: list[str] = field(default_factory=list)
    never_written: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    unknown_people: list[str] = field(default_factory=list)
    dry_run: bool = False
    cancelled: bool = False

    @property
    def sidecars_changed(self) -> int:
        """Sidecars rewritten (they existed before)."""
        return self.sidecars_written - self.sidecars_new

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failed"] = [{"photo": p, "reason": r} for p, r in self.failed]
        return data


def never_export_ids(session: Session) -> set[int]:
    """The people the user asked never to write to photos."""
    row = session.get(LibrarySetting, NEVER_EXPORT)
    value = row.value if row is not None else None
    return {int(v) for v in value} if isinstance(value, list) else set()


def set_never_export(library: Library, person_ids: Sequence[int], never: bool = True) -> set[int]:
    """Add these people to (or, ``never=False``, take them off) the list of people never
    written to photos; returns the list as it is now."""
    with library.write() as session:
        row = session.get(LibrarySetting, NEVER_EXPORT)
        current = never_export_ids(session)
        current = current | set(person_ids) if never else current - set(person_ids)
        # people who no longer exist (merged away, forgotten) leave the list
        existing = set(session.scalars(select(Person.id).where(Person.id.in_(current))))
        value = sorted(existing)
        if row is None:
            session.add(LibrarySetting(key=NEVER_EXPORT, value=value))
        else:
            row.value, row.updated_at = value, utcnow()
    return set(value)


def exportable_faces(
    session: Session, photo_ids: Sequence[int] | None = None
) -> tuple[dict[str, list[FaceTag]], dict[str, tuple[int | None, int | None]]]:
    """The faces export may write, by photo path (only ``photo_ids`` when given), and each
    photo's size: named people's automatic or confirmed faces, not ignored, not hidden, not on
    the "never write" list."""
    never = never_export_ids(session)
    query = (
        select(Photo.path, Photo.width, Photo.height, Face.x1, Face.y1, Face.x2, Face.y2)
        .add_columns(Person.name)
        .join(Face, Face.photo_id == Photo.id)
        .join(Person, Person.id == Face.person_id)
        .where(Person.name.is_not(None), Face.is_ignored.is_(False))
        .where(Person.is_hidden.is_(False), Person.id.not_in(never))
        .where(Face.assignment.in_(_WRITTEN))
        .order_by(Photo.path, Face.x1)
    )
    if photo_ids is not None:
        query = query.where(Photo.id.in_(photo_ids))
    photos: dict[str, list[FaceTag]] = defaultdict(list)
    sizes: dict[str, tuple[int | None, int | None]] = {}
    for path, width, height, x1, y1, x2, y2, name in session.execute(query).all():
        photos[path].append(FaceTag(name, (x1, y1, x2, y2)))
        sizes[path] = (width, height)
    return photos, sizes


def orientation_of(path: Path) -> int:
    """The EXIF orientation of a photo (1 when it has none or cannot be read)."""
    try:
        with Image.open(path) as img:
            value = img.getexif().get(_EXIF_ORIENTATION, 1)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _choose(
    library: Library, people: Sequence[str] | None
) -> tuple[dict[str, list[FaceTag]], dict[str, tuple[int | None, int | None]], list[str]]:
    """The photos an export writes (path -> named faces, by path), their sizes, and the names
    asked for that no photo holds."""
    with library.session() as session:
        photos, sizes = exportable_faces(session)
    unknown: list[str] = []
    if people is not None:
        wanted = {name_key(n) for n in people}
        names_seen = {name_key(f.name) for faces in photos.values() for f in faces}
        unknown = sorted(n for n in people if name_key(n) not in names_seen)
        photos = {
            p: faces
            for p, faces in photos.items()
            if any(name_key(f.name) in wanted for f in faces)
        }
    return dict(sorted(photos.items())), sizes, unknown


def _never_written(library: Library) -> list[str]:
    """The labels of the people on the "never write" list."""
    with library.session() as session:
        never = never_export_ids(session)
        rows = session.execute(select(Person.id, Person.name).where(Person.id.in_(never))).all()
    return sorted((person_label(pid, name) for pid, name in rows), key=str.casefold)


def _one_photo(
    path: Path, size: tuple[int, int], faces: list[FaceTag], naming: Naming, dry_run: bool
) -> tuple[str, int, str | None]:
    """Write (or, ``dry_run``, only read and merge) one photo's sidecar: what happened to it
    (``new``, ``changed``, ``unchanged`` or ``failed``), the faces written, and a failure's
    reason."""
    if dry_run:
        try:
            draft = prepare(path, size, orientation_of(path), faces, (), naming)
        except XmpError as exc:
            return "failed", 0, f"{sidecar_path(path, naming).name} left as it is: {exc}"
        except OSError as exc:
            name = sidecar_path(path, naming).name
            return "failed", 0, f"cannot read {name}: {exc.strerror or exc}"
        if draft.old == draft.new:
            return "unchanged", 0, None
        return ("new" if draft.old is None else "changed"), draft.faces_written, None
    outcome = write_sidecar(path, size, orientation_of(path), faces, (), naming)
    if outcome.written:
        return ("new" if outcome.backup is None else "changed"), outcome.faces_written, None
    if outcome.reason == "already up to date":
        return "unchanged", 0, None
    return "failed", 0, outcome.reason or "not written"


def export_tags(
    library: Library,
    people: Sequence[str] | None = None,
    *,
    naming: Naming = "ext.xmp",
    dry_run: bool = False,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> ExportResult:
    """Write sidecars for the photos of ``people`` (names; None: every named person). Cancelled,
    it stops after the current photo and returns what it wrote, marked ``cancelled``.

    ``dry_run``: write nothing, but read and merge each sidecar exactly as writing would (the
    writer's own :func:`~facenet_core.tags.write.prepare`), so the counts are what the same
    export then does (the app's preview), unless another program changes a sidecar meanwhile.
    """
    result = ExportResult(dry_run=dry_run, never_written=_never_written(library))
    photos, sizes, result.unknown_people = _choose(library, people)
    names: dict[str, str] = {}
    clock = PhaseClock("export-tags", "plan" if dry_run else "sidecars", unit="photo")
    for done, (path_text, faces) in enumerate(photos.items(), start=1):
        if cancel is not None and cancel.cancelled:
            result.cancelled = True
            break
        path = Path(path_text)
        result.photos += 1
        width, height = sizes[path_text]
        reason: str | None
        if not path.is_file():
            kind, count, reason = "failed", 0, "photo not found"
        elif not width or not height:
            kind, count, reason = "failed", 0, "size unknown (scan the photo again)"
        else:
            kind, count, reason = _one_photo(path, (width, height), faces, naming, dry_run)
        if reason is not None:
            result.failed.append((path_text, reason))
        elif kind == "unchanged":
            result.sidecars_unchanged += 1
        else:
            result.sidecars_written += 1
            result.sidecars_new += int(kind == "new")
            result.faces_written += count
            for face in faces:
                names.setdefault(name_key(face.name), face.name)
        reporter(clock.event(done, len(photos), written=result.sidecars_written))
    result.people = sorted(names.values(), key=str.casefold)
    return result
