"""k-nearest-neighbour graphs of unit embeddings (squared L2 distances), for clustering at scale.

Clustering never compares every face with every other: it works on the graph of each face's
``k`` nearest neighbours. Small sets (``N <= EXACT_LIMIT``) get the exact graph from a blocked
brute-force search (faiss ``IndexFlatIP``); larger ones an inverted-file index
(faiss ``IndexIVFFlat``: k-means cells, each query searched in its ``nprobe`` nearest cells),
which finds almost all true neighbours at a small fraction of the cost (measured recall and speed
against hnswlib and exact search: docs/benchmarks/2026-12-06-neighbour-graph.md).

Both indexes keep the full vectors, so the distances returned are exact (from faiss's inner
products), and neighbours are ordered by (distance, index). The inverted file is deterministic
for the same input: k-means starts from a fixed seed and every search is independent of the
others.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import faiss
import numpy as np

log = logging.getLogger(__name__)

EXACT_LIMIT = 20_000
"""Up to this many faces the graph is exact (brute force takes a few seconds at this size)."""

NPROBE = 4
"""Cells searched per query (of sqrt(N)): measured to give the same clusters as exact search."""

BLOCK = 16_384
"""Queries per search call: bounds the memory of the distance blocks."""


def _as_unit_f32(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array, got shape {x.shape}")
    return x


def ivf_index(x: np.ndarray, *, nprobe: int | None = None, seed: int = 1234) -> faiss.Index:
    """An inverted-file index over ``x`` (inner product), trained on a fixed sample."""
    n, dim = x.shape
    nlist = max(16, min(65_536, int(math.sqrt(n))))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    sample = x if n <= 64 * nlist else x[np.sort(rng.choice(n, 64 * nlist, replace=False))]
    index.cp.seed = seed
    index.cp.niter = 10
    index.train(sample)
    index.add(x)
    index.nprobe = nprobe or NPROBE
    return index


def knn_graph(
    embeddings: np.ndarray,
    k: int,
    *,
    exact: bool | None = None,
    nprobe: int | None = None,
    on_block: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` nearest other rows: ``(neighbours, distances)``, both ``(N, k)``.

    ``neighbours`` are int64 row indices (-1 where fewer than ``k`` were found, e.g. ``N <= k``),
    ``distances`` the exact squared L2 distances (``inf`` for -1), each row sorted by (distance,
    index). ``exact``: force brute force (True) or the inverted file (False); None picks exact
    up to :data:`EXACT_LIMIT` rows. ``on_block(done, total)`` is called after each block of
    rows is searched (progress; it may raise to stop the search, e.g. ``Cancelled``).
    """
    x = _as_unit_f32(embeddings)
    n = len(x)
    k = int(k)
    neighbours = np.full((n, k), -1, dtype=np.int64)
    distances = np.full((n, k), np.inf, dtype=np.float32)
    if n <= 1 or k <= 0:
        return neighbours, distances
    if exact is None:
        exact = n <= EXACT_LIMIT
    if exact:
        index: faiss.Index = faiss.IndexFlatIP(x.shape[1])
        index.add(x)
    else:
        index = ivf_index(x, nprobe=nprobe)
    want = min(k + 1, n)
    for s in range(0, n, BLOCK):
        q = x[s : s + BLOCK]
        sims, found = index.search(q, want)
        rows = np.arange(s, s + len(q))[:, None]
        found = found.astype(np.int64)
        ok = (found >= 0) & (found != rows)  # a face is not its own neighbour
        d = np.where(ok, np.maximum(2.0 - 2.0 * sims, 0.0), np.inf).astype(np.float32)
        big = np.where(ok, found, np.iinfo(np.int64).max)
        order = np.lexsort((big, d), axis=1)[:, :k]
        kk = order.shape[1]
        neighbours[s : s + len(q), :kk] = np.take_along_axis(np.where(ok, found, -1), order, 1)
        distances[s : s + len(q), :kk] = np.take_along_axis(d, order, 1)
        if on_block is not None:
            on_block(s + len(q), n)
    return neighbours, distances
