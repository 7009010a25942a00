"""A face the detector missed, drawn by hand: aligned, embedded and stored in one edit.

The user drags a box around a face (the viewer) or gives one (``add-face PHOTO X1 Y1 X2 Y2``);
:func:`draw_face` reads the photo, finds five points in the box (O-Net, or the template scaled to
the box: :mod:`facenet_core.vision.drawn`), embeds the aligned chip with the library's active
model, and stores the face marked as drawn by the user (``detector = "user"``), given to a person
or named in the same undoable edit (:func:`facenet_core.people.drawn_edits.add_drawn_face`). A
rescan keeps it (``library.ingest``); :func:`delete_face` removes it, undoably.

The photo is read and the networks run *before* the edit's short write transaction, so a drawn
face never holds the library's write lock for the time of a network.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from facenet_core.imageio import ImageLoadError, open_photo
from facenet_core.library.reembed import embedding_model
from facenet_core.people.drawn_edits import DrawnFace, add_drawn_face, delete_drawn_face
from facenet_core.people.errors import PeopleError
from facenet_core.people.history import Change
from facenet_core.quantize import to_bytes
from facenet_core.settings import Settings
from facenet_core.store import (
    Library,
    Photo,
    ensure_active_model_version,
    get_active_model_version,
    pack_landmarks,
)
from facenet_core.thumbnails import face_thumbnail, write_thumbnail
from facenet_core.types import Box
from facenet_core.vision.align import arcface_chip, face_chip
from facenet_core.vision.drawn import drawn_detection
from facenet_core.vision.engines import Engines, shared_engines

MIN_SIDE = 8.0
"""The smallest face box (pixels a side) worth aligning: a 150-pixel chip of less is noise."""


def draw_face(
    library: Library,
    photo_id: int,
    box: Box,
    settings: Settings,
    *,
    person_id: int | None = None,
    name: str | None = None,
    engines: Engines | None = None,
) -> Change:
    """Add the face in ``box`` (x1, y1, x2, y2 in the photo's displayed pixels; clipped to the
    photo) of photo ``photo_id``, given to ``person_id`` or to a new person ``name`` (or to
    nobody). :class:`PeopleError` for an unknown photo, an unreadable one, a box too small or
    outside the photo, or a face already in that place. The new face's id is in
    ``change.faces``."""
    engines = engines or shared_engines()
    with library.session() as session:
        photo = session.get(Photo, photo_id)
        if photo is None:
            raise PeopleError(f"there is no photo {photo_id}")
        path = photo.path
        active = get_active_model_version(session)
        model = embedding_model(active, settings)
    try:
        loaded = open_photo(path)
    except ImageLoadError as exc:
        raise PeopleError(f"cannot read photo {photo_id}: {exc.reason}") from exc
    image = loaded.image
    height, width = image.shape[:2]
    x1, y1 = max(0.0, float(box[0])), max(0.0, float(box[1]))
    x2, y2 = min(float(width), float(box[2])), min(float(height), float(box[3]))
    if x2 - x1 < MIN_SIDE or y2 - y1 < MIN_SIDE:
        raise PeopleError(
            f"a face box must be at least {MIN_SIDE:.0f} pixels a side inside the photo"
            f" ({width} x {height})"
        )
    detection = drawn_detection(engines.onet(settings), image, (x1, y1, x2, y2))
    embedder = engines.embedder(settings, model)
    # the fused model's ArcFace chip from the photo, as the scan makes it
    arcface = arcface_chip(image, detection)[None] if embedder.wants_arcface else None
    vector = embedder.embed(face_chip(image, detection)[None], arcface)[0]
    with library.write() as session:
        version = ensure_active_model_version(session, embedder.info.name, embedder.info.sha256)
        version_id = version.id
    face = DrawnFace(
        photo_id=photo_id,
        box=detection.box,
        landmarks=pack_landmarks(detection.landmarks.tolist()),
        scheme=detection.scheme,
        score=detection.score,
        embeddings={version_id: to_bytes(vector)},
    )
    change = add_drawn_face(library, face, person_id=person_id, name=name)
    for face_id in change.faces:
        write_thumbnail(library.thumbnails_dir, face_id, face_thumbnail(image, detection.box))
    return change


def delete_face(library: Library, face_id: int) -> Change:
    """Delete a face drawn by hand (undoable; its thumbnail stays, a cache the next scan tidies,
    so that undo finds it)."""
    return delete_drawn_face(library, face_id)


def photo_id_of(library: Library, text: str) -> int:
    """A photo id from what a user typed: an id, or a path of a photo in the library."""
    text = text.strip()
    with library.session() as session:
        if text.isdigit() and session.get(Photo, int(text)) is not None:
            return int(text)
        candidates = {text, str(Path(text).expanduser().absolute()), str(Path(text).resolve())}
        for candidate in candidates:
            found = session.scalar(select(Photo.id).where(Photo.path == candidate))
            if found is not None:
                return int(found)
    raise PeopleError(f"{text!r} is not a photo of this library (give its path or id)")
