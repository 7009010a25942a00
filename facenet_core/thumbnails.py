"""Face thumbnails for the GUI: small JPEG crops, made once during the scan and cached on disk
beside the library; a missing one is made again from its photo on request."""

from __future__ import annotations

import logging
from pathlib import Path

from facenet_core.imageio import ImageLoadError, open_photo
from facenet_core.pipeline import THUMBNAIL_SIZE, face_thumbnail

log = logging.getLogger(__name__)


def thumbnail_path(folder: Path, face_id: int) -> Path:
    """Where the thumbnail of face ``face_id`` lives (1,000 files per subfolder)."""
    return folder / f"{face_id // 1000:04d}" / f"{face_id}.jpg"


def write_thumbnail(folder: Path, face_id: int, data: bytes) -> Path | None:
    path = thumbnail_path(folder, face_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # never a half-written thumbnail
    except OSError as exc:  # a cache: it is made again when missing
        log.warning("could not write thumbnail %s: %s", path, exc)
        return None
    return path


def ensure_thumbnail(
    folder: Path, face_id: int, photo_path: str, box: tuple[float, float, float, float]
) -> Path | None:
    """The thumbnail file of a face, made again from its photo when it is missing.

    Returns None when the photo cannot be read any more (moved away, deleted or damaged)."""
    path = thumbnail_path(folder, face_id)
    if path.is_file():
        return path
    try:
        photo = open_photo(photo_path, reduce_to=4 * THUMBNAIL_SIZE)
    except ImageLoadError as exc:
        log.info("no thumbnail for face %d: %s", face_id, exc)
        return None
    box_in_image = (
        box[0] * photo.scale,
        box[1] * photo.scale,
        box[2] * photo.scale,
        box[3] * photo.scale,
    )
    return write_thumbnail(folder, face_id, face_thumbnail(photo.image, box_in_image))
