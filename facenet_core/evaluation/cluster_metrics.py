"""Clustering scores: pairwise and BCubed precision, recall and F1 (numpy only).

All are fractions in [0, 1] comparing a predicted labelling with the true one over the same
faces; a predicted label of 0 ("no cluster") counts as a cluster of its own for each face:

- pairwise: precision = of the face pairs put in one cluster, the share that are one person;
  recall = of the pairs of one person, the share put in one cluster; F1 their harmonic mean.
  With no predicted pair, precision is 1 (nothing was claimed); with no true pair, recall is 1.
- BCubed (Bagga & Baldwin 1998; Amigo et al. 2009): for each face, precision = share of its
  cluster that is its person, recall = share of its person that is in its cluster; averaged
  over the faces. Unlike pairwise scores, large clusters do not dominate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Scores:
    precision: float
    recall: float
    f1: float


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def noise_as_singletons(pred: np.ndarray) -> np.ndarray:
    """``pred`` with every 0 ("no cluster") replaced by a label of its own."""
    pred = np.asarray(pred, dtype=np.int64).copy()
    zero = pred == 0
    if zero.any():
        start = max(int(pred.max()), 0) + 1
        pred[zero] = np.arange(start, start + int(zero.sum()))
    return pred


def _contingency(
    truth: Sequence[Any] | np.ndarray, pred: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse counts: ``n`` (faces per non-empty (true class, predicted cluster) pair), the
    class sizes and the cluster sizes (0 = a cluster of its own)."""
    t = np.unique(np.asarray(truth), return_inverse=True)[1].reshape(-1).astype(np.int64)
    p = np.unique(noise_as_singletons(pred), return_inverse=True)[1].reshape(-1).astype(np.int64)
    if len(t) != len(p):
        raise ValueError(f"truth has {len(t)} faces, prediction {len(p)}")
    width = int(p.max(initial=-1)) + 1
    _, n = np.unique(t * width + p, return_counts=True)
    return n, np.bincount(t), np.bincount(p)


def pairwise_scores(truth: Sequence[Any] | np.ndarray, pred: np.ndarray) -> Scores:
    """Pairwise precision, recall and F1 (see the module's docstring)."""
    n, classes, clusters = _contingency(truth, pred)

    def pairs(c: np.ndarray) -> float:
        return float((c * (c - 1) // 2).sum())

    together = pairs(n)
    claimed = pairs(clusters)
    true = pairs(classes)
    p = together / claimed if claimed else 1.0
    r = together / true if true else 1.0
    return Scores(p, r, _f1(p, r))


def bcubed_scores(truth: Sequence[Any] | np.ndarray, pred: np.ndarray) -> Scores:
    """BCubed precision, recall and F1 (see the module's docstring)."""
    t = np.unique(np.asarray(truth), return_inverse=True)[1].reshape(-1).astype(np.int64)
    p = np.unique(noise_as_singletons(pred), return_inverse=True)[1].reshape(-1).astype(np.int64)
    if len(t) != len(p):
        raise ValueError(f"truth has {len(t)} faces, prediction {len(p)}")
    total = len(t)
    if total == 0:
        return Scores(1.0, 1.0, 1.0)
    width = int(p.max()) + 1
    keys, n = np.unique(t * width + p, return_counts=True)
    classes, clusters = np.bincount(t), np.bincount(p)
    sq = n.astype(np.float64) ** 2
    # each face of cell (i, j) scores n_ij / |cluster j| (precision) and n_ij / |class i|
    prec = float((sq / clusters[keys % width]).sum() / total)
    rec = float((sq / classes[keys // width]).sum() / total)
    return Scores(prec, rec, _f1(prec, rec))
