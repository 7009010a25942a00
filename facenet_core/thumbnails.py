"""Face thumbnails for the GUI: small JPEG crops, made once during the scan and cached on disk
beside the library; a missing one is made again from its photo on request."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
from PIL import Image

from facenet_core.imageio import ImageLoadError, is_video, open_photo, open_video_frame
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
    return _write_cached(thumbnail_path(folder, face_id), data)


def _write_cached(path: Path, data: bytes) -> Path | None:
    """Write a cached file atomically; None (and a warning) when the disk refuses."""
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        log.warning("could not write thumbnail %s: %s", path, exc)
        return None
    return path


def _remove_cached(path: Path, what: str) -> None:
    """Delete a cached file; a missing one is fine, one the disk refuses is only logged."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not remove thumbnail of %s: %s", what, exc)


def remove_thumbnails(folder: Path, face_ids: list[int]) -> None:
    """Delete the thumbnails of faces that no longer exist (missing files are fine)."""
    for face_id in face_ids:
        _remove_cached(thumbnail_path(folder, face_id), f"face {face_id}")


def ensure_thumbnail(
    folder: Path, face_id: int, photo_path: str, box: Box, at_s: float | None = None
) -> Path | None:
    """The thumbnail file of a face, made again from its photo when it is missing (from a
    video's frame at ``at_s`` seconds, the track's best frame).

    Returns None when the photo cannot be read any more (moved away, deleted or damaged)."""
    path = thumbnail_path(folder, face_id)
    if path.is_file():
        return path
    try:
        if at_s is not None and is_video(photo_path):
            photo = open_video_frame(photo_path, at_s)
        else:
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


# -- photo thumbnails and previews (the app's photo grid and viewer) ------------------------------

PHOTO_THUMBNAIL_SIZE = 320
"""Longer side of a photo thumbnail (the Photos grid), in pixels."""


def photo_thumbnail_path(folder: Path, photo_id: int) -> Path:
    """Where the thumbnail of photo ``photo_id`` lives (beside the face thumbnails)."""
    return folder / "photos" / f"{photo_id // 1000:04d}" / f"{photo_id}.jpg"


def photo_preview(photo_path: str | Path, max_side: int) -> bytes:
    """The photo upright (EXIF orientation applied) as a JPEG whose longer side is at most
    ``max_side``; raises :class:`~facenet_core.imageio.ImageLoadError` when it cannot be read.

    The preview's pixels map to the photo's displayed-orientation pixels (where face boxes
    live) by the factor ``max(preview size) / max(photo size)``."""
    photo = open_photo(photo_path, reduce_to=max_side)
    image = Image.fromarray(photo.image)
    image.thumbnail((max_side, max_side))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


def ensure_photo_thumbnail(folder: Path, photo_id: int, photo_path: str | Path) -> Path | None:
    """The thumbnail file of a photo, made when missing or older than the photo file.

    Returns None when the photo cannot be read (moved away, deleted or damaged)."""
    path = photo_thumbnail_path(folder, photo_id)
    try:
        source_mtime = Path(photo_path).stat().st_mtime_ns
    except OSError:
        source_mtime = None
    if path.is_file() and (source_mtime is None or path.stat().st_mtime_ns >= source_mtime):
        return path
    try:
        data = photo_preview(photo_path, PHOTO_THUMBNAIL_SIZE)
    except ImageLoadError as exc:
        log.info("no thumbnail for photo %d: %s", photo_id, exc)
        return None
    return _write_cached(path, data)


def remove_photo_thumbnails(folder: Path, photo_ids: list[int]) -> None:
    """Delete the thumbnails of photos that left the library (missing files are fine)."""
    for photo_id in photo_ids:
        _remove_cached(photo_thumbnail_path(folder, photo_id), f"photo {photo_id}")
