"""Pair, recognition and clustering figures on embeddings: plain numpy, shared by every layer.

Evaluation (LFW), training (held-out validation, the guard) and the benchmarks all score
embeddings with the same definitions, from FaceNet section 4: with D the squared L2 distance of
two unit embeddings and d a threshold, a pair is called "same" when D <= d; ``VAL(d)`` is the
fraction of same-person pairs accepted and ``FAR(d)`` the fraction of different-person pairs
accepted. All rates are fractions in [0, 1].

A leaf module: it imports nothing from the rest of the package (training and evaluation are
independent layers, so neither may own these).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# -- pairs ----------------------------------------------------------------------------------


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise squared L2 distance of two (N, D) arrays."""
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return np.einsum("ij,ij->i", diff, diff)


def accuracy_at(dist: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(np.mean((dist <= threshold) == same))


def best_threshold(dist: np.ndarray, same: np.ndarray) -> float:
    """The threshold of highest accuracy: the midpoint between two neighbouring distances."""
    order = np.argsort(dist, kind="stable")
    d, s = dist[order], same[order]
    # accepting the k smallest distances: correct = same among them + different among the rest
    correct = np.concatenate([[0], np.cumsum(s)]) + (
        np.sum(~s) - np.concatenate([[0], np.cumsum(~s)])
    )
    # only cut between distinct values
    valid = np.concatenate([[True], d[1:] > d[:-1], [True]])
    k = int(np.argmax(np.where(valid, correct, -1)))
    if k == 0:
        return float(d[0] - 1e-6)
    if k == len(d):
        return float(d[-1] + 1e-6)
    return float((d[k - 1] + d[k]) / 2)


def far_threshold(dist: np.ndarray, same: np.ndarray, far: float) -> float:
    """The largest threshold whose false accept rate on these pairs is at most ``far``."""
    diff = np.sort(dist[~same])
    allowed = math.floor(far * len(diff) + 1e-9)
    if allowed >= len(diff):
        return float(diff[-1])
    return float(np.nextafter(diff[allowed], -np.inf))


def val_far(dist: np.ndarray, same: np.ndarray, threshold: float) -> tuple[float, float]:
    accepted = dist <= threshold
    val = float(np.mean(accepted[same])) if same.any() else math.nan
    far = float(np.mean(accepted[~same])) if (~same).any() else math.nan
    return val, far


def all_pairs(embeddings: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Squared distances and same-person flags of every unordered pair of rows (i < j)."""
    emb = np.asarray(embeddings, dtype=np.float64)
    gram = emb @ emb.T
    sq = np.diag(gram)
    i, j = np.triu_indices(len(emb), k=1)
    dist = np.maximum(sq[i] + sq[j] - 2.0 * gram[i, j], 0.0)
    labels = np.asarray(labels)
    return dist, labels[i] == labels[j]


def val_at_far(embeddings: np.ndarray, labels: np.ndarray, far: float = 1e-3) -> float:
    """VAL at the threshold where FAR = ``far``, over every pair of these faces (the paper's
    hold-out figure; the threshold is fitted on the same pairs, as in its Table 3)."""
    dist, same = all_pairs(embeddings, labels)
    if not same.any() or same.all():
        return math.nan
    return val_far(dist, same, far_threshold(dist, same, far))[0]


# -- recognition ----------------------------------------------------------------------------


def nearest_person_accuracy(
    queries: np.ndarray,
    query_labels: np.ndarray,
    gallery: np.ndarray,
    gallery_labels: np.ndarray,
) -> float:
    """Share of query faces whose nearest gallery face (squared L2) is the same person
    (FaceNet's "recognition: k-NN against labelled faces", k = 1)."""
    if len(queries) == 0 or len(gallery) == 0:
        return math.nan
    q = np.asarray(queries, dtype=np.float64)
    g = np.asarray(gallery, dtype=np.float64)
    d = (q * q).sum(1)[:, None] + (g * g).sum(1)[None, :] - 2.0 * q @ g.T
    nearest = np.asarray(gallery_labels)[np.argmin(d, axis=1)]
    return float(np.mean(nearest == np.asarray(query_labels)))


# -- clustering -----------------------------------------------------------------------------


def bcubed(predicted: Sequence[int] | np.ndarray, truth: Sequence[int] | np.ndarray) -> dict:
    """BCubed precision, recall and F1 of a clustering (Amigo et al. 2009): for each item, the
    share of its cluster that is its class (precision) and of its class that is in its cluster
    (recall), averaged over items."""
    pred = np.asarray(predicted)
    true = np.asarray(truth)
    if len(pred) != len(true):
        raise ValueError("predicted and true labels differ in length")
    if len(pred) == 0:
        return {"precision": math.nan, "recall": math.nan, "f1": math.nan}
    _, p_idx = np.unique(pred, return_inverse=True)
    _, t_idx = np.unique(true, return_inverse=True)
    joint = np.zeros((p_idx.max() + 1, t_idx.max() + 1), dtype=np.int64)
    np.add.at(joint, (p_idx, t_idx), 1)
    both = joint[p_idx, t_idx].astype(np.float64)
    precision = float(np.mean(both / joint.sum(1)[p_idx]))
    recall = float(np.mean(both / joint.sum(0)[t_idx]))
    f1 = 2 * precision * recall / (precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1}
