"""LFW evaluation as in the paper: detect, align and embed every image the pairs name, then the
10-fold verification protocol on squared L2 distances (see :mod:`facenet_core.evaluate`)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facenet_core import calibration
from facenet_core.evaluation.verification import (
    Pair,
    VerificationReport,
    fixed_threshold_report,
    kfold_report,
    lfw_image_path,
    read_pairs,
    squared_distances,
)
from facenet_core.progress import Cancelled, CancelToken, PhaseClock, Reporter, ignore_progress
from facenet_core.quantize import dequantize, quantize
from facenet_core.settings import Settings
from facenet_core.types import CHIP_SIZE
from facenet_core.vision.align import ARCFACE_SIZE
from facenet_core.vision.detectors import DetectorConfig
from facenet_core.vision.embed import AnyEmbedder
from facenet_core.vision.engines import Engines, shared_engines
from facenet_core.vision.faces import FaceJob, PhotoFaces, find_faces

log = logging.getLogger(__name__)


def nan_to_none(x: float) -> float | None:
    """A figure for JSON: NaN (not measured) as null."""
    return None if math.isnan(x) else x


def pairs_protocol(folds: np.ndarray) -> str:
    """How :func:`score_pairs` scores pairs of these folds, in words."""
    if len(np.unique(folds)) >= 2:
        return f"{len(np.unique(folds))}-fold: thresholds from the other folds"
    return "single fold: scored at the shipped calibrated thresholds"


def score_pairs(
    dist: np.ndarray, same: np.ndarray, folds: np.ndarray, embedder: AnyEmbedder, alignment: str
) -> VerificationReport:
    """The LFW protocol on pair distances: k-fold with thresholds from the other folds, or, for
    a single fold, the shipped calibrated thresholds of the embedder's model (so no threshold is
    ever fitted on the pairs scored)."""
    if len(np.unique(folds)) >= 2:
        return kfold_report(dist, same, folds)
    thr, vthr = calibration.thresholds(embedder.model_version, alignment, embedder.flip)
    return fixed_threshold_report(dist, same, thr, vthr)


def nearest_centre(photo: PhotoFaces) -> int:
    """Index of the face whose box centre is nearest the image centre."""
    cx, cy = photo.width / 2, photo.height / 2
    dists = [(d.center[0] - cx) ** 2 + (d.center[1] - cy) ** 2 for d in photo.detections]
    return int(np.argmin(dists))


@dataclass
class LfwEvaluation:
    report: VerificationReport
    quantized: VerificationReport
    n_pairs: int
    n_images: int
    fallbacks: list[str]
    images_per_s: float
    max_abs_component: float
    protocol: str
    settings: dict[str, Any]
    cancelled: bool = False
    """Stopped on request before the pairs were scored: the figures are NaN, nothing else."""

    def to_json_dict(self) -> dict[str, Any]:
        r = self.report
        clean = nan_to_none
        return {
            "accuracy": r.accuracy,
            "accuracy_sem": clean(r.accuracy_sem),
            "val_at_far_1e3": r.val_at_far_1e3,
            "thresholds": r.thresholds,
            "quantized_accuracy": self.quantized.accuracy,
            "fallbacks": len(self.fallbacks),
            "n_pairs": self.n_pairs,
            "images_per_s": self.images_per_s,
            "far_at_val_threshold": r.far_at_val_threshold,
            "val_thresholds": r.val_thresholds,
            "fold_accuracies": r.fold_accuracies,
            "quantized_val_at_far_1e3": self.quantized.val_at_far_1e3,
            "n_images": self.n_images,
            "fallback_images": self.fallbacks,
            "max_abs_component": self.max_abs_component,
            "protocol": self.protocol,
            "cancelled": self.cancelled,
            **self.settings,
        }


@dataclass
class PairChips:
    """The aligned chip of every image a pairs file names, and the pairs as indices into them."""

    chips: np.ndarray  # (N, 150, 150, 3) uint8
    keys: list[tuple[str, int]]  # (person, image number) of each chip
    left: np.ndarray
    right: np.ndarray
    same: np.ndarray
    folds: np.ndarray
    fallbacks: list[str]
    detector: DetectorConfig
    arcface: np.ndarray | None = None  # (N, 112, 112, 3) uint8 when asked for (fused model)


def lfw_pair_chips(
    lfw_dir: Path,
    pairs_file: Path,
    settings: Settings,
    *,
    engines: Engines | None = None,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
    keep: Callable[[Pair], bool] | None = None,
    arcface: bool = False,
) -> PairChips:
    """Detect and align the face of every image named by the pairs (``keep``: only the pairs it
    accepts): the face nearest the image centre, or the fixed centre box when none is found.
    A step of longer jobs (LFW, the guard set), not a job itself: it raises
    :class:`~facenet_core.progress.Cancelled` when cancelled, and the job that called it stops
    there and returns its result marked ``cancelled``. ``arcface``: also each face's ArcFace
    chip (the fused model's SFace reads them)."""
    pairs = [p for p in read_pairs(pairs_file) if keep is None or keep(p)]
    keys = sorted({p.left for p in pairs} | {p.right for p in pairs})
    faces = np.zeros((len(keys), ARCFACE_SIZE, ARCFACE_SIZE, 3), np.uint8) if arcface else None
    chips, fallbacks, detector = lfw_chips(
        lfw_dir, keys, settings, engines=engines, reporter=reporter, cancel=cancel, arcface=faces
    )
    index = {key: i for i, key in enumerate(keys)}
    return PairChips(
        chips=chips,
        keys=keys,
        left=np.array([index[p.left] for p in pairs], dtype=np.int64),
        right=np.array([index[p.right] for p in pairs], dtype=np.int64),
        same=np.array([p.same for p in pairs], dtype=bool),
        folds=np.array([p.fold for p in pairs], dtype=np.int64),
        fallbacks=fallbacks,
        detector=detector,
        arcface=faces,
    )


def lfw_chips(
    lfw_dir: Path,
    keys: list[tuple[str, int]],
    settings: Settings,
    *,
    engines: Engines | None = None,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
    arcface: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str], DetectorConfig]:
    """The chip of each LFW image ``(person, number)``: the detected face nearest the image
    centre, or the fixed centre box when none is found (listed in the second value). A step, like
    :func:`lfw_pair_chips`: raises :class:`~facenet_core.progress.Cancelled` when cancelled.
    ``arcface``: an ``(N, 112, 112, 3)`` uint8 array filled with the same faces' ArcFace chips."""
    paths = [lfw_image_path(lfw_dir, name, num) for name, num in keys]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} images are not in {lfw_dir}, e.g. {missing[0]}")
    return centre_face_chips(
        paths, settings, engines=engines, reporter=reporter, cancel=cancel, arcface=arcface
    )


def centre_face_chips(
    paths: list[Path],
    settings: Settings,
    *,
    engines: Engines | None = None,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
    arcface: np.ndarray | None = None,
    boxes: np.ndarray | None = None,
) -> tuple[np.ndarray, list[str], DetectorConfig]:
    """:func:`lfw_chips` of any photos (one face each, as on LFW): the default detection and
    alignment of the settings, the face nearest the centre or the centre-box fallback.
    ``boxes``: an ``(N, 4)`` float array filled with each chosen face's box (x1, y1, x2, y2) in
    the photo's pixels (the robustness evaluation sizes its shrunk photos by them)."""
    engines = engines or shared_engines()
    cancel = cancel or CancelToken()
    detector = engines.detector_config(settings)
    job = FaceJob(detector=detector, centre_fallback=True, arcface=arcface is not None)
    chips = np.zeros((len(paths), CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
    fallbacks: list[str] = []
    clock = PhaseClock("eval-lfw", "faces", "image")
    shared = engines.detector(detector) if detector.threaded else None
    for i, photo in enumerate(find_faces(paths, job, settings.workers, detector=shared)):
        if photo.error is not None:
            raise RuntimeError(f"{photo.path}: {photo.error}")
        if photo.fallback:
            fallbacks.append(str(photo.path))
        centre = nearest_centre(photo)
        chips[i] = photo.chips[centre]
        if arcface is not None and photo.arcface_chips is not None:
            arcface[i] = photo.arcface_chips[centre]
        if boxes is not None:
            boxes[i] = photo.detections[centre].box
        if cancel.cancelled:
            raise Cancelled
        reporter(clock.event(i + 1, len(paths), fallbacks=len(fallbacks)))
    return chips, fallbacks, detector


def evaluate_lfw(
    lfw_dir: Path,
    pairs_file: Path,
    settings: Settings,
    *,
    engines: Engines | None = None,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> LfwEvaluation:
    """Detect, align and embed every image the pairs name, then score the pairs (the paper's
    protocol). Cancelling returns an evaluation marked ``cancelled`` with no figures."""
    engines = engines or shared_engines()
    cancel = cancel or CancelToken()
    try:
        return _evaluate_lfw(lfw_dir, pairs_file, settings, engines, reporter, cancel)
    except Cancelled:  # the job's boundary: Cancelled never leaves it
        unmeasured = VerificationReport.unmeasured()
        return LfwEvaluation(
            report=unmeasured,
            quantized=unmeasured,
            n_pairs=0,
            n_images=0,
            fallbacks=[],
            images_per_s=float("nan"),
            max_abs_component=float("nan"),
            protocol="cancelled",
            settings={},
            cancelled=True,
        )


def _evaluate_lfw(
    lfw_dir: Path,
    pairs_file: Path,
    settings: Settings,
    engines: Engines,
    reporter: Reporter,
    cancel: CancelToken,
) -> LfwEvaluation:
    start = time.perf_counter()
    embedder = engines.embedder(settings)  # the "Face model" setting's
    found = lfw_pair_chips(
        lfw_dir,
        pairs_file,
        settings,
        engines=engines,
        reporter=reporter,
        cancel=cancel,
        arcface=embedder.wants_arcface,
    )
    chips, fallbacks, detector = found.chips, found.fallbacks, found.detector
    clock = PhaseClock("eval-lfw", "embed", "image")
    parts = []
    for s in range(0, len(chips), 256):
        faces = None if found.arcface is None else found.arcface[s : s + 256]
        parts.append(embedder.embed(chips[s : s + 256], faces))
        cancel.raise_if_cancelled()
        reporter(clock.event(min(s + 256, len(chips)), len(chips)))
    embeddings = np.concatenate(parts)
    elapsed = time.perf_counter() - start

    left, right, same, folds = found.left, found.right, found.same, found.folds
    qemb = dequantize(quantize(embeddings))
    dist = squared_distances(embeddings[left], embeddings[right])
    qdist = squared_distances(qemb[left], qemb[right])
    protocol = pairs_protocol(folds)
    report = score_pairs(dist, same, folds, embedder, detector.alignment)
    quantized = score_pairs(qdist, same, folds, embedder, detector.alignment)
    return LfwEvaluation(
        report=report,
        quantized=quantized,
        n_pairs=len(same),
        n_images=len(chips),
        fallbacks=fallbacks,
        images_per_s=len(chips) / elapsed,
        max_abs_component=float(np.abs(embeddings).max()),
        protocol=protocol,
        settings={
            "detector": detector.name,
            "alignment": detector.alignment,
            "upsample": detector.upsample,
            "flip": embedder.flip,
            "model_version": embedder.model_version,
            "face_model": settings.face_model,
            "device": str(embedder.device),
        },
    )
