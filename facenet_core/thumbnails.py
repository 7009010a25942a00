"""Face thumbnails for the GUI: small JPEG crops, made once during the scan and cached on disk
beside the library; a missing one is made again from its photo on request."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
from PIL import Image

from facenet_core.imageio import ImageLoadError, open_photo
from facenet_core.paths import atomic_write_bytes
from facenet_core.types import Box

log = logging.getLogger(__name__)

THUMBNAIL_SIZE = 160
"""Longer side of a face thumbnail, in pixels."""


def face_thumbnail(image: np.ndarray, box: Box) -> bytes:
    """A square JPEG crop around a face box (with a margin), at most 160 px."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = max(x2 - x1, y2 - y1) * 0.75
    h, w = image.shape[:2]
    left, top = max(0, int(cx - half)), max(0, int(cy - half))
    right, bottom = min(w, int(cx + half) + 1), min(h, int(cy + half) + 1)
    crop = Image.fromarray(image[top:bottom, left:right])
    crop.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    out = io.BytesIO()
    crop.save(out, "JPEG", quality=85)
    return out.getvalue()


def thumbnail_path(folder: Path, face_id: int) -> Path:
    """Where the thumbnail of face ``face_id`` lives (1,000 files per subfolder)."""
    return folder / f"{face_id // 1000:04d}" / f"{face_id}.jpg"


def write_thumbnail(folder: Path, face_id: int, data: bytes) -> Path | None:
    """Write a thumbnail atomically (never half a file); None when the disk refuses (it is a
    cache: it is made again when missing)."""
    path = thumbnail_path(folder, face_id)
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        log.warning("could not write thumbnail %s: %s", path, exc)
        return None
    return path


def remove_thumbnails(folder: Path, face_ids: list[int]) -> None:
    """Delete the thumbnails of faces that no longer exist (missing files are fine)."""
    for face_id in face_ids:
        try:
            thumbnail_path(folder, face_id).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove thumbnail of face %d: %s", face_id, exc)


def ensure_thumbnail(folder: Path, face_id: int, photo_path: str, box: Box) -> Path | None:
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
