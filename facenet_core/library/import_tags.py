"""Read the face names other software wrote into photos already in the library (``import-tags``).

For each photo: :func:`facenet_core.tags.read_face_tags` in the photo's displayed frame, regions
matched to the faces the scan stored (:func:`facenet_core.tags.match.match_regions`), and each
named match given to the person of that name (one person per normalised name: an existing person
so named, else a new one), confirmed, through the ordinary edits (so one ``undo`` takes an
import's person back). A name without a box goes to the photo's face when the photo has exactly
one; otherwise (and for a named region no face could be made for) the person is put on the
photo without a face box (:mod:`facenet_core.people.photo_people`), unless their face is already
there. **The user's word wins**: a face the user confirmed (where they put it), ignored, or
rejected for that person is never changed by an import.

Each face an import names is recorded with the format its name came from
(:class:`~facenet_core.store.FaceTagSource`, read by :mod:`.tag_queries`), and the counts of the
last import are kept in the library (:func:`.tag_queries.last_import`).

A region no stored face matches becomes a face of its own when ``settings`` are given
(:mod:`.tag_faces`: landmarks found in the box, aligned and embedded, ``detector = "tag:..."``).
``scan`` runs all this on the photos it processed (``since`` its start) when the setting "Read
face tags from photos" is on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from facenet_core.people.edits import MAX_NAME_LENGTH, move_faces, name_person
from facenet_core.people.exportable import orientation_of
from facenet_core.people.photo_people import tag_photos
from facenet_core.progress import CancelToken, PhaseClock, Reporter, ignore_progress
from facenet_core.store import (
    Assignment,
    Face,
    FaceRejection,
    FaceTagSource,
    Library,
    LibrarySetting,
    Person,
    Photo,
    PhotoPerson,
    PhotoStatus,
)
from facenet_core.store.models import utcnow
from facenet_core.tags import read_face_tags
from facenet_core.tags.match import match_regions
from facenet_core.tags.model import name_key

if TYPE_CHECKING:
    from facenet_core.settings import Settings
    from facenet_core.vision.engines import Engines

_CONFIRMED = Assignment.CONFIRMED.value
MEMBER_KINDS = (Assignment.AUTO.value, _CONFIRMED)
LAST_IMPORT = "tags.last_import"
"""The :class:`LibrarySetting` holding the counts of the last import (a key with a dot: the
library's own data, not a setting)."""
UNREADABLE_KEPT = 1000
NAMES_SOURCE = "names"
"""The source recorded for a name without a box (keywords, ``PersonInImage``, Takeout...)."""


@dataclass
class ImportResult:
    """Counts of an import. ``faces_kept`` are matched faces left as the user decided them;
    ``faces_created`` faces made from regions no stored face matched, ``regions_without_face``
    such regions left without a face; ``names_unplaced`` names without a box on photos with more
    than one face (or none), and ``photos_tagged`` how many of those (and of the names of
    regions left without a face) put their person on the photo without a face box."""

    photos_read: int = 0
    photos_with_tags: int = 0
    regions_found: int = 0
    names_found: int = 0
    faces_matched: int = 0
    faces_named: int = 0
    faces_kept: int = 0
    faces_created: int = 0
    regions_without_face: int = 0
    names_unplaced: int = 0
    people_created: int = 0
    photos_tagged: int = 0
    disagreements: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["unreadable"] = [{"photo": p, "reason": r} for p, r in self.unreadable]
        return data


@dataclass(frozen=True)
class _StoredFace:
    id: int
    box: tuple[float, float, float, float]
    person_id: int | None
    assignment: str
    ignored: bool


def _in_scope(path: str, roots: Sequence[Path]) -> bool:
    return not roots or any(Path(path).is_relative_to(r) for r in roots)


def import_tags(
    library: Library,
    paths: Sequence[Path | str] = (),
    *,
    since: datetime | None = None,
    settings: Settings | None = None,
    engines: Engines | None = None,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> ImportResult:
    """Read the tags of the library's photos (below ``paths``; all when empty; with ``since``
    only those processed from then on) into people. With ``settings``, regions no stored face
    matches become faces (embedded with those settings' device and batch size)."""
    maker = None
    if settings is not None:
        from facenet_core.library.tag_faces import TagFaceMaker  # torch: only when needed

        maker = TagFaceMaker(library, settings, engines)
    roots = [Path(p).resolve() for p in paths]
    result = ImportResult()
    query = select(Photo.id, Photo.path, Photo.width, Photo.height).where(
        Photo.status == PhotoStatus.DONE.value
    )
    if since is not None:
        query = query.where(Photo.scanned_at >= since)
    with library.session() as session:
        photos = [
            (pid, path, w, h)
            for pid, path, w, h in session.execute(query.order_by(Photo.path)).all()
            if _in_scope(path, roots)
        ]
    wanted: dict[str, list[int]] = defaultdict(list)  # name key -> face ids to give to that name
    on_photo: dict[str, dict[int, str]] = defaultdict(dict)  # name key -> {photo id: source}
    origin: dict[int, str] = {}  # face id -> the format its name came from
    spelling: dict[str, str] = {}
    clock = PhaseClock("import-tags", "read", unit="photo")
    for done, (photo_id, path, width, height) in enumerate(photos, start=1):
        if cancel is not None and cancel.cancelled:
            result.cancelled = True
            return result
        result.photos_read += 1
        reporter(clock.event(done, len(photos), named=result.faces_matched))
        if not width or not height:
            continue
        tags = read_face_tags(path, (width, height), orientation_of(Path(path)))
        if tags.reason:
            result.unreadable.append((path, tags.reason))
        if not tags.regions and not tags.names:
            continue
        result.photos_with_tags += 1
        result.regions_found += len(tags.regions)
        result.names_found += len(tags.names)
        result.disagreements += tags.disagreements
        with library.session() as session:
            faces = [
                _StoredFace(f.id, (f.x1, f.y1, f.x2, f.y2), f.person_id, f.assignment, f.is_ignored)
                for f in session.scalars(select(Face).where(Face.photo_id == photo_id))
            ]
        matching = match_regions([r.box for r in tags.regions], [f.box for f in faces])
        created: list[tuple[int, int]] = []  # (region, new face id)
        if maker is not None and matching.unmatched_regions:
            lonely = [tags.regions[i] for i in matching.unmatched_regions]
            made = maker.make(photo_id, Path(path), lonely)
            pairs = zip(matching.unmatched_regions, made, strict=True)
            created = [(r, f) for r, f in pairs if f is not None]
        result.faces_created += len(created)
        result.regions_without_face += len(matching.unmatched_regions) - len(created)
        placed = set()
        too_long = {n for n in tags.names if len(n) > MAX_NAME_LENGTH}
        if too_long:
            result.unreadable.append((path, f"a name longer than {MAX_NAME_LENGTH} characters"))
        for m in matching.matches:
            result.faces_matched += 1
            name = tags.regions[m.region].name
            if name and name in too_long:
                result.names_unplaced += 1
            elif name:
                placed.add(name_key(name))
                wanted[name_key(name)].append(faces[m.face].id)
                origin[faces[m.face].id] = tags.regions[m.region].source
                spelling.setdefault(name_key(name), name)
        for region_index, face_id in created:
            name = tags.regions[region_index].name
            if name and name not in too_long:
                placed.add(name_key(name))
                wanted[name_key(name)].append(face_id)
                origin[face_id] = tags.regions[region_index].source
                spelling.setdefault(name_key(name), name)
        given_faces = {r for r, _ in created}
        for i in matching.unmatched_regions:  # a named person whose face could not be made
            name = tags.regions[i].name
            if (
                i not in given_faces
                and name
                and name not in too_long
                and name_key(name) not in placed
            ):
                on_photo[name_key(name)].setdefault(photo_id, f"tag:{tags.regions[i].source}")
                spelling.setdefault(name_key(name), name)
        visible = [f for f in faces if not f.ignored]
        left = []  # names without a box that no region placed
        for name in tags.names_without_box:
            if name in too_long:
                result.names_unplaced += 1
            elif name_key(name) not in placed:
                left.append(name)
        # unambiguous: one name for the photo's one face (and no region matched a face)
        single = visible[0] if len(visible) == 1 and len(left) == 1 else None
        if matching.matches:
            single = None
        for name in left:
            spelling.setdefault(name_key(name), name)
            if single is not None:
                wanted[name_key(name)].append(single.id)
                origin[single.id] = NAMES_SOURCE
                if single.assignment != _CONFIRMED:
                    continue
                # the user put that face with someone: if not this person, they are on the
                # photo all the same (a photo-level tag, skipped where their face is)
            else:
                result.names_unplaced += 1
            on_photo[name_key(name)].setdefault(photo_id, f"tag:{NAMES_SOURCE}")
    _apply(library, wanted, spelling, result, origin)
    _tag_photos(library, on_photo, spelling, result)
    save_last_import(library, result)
    return result


def save_last_import(library: Library, result: ImportResult) -> None:
    """Keep the counts of this import in the library (:data:`LAST_IMPORT`), for the Library
    page to show after the scan: at most :data:`UNREADABLE_KEPT` unreadable photos are listed,
    ``unreadable_total`` says how many there were. A cancelled import, or one that read no photo
    (a rescan with nothing new), leaves the last one shown."""
    if result.cancelled or result.photos_read == 0:
        return
    data = result.to_json_dict()
    data["unreadable_total"] = len(result.unreadable)
    data["unreadable"] = data["unreadable"][:UNREADABLE_KEPT]
    data["finished_at"] = utcnow().isoformat()
    with library.write() as session:
        row = session.get(LibrarySetting, LAST_IMPORT)
        if row is None:
            session.add(LibrarySetting(key=LAST_IMPORT, value=data))
        else:
            row.value, row.updated_at = data, utcnow()


def _people_by_name(session: Session) -> dict[str, int]:
    """Each name key's person (the oldest of that name)."""
    people: dict[str, int] = {}
    for pid, name in session.execute(
        select(Person.id, Person.name).where(Person.name.is_not(None)).order_by(Person.id)
    ):
        if name:
            people.setdefault(name_key(name), pid)
    return people


def _apply(
    library: Library,
    wanted: dict[str, list[int]],
    spelling: dict[str, str],
    result: ImportResult,
    origin: dict[int, str],
) -> None:
    """Give the faces to their people through the ordinary (undoable) edits."""
    with library.session() as session:
        people = _people_by_name(session)
        all_ids = [i for ids in wanted.values() for i in ids]
        state = {f.id: f for f in session.scalars(select(Face).where(Face.id.in_(all_ids)))}
        rejected = {
            (face_id, person_id)
            for face_id, person_id in session.execute(
                select(FaceRejection.face_id, FaceRejection.person_id).where(
                    FaceRejection.face_id.in_(all_ids)
                )
            )
        }
    for key, ids in wanted.items():
        person_id = people.get(key)
        movable = []
        for face_id in dict.fromkeys(ids):
            face = state[face_id]
            user_decided = face.is_ignored or face.assignment == _CONFIRMED
            if user_decided or (person_id is not None and (face_id, person_id) in rejected):
                result.faces_kept += 1
            else:
                movable.append(face_id)
        if not movable:
            continue
        if person_id is None:
            change = move_faces(library, movable, None)
            assert change.person_id is not None
            name_person(library, change.person_id, spelling[key])
            people[key] = person_id = change.person_id
            result.people_created += 1
        else:
            move_faces(library, movable, person_id)
        result.faces_named += len(movable)
        with library.write() as session:  # provenance: which faces a tag named (not an edit)
            session.execute(
                insert(FaceTagSource).prefix_with("OR REPLACE"),
                [{"face_id": f, "person_id": person_id, "source": origin[f]} for f in movable],
            )


def _tag_photos(
    library: Library,
    on_photo: dict[str, dict[int, str]],
    spelling: dict[str, str],
    result: ImportResult,
) -> None:
    """Put each name that found no face on its photos without a face box (one edit per name),
    except where that person's face already is, or the tag already is."""
    for key, photos in on_photo.items():
        with library.session() as session:
            person_id = _people_by_name(session).get(key)
            if person_id is not None:
                shown = set(
                    session.scalars(
                        select(Face.photo_id).where(
                            Face.person_id == person_id,
                            Face.assignment.in_(MEMBER_KINDS),
                            Face.photo_id.in_(list(photos)),
                        )
                    )
                ) | set(
                    session.scalars(
                        select(PhotoPerson.photo_id).where(
                            PhotoPerson.person_id == person_id,
                            PhotoPerson.photo_id.in_(list(photos)),
                        )
                    )
                )
                photos = {p: s for p, s in photos.items() if p not in shown}
        if not photos:
            continue
        by_source: dict[str, list[int]] = defaultdict(list)
        for photo_id, source in photos.items():
            by_source[source].append(photo_id)
        for source, ids in sorted(by_source.items()):
            change = tag_photos(library, person_id, ids, source=source, name=spelling[key])
            if person_id is None:
                person_id = change.person_id
                result.people_created += 1
            result.photos_tagged += len(ids)
