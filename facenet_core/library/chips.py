"""Aligned chips of stored faces, re-made from the photo and the stored landmarks (no detection).

A face row keeps its box and five landmarks in the photo's *displayed* full-size pixels, its
landmark scheme, and the photo row keeps the detector settings it was scanned with. The scan
decoded large JPEGs at reduced scale (``max_side``) and aligned on that image; re-making a chip
decodes the photo the same way (:func:`facenet_core.imageio.open_photo`), maps the stored points
into that image (``Detection.scaled(photo.scale)``) and runs the one alignment function
(:func:`facenet_core.vision.align.face_chip`), so the chip is the one the scan embedded.
Re-embedding with a new model version and fine-tuning both use this; for the fused model the
ArcFace chip is re-made beside it the same way (:func:`facenet_core.vision.align.arcface_chip`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import numpy as np
from sqlalchemy import Select, select

from facenet_core.imageio import ImageLoadError, open_photo, open_video_frame
from facenet_core.store import Face, Photo
from facenet_core.types import Detection
from facenet_core.vision.align import ARCFACE_SIZE, arcface_chip, face_chip

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
    arcface: np.ndarray | None = None  # (len(refs), 112, 112, 3) uint8 when asked for
    embeddings: np.ndarray | None = None  # (len(refs), D) when a cluster worker embedded them


def photo_chips(
    refs: list[FaceRef], path: str | Path | None = None, arcface: bool = False
) -> PhotoChips:
    """The chips of ``refs``, all faces of one photo, read from ``path`` (default: the stored
    path; a cluster worker reads a copy of the photo's bytes); ``arcface``: also each face's
    ArcFace chip (the fused model)."""
    path = refs[0].path if path is None else path
    try:
        if any(ref.frame_s is not None for ref in refs):
            # a video's tracks: each from its own best frame (the mean over its frames is not
            # made again: re-embedding a track gives its best frame's embedding)
            frames = [open_video_frame(path, ref.frame_s) for ref in refs]
            pairs = list(zip(frames, refs, strict=True))
            tracks = np.stack([face_chip(f.image, ref.detection()) for f, ref in pairs])
            if not arcface:
                return PhotoChips(refs, tracks)
            arcs = np.stack([arcface_chip(f.image, ref.detection()) for f, ref in pairs])
            return PhotoChips(refs, tracks, arcface=arcs)
        photo = open_photo(path, reduce_to=refs[0].max_side)
    except ImageLoadError as exc:
        return PhotoChips(refs, np.zeros((0, 150, 150, 3), np.uint8), exc.reason)
    except OSError as exc:
        return PhotoChips(refs, np.zeros((0, 150, 150, 3), np.uint8), str(exc))
    faces = [ref.detection().scaled(photo.scale) for ref in refs]
    chips = np.stack([face_chip(photo.image, face) for face in faces])
    if not arcface:
        return PhotoChips(refs, chips)
    arc = np.stack([arcface_chip(photo.image, face) for face in faces])
    return PhotoChips(refs, chips, arcface=arc.reshape(-1, ARCFACE_SIZE, ARCFACE_SIZE, 3))


def photo_groups(refs: Iterable[FaceRef]) -> Iterator[list[FaceRef]]:
    """``refs`` grouped by consecutive photo path: the faces of one photo at a time."""
    return (list(g) for _, g in groupby(refs, key=lambda r: r.path))


def rebuild_chips(
    refs: Iterable[FaceRef], workers: int = 2, ahead: int = 8, arcface: bool = False
) -> Iterator[PhotoChips]:
    """Chips of ``refs`` (grouped by consecutive photo path), photo by photo in input order;
    decoding and warping run in ``workers`` threads (0: in this thread), at most ``ahead``
    photos in flight. ``arcface``: also each face's ArcFace chip (the fused model)."""
    groups = photo_groups(refs)
    if workers == 0:
        for group in groups:
            yield photo_chips(group, None, arcface)
        return
    pending: list[Future[PhotoChips]] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for group in groups:
            pending.append(pool.submit(photo_chips, group, None, arcface))
            if len(pending) >= ahead:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()
