"""The FaceNet paper's Table 4 for this app: verification under JPEG compression and small faces.

Each condition degrades every image of an LFW subset the same way (re-encoded as JPEG at quality
Q, or the whole image resized so that its face's box side is N px), then runs the app's default
detection and alignment once per image (:func:`~facenet_core.evaluation.lfw.centre_face_chips`,
as ``eval-lfw`` does) and embeds those same faces with both face models: ``fast`` (dlib's ResNet)
and ``accurate`` (dlib's ResNet and SFace fused). So the cost is one detection per image and
condition, and the two models are compared on identical faces.

Scores, per condition and model:

* the paper's protocol (section 4.1, Table 4): every pair among the subset's images, same person
  positive and different people negative, VAL at the threshold where FAR = 1e-3 over all those
  pairs (fitted on the same pairs, as the paper does on its hold-out set). Hundreds of thousands of
  negatives make FAR 1e-3 a well-defined point even on a few thousand images;
* the LFW protocol on the listed pairs: k-fold accuracy and VAL (thresholds from the other folds),
  or the shipped calibrated thresholds when only one fold is kept, exactly as ``eval-lfw``.

Face size: ``sqrt(w * h)`` of the box the default detector gives the face nearest the image centre
in the *original* photo (the fixed centre box, 107 px on a 250 px LFW image, when nothing was
found there); the whole photo is resized by ``N / side`` (Lanczos, so shrinking is antialiased)
and saved losslessly (PNG), so only the size changes.
"""

from __future__ import annotations

import io
import math
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from facenet_core.evaluation.lfw import centre_face_chips, nan_to_none, pairs_protocol, score_pairs
from facenet_core.evaluation.verification import (
    VerificationReport,
    lfw_image_path,
    read_pairs,
    squared_distances,
)
from facenet_core.imageio import open_photo
from facenet_core.metrics import all_pairs, far_threshold, val_far
from facenet_core.progress import Cancelled, CancelToken, PhaseClock, Reporter, ignore_progress
from facenet_core.settings import Settings
from facenet_core.vision.embed import AnyEmbedder
from facenet_core.vision.engines import Engines, shared_engines

JPEG_QUALITIES = (10, 20, 30, 50, 70, 90)
"""The paper's Table 4, left."""
FACE_SIZES = (40, 60, 80, 120, 160)
"""Face box sides in pixels (the paper's Table 4, right, gives 40 to 256 px thumbnails)."""
MODELS = ("fast", "accurate")
"""The "Face model" setting's two values: each condition's faces are embedded by both."""
FAR = 1e-3


@dataclass(frozen=True)
class Condition:
    """One degradation: ``original``, ``jpeg`` at quality ``value`` or ``size`` with the face's
    box side ``value`` px."""

    kind: str
    value: int = 0

    @property
    def name(self) -> str:
        return self.kind if self.kind == "original" else f"{self.kind}-{self.value}"

    @classmethod
    def parse(cls, text: str) -> Condition:
        """``original``, ``jpeg-Q`` (Q in 1-95) or ``size-N`` (N in 8-1000 px)."""
        if text == "original":
            return cls("original")
        kind, _, value = text.partition("-")
        if kind not in ("jpeg", "size") or not value.isdigit():
            raise ValueError(f"{text!r}: a condition is original, jpeg-Q or size-N")
        number = int(value)
        low, high = (1, 95) if kind == "jpeg" else (8, 1000)
        if not low <= number <= high:
            raise ValueError(f"{text!r}: {kind} takes {low} to {high}")
        return cls(kind, number)


def default_conditions() -> list[Condition]:
    """The original photos, then the paper's JPEG qualities and the face sizes."""
    return [
        Condition("original"),
        *(Condition("jpeg", q) for q in JPEG_QUALITIES),
        *(Condition("size", n) for n in FACE_SIZES),
    ]


def jpeg_bytes(image: np.ndarray, quality: int) -> bytes:
    """``image`` (RGB uint8) encoded as a baseline JPEG at ``quality`` (Pillow's encoder, its
    default 4:2:0 chroma subsampling: what a camera or a web site does to a photo)."""
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="JPEG", quality=quality)
    return out.getvalue()


def resized_for_face(image: np.ndarray, face_side: float, target: int) -> np.ndarray:
    """The whole ``image`` scaled by ``target / face_side`` (Lanczos), so that a face whose box
    side is ``face_side`` becomes ``target`` px."""
    factor = target / face_side
    h, w = image.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def box_side(box: Sequence[float] | np.ndarray) -> float:
    """A face box's side: ``sqrt(width * height)`` (boxes are near square; this is the size
    the face sizes of this evaluation are measured in)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return math.sqrt(max(x2 - x1, 0.0) * max(y2 - y1, 0.0))


def degraded_file(
    path: Path, condition: Condition, face_side: float, folder: Path, index: int
) -> Path:
    """Write ``path``'s photo degraded by ``condition`` into ``folder`` (the original path for
    ``original``): JPEG re-encoded, or resized and saved as PNG (lossless)."""
    if condition.kind == "original":
        return path
    image = open_photo(path).image
    if condition.kind == "jpeg":
        target = folder / f"{index:06d}.jpg"
        target.write_bytes(jpeg_bytes(image, condition.value))
    else:
        target = folder / f"{index:06d}.png"
        Image.fromarray(resized_for_face(image, face_side, condition.value)).save(target)
    return target


@dataclass
class AllPairsVal:
    """VAL at FAR over every pair of a set of faces (the paper's hold-out protocol)."""

    val: float
    far: float
    threshold: float
    positives: int
    negatives: int


def all_pairs_val(embeddings: np.ndarray, labels: np.ndarray, far: float = FAR) -> AllPairsVal:
    """Every unordered pair of rows: same label positive, different negative; the threshold is
    the largest with a false accept rate of at most ``far`` over the negatives, VAL the share of
    positives it accepts (NaN without both kinds of pairs)."""
    dist, same = all_pairs(embeddings, labels)
    positives, negatives = int(same.sum()), int((~same).sum())
    if positives == 0 or negatives == 0:
        return AllPairsVal(math.nan, math.nan, math.nan, positives, negatives)
    threshold = far_threshold(dist, same, far)
    val, achieved = val_far(dist, same, threshold)
    return AllPairsVal(val, achieved, threshold, positives, negatives)


@dataclass
class ModelScores:
    """One model's figures on one condition."""

    all_pairs: AllPairsVal
    pairs: VerificationReport

    def to_json_dict(self) -> dict[str, Any]:
        clean = nan_to_none
        return {
            "val_at_far_1e3": clean(self.all_pairs.val),
            "far": clean(self.all_pairs.far),
            "threshold": clean(self.all_pairs.threshold),
            "pairs_accuracy": clean(self.pairs.accuracy),
            "pairs_accuracy_sem": clean(self.pairs.accuracy_sem),
            "pairs_val_at_far_1e3": clean(self.pairs.val_at_far_1e3),
        }


@dataclass
class ConditionResult:
    condition: str
    images: int
    missed: list[str]
    """Images where no face was found: the pipeline's centre-box fallback gave their face."""
    median_face_side: float
    """Of the faces found (not the fallbacks), in the degraded image's pixels."""
    seconds: float
    models: dict[str, ModelScores] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "images": self.images,
            "missed": len(self.missed),
            "median_face_side": self.median_face_side,
            "seconds": self.seconds,
            **{model: scores.to_json_dict() for model, scores in self.models.items()},
        }


@dataclass
class RobustnessEvaluation:
    conditions: list[ConditionResult]
    subset: dict[str, int]
    """``n_images``, ``n_people`` and ``n_pairs`` (the listed pairs kept)."""
    protocol: str
    settings: dict[str, Any]
    cancelled: bool = False
    """Stopped on request: the conditions finished before are kept."""

    def to_json_dict(self) -> dict[str, Any]:
        conditions = [c.to_json_dict() for c in self.conditions]
        return {
            **self.subset,
            "protocol": self.protocol,
            "cancelled": self.cancelled,
            "conditions": conditions,
            **self.settings,
        }


@dataclass
class Subset:
    """The images of the kept pairs (each once), their people, and the pairs as indices."""

    paths: list[Path]
    labels: np.ndarray
    left: np.ndarray
    right: np.ndarray
    same: np.ndarray
    folds: np.ndarray


def select_subset(
    lfw_dir: Path, pairs_file: Path, folds: Sequence[int] | None = None, per_fold: int | None = None
) -> Subset:
    """The pairs of ``folds`` (1-based; None: all), at most the first ``per_fold`` matched and
    ``per_fold`` mismatched pairs of each, and every image they name."""
    kept, counts = [], dict[tuple[int, bool], int]()
    wanted = None if folds is None else {f - 1 for f in folds}
    for pair in read_pairs(pairs_file):
        if wanted is not None and pair.fold not in wanted:
            continue
        seen = counts.get((pair.fold, pair.same), 0)
        if per_fold is not None and seen >= per_fold:
            continue
        counts[(pair.fold, pair.same)] = seen + 1
        kept.append(pair)
    if not kept:
        raise ValueError(f"{pairs_file}: no pairs in folds {sorted(folds or [])}")
    keys = sorted({p.left for p in kept} | {p.right for p in kept})
    index = {key: i for i, key in enumerate(keys)}
    paths = [lfw_image_path(lfw_dir, name, num) for name, num in keys]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} images are not in {lfw_dir}, e.g. {missing[0]}")
    return Subset(
        paths=paths,
        labels=np.array([name for name, _ in keys]),
        left=np.array([index[p.left] for p in kept], dtype=np.int64),
        right=np.array([index[p.right] for p in kept], dtype=np.int64),
        same=np.array([p.same for p in kept], dtype=bool),
        folds=np.array([p.fold for p in kept], dtype=np.int64),
    )


def evaluate_robustness(
    lfw_dir: Path,
    pairs_file: Path,
    settings: Settings,
    *,
    conditions: Sequence[Condition] | None = None,
    folds: Sequence[int] | None = None,
    per_fold: int | None = None,
    engines: Engines | None = None,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> RobustnessEvaluation:
    """Score both face models on each condition (default: :func:`default_conditions`) over the
    images of the kept pairs. The original photos always run first: the face sizes are measured
    on them. Cancelling keeps the conditions already scored and marks the result ``cancelled``."""
    engines = engines or shared_engines()
    cancel = cancel or CancelToken()
    subset = select_subset(lfw_dir, pairs_file, folds, per_fold)
    asked = [c for c in (conditions or default_conditions()) if c.kind != "original"]
    todo = [Condition("original"), *dict.fromkeys(asked)]
    protocol = (
        f"all {len(subset.paths) * (len(subset.paths) - 1) // 2} pairs of {len(subset.paths)} "
        f"images: VAL at FAR={FAR:g} (threshold fitted on them, the paper's Table 4); listed "
        f"pairs: {pairs_protocol(subset.folds)}"
    )
    embedders = {m: engines.embedder(settings.replace(face_model=m)) for m in MODELS}
    detector = engines.detector_config(settings)
    results: list[ConditionResult] = []
    sides = np.full(len(subset.paths), np.nan)
    cancelled = False
    try:
        with tempfile.TemporaryDirectory(prefix="facenet-robustness-") as tmp:
            for condition in todo:
                results.append(
                    _run_condition(
                        condition,
                        subset,
                        settings,
                        engines,
                        embedders,
                        sides,
                        Path(tmp),
                        reporter,
                        cancel,
                    )
                )
    except Cancelled:  # the job's boundary: Cancelled never leaves it
        cancelled = True
    return RobustnessEvaluation(
        conditions=results,
        subset={
            "n_images": len(subset.paths),
            "n_people": len(np.unique(subset.labels)),
            "n_pairs": len(subset.same),
        },
        protocol=protocol,
        settings={
            "detector": detector.name,
            "alignment": detector.alignment,
            "flip": settings.flip,
            "models": {m: e.model_version for m, e in embedders.items()},
            "device": str(embedders["fast"].device),
        },
        cancelled=cancelled,
    )


def _run_condition(
    condition: Condition,
    subset: Subset,
    settings: Settings,
    engines: Engines,
    embedders: dict[str, AnyEmbedder],
    sides: np.ndarray,
    folder: Path,
    reporter: Reporter,
    cancel: CancelToken,
) -> ConditionResult:
    """Degrade, detect once, embed with both models, score. ``sides``: the original photos'
    face sides, filled in by the ``original`` condition and read by the ``size`` ones."""
    start = time.perf_counter()
    paths = []
    for i, path in enumerate(subset.paths):
        paths.append(degraded_file(path, condition, float(sides[i]), folder, i))
        cancel.raise_if_cancelled()
    n = len(paths)
    arcface = np.zeros((n, 112, 112, 3), np.uint8)
    boxes = np.zeros((n, 4), np.float64)
    chips, fallbacks, _ = centre_face_chips(
        paths,
        settings,
        engines=engines,
        reporter=reporter,
        cancel=cancel,
        arcface=arcface,
        boxes=boxes,
    )
    missed_paths = set(fallbacks)
    found = np.array([str(p) not in missed_paths for p in paths])
    face_sides = np.array([box_side(b) for b in boxes])
    if condition.kind == "original":
        sides[:] = face_sides
    scores = {}
    for model, embedder in embedders.items():
        clock = PhaseClock("eval-robustness", f"embed ({model})", "image")
        parts = []
        for s in range(0, n, 256):
            faces = arcface[s : s + 256] if embedder.wants_arcface else None
            parts.append(embedder.embed(chips[s : s + 256], faces))
            cancel.raise_if_cancelled()
            reporter(clock.event(min(s + 256, n), n))
        emb = np.concatenate(parts)
        dist = squared_distances(emb[subset.left], emb[subset.right])
        alignment = engines.detector_config(settings).alignment
        pairs = score_pairs(dist, subset.same, subset.folds, embedder, alignment)
        scores[model] = ModelScores(all_pairs_val(emb, subset.labels), pairs)
    missed = [str(subset.paths[i]) for i in range(n) if not found[i]]
    return ConditionResult(
        condition=condition.name,
        images=n,
        missed=missed,
        median_face_side=float(np.median(face_sides[found])) if found.any() else math.nan,
        seconds=time.perf_counter() - start,
        models=scores,
    )
