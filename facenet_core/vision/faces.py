"""decode -> detect -> align (-> embed) for many photos, in parallel.

YuNet's and MTCNN's work (like Pillow's decoding, OpenCV's warps, JPEG encoding and the
embedding network) runs without the GIL, so it runs in threads of this process sharing one
detector, and on a CPU each thread also embeds its photo's chips; dlib's HOG holds the GIL, so it
runs in a pool of worker processes, each with its own detector, and the caller embeds the chips
in batches. (On a GPU the batched pipeline of :mod:`.batched` does all of it in batches.)
Results come back in input order, at
most a few photos ahead of the caller (memory does not grow with the number of photos), and a
photo that cannot be read comes back with an ``error`` instead of stopping the run.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import torch

from facenet_core.imageio import ImageLoadError, open_photo
from facenet_core.thumbnails import face_thumbnail
from facenet_core.types import CHIP_SIZE, Detection
from facenet_core.vision.align import arcface_chips, face_chips
from facenet_core.vision.detectors import DetectorConfig, FaceDetector, make_detector
from facenet_core.vision.embed import AnyEmbedder
from facenet_core.vision.landmarks import LandmarkPredictor

# Where LFW's deep-funnelled faces sit: the mean HOG box on lfw-mini (250 x 250 images), as
# fractions of the image size. Used as the fixed centre box when no face is detected.
CENTRE_BOX = (69.3 / 250, 80.0 / 250, 176.1 / 250, 186.2 / 250)


@dataclass(frozen=True)
class FaceJob:
    """What to do with each photo.

    ``centre_fallback``: when no face is found, use the fixed centre box (with landmarks from
    dlib's 5-point predictor) instead of returning no face (for evaluation on cropped faces).
    ``reduce_jpeg``: decode large JPEGs at reduced scale (libjpeg DCT scaling) for speed.
    ``thumbnails``: also return a small JPEG crop around every face.
    ``arcface``: also make every face's ArcFace chip (112 x 112) from the photo, for the fused
    model's SFace branch.
    """

    detector: DetectorConfig = field(default_factory=DetectorConfig)
    centre_fallback: bool = False
    reduce_jpeg: bool = False
    thumbnails: bool = False
    arcface: bool = False


@dataclass
class PhotoFaces:
    """One photo's faces. Boxes and landmarks are in the full photo's displayed pixels."""

    path: Path
    width: int = 0
    height: int = 0
    taken_at: datetime | None = None
    detections: list[Detection] = field(default_factory=list)
    chips: np.ndarray = field(
        default_factory=lambda: np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8)
    )
    thumbnails: list[bytes] = field(default_factory=list)
    fallback: bool = False
    error: str | None = None
    embeddings: np.ndarray | None = None  # (N, D) when the pipeline embedded them already
    arcface_chips: np.ndarray | None = None  # (N, 112, 112, 3) when ``FaceJob.arcface``
    media: str = "photo"  # or "video": each detection is a track (``vision.video``)
    duration_s: float | None = None  # a video's length
    spans: list[tuple[float, float, float]] = field(default_factory=list)
    """A video's tracks: first seen, last seen and best frame, in seconds (one per detection)."""
    frames: int = 0  # a video's frames read


class FaceFinder:
    """Finds and aligns the faces of one photo at a time (one per process)."""

    def __init__(
        self,
        job: FaceJob,
        detector: FaceDetector | None = None,
        embedder: AnyEmbedder | None = None,
    ) -> None:
        self.job = job
        self.detector = detector or make_detector(job.detector)
        self.embedder = embedder
        self._landmarks: LandmarkPredictor | None = None

    def __call__(self, path: Path) -> PhotoFaces:
        return self.many([path])[0]

    def many(self, paths: Sequence[Path]) -> list[PhotoFaces]:
        """Each photo's faces, their chips embedded together (with an embedder): one forward
        pass for the faces of several photos costs less a face than one for each photo's few
        (:data:`PHOTOS_PER_TASK`); each face's embedding is the same either way."""
        found = [self._find(Path(p)) for p in paths]
        if self.embedder is None:
            return found
        faces = [f for f in found if f.error is None]
        if not faces:
            return found
        chips = np.concatenate([f.chips for f in faces])
        arcface = None
        if self.job.arcface:
            arcface = np.concatenate([cast(np.ndarray, f.arcface_chips) for f in faces])
        vectors = self.embedder.embed(chips, arcface)
        start = 0
        for f in faces:
            f.embeddings = vectors[start : start + len(f.chips)]
            start += len(f.chips)
        return found

    def _find(self, path: Path) -> PhotoFaces:
        """One photo's faces and chips, not embedded."""
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
        arcface = arcface_chips(image, detections) if self.job.arcface else None
        thumbs = [face_thumbnail(image, d.box) for d in detections] if self.job.thumbnails else []
        return PhotoFaces(
            path=Path(path),
            width=photo.width,
            height=photo.height,
            taken_at=photo.taken_at,
            detections=[d.scaled(1.0 / photo.scale) for d in detections],
            chips=chips,
            thumbnails=thumbs,
            fallback=fallback,
            arcface_chips=arcface,
        )

    def _centre_detection(self, image: np.ndarray) -> Detection:
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


T = TypeVar("T")


def _one_torch_thread() -> None:
    """Initializer of worker threads: each runs its torch ops on one CPU thread, and the
    threads together use the cores (measured faster than every op spreading over all cores).
    torch's OpenMP thread count is per thread once a thread has used it, so the thread that
    started the workers keeps its own count."""
    torch.set_num_threads(1)


def single_torch_thread_executor(workers: int = 1) -> ThreadPoolExecutor:
    """Threads whose torch ops each use one CPU thread: for work that runs beside MTCNN's
    threads (the scan embeds and stores while detection goes on), so that the cores are not
    oversubscribed."""
    return ThreadPoolExecutor(workers, initializer=_one_torch_thread)


PHOTOS_PER_TASK = 3
"""Photos a worker thread finds faces in before embedding their faces in one pass (when it
embeds): most photos hold one or two faces, and the networks cost more a face in such small
batches (one thread, bfloat16, mirror-averaged: dlib's ResNet 10.9 ms a face alone, 6.6 ms in
fours; SFace 21.7 and 16.7 ms). The outputs do not depend on the batch."""


def _grouped(paths: Iterable[Path], size: int) -> Iterator[list[Path]]:
    """``paths`` in consecutive lists of ``size`` (the last one shorter)."""
    group: list[Path] = []
    for path in paths:
        group.append(Path(path))
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def _in_order(submit: Callable[[Any], T], items: Iterable[Any], ahead: int) -> Iterator[T]:
    """Results of ``submit(item)`` (futures or async results) in input order, at most ``ahead``
    in flight: the one look-ahead loop of threads and processes."""
    pending: deque[T] = deque()
    for item in items:
        pending.append(submit(Path(item) if isinstance(item, str) else item))
        if len(pending) >= ahead:
            yield pending.popleft()
    while pending:
        yield pending.popleft()


def find_faces(
    paths: Iterable[Path],
    job: FaceJob,
    workers: int | None = None,
    ahead: int = 16,
    detector: FaceDetector | None = None,
    embedder: AnyEmbedder | None = None,
) -> Iterator[PhotoFaces]:
    """Faces and chips of every photo in ``paths``, in order, using ``workers`` threads (MTCNN)
    or processes (HOG, whose dlib code holds the GIL); 0 = one at a time in this thread. At most
    ``ahead`` photos are in flight, so memory does not grow with the number of photos.
    ``detector``: an already loaded detector to share (threads and in-thread work only).
    ``embedder``: when given (threads and in-thread work only), each photo's chips are also
    embedded where they were made, so every core does detection and embedding alike instead of
    one thread embedding for all (``PhotoFaces.embeddings``).

    """
    workers = default_workers() if workers is None else workers
    ahead = max(ahead, 2 * workers)
    if workers == 0:
        finder = FaceFinder(job, detector, embedder)
        for path in paths:
            yield finder(Path(path))
        return
    if job.detector.threaded:
        finder = FaceFinder(job, detector, embedder)
        previous = torch.get_num_threads()
        group = PHOTOS_PER_TASK if embedder is not None else 1
        try:
            with single_torch_thread_executor(workers) as threads:
                future: Future[list[PhotoFaces]]
                tasks = _in_order(
                    lambda g: threads.submit(finder.many, g),
                    _grouped(paths, group),
                    max(2 * workers, ahead // group),
                )
                for future in tasks:
                    yield from future.result()
        finally:
            # the calling thread kept its own count; this resets the default for new threads
            torch.set_num_threads(previous)
        return
    ctx = mp.get_context("spawn")
    pool = ctx.Pool(workers, initializer=_init_worker, initargs=(job,))
    try:
        result: AsyncResult[PhotoFaces]
        for result in _in_order(lambda p: pool.apply_async(_work, (p,)), paths, ahead):
            yield result.get()
        pool.close()
    finally:
        pool.terminate()
        pool.join()
