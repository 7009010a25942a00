"""What export may write of each photo: named people's faces and people on the photo without a
face box, under the privacy rules (never an unnamed, hidden or "never write to photos" person,
never a suggestion or an ignored face). Here, in the people layer, so that both ``export-tags``
(:mod:`facenet_core.library.export_tags`) and the edits that keep sidecars in sync
(:mod:`.sidecar_sync`) use one rule."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from facenet_core.store import Assignment, Face, LibrarySetting, Person, Photo, PhotoPerson
from facenet_core.tags.model import name_key
from facenet_core.tags.write import FaceTag, Naming, WriteResult, write_sidecar

_EXIF_ORIENTATION = 0x0112
NEVER_EXPORT = "privacy.never_export"
"""The library's list of people (ids) whose names are never written to photos or sidecars."""
_WRITTEN = (Assignment.AUTO.value, Assignment.CONFIRMED.value)


def never_export_ids(session: Session) -> set[int]:
    """The people the user asked never to write to photos."""
    row = session.get(LibrarySetting, NEVER_EXPORT)
    value = row.value if row is not None else None
    return {int(v) for v in value} if isinstance(value, list) else set()


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
        if name:
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


def write_people(
    photo: Path, size: tuple[int, int], people: PhotoPeople | None, naming: Naming
) -> WriteResult:
    """Write ``people`` (None: nobody) to the photo's sidecar, in the photo's stored frame."""
    return write_sidecar(
        photo,
        size,
        orientation_of(photo),
        people.faces if people is not None else (),
        people.without_box if people is not None else (),
        naming,
    )
