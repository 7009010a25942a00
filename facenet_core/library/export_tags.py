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
    """What an export did: sidecars written (``sidecars_new`` of them where there was none) or
    already up to date, faces written, and each photo that could not be written with its
    reason."""

    photos: int = 0
    sidecars_written: int = 0
    sidecars_new: int = 0
    sidecars_unchanged: int = 0
    faces_written: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    unknown_people: list[str] = field(default_factory=list)
    cancelled: bool = False

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


@dataclass(frozen=True, slots=True)
class _Chosen:
    """The photos an export writes (path -> named faces), their sizes, and the names asked for
    that no photo holds."""

    photos: dict[str, list[FaceTag]]
    sizes: dict[str, tuple[int | None, int | None]]
    unknown_people: list[str]


def _choose(library: Library, people: Sequence[str] | None) -> _Chosen:
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
    return _Chosen(dict(sorted(photos.items())), sizes, unknown)


def _unwritable(path: Path, size: tuple[int | None, int | None]) -> str | None:
    """Why a photo cannot get a sidecar before anything is read (None: it can)."""
    if not path.is_file():
        return "photo not found"
    if not size[0] or not size[1]:
        return "size unknown (scan the photo again)"
    return None


@dataclass
class ExportPlan:
    """What an export would do, read without writing anything: ``sidecars_new`` would be
    created, ``sidecars_changed`` rewritten (the old one kept as ``.bak``), ``sidecars_unchanged``
    are already up to date; ``failed`` photos could not be written, with the reason. ``people``:
    the distinct names written; ``never_written``: the people on the "never write" list (their
    labels), whose faces are left out."""

    photos: int = 0
    sidecars_new: int = 0
    sidecars_changed: int = 0
    sidecars_unchanged: int = 0
    faces: int = 0
    people: list[str] = field(default_factory=list)
    never_written: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    unknown_people: list[str] = field(default_factory=list)
    cancelled: bool = False

    @property
    def sidecars_written(self) -> int:
        """Sidecars the export would write (new and changed)."""
        return self.sidecars_new + self.sidecars_changed


def plan_export(
    library: Library,
    people: Sequence[str] | None = None,
    *,
    naming: Naming = "ext.xmp",
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> ExportPlan:
    """What :func:`export_tags` with the same arguments would write, computed the same way (each
    sidecar read and merged in memory) but writing nothing: the preview the app shows first. A
    sidecar another program changes between the plan and the export can still turn out
    differently."""
    plan = ExportPlan()
    chosen = _choose(library, people)
    plan.unknown_people = chosen.unknown_people
    with library.session() as session:
        never = never_export_ids(session)
        rows = session.execute(select(Person.id, Person.name).where(Person.id.in_(never))).all()
    plan.never_written = sorted((person_label(pid, name) for pid, name in rows), key=str.casefold)
    names: dict[str, str] = {}
    clock = PhaseClock("export-tags", "plan", unit="photo")
    total = len(chosen.photos)
    for done, (path_text, faces) in enumerate(chosen.photos.items(), start=1):
        if cancel is not None and cancel.cancelled:
            plan.cancelled = True
            break
        path = Path(path_text)
        plan.photos += 1
        size = chosen.sizes[path_text]
        reason = _unwritable(path, size)
        if reason is None:
            assert size[0] and size[1]
            try:
                draft = prepare(path, (size[0], size[1]), orientation_of(path), faces, (), naming)
            except XmpError as exc:
                reason = f"{sidecar_path(path, naming).name} left as it is: {exc}"
            except OSError as exc:
                reason = f"cannot read {sidecar_path(path, naming).name}: {exc.strerror or exc}"
            else:
                if draft.old is None:
                    plan.sidecars_new += 1
                elif draft.old == draft.new:
                    plan.sidecars_unchanged += 1
                else:
                    plan.sidecars_changed += 1
                if draft.old != draft.new:
                    plan.faces += draft.faces_written
                    for face in faces:
                        names.setdefault(name_key(face.name), face.name)
        if reason is not None:
            plan.failed.append((path_text, reason))
        reporter(clock.event(done, total))
    plan.people = sorted(names.values(), key=str.casefold)
    return plan


def export_tags(
    library: Library,
    people: Sequence[str] | None = None,
    *,
    naming: Naming = "ext.xmp",
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> ExportResult:
    """Write sidecars for the photos of ``people`` (names; None: every named person). Cancelled,
    it stops after the current photo and returns what it wrote, marked ``cancelled``."""
    result = ExportResult()
    chosen = _choose(library, people)
    result.unknown_people = chosen.unknown_people
    clock = PhaseClock("export-tags", "sidecars", unit="photo")
    total = len(chosen.photos)
    for done, (path_text, faces) in enumerate(chosen.photos.items(), start=1):
        if cancel is not None and cancel.cancelled:
            result.cancelled = True
            break
        path = Path(path_text)
        result.photos += 1
        width, height = chosen.sizes[path_text]
        reason = _unwritable(path, (width, height))
        if reason is not None:
            result.failed.append((path_text, reason))
        else:
            assert width and height
            outcome = write_sidecar(path, (width, height), orientation_of(path), faces, (), naming)
            if outcome.written:
                result.sidecars_written += 1
                if outcome.backup is None:
                    result.sidecars_new += 1
                result.faces_written += outcome.faces_written
            elif outcome.reason == "already up to date":
                result.sidecars_unchanged += 1
            else:
                result.failed.append((path_text, outcome.reason or "not written"))
        reporter(clock.event(done, total, written=result.sidecars_written))
    return result
