"""Face verification metrics as in the FaceNet paper (section 4) and the LFW protocol.

With D the squared L2 distance of two unit embeddings and d a threshold, a pair is called "same"
when D <= d. ``VAL(d)`` is the fraction of same-person pairs accepted and ``FAR(d)`` the fraction
of different-person pairs accepted. LFW's unrestricted protocol has 10 folds: the threshold is
chosen on 9 folds and applied to the 10th; we report the mean accuracy and its standard error.
All rates are fractions in [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facenet_core.metrics import (  # re-exported: the pair metrics live in a leaf module
    accuracy_at,
    best_threshold,
    far_threshold,
    squared_distances,
    val_far,
)

__all__ = [
    "Pair",
    "VerificationReport",
    "accuracy_at",
    "best_threshold",
    "far_threshold",
    "fixed_threshold_report",
    "kfold_report",
    "lfw_image_path",
    "read_pairs",
    "squared_distances",
    "val_far",
]


@dataclass(frozen=True)
class Pair:
    left: tuple[str, int]  # (person name, image number)
    right: tuple[str, int]
    same: bool
    fold: int


def read_pairs(path: Path | str) -> list[Pair]:
    """Read an LFW ``pairs.txt``: a header ``FOLDS<TAB>N``, then per fold N matched and N
    mismatched pairs (``NAME i j`` or ``NAME1 i NAME2 j``)."""
    lines = [ln.split() for ln in Path(path).read_text().splitlines() if ln.strip()]
    if not lines or len(lines[0]) != 2:
        raise ValueError(f"{path}: expected a header line 'FOLDS<TAB>PAIRS_PER_HALF_FOLD'")
    n_folds, n_half = int(lines[0][0]), int(lines[0][1])
    body = lines[1:]
    if len(body) != n_folds * 2 * n_half:
        raise ValueError(
            f"{path}: header promises {n_folds} folds of {2 * n_half} pairs, "
            f"found {len(body)} pair lines"
        )
    pairs = []
    for i, parts in enumerate(body):
        fold = i // (2 * n_half)
        if len(parts) == 3:
            pairs.append(Pair((parts[0], int(parts[1])), (parts[0], int(parts[2])), True, fold))
        elif len(parts) == 4:
            pairs.append(Pair((parts[0], int(parts[1])), (parts[2], int(parts[3])), False, fold))
        else:
            raise ValueError(f"{path}: line {i + 2} is not a pair: {' '.join(parts)!r}")
    return pairs


def lfw_image_path(lfw_dir: Path, name: str, number: int) -> Path:
    """``DIR/NAME/NAME_0001.jpg``, accepting either the images folder or its parent."""
    images = lfw_dir / "images" if (lfw_dir / "images").is_dir() else lfw_dir
    return images / name / f"{name}_{number:04d}.jpg"


@dataclass
class VerificationReport:
    """The paper's verification figures for one set of pair distances."""

    accuracy: float
    accuracy_sem: float
    val_at_far_1e3: float
    far_at_val_threshold: float
    thresholds: list[float]
    fold_accuracies: list[float]
    val_thresholds: list[float] = field(default_factory=list)

    @classmethod
    def unmeasured(cls) -> VerificationReport:
        """The figures of a run that stopped before any pair was scored (all NaN)."""
        nan = float("nan")
        return cls(nan, nan, nan, nan, [], [])


def kfold_report(
    dist: np.ndarray, same: np.ndarray, folds: np.ndarray, far: float = 1e-3
) -> VerificationReport:
    """LFW protocol: for each fold, thresholds from the other folds, figures on this one."""
    fold_ids = np.unique(folds)
    if len(fold_ids) < 2:
        raise ValueError("k-fold evaluation needs at least two folds")
    accs, thrs, vals, fars, vthrs = [], [], [], [], []
    for k in fold_ids:
        test, train = folds == k, folds != k
        thr = best_threshold(dist[train], same[train])
        vthr = far_threshold(dist[train], same[train], far)
        accs.append(accuracy_at(dist[test], same[test], thr))
        val, f = val_far(dist[test], same[test], vthr)
        thrs.append(thr)
        vthrs.append(vthr)
        vals.append(val)
        fars.append(f)
    acc = np.array(accs)
    return VerificationReport(
        accuracy=float(acc.mean()),
        accuracy_sem=float(acc.std(ddof=1) / math.sqrt(len(acc))),
        val_at_far_1e3=float(np.mean(vals)),
        far_at_val_threshold=float(np.mean(fars)),
        thresholds=thrs,
        fold_accuracies=accs,
        val_thresholds=vthrs,
    )


def fixed_threshold_report(
    dist: np.ndarray, same: np.ndarray, threshold: float, val_threshold: float
) -> VerificationReport:
    """Figures at thresholds fixed beforehand (no threshold is fitted on the pairs scored)."""
    val, f = val_far(dist, same, val_threshold)
    return VerificationReport(
        accuracy=accuracy_at(dist, same, threshold),
        accuracy_sem=math.nan,
        val_at_far_1e3=val,
        far_at_val_threshold=f,
        thresholds=[threshold],
        fold_accuracies=[accuracy_at(dist, same, threshold)],
        val_thresholds=[val_threshold],
    )
