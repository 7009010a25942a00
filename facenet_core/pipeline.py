"""load -> detect -> align for many photos, in worker processes; embedding stays in the caller.

Decoding, detection and chip extraction are CPU-bound and hold the GIL (dlib), so they run in a
pool of worker processes, each with its own detector; the caller embeds the chips in batches in
its own process (where the network lives, on CPU or CUDA). Results come back in input order, at
most a few photos ahead of the caller (memory does not grow with the number of photos), and a
photo that cannot be read comes back with an ``error`` instead of stopping the run.
"""

from __future__ import annotations

import io
import multiprocessing as mp
import os
import signal
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from facenet_core.align import face_chips
from facenet_core.detect import Detection, DetectorConfig, FaceDetector, make_detector
from facenet_core.imageio import ImageLoadError, open_photo

# Where LFW's deep-funnelled faces sit: the mean HOG box on lfw-mini (250 x 250 images), as
# fractions of the image size. Used as the fixed centre box when no face is detected.
CENTRE_BOX = (69.3 / 250, 80.0 / 250, 176.1 / 250, 186.2 / 250)
THUMBNAIL_SIZE = 160


@dataclass(frozen=True)
class FaceJob:
    """What to do with each photo.

    ``centre_fallback``: when no face is found, use the fixed centre box (with landmarks from
    dlib's 5-point predictor) instead of returning no face (for evaluation on cropped faces).
    ``reduce_jpeg``: decode large JPEGs at reduced scale (libjpeg DCT scaling) for speed.
    ``thumbnails``: also return a small JPEG crop around every face.
    """

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    centre_fallback: bool = False
    reduce_jpeg: bool = False
    thumbnails: bool = False


@dataclass
class PhotoFaces:
    """One photo's faces. Boxes and landmarks are in the full photo's displayed pixels."""

    path: Path
    width: int = 0
    height: int = 0
    taken_at: datetime | None = None
    detections: list[Detection] = field(default_factory=list)
    chips: np.ndarray = field(default_factory=lambda: np.zeros((0, 150, 150, 3), np.uint8))
    thumbnails: list[bytes] = field(default_factory=list)
    fallback: bool = False
    error: str | None = None


def _rescale(d: Detection, factor: float) -> Detection:
    if factor == 1.0:
        return d
    box = tuple(v * factor for v in d.box)
    return Detection(box, d.score, d.landmarks * np.float32(factor), d.scheme)  # type: ignore[arg-type]


def face_thumbnail(image: np.ndarray, box: tuple[float, float, float, float]) -> bytes:
    """A square JPEG crop around a face box (with a margin), at most 160 px."""
    from PIL import Image

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


class FaceFinder:
    """Finds and aligns the faces of one photo at a time (one per process)."""

    def __init__(self, job: FaceJob, detector: FaceDetector | None = None) -> None:
        self.job = job
        self.detector = detector or make_detector(job.detector)
        self._landmarks = None

    def __call__(self, path: Path) -> PhotoFaces:
        reduce_to = self.job.detector.max_side if self.job.reduce_jpeg else None
        try:
            photo = open_photo(path, reduce_to=reduce_to)
        except ImageLoadError as exc:
            return PhotoFaces(Path(path), error=exc.reason)
        image = photo.image
        try:
            detections = self.detector.detect(image)
        except Exception as exc:  # a detector failure on one photo must not stop a scan
            return PhotoFaces(Path(path), error=f"face detection failed ({exc})")
        fallback = False
        if not detections and self.job.centre_fallback:
            detections = [self._centre_detection(image)]
            fallback = True
        chips = face_chips(image, detections)
        thumbs = [face_thumbnail(image, d.box) for d in detections] if self.job.thumbnails else []
        return PhotoFaces(
            path=Path(path),
            width=photo.width,
            height=photo.height,
            taken_at=photo.taken_at,
            detections=[_rescale(d, 1.0 / photo.scale) for d in detections],
            chips=chips,
            thumbnails=thumbs,
            fallback=fallback,
        )

    def _centre_detection(self, image: np.ndarray) -> Detection:
        from facenet_core.align import LandmarkPredictor

        if self._landmarks is None:
            self._landmarks = LandmarkPredictor()
        h, w = image.shape[:2]
        fx1, fy1, fx2, fy2 = CENTRE_BOX
        return self._landmarks.detection(image, (fx1 * w, fy1 * h, fx2 * w, fy2 * h), 0.0)


_worker_finder: FaceFinder | None = None


def _init_worker(job: FaceJob) -> None:
    global _worker_finder
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _worker_finder = FaceFinder(job)


def _work(path: Path) -> PhotoFaces:
    assert _worker_finder is not None
    return _worker_finder(path)


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def _threaded(
    paths: Iterable[Path], job: FaceJob, workers: int, ahead: int
) -> Iterator[PhotoFaces]:
    """Threads in this process: for torch detectors, whose work (like Pillow's decoding,
    OpenCV's warps and JPEG encoding) runs without the GIL, so threads use every core without
    a second copy of torch in memory. Each torch op then runs on its calling thread."""
    import torch

    finder = FaceFinder(job)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: deque = deque()
            for path in paths:
                pending.append(pool.submit(finder, Path(path)))
                if len(pending) >= max(ahead, 2 * workers):
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
    finally:
        torch.set_num_threads(previous)


def find_faces(
    paths: Iterable[Path], job: FaceJob, workers: int | None = None, ahead: int = 16
) -> Iterator[PhotoFaces]:
    """Faces and chips of every photo in ``paths``, in order, using ``workers`` threads (MTCNN)
    or processes (HOG, whose dlib code holds the GIL); 0 = one at a time in this thread. At most
    ``ahead`` photos are in flight, so memory does not grow with the number of photos."""
    workers = default_workers() if workers is None else workers
    if workers == 0:
        finder = FaceFinder(job)
        for path in paths:
            yield finder(Path(path))
        return
    if job.detector.name == "mtcnn":
        yield from _threaded(paths, job, workers, ahead)
        return
    ctx = mp.get_context("spawn")
    pool = ctx.Pool(workers, initializer=_init_worker, initargs=(job,))
    try:
        pending: deque = deque()
        for path in paths:
            pending.append(pool.apply_async(_work, (Path(path),)))
            if len(pending) >= max(ahead, 2 * workers):
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
        pool.close()
    finally:
        pool.terminate()
        pool.join()
