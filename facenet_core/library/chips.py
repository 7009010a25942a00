"""Aligned chips of stored faces, re-made from the photo and the stored landmarks (no detection).

A face row keeps its box and five landmarks in the photo's *displayed* full-size pixels, its
landmark scheme, and the photo row keeps the detector settings it was scanned with. The scan
decoded large JPEGs at reduced scale (``max_side``) and aligned on that image; re-making a chip
decodes the photo the same way (:func:`facenet_core.imageio.open_photo`), maps the stored points
into that image (``Detection.scaled(photo.scale)``) and runs the one alignment function
(:func:`facenet_core.vision.align.face_chip`), so the chip is the one the scan embedded.
Re-embedding with a new model version and fine-tuning both use this.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import groupby

import numpy as np
from sqlalchemy import Select, select

from facenet_core.imageio import ImageLoadError, open_photo, open_video_frame
from facenet_core.store import Face, Photo
from facenet_core.types import Detection
from facenet_core.vision.align import face_chip

DEFAULT_MAX_SIDE = 1600
"""The scan's detection size limit when a photo row does not record its own."""


@dataclass(frozen=True)
class FaceRef:
    """What re-making one face's chip needs: the photo, the stored geometry and the decode size."""

    face_id: int
    path: str
    box: tuple[float, float, float, float]
    landmarks: np.ndarray  # (5, 2) float32, full-photo displayed pixels
    scheme: str
    score: float
    max_side: int | None
    frame_s: float | None = None  # a video's face (a track): the time of its best frame

    @classmethod
    def from_rows(cls, face: Face, photo: Photo) -> FaceRef:
        settings = photo.detector_settings or {}
        max_side = settings.get("max_side", DEFAULT_MAX_SIDE)
        return cls(
            face_id=face.id,
            path=photo.path,
            box=face.box,
            landmarks=np.frombuffer(face.landmarks, dtype="<f4").reshape(5, 2).copy(),
            scheme=face.landmark_scheme,
            score=face.det_score,
            max_side=int(max_side) if max_side else None,
            frame_s=face.frame_s,
        )

    def detection(self) -> Detection:
        """The stored face as a :class:`Detection` in full-photo displayed pixels."""
        return Detection(self.box, self.score, self.landmarks, self.scheme)  # type: ignore[arg-type]


def face_rows() -> Select[Face, Photo]:
    """``select(Face, Photo)`` joined, ordered by photo (chips are made one photo at a time)."""
    return select(Face, Photo).join(Photo, Face.photo_id == Photo.id).order_by(Photo.id, Face.id)


@dataclass
class PhotoChips:
    """The chips of the faces of one photo, or why the photo could not be read."""

    refs: list[FaceRef]
    chips: np.ndarray  # (len(refs), 150, 150, 3) uint8; empty when ``error``
    error: str | None = None


def _photo_chips(refs: list[FaceRef]) -> PhotoChips:
    path = refs[0].path
    try:
        if any(ref.frame_s is not None for ref in refs):
            # a video's tracks: each from its own best frame (the mean over its frames is not
            # made again: re-embedding a track gives its best frame's embedding)
            frames = [open_video_frame(path, ref.frame_s) for ref in refs]
            chips = [
                face_chip(f.image, ref.detection()) for f, ref in zip(frames, refs, strict=True)
            ]
            return PhotoChips(refs, np.stack(chips))
        photo = open_photo(path, reduce_to=refs[0].max_side)
    except ImageLoadError as exc:
        return PhotoChips(refs, np.zeros((0, 150, 150, 3), np.uint8), exc.reason)
    except OSError as exc:
        return PhotoChips(refs, np.zeros((0, 150, 150, 3), np.uint8), str(exc))
    chips = [face_chip(photo.image, ref.detection().scaled(photo.scale)) for ref in refs]
    return PhotoChips(refs, np.stack(chips))


def rebuild_chips(
    refs: Iterable[FaceRef], workers: int = 2, ahead: int = 8
) -> Iterator[PhotoChips]:
    """Chips of ``refs`` (grouped by consecutive photo path), photo by photo in input order;
    decoding and warping run in ``workers`` threads (0: in this thread), at most ``ahead``
    photos in flight."""
    groups = (list(g) for _, g in groupby(refs, key=lambda r: r.path))
    if workers == 0:
        for group in groups:
            yield _photo_chips(group)
        return
    pending: list[Future[PhotoChips]] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for group in groups:
            pending.append(pool.submit(_photo_chips, group))
            if len(pending) >= ahead:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()
