"""Verification on videos, the FaceNet paper's YouTube Faces protocol, and a synthetic clip set.

**Protocol** (FaceNet section 5.7): a pair of videos is scored by the average squared distance
over all pairs of their first ``K`` frames in which a face is found (``frame_mean``); accuracy is
10-fold (thresholds from nine folds, scored on the tenth). Beside it: ``single_frame`` (the first
frame with a face of each video: what one photo would give) and ``track_mean`` (the distance of
the two videos' normalised mean embeddings: the one face a track is stored as). In each frame the
largest face is the video's subject. ``tracks``: how the scan's tracker (:mod:`.video`) splits
each clip (one person each): clips with a track (recall) and tracks per clip (1 is ideal).

**A synthetic set.** No public video face set is available offline here, so
:func:`make_synthetic_clips` builds clips from real photos: each clip shows ``photos_per_clip`` of
one person's LFW photos in turn, every frame moved a little, zoomed, blurred and JPEG-compressed
at random (a hand-held phone in poor light), written as MP4 by OpenCV. A person's clips use
disjoint photos. Pairs: each person's two clips (same) and as many pairs of two people's clips
(different), in 10 folds. It is *synthetic*: real faces, but not real video (no motion blur along
a path, no expression changing within a shot); its figures compare methods on it, nothing more.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from facenet_core.evaluation.verification import VerificationReport, kfold_report
from facenet_core.progress import CancelToken, PhaseClock, Reporter, ignore_progress
from facenet_core.settings import Settings
from facenet_core.vision.align import face_chip
from facenet_core.vision.engines import Engines, shared_engines
from facenet_core.vision.faces import default_workers, single_torch_thread_executor
from facenet_core.vision.video import Track, link

CLIP_SIZE = 250
"""Clips are LFW-sized frames (250 x 250)."""


@dataclass(frozen=True, slots=True)
class ClipPair:
    left: str
    right: str
    same: bool
    fold: int


def read_clip_pairs(path: Path | str) -> list[ClipPair]:
    """Pairs, one a line: ``LEFT RIGHT SAME FOLD`` (clip file names, 1/0, 0-9)."""
    pairs = []
    for line in Path(path).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            left, right, same, fold = line.split()
            pairs.append(ClipPair(left, right, same == "1", int(fold)))
    return pairs


def _degrade(image: np.ndarray, rng: random.Random) -> np.ndarray:
    """One frame of a shaky, soft, compressed phone video of ``image`` (BGR)."""
    h, w = image.shape[:2]
    zoom = rng.uniform(0.9, 1.1)
    angle = rng.uniform(-4, 4)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, zoom)
    m[:, 2] += np.array([rng.uniform(-6, 6), rng.uniform(-6, 6)])
    frame = cv2.warpAffine(image, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    small = rng.uniform(0.35, 0.7)  # the face at 37-75 pixels, enlarged again by the camera
    frame = cv2.resize(frame, (int(w * small), int(h * small)), interpolation=cv2.INTER_AREA)
    frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_LINEAR)
    sigma = rng.uniform(0.5, 2.0)
    frame = cv2.GaussianBlur(frame, (0, 0), sigma)
    quality = rng.randint(15, 60)
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
    if decoded is None:
        raise ValueError("could not encode a synthetic frame")
    return np.asarray(decoded)


def _read_bgr(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        raise ValueError(f"{path}: not a readable image")
    return cv2.resize(image, (CLIP_SIZE, CLIP_SIZE))


def make_synthetic_clips(
    lfw_dir: Path,
    out: Path,
    *,
    photos_per_clip: int = 4,
    frames: int = 20,
    fps: int = 10,
    seed: int = 0,
) -> Path:
    """Write two clips of every person with at least ``2 * photos_per_clip`` photos in
    ``lfw_dir/images/NAME/*.jpg`` into ``out``, and ``out/pairs.txt``; returns its path."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    people = sorted(p for p in (lfw_dir / "images").iterdir() if p.is_dir())
    clips: dict[str, list[str]] = {}
    for person in people:
        photos = sorted(person.glob("*.jpg"))
        if len(photos) < 2 * photos_per_clip:
            continue
        for c in range(2):
            chosen = photos[c * photos_per_clip : (c + 1) * photos_per_clip]
            name = f"{person.name}_{c}.mp4"
            writer = cv2.VideoWriter(
                str(out / name), cv2.VideoWriter.fourcc(*"mp4v"), fps, (CLIP_SIZE, CLIP_SIZE)
            )
            images = [_read_bgr(p) for p in chosen]
            for f in range(frames):
                writer.write(_degrade(images[f * len(images) // frames], rng))
            writer.release()
            clips.setdefault(person.name, []).append(name)
    names = sorted(clips)
    if len(names) < 2:
        raise ValueError(f"{lfw_dir}: fewer than two people with {2 * photos_per_clip} photos")
    lines = ["# synthetic clips from LFW photos (facenet_core.evaluation.video): L R same fold"]
    for i, name in enumerate(names):
        fold = i % 10
        lines.append(f"{clips[name][0]} {clips[name][1]} 1 {fold}")
        other = names[(i + 1 + rng.randrange(len(names) - 1)) % len(names)]
        lines.append(f"{clips[name][rng.randrange(2)]} {clips[other][rng.randrange(2)]} 0 {fold}")
    pairs = out / "pairs.txt"
    pairs.write_text("\n".join(lines) + "\n")
    return pairs


@dataclass
class VideoEvalResult:
    """Figures of :func:`evaluate_videos` (each a 10-fold :class:`VerificationReport`)."""

    frame_mean: VerificationReport
    track_mean: VerificationReport
    single_frame: VerificationReport
    pairs: int
    clips: int
    frames: int
    clips_without_face: list[str] = field(default_factory=list)
    clips_with_track: int = 0
    tracks_per_clip: float = 0.0
    seconds: float = 0.0
    cancelled: bool = False


def clip_faces(path: Path, k: int, engines: Engines, settings: Settings) -> tuple[np.ndarray, int]:
    """Embeddings of the largest face of the first ``k`` frames with a face, ``(n, 128)``, and
    how many tracks the scan's tracker makes of all faces of those frames."""
    detector = engines.detector(engines.detector_config(settings))
    embedder = engines.embedder(settings)
    capture = cv2.VideoCapture(str(path))
    vectors: list[np.ndarray] = []
    tracks: list[Track] = []
    sample = 0
    try:
        while len(vectors) < k:
            ok, frame = capture.read()
            if not ok:
                break
            image = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            faces = detector.detect(image)
            if not faces:
                sample += 1
                continue
            chips = np.stack([face_chip(image, d) for d in faces])
            found = embedder.embed(chips)
            largest = int(np.argmax([d.width * d.height for d in faces]))
            vectors.append(found[largest])
            link(
                tracks,
                sample,
                float(sample),
                list(zip(faces, found, strict=True)),
                [b""] * len(faces),
            )
            sample += 1
    finally:
        capture.release()
    return np.asarray(vectors, np.float32).reshape(-1, 128), len(tracks)


def _all_pairs_mean(a: np.ndarray, b: np.ndarray) -> float:
    """The mean squared distance over all pairs of a row of ``a`` and a row of ``b``."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    d = (a64**2).sum(1)[:, None] + (b64**2).sum(1)[None, :] - 2 * a64 @ b64.T
    return float(np.maximum(d, 0).mean())


def _mean_unit(v: np.ndarray) -> np.ndarray:
    m = v.mean(axis=0)
    return m / max(float(np.linalg.norm(m)), 1e-12)


def evaluate_videos(
    folder: Path,
    pairs_path: Path,
    settings: Settings,
    *,
    k: int = 100,
    engines: Engines | None = None,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> VideoEvalResult:
    """The video protocol on the clips of ``folder`` named by the pairs file."""
    start = time.perf_counter()
    cancel = cancel or CancelToken()
    engines = engines or shared_engines()
    pairs = read_clip_pairs(pairs_path)
    names = sorted({p.left for p in pairs} | {p.right for p in pairs})
    clock = PhaseClock("eval-video", "clips", "clip")
    faces: dict[str, np.ndarray] = {}
    track_counts: dict[str, int] = {}
    for name in names:
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name}: clip named in the pairs file not found")

    def one(name: str) -> tuple[np.ndarray, int]:
        if cancel.cancelled:
            return np.zeros((0, 128), np.float32), 0
        return clip_faces(folder / name, k, engines, settings)

    # one clip a thread, each with one torch thread (torch's own threads fight over a busy
    # machine's cores: 17x slower measured under load)
    with single_torch_thread_executor(default_workers()) as pool:
        for i, (name, (vectors, count)) in enumerate(
            zip(names, pool.map(one, names), strict=True), 1
        ):
            faces[name], track_counts[name] = vectors, count
            reporter(clock.event(i, len(names)))
    if cancel.cancelled:
        nan = VerificationReport.unmeasured()
        return VideoEvalResult(nan, nan, nan, 0, len(names), 0, cancelled=True)
    empty = [n for n in names if not len(faces[n])]
    scored = [p for p in pairs if len(faces[p.left]) and len(faces[p.right])]
    same = np.array([p.same for p in scored])
    folds = np.array([p.fold for p in scored])
    frame_mean = np.array([_all_pairs_mean(faces[p.left], faces[p.right]) for p in scored])
    single = np.array([float(np.sum((faces[p.left][0] - faces[p.right][0]) ** 2)) for p in scored])
    track = np.array(
        [
            float(np.sum((_mean_unit(faces[p.left]) - _mean_unit(faces[p.right])) ** 2))
            for p in scored
        ]
    )
    return VideoEvalResult(
        frame_mean=kfold_report(frame_mean, same, folds),
        track_mean=kfold_report(track, same, folds),
        single_frame=kfold_report(single, same, folds),
        pairs=len(scored),
        clips=len(names),
        frames=sum(len(v) for v in faces.values()),
        clips_without_face=empty,
        clips_with_track=sum(1 for n in names if track_counts[n] > 0),
        tracks_per_clip=float(np.mean([track_counts[n] for n in names])),
        seconds=time.perf_counter() - start,
    )


def describe(result: VideoEvalResult) -> Sequence[str]:
    """The figures in words (the CLI prints them)."""

    def line(label: str, r: VerificationReport) -> str:
        return (
            f"{label:<14} accuracy {100 * r.accuracy:.2f}% +- {100 * r.accuracy_sem:.2f}"
            f"   VAL@FAR=1e-3 {100 * r.val_at_far_1e3:.2f}%"
        )

    return [
        f"clips: {result.clips}   pairs: {result.pairs}   frames with a face: {result.frames}",
        line("frame mean", result.frame_mean),
        line("track mean", result.track_mean),
        line("single frame", result.single_frame),
        f"tracks: {result.clips_with_track}/{result.clips} clips with a track,"
        f" {result.tracks_per_clip:.2f} tracks a clip (one person each)",
    ]
