"""Write the people named in the library to XMP sidecars beside the photos (``export-tags``).

Only named people's faces are written: a face the user ignored, a suggestion not yet answered,
faces of unnamed people, of people the user hid, and of people the user marked "never write to
photos" (:func:`set_never_export`; a forgotten person no longer exists at all) are not.
People on a photo without a face box (:mod:`facenet_core.people.photo_people`) are written as
``PersonInImage`` and keywords, under the same rules.
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

from facenet_core.progress import CancelToken, PhaseClock, Reporter, ignore_progress
from facenet_core.store import (
    Assignment,
    Face,
    Library,
    LibrarySetting,
    Person,
    Photo,
    PhotoPerson,
)
from facenet_core.store.models import utcnow
from facenet_core.tags.model import name_key
from facenet_core.tags.write import FaceTag, Naming, write_sidecar

_EXIF_ORIENTATION = 0x0112
NEVER_EXPORT = "privacy.never_export"
"""The library's list of people (ids) whose names are never written to photos or sidecars."""
_WRITTEN = (Assignment.AUTO.value, Assignment.CONFIRMED.value)


@dataclass
class ExportResult:
    """What an export did: sidecars written or already up to date, faces written, and each photo
    that could not be written with its reason."""

    photos: int = 0
    sidecars_written: int = 0
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


def exportable_photo_people(
    session: Session, photo_ids: Sequence[int] | None = None
) -> tuple[dict[str, list[str]], dict[str, tuple[int | None, int | None]]]:
    """The people on photos without a face box that export may write (named, not hidden, not
    on the "never write" list), by photo path (only ``photo_ids`` when given), and each photo's
    size."""
    never = never_export_ids(session)
    query = (
        select(Photo.path, Photo.width, Photo.height, Person.name)
        .join(PhotoPerson, PhotoPerson.photo_id == Photo.id)
        .join(Person, Person.id == PhotoPerson.person_id)
        .where(Person.name.is_not(None), Person.is_hidden.is_(False), Person.id.not_in(never))
        .order_by(Photo.path, Person.name)
    )
    if photo_ids is not None:
        query = query.where(Photo.id.in_(photo_ids))
    photos: dict[str, list[str]] = defaultdict(list)
    sizes: dict[str, tuple[int | None, int | None]] = {}
    for path, width, height, name in session.execute(query).all():
        photos[path].append(name)
        sizes[path] = (width, height)
    return photos, sizes


@dataclass(frozen=True, slots=True)
class PhotoPeople:
    """What export writes for one photo: its named faces and its people without a face box."""

    faces: tuple[FaceTag, ...]
    without_box: tuple[str, ...]
    size: tuple[int | None, int | None]

    @property
    def names(self) -> set[str]:
        return {name_key(f.name) for f in self.faces} | {name_key(n) for n in self.without_box}


def exportable(session: Session, photo_ids: Sequence[int] | None = None) -> dict[str, PhotoPeople]:
    """Everything export may write, by photo path: :func:`exportable_faces` and
    :func:`exportable_photo_people` together (only ``photo_ids`` when given)."""
    faces, sizes = exportable_faces(session, photo_ids)
    tagged, tagged_sizes = exportable_photo_people(session, photo_ids)
    out = {}
    for path in sorted(set(faces) | set(tagged)):
        shown = {name_key(f.name) for f in faces.get(path, [])}
        extra = tuple(n for n in tagged.get(path, []) if name_key(n) not in shown)
        size = sizes.get(path) or tagged_sizes[path]
        out[path] = PhotoPeople(tuple(faces.get(path, [])), extra, size)
    return out


def orientation_of(path: Path) -> int:
    """The EXIF orientation of a photo (1 when it has none or cannot be read)."""
    try:
        with Image.open(path) as img:
            value = img.getexif().get(_EXIF_ORIENTATION, 1)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError):
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def export_tags(
    library: Library,
    people: Sequence[str] | None = None,
    *,
    naming: Naming = "ext.xmp",
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> ExportResult:
    """Write sidecars for the photos of ``people`` (names; None: every named person)."""
    result = ExportResult()
    wanted = None if people is None else {name_key(n) for n in people}
    with library.session() as session:
        photos = exportable(session)
    names_seen = {n for each in photos.values() for n in each.names}
    if wanted is not None:
        result.unknown_people = sorted(n for n in people or () if name_key(n) not in names_seen)
        photos = {p: each for p, each in photos.items() if each.names & wanted}
    clock = PhaseClock("export-tags", "sidecars", unit="photo")
    total = len(photos)
    for done, (path_text, each) in enumerate(sorted(photos.items()), start=1):
        if cancel is not None and cancel.cancelled:
            result.cancelled = True
            break
        path = Path(path_text)
        result.photos += 1
        width, height = each.size
        if not path.is_file():
            result.failed.append((path_text, "photo not found"))
        elif not width or not height:
            result.failed.append((path_text, "size unknown (scan the photo again)"))
        else:
            outcome = write_sidecar(
                path, (width, height), orientation_of(path), each.faces, each.without_box, naming
            )
            if outcome.written:
                result.sidecars_written += 1
                result.faces_written += outcome.faces_written
            elif outcome.reason == "already up to date":
                result.sidecars_unchanged += 1
            else:
                result.failed.append((path_text, outcome.reason or "not written"))
        reporter(clock.event(done, total, written=result.sidecars_written))
    return result
