"""Faces in a video: sampled frames, faces found in each, linked into tracks, one face a track.

A video is read through OpenCV's video reader (FFmpeg inside ``opencv-python-headless``; it
reads MP4, MOV, M4V, AVI, MKV and 3GP). Frames are sampled evenly: ``fps`` per second of video,
at most ``max_frames`` (spread over the whole length when that leaves fewer), and reading stops
after ``max_seconds`` with the tracks found so far, so a long video never holds a scan hostage.

Each sampled frame goes through the same detector, alignment and network as a photo. Faces of
consecutive sampled frames are linked into *tracks* when their embeddings are close
(:data:`LINK_DISTANCE`, squared distance of unit vectors) and, unless they are very close, their
boxes overlap (:data:`LINK_IOU`); a face missing for more than :data:`MAX_GAP` samples ends its
track (a cut). A track becomes **one face**: the mean of its frames' embeddings, normalised (the
FaceNet paper's video protocol averages over frames; averaging is what makes a face seen in many
frames surer than one frame), with the box, landmarks and thumbnail of its best frame (highest
detector score times face size) and its time span.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from facenet_core.calibration import distance_scale
from facenet_core.thumbnails import face_thumbnail
from facenet_core.types import Detection, box_iou
from facenet_core.vision.align import face_chips
from facenet_core.vision.detectors import FaceDetector
from facenet_core.vision.embed import AnyEmbedder
from facenet_core.vision.faces import PhotoFaces, default_workers, single_torch_thread_executor

LINK_DISTANCE = 0.15
"""Largest squared distance between a track's last embedding and a face of the next sampled
frame for the two to be one track (unit vectors): the shipped network's threshold at a false
accept rate of 1e-3 on LFW (``facenet_core.calibration``: 0.149-0.163), so two people are
almost never one track."""
SURE_DISTANCE = 0.06
"""Below this squared distance a face joins the track wherever its box is (a fast move)."""
LINK_IOU = 0.2
"""Least box overlap for a link when the embedding alone is not sure."""
DETECT_SIDE = 960
"""Frames are detected at most this large (longer side; boxes mapped back, chips cut from the
full frame). A video's faces are seldom small, and a 1080p frame detected whole cost 1.3 photos
of 1024 pixels (docs/benchmarks/2026-12-07-video.md); at 960 pixels a face of the default 40
pixels is still 80 pixels of a 1920-pixel frame."""
MAX_GAP = 1
"""Sampled frames a track may miss (a blink of the detector) before it ends."""


@dataclass(frozen=True, slots=True)
class VideoSampling:
    """How a video is read (from the ``video_*`` settings)."""

    fps: float = 1.0
    max_frames: int = 20
    max_seconds: float = 60.0


@dataclass
class Track:
    """One face followed across sampled frames."""

    detections: list[Detection] = field(default_factory=list)
    embeddings: list[np.ndarray] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    thumbnails: list[bytes] = field(default_factory=list)
    last_sample: int = 0

    def best(self) -> int:
        """The frame its box and thumbnail come from: the surest, largest face."""
        return int(np.argmax([d.score * max(d.width, d.height) for d in self.detections]))

    def mean_embedding(self) -> np.ndarray:
        """The mean of its frames' embeddings, normalised to unit length."""
        mean = np.mean(np.stack(self.embeddings), axis=0)
        return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def sample_times(duration: float, sampling: VideoSampling) -> list[float]:
    """The times (seconds) of the frames to look at: ``fps`` a second, at most ``max_frames``
    spread evenly, each in the middle of its share of the video."""
    if duration <= 0:
        return [0.0]
    count = max(1, min(sampling.max_frames, int(np.ceil(duration * sampling.fps))))
    step = duration / count
    return [step * (i + 0.5) for i in range(count)]


def link(
    tracks: list[Track],
    sample: int,
    t: float,
    found: list[tuple[Detection, np.ndarray]],
    thumbnails: list[bytes],
    scale: float = 1.0,
) -> None:
    """Add one sampled frame's faces (sample number ``sample``, at ``t`` seconds) to the
    tracks: each face joins the closest live track it may join (greedy, closest pair first), or
    starts a new one. ``scale``: the embedding model's distance scale (the distances above are
    the fast model's; ``calibration.distance_scale``)."""
    live = [tr for tr in tracks if sample - tr.last_sample <= MAX_GAP + 1]
    pairs = []
    for j, (det, vec) in enumerate(found):
        for i, track in enumerate(live):
            d = float(np.sum((track.embeddings[-1] - vec) ** 2))
            near = box_iou(track.detections[-1].box, det.box) >= LINK_IOU
            if d <= SURE_DISTANCE * scale or (d <= LINK_DISTANCE * scale and near):
                pairs.append((d, i, j))
    taken: set[int] = set()
    placed: dict[int, Track] = {}
    for _, i, j in sorted(pairs):
        if i not in taken and j not in placed:
            taken.add(i)
            placed[j] = live[i]
    for j, ((det, vec), thumb) in enumerate(zip(found, thumbnails, strict=True)):
        if j in placed:
            track = placed[j]
        else:
            track = Track()
            tracks.append(track)
        track.detections.append(det)
        track.embeddings.append(np.asarray(vec, np.float32))
        track.times.append(t)
        track.thumbnails.append(thumb)
        track.last_sample = sample


class VideoFaceFinder:
    """Faces (tracks) of one video at a time: ``finder(path) -> PhotoFaces`` with one detection,
    embedding and thumbnail per track, ``media="video"``, its length and each track's span."""

    def __init__(
        self,
        detector: FaceDetector,
        embedder: AnyEmbedder,
        sampling: VideoSampling,
        thumbnails: bool = True,
        workers: int | None = None,
    ) -> None:
        self.detector = detector
        self.embedder = embedder
        self.sampling = sampling
        self.thumbnails = thumbnails
        self.workers = max(1, workers if workers is not None else default_workers())
        self.frames_read = 0

    def __call__(self, path: Path) -> PhotoFaces:
        path = Path(path)
        capture = cv2.VideoCapture(str(path))
        try:
            return self._read(path, capture)
        finally:
            capture.release()

    def _frame(self, frame: np.ndarray) -> FrameFaces:
        """Detect, align and embed one frame (BGR), in a worker thread. A detector failure on
        one frame loses that frame only."""
        image = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        scale = min(1.0, DETECT_SIDE / max(image.shape[:2]))
        small = (
            image
            if scale == 1.0
            else cv2.resize(
                image,
                (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                interpolation=cv2.INTER_AREA,
            )
        )
        try:
            detections = [d.scaled(1.0 / scale) for d in self.detector.detect(small)]
        except Exception:  # one bad frame must not stop the video, nor the scan
            return [], np.zeros((0, 128), np.float32), []
        if not detections:
            return [], np.zeros((0, 128), np.float32), []
        vectors = self.embedder.embed(face_chips(image, detections))
        thumbs = (
            [face_thumbnail(image, d.box) for d in detections]
            if self.thumbnails
            else [b""] * len(detections)
        )
        return detections, vectors, thumbs

    def _link(self, tracks: list[Track], sample: int, t: float, future: Future[FrameFaces]) -> None:
        detections, vectors, thumbs = future.result()
        if detections:
            # the link distances are the fast model's: the fused model's are on its own scale
            scale = distance_scale(self.embedder.info.name).factor
            found = list(zip(detections, vectors, strict=True))
            link(tracks, sample, t, found, thumbs, scale)

    def _read(self, path: Path, capture: cv2.VideoCapture) -> PhotoFaces:
        if not capture.isOpened():
            return _failed(path, "cannot decode the video (not a video file, or damaged)")
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        count = float(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0)
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
        if fps <= 0 or count <= 0:
            return _failed(path, "cannot decode the video (no frames, or no frame rate)")
        duration = count / fps
        start = time.monotonic()
        tracks: list[Track] = []
        decoded = 0
        # frames are decoded here in order; each is detected, aligned and embedded in a thread
        # of its own with one torch thread (as photos are: torch's own threads fight over a busy
        # machine's cores, 17x slower measured under load), and linked in order
        pending: deque[tuple[int, float, Future[FrameFaces]]] = deque()
        with single_torch_thread_executor(self.workers) as pool:
            for sample, t in enumerate(sample_times(duration, self.sampling)):
                if sample and time.monotonic() - start > self.sampling.max_seconds:
                    break  # the time budget is spent (after one frame at least): keep the rest
                capture.set(cv2.CAP_PROP_POS_FRAMES, min(int(t * fps), int(count) - 1))
                ok, frame = capture.read()
                if not ok or frame is None:
                    continue
                decoded += 1
                pending.append((sample, t, pool.submit(self._frame, frame)))
                while len(pending) > 2 * self.workers:
                    self._link(tracks, *pending.popleft())
            while pending:
                self._link(tracks, *pending.popleft())
        self.frames_read += decoded
        if decoded == 0:
            return _failed(path, "cannot decode the video (no frame could be read)")
        return _video_faces(path, tracks, width, height, duration, decoded)


FrameFaces = tuple[list[Detection], np.ndarray, list[bytes]]
"""One frame's faces, their embeddings and thumbnails."""


def _failed(path: Path, reason: str) -> PhotoFaces:
    return PhotoFaces(path, error=reason, media="video")


def _video_faces(
    path: Path, tracks: list[Track], width: int, height: int, duration: float, decoded: int
) -> PhotoFaces:
    tracks = [t for t in tracks if t.detections]
    best = [t.best() for t in tracks]
    return PhotoFaces(
        path=path,
        width=width,
        height=height,
        detections=[t.detections[b] for t, b in zip(tracks, best, strict=True)],
        thumbnails=[t.thumbnails[b] for t, b in zip(tracks, best, strict=True)],
        embeddings=(
            np.stack([t.mean_embedding() for t in tracks])
            if tracks
            else np.zeros((0, 128), np.float32)
        ),
        media="video",
        duration_s=duration,
        spans=[(t.times[0], t.times[-1], t.times[b]) for t, b in zip(tracks, best, strict=True)],
        frames=decoded,
    )
