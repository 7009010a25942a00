"""load -> detect -> align for many photos, in worker processes; embedding stays in the caller.

Detection and chip extraction are CPU-bound and hold the GIL (dlib), so they run in a pool of
worker processes, each with its own detector; the caller embeds the chips in batches on the main
process (where the network lives, on CPU or CUDA). Results come back in input order, and a photo
that cannot be read comes back with an ``error`` instead of stopping the run.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facenet_core.align import face_chips
from facenet_core.detect import Detection, DetectorConfig, FaceDetector, make_detector
from facenet_core.imageio import ImageLoadError, load_image

# Where LFW's deep-funnelled faces sit: the mean HOG box on lfw-mini (250 x 250 images), as
# fractions of the image size. Used as the fixed centre box when no face is detected.
CENTRE_BOX = (69.3 / 250, 80.0 / 250, 176.1 / 250, 186.2 / 250)


@dataclass(frozen=True)
class FaceJob:
    """What to do with each photo. ``centre_fallback``: when no face is found, use the fixed
    centre box (with landmarks from dlib's 5-point predictor) instead of returning no face."""

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    centre_fallback: bool = False


@dataclass
class PhotoFaces:
    path: Path
    width: int = 0
    height: int = 0
    detections: list[Detection] = field(default_factory=list)
    chips: np.ndarray = field(default_factory=lambda: np.zeros((0, 150, 150, 3), np.uint8))
    fallback: bool = False
    error: str | None = None


class FaceFinder:
    """Finds and aligns the faces of one photo at a time (one per process)."""

    def __init__(self, job: FaceJob, detector: FaceDetector | None = None) -> None:
        self.job = job
        self.detector = detector or make_detector(job.detector)
        self._landmarks = None

    def __call__(self, path: Path) -> PhotoFaces:
        try:
            image = load_image(path)
        except ImageLoadError as exc:
            return PhotoFaces(Path(path), error=exc.reason)
        h, w = image.shape[:2]
        detections = self.detector.detect(image)
        fallback = False
        if not detections and self.job.centre_fallback:
            detections = [self._centre_detection(image)]
            fallback = True
        return PhotoFaces(Path(path), w, h, detections, face_chips(image, detections), fallback)

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
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _worker_finder = FaceFinder(job)


def _work(path: Path) -> PhotoFaces:
    assert _worker_finder is not None
    return _worker_finder(path)


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def find_faces(
    paths: Iterable[Path], job: FaceJob, workers: int | None = None
) -> Iterator[PhotoFaces]:
    """Faces and chips of every photo in ``paths``, in order, using ``workers`` processes
    (0 = in this process)."""
    workers = default_workers() if workers is None else workers
    if workers == 0:
        finder = FaceFinder(job)
        for path in paths:
            yield finder(Path(path))
        return
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(job,)) as pool:
        yield from pool.imap(_work, (Path(p) for p in paths), chunksize=4)
