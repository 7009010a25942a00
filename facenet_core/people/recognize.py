"""Who is this face? k-nearest-neighbour recognition against the faces the user confirmed.

FaceNet section 1: recognition is "a k-NN classification problem" on the embeddings. For each
query face we look up its ``k`` nearest confirmed faces (exact search) and give each person found
there the squared distance of their *nearest* face, ``d_p``. People the query must not be (the
user's "not this person", and people already present elsewhere in the same photo) are skipped.

Confidence, from squared distances, in [0, 1]: each candidate person ``p`` gets the logit
``z_p = (CENTRE - d_p) / SCALE`` of a logistic fit of "same person" against the squared
distance of LFW face pairs (so that ``1 / (1 + exp(-z))`` is P(same | d) for one candidate), and
"someone not in the gallery" gets logit 0. The confidence of the best person is its share::

    confidence = exp(z_best) / (1 + sum_p exp(z_p))     # over the allowed candidates

A lone close person gives a confidence near 1; a face at CENTRE from its best person gives at
most 0.5; a second person about as close (look-alike relatives) splits the confidence between
them, so neither is assigned without asking. Two thresholds on the confidence decide what
happens: at least :data:`SUGGEST_CONFIDENCE` the person is *suggested*; at least
:data:`AUTO_CONFIDENCE` the face may be *assigned automatically*. Both were calibrated by an
open-set simulation on LFW (docs/benchmarks/2026-12-06-recognition-thresholds.md).

Faces of one photo are never given the same person: the caller passes, per query, the people
already taken in its photo, and queries of one photo (``query_photos``) are resolved together,
most confident first, each later face choosing among the people still free.

Pure numpy + faiss; never imports torch or the store.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import faiss
import numpy as np

CENTRE = 0.172
"""Squared distance where "same person" and "different people" are equally likely: the
calibrated accuracy threshold of the default pipeline (``calibration.py``)."""
SCALE = 0.0097
"""Width of the logistic (squared-distance units), fitted on LFW pair distances."""
SUGGEST_CONFIDENCE = 0.8
"""Default: suggest the person at this confidence or more."""
AUTO_CONFIDENCE = 0.98
"""Default: assign the person without asking at this confidence or more."""
DEFAULT_K = 50


def same_probability(d: np.ndarray | float) -> np.ndarray:
    """``s(d)``: probability that two faces at squared distance ``d`` are one person."""
    z = (np.asarray(d, dtype=np.float64) - CENTRE) / SCALE
    return 1.0 / (1.0 + np.exp(np.clip(z, -60.0, 60.0)))


@dataclass(frozen=True)
class Recognition:
    """Per query: ``person_ids`` (-1: nobody close enough or allowed), ``confidence`` in [0, 1],
    ``distance`` (squared distance to the chosen person's nearest face; inf when none),
    ``suggest`` (confidence >= the suggestion threshold) and ``auto`` (>= the auto-assign
    threshold). ``person_ids`` is set only where ``suggest`` is true."""

    person_ids: np.ndarray
    confidence: np.ndarray
    distance: np.ndarray
    suggest: np.ndarray
    auto: np.ndarray


_NONE: frozenset[int] = frozenset()


def recognize(
    gallery: np.ndarray,
    gallery_people: np.ndarray,
    queries: np.ndarray,
    *,
    forbidden: Mapping[int, frozenset[int]] | None = None,
    taken: Mapping[int, frozenset[int]] | None = None,
    query_photos: np.ndarray | None = None,
    suggest_confidence: float = SUGGEST_CONFIDENCE,
    auto_confidence: float = AUTO_CONFIDENCE,
    k: int = DEFAULT_K,
    centre: float = CENTRE,
    scale: float = SCALE,
) -> Recognition:
    """Best person for each query face among the confirmed ``gallery`` faces.

    ``gallery``: (M, 128) unit embeddings of confirmed faces, ``gallery_people`` their (M,)
    person ids (> 0). ``queries``: (Q, 128) unit embeddings. ``forbidden``: query index -> people
    it must never be. ``taken``: query index -> people already in that query's photo.
    ``query_photos``: (Q,) photo ids; queries sharing a photo never get the same person.
    ``centre``, ``scale``: the logistic of the model that made the embeddings (default: the
    fast model's; :func:`facenet_core.calibration.distance_scale` has each model's).
    """
    if not 0.0 <= suggest_confidence <= auto_confidence <= 1.0:
        raise ValueError("thresholds must satisfy 0 <= suggest <= auto <= 1")
    q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, np.shape(queries)[-1])
    g = np.ascontiguousarray(gallery, dtype=np.float32).reshape(-1, q.shape[1])
    people = np.asarray(gallery_people, dtype=np.int64)
    if people.shape != (len(g),):
        raise ValueError(f"gallery_people must have shape ({len(g)},), got {people.shape}")
    nq = len(q)
    out_person = np.full(nq, -1, dtype=np.int64)
    out_conf = np.zeros(nq, dtype=np.float64)
    out_dist = np.full(nq, np.inf, dtype=np.float64)
    forbidden = forbidden or {}
    taken = taken or {}
    if nq and len(g):
        ranked = _ranked_people(g, people, q, min(k, len(g)))
    else:
        ranked = [[] for _ in range(nq)]

    def choose(i: int, exclude: frozenset[int] | set[int]) -> tuple[int, float, float]:
        allowed = [(p, d) for p, d in ranked[i] if p not in exclude]
        if not allowed:
            return -1, 0.0, math.inf
        logits = [(centre - d) / scale for _, d in allowed]
        top = max(0.0, logits[0])  # the nearest person has the largest logit
        total = math.exp(-top) + sum(math.exp(z - top) for z in logits)
        conf = math.exp(logits[0] - top) / total
        return allowed[0][0], conf, allowed[0][1]

    base = [
        forbidden.get(i, _NONE) | taken.get(i, _NONE) if (i in forbidden or i in taken) else _NONE
        for i in range(nq)
    ]
    first = [choose(i, base[i]) for i in range(nq)]
    if query_photos is None:
        order: list[int] = list(range(nq))
        resolved = first
    else:
        photos = np.asarray(query_photos).tolist()
        # most confident first; each later face of a photo avoids the people already given
        order = sorted(range(nq), key=lambda i: (-first[i][1], i))
        claimed: dict[object, set[int]] = {}
        resolved = list(first)
        for i in order:
            used = claimed.setdefault(photos[i], set())
            person = first[i][0]
            if person in used:
                resolved[i] = choose(i, set(base[i]) | used)
                person = resolved[i][0]
            if person >= 0 and resolved[i][1] >= suggest_confidence:
                used.add(person)
    for i in order:
        person, conf, dist = resolved[i]
        out_conf[i] = conf
        out_dist[i] = dist
        if person >= 0 and conf >= suggest_confidence:
            out_person[i] = person
    suggest = out_person >= 0
    auto = suggest & (out_conf >= auto_confidence)
    return Recognition(out_person, out_conf, out_dist, suggest, auto)


def _ranked_people(
    g: np.ndarray, people: np.ndarray, q: np.ndarray, k: int
) -> list[list[tuple[int, float]]]:
    """Per query: (person, squared distance of their nearest gallery face) over the k nearest
    gallery faces, nearest person first (ties by person id)."""
    index = faiss.IndexFlatIP(g.shape[1])
    index.add(g)
    out: list[list[tuple[int, float]]] = []
    for s in range(0, len(q), 8192):
        sims, idx = index.search(q[s : s + 8192], k)
        dist = np.maximum(2.0 - 2.0 * sims.astype(np.float64), 0.0)
        for row_idx, row_d in zip(idx.tolist(), dist.tolist(), strict=True):
            seen: dict[int, float] = {}
            for j, d in zip(row_idx, row_d, strict=True):
                if j < 0:
                    continue
                p = int(people[j])
                if p not in seen or d < seen[p]:
                    seen[p] = d
            out.append(sorted(seen.items(), key=lambda item: (item[1], item[0])))
    return out
