"""Who appears in these photos? Agglomerative clustering of face embeddings, with the user's word.

The method (FaceNet section 1: "agglomerative clustering" on squared L2 distances):

1. A k-nearest-neighbour graph of the faces (:mod:`.knn`), keeping the edges shorter than the
   threshold. Only clusters joined by such an edge are ever compared, so the cost grows with
   ``N * k``, not ``N^2``.
2. Average linkage over that graph: repeatedly merge the two adjacent clusters whose *average*
   squared distance over all their cross pairs is smallest, while it is below ``threshold``.
   For unit vectors that average is exact from the clusters' sums and sizes:
   ``mean ||a - b||^2 = 2 - 2 (sum A . sum B) / (|A| |B|)``, so a merge costs O(dimensions) per
   neighbouring cluster. Average linkage, unlike single linkage, does not chain look-alikes
   together through a string of near pairs.
3. Cannot-link constraints, checked at every merge (they only ever grow as clusters merge, so a
   pair refused once stays refused): no two faces of one photo in a cluster; no cluster with
   faces the user confirmed for two different people; no cluster holding a face whose
   "not this person" set names the cluster's person. Faces the user confirmed for one person
   start out as one cluster (the user said they are the same person).

Labels: a cluster holding confirmed faces of person ``P`` is labelled ``P`` (> 0); every other
cluster of at least ``min_size`` faces gets a negative label, ``-1`` for the largest, then by
size and then smallest face index; faces in smaller clusters and faces left out by ``mask`` get
``0`` ("no cluster"). By default ``min_size`` is 2: a face like no other is not a person yet.
The result depends only on the input (ties are broken by face index).
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from facenet_core.people.knn import knn_graph
from facenet_core.progress import CancelToken, PhaseClock, Reporter, ignore_progress
from facenet_core.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_K = 20
"""Neighbours per face in the graph. On LFW (5,985 faces, threshold 0.15) k = 5, 10, 20 and 50
gave BCubed F1 0.976, 0.973, 0.973 and 0.973: the graph only needs each face's close
neighbours; 20 leaves room for faces whose nearest neighbours are refused (same photo)."""
REPORT_EVERY = 16384
"""Heap entries examined between two progress events (and cancel checks) while merging."""


@dataclass(frozen=True)
class ClusterInput:
    """What clustering needs to know about ``N`` faces.

    ``embeddings``: (N, 128) float32 unit vectors (decoded from the stored 128 bytes).
    ``photo_ids``: (N,) int64; two faces of one photo are never the same person.
    ``fixed``: (N,) int64 person id the user confirmed for the face, or -1.
    ``forbidden``: face index -> person ids the face must never join ("not this person").
    """

    embeddings: np.ndarray
    photo_ids: np.ndarray
    fixed: np.ndarray
    forbidden: Mapping[int, frozenset[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.embeddings)
        if np.ndim(self.embeddings) != 2:
            raise ValueError(f"embeddings must be (N, D), got shape {np.shape(self.embeddings)}")
        for name in ("photo_ids", "fixed"):
            if np.shape(getattr(self, name)) != (n,):
                raise ValueError(
                    f"{name} must have shape ({n},), got {np.shape(getattr(self, name))}"
                )
        for i in self.forbidden:
            if not 0 <= i < n:
                raise ValueError(f"forbidden names face {i}, outside 0..{n - 1}")

    @classmethod
    def unconstrained(
        cls, embeddings: np.ndarray, photo_ids: np.ndarray | None = None
    ) -> ClusterInput:
        """Faces with nothing confirmed or forbidden (each in its own photo unless given)."""
        n = len(embeddings)
        return cls(
            embeddings=np.asarray(embeddings, dtype=np.float32),
            photo_ids=np.arange(n, dtype=np.int64) if photo_ids is None else photo_ids,
            fixed=np.full(n, -1, dtype=np.int64),
            forbidden={},
        )


def cluster_mask(sizes: np.ndarray, scores: np.ndarray, settings: Settings) -> np.ndarray:
    """Faces worth clustering: shorter box side (px) at least ``cluster_min_face_px`` and
    detection score at least ``cluster_min_score``."""
    sizes = np.asarray(sizes, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    return (sizes >= settings.cluster_min_face_px) & (scores >= settings.cluster_min_score)


def cluster_faces(
    inp: ClusterInput,
    threshold: float,
    *,
    k: int = DEFAULT_K,
    min_size: int = 2,
    mask: np.ndarray | None = None,
    exact_knn: bool | None = None,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """(N,) int64 labels: the user's person ids, -1, -2, ... for new clusters, 0 for none.

    ``threshold``: largest average squared distance between two clusters that may merge
    (the "clustering strictness" setting). ``k``: neighbours per face in the graph.
    ``min_size``: smallest new cluster that gets a label (smaller ones get 0). ``mask``: faces
    to cluster (False: left out with label 0, e.g. tiny or doubtful faces; a confirmed face is
    always kept). ``exact_knn``: see :func:`~facenet_core.people.knn.knn_graph`.
    ``reporter`` gets the phases ``neighbours`` (faces searched of all) and ``merge`` (merges
    made so far; no total, since where merging stops is not known in advance); ``cancel``
    stops either phase by raising :class:`~facenet_core.progress.Cancelled` (nothing is
    written here, so nothing is lost).
    """
    cancel = cancel or CancelToken()
    x = np.ascontiguousarray(inp.embeddings, dtype=np.float32)
    n = len(x)
    fixed = np.asarray(inp.fixed, dtype=np.int64)
    photos = np.asarray(inp.photo_ids, dtype=np.int64)
    labels = np.zeros(n, dtype=np.int64)
    if n == 0:
        return labels
    keep = np.ones(n, dtype=bool) if mask is None else np.asarray(mask, dtype=bool).copy()
    if keep.shape != (n,):
        raise ValueError(f"mask must have shape ({n},), got {keep.shape}")
    keep |= fixed > 0
    rows = np.flatnonzero(keep)
    state = _Agglomeration(x[rows], photos[rows], fixed[rows], inp.forbidden, rows, threshold)
    if len(rows) > 1:
        clock = PhaseClock("cluster", "neighbours", "face")

        def searched(done: int, total: int) -> None:
            cancel.raise_if_cancelled()
            reporter(clock.event(done, total))

        state.add_graph(*knn_graph(x[rows], k, exact=exact_knn, on_block=searched))
    state.seed_people()
    state.run(reporter, cancel)
    local = state.labels(min_size)
    labels[rows] = local
    return labels


class _Agglomeration:
    """Graph-constrained average-linkage agglomeration with cannot-link constraints.

    Clusters are named by a member face (their "root"); ``root[i]`` is face ``i``'s cluster.
    Singletons find their graph neighbours in CSR arrays; a merged cluster keeps an array of
    neighbouring roots (possibly stale: mapped through ``root`` when used).

    The heap holds, for each cluster, its best allowed neighbour when it last changed:
    ``(linkage, cluster, neighbour, versions)``. An entry whose cluster has changed since is
    dropped (the change pushed a fresh one); an entry whose neighbour has changed is recomputed.
    For any two clusters, the one that changed last computed its best neighbour after both
    changes, so the smallest linkage in the graph always has an entry no larger than it on the
    heap: the merges are exactly those of greedy average linkage restricted to the graph.
    A refused pair stays refused (constraints only grow as clusters merge), so it is dropped
    from the neighbour list for good.
    """

    def __init__(
        self,
        x: np.ndarray,
        photos: np.ndarray,
        fixed: np.ndarray,
        forbidden: Mapping[int, frozenset[int]],
        rows: np.ndarray,
        threshold: float,
    ) -> None:
        n = len(x)
        self.n = n
        self.threshold = float(threshold)
        self.sums = x.astype(np.float32, copy=True)
        self.size = np.ones(n, dtype=np.int64)
        self.root = np.arange(n, dtype=np.int64)
        self.version = [0] * n  # -1: absorbed into another cluster
        self.person = [int(p) if p > 0 else 0 for p in fixed.tolist()]
        self.photo = photos.tolist()
        self.members: dict[int, list[int]] = {}
        self.photo_sets: dict[int, set[int]] = {}
        local = {int(r): i for i, r in enumerate(rows.tolist())} if forbidden else {}
        self.forbidden: dict[int, set[int]] = {}
        for face, people in forbidden.items():
            i = local.get(int(face))
            if i is not None and people:
                self.forbidden[i] = {int(p) for p in people}
        self.adj: dict[int, np.ndarray] = {}
        self.deduped: dict[int, int] = {}
        self.indptr = np.zeros(n + 1, dtype=np.int64)
        self.indices = np.zeros(0, dtype=np.int64)
        self.heap: list[tuple[float, int, int, int, int]] = []
        self.merges = 0
        self.x = x
        self.photo_of = np.asarray(photos, dtype=np.int64)
        self.confirmed = np.asarray(fixed, dtype=np.int64) > 0
        self.own_forbidden = {i: set(p) for i, p in self.forbidden.items()}
        self.ejected: set[int] = set()
        self.tick = 0  # versions are unique: a detached face never looks like its old cluster

    # -- setup ------------------------------------------------------------------------------------

    def add_graph(self, neighbours: np.ndarray, distances: np.ndarray) -> None:
        """Keep the undirected edges shorter than the threshold; each face's nearest one goes
        on the heap."""
        n = self.n
        ok = (neighbours >= 0) & (distances < self.threshold)
        i = np.broadcast_to(np.arange(n)[:, None], neighbours.shape)[ok]
        j = neighbours[ok]
        a, b = np.minimum(i, j), np.maximum(i, j)
        d = distances[ok]
        key = a * n + b
        order = np.lexsort((d, key))  # an edge found from both ends: keep its shorter length
        key, d = key[order], d[order]
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        key, d = key[first], d[first]
        a, b = key // n, key % n
        both = np.concatenate([a, b])
        other = np.concatenate([b, a])
        dd = np.concatenate([d, d])
        order = np.lexsort((other, dd, both))
        both, other, dd = both[order], other[order], dd[order]
        self.indices = other
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(both, minlength=n))])
        first = self.indptr[:-1][np.diff(self.indptr) > 0]
        self.heap = list(
            zip(
                dd[first].astype(np.float64).tolist(),
                both[first].tolist(),
                other[first].tolist(),
                [0] * len(first),
                [0] * len(first),
                strict=True,
            )
        )

    def seed_people(self) -> None:
        """Faces confirmed for one person start as one cluster."""
        groups: dict[int, list[int]] = {}
        for i, p in enumerate(self.person):
            if p > 0:
                groups.setdefault(p, []).append(i)
        for faces in groups.values():
            first = faces[0]
            for other in faces[1:]:
                first = self._merge(first, other)
        heapq.heapify(self.heap)
        for root in sorted({self._find(f[0]) for f in groups.values()}):
            self._push_best(root)

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, reporter: Reporter = ignore_progress, cancel: CancelToken | None = None) -> None:
        heap = self.heap
        heapq.heapify(heap)
        version = self.version
        clock = PhaseClock("cluster", "merge", "merge")
        reporter(clock.event(self.merges))
        pops = 0
        while heap:
            pops += 1
            if pops % REPORT_EVERY == 0:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                reporter(clock.event(self.merges))
            _, a, b, va, vb = heapq.heappop(heap)
            if version[a] != va:
                continue  # a changed (and pushed its new best then) or is gone
            if version[b] != vb or not self._allowed(a, b):
                self._push_best(a)
                continue
            self._push_best(self._merge(a, b, eject=True))
        reporter(clock.event(self.merges))

    def _find(self, i: int) -> int:
        return int(self.root[i])

    def _allowed(self, a: int, b: int) -> bool:
        pa, pb = self.person[a], self.person[b]
        if pa and pb and pa != pb:
            return False
        if pa and pa in self.forbidden.get(b, ()):
            return False
        if pb and pb in self.forbidden.get(a, ()):
            return False
        shared = self._shared_photos(a, b)
        return not shared or self._ejection(a, b, shared) is not None

    def _shared_photos(self, a: int, b: int) -> set[int]:
        """The photos both clusters have a face in (usually none)."""
        sa, sb = self.photo_sets.get(a), self.photo_sets.get(b)
        if sa is None and sb is None:
            return {self.photo[a]} if self.photo[a] == self.photo[b] else set()
        if sa is None:
            return {self.photo[a]} & sb  # type: ignore[operator]
        if sb is None:
            return {self.photo[b]} & sa
        small, large = (sa, sb) if len(sa) <= len(sb) else (sb, sa)
        return set() if small.isdisjoint(large) else small & large

    def _ejection(self, a: int, b: int, shared: set[int]) -> int | None:
        """The face to leave out so that clusters ``a`` and ``b`` may merge although both have
        a face in one photo, or None (they may not).

        Two faces of one photo are never one person, but one wrong face must not split a
        person in two either: when two clusters of at least two faces each share exactly one
        photo, they merge and the one of its two faces that fits the union worse (lower
        similarity to its summed embeddings) is left out, as a face of its own again, free to
        join another cluster. Never a confirmed face, never a face left out once before (so the
        loop ends), never for more than one shared photo."""
        if len(shared) != 1 or self.size[a] < 2 or self.size[b] < 2:
            return None
        photo = next(iter(shared))
        fa, fb = self._member_in_photo(a, photo), self._member_in_photo(b, photo)
        if fa < 0 or fb < 0:
            return None  # (confirmed faces of one person in one photo: the user said so)
        centre = self.sums[a] + self.sums[b]
        worse = fa if float(self.x[fa] @ centre) <= float(self.x[fb] @ centre) else fb
        if self.confirmed[worse] or worse in self.ejected:
            return None
        return worse

    def _member_in_photo(self, r: int, photo: int) -> int:
        members = np.asarray(self.members.get(r) or [r], dtype=np.int64)
        found = members[self.photo_of[members] == photo]
        return int(found[0]) if len(found) == 1 else -1

    def _merge(self, a: int, b: int, eject: bool = False) -> int:
        """Merge the clusters rooted at ``a`` and ``b``; returns the surviving root. With
        ``eject``, a face of a photo both have a face in is left out (see :meth:`_ejection`)."""
        a, b = self._find(a), self._find(b)
        if a == b:
            return a
        out = -1
        if eject:
            shared = self._shared_photos(a, b)
            if shared:
                found = self._ejection(a, b, shared)
                assert found is not None, "merging clusters that may not merge"
                out = found
        size = self.size
        keep, gone = (a, b) if (size[a], -a) >= (size[b], -b) else (b, a)
        size[keep] += size[gone]
        self.sums[keep] += self.sums[gone]
        moved = self.members.pop(gone, None) or [gone]
        self.root[moved] = keep
        self.members.setdefault(keep, [keep]).extend(moved)
        photos = self.photo_sets.pop(gone, None) or {self.photo[gone]}
        mine = self.photo_sets.get(keep)
        if mine is None:
            photos.add(self.photo[keep])
            self.photo_sets[keep] = photos
        else:
            mine |= photos
        self.person[keep] = self.person[keep] or self.person[gone]
        forb = self.forbidden.pop(gone, None)
        if forb:
            self.forbidden.setdefault(keep, set()).update(forb)
        self.tick += 1
        self.version[keep] = self.tick
        self.version[gone] = -1
        self.adj[keep] = np.concatenate([self._neighbour_ids(keep), self._neighbour_ids(gone)])
        self.adj.pop(gone, None)
        self.deduped.pop(gone, None)
        self.merges += 1
        if out >= 0:
            keep = self._detach(keep, out)
            self._push_best(out)
        return keep

    def _detach(self, r: int, e: int) -> int:
        """Take face ``e`` out of cluster ``r`` as a face of its own; returns the cluster's
        root (another member when ``e`` was the root)."""
        members = self.members[r]
        members.remove(e)
        self.sums[r] -= self.x[e]
        self.size[r] -= 1
        self.tick += 1
        if e == r:  # the cluster is named by another member from now on
            new = members[0]
            self.root[members] = new
            self.sums[new], self.size[new] = self.sums[r], self.size[r]
            self.members[new] = self.members.pop(r)
            self.photo_sets[new] = self.photo_sets.pop(r)
            self.person[new] = self.person[r]
            forb = self.forbidden.pop(r, None)
            if forb:
                self.forbidden[new] = forb
            self.adj[new] = self._neighbour_ids(r)
            self.adj.pop(r, None)
            self.deduped.pop(r, None)
            r = new
        self.version[r] = self.tick
        self.tick += 1
        self.root[e] = e
        self.sums[e], self.size[e] = self.x[e], 1
        self.members.pop(e, None)
        self.photo_sets.pop(e, None)
        self.person[e] = 0
        self.forbidden.pop(e, None)
        if e in self.own_forbidden:
            self.forbidden[e] = set(self.own_forbidden[e])
        self.adj.pop(e, None)
        self.deduped.pop(e, None)
        self.version[e] = self.tick
        self.ejected.add(e)
        return r

    def _neighbour_ids(self, r: int) -> np.ndarray:
        nb = self.adj.get(r)
        if nb is not None:
            return nb
        return self.indices[self.indptr[r] : self.indptr[r + 1]]

    def _push_best(self, c: int) -> None:
        """Push ``c``'s allowed neighbour of least linkage below the threshold, if any."""
        nb = self.root[self._neighbour_ids(c)]
        nb = nb[nb != c]
        if c in self.adj:
            # neighbour lists grow by concatenation; deduplicate once they have doubled
            if len(nb) > 2 * self.deduped.get(c, 0) + 64:
                nb = np.unique(nb)
                self.deduped[c] = len(nb)
            self.adj[c] = nb
        if len(nb) == 0:
            return
        size_c = int(self.size[c])
        link = 2.0 - 2.0 * (self.sums[nb] @ self.sums[c]).astype(np.float64) / (
            self.size[nb] * size_c
        )
        close = np.flatnonzero(link < self.threshold)
        if len(close) == 0:
            return
        if len(close) > 1:
            close = close[np.lexsort((nb[close], link[close]))]
        refused: list[int] = []
        for j in close.tolist():
            other = int(nb[j])
            if self._allowed(c, other):
                heapq.heappush(
                    self.heap,
                    (float(link[j]), c, other, self.version[c], self.version[other]),
                )
                break
            refused.append(other)
        if refused:
            self.adj[c] = nb[~np.isin(nb, refused)]

    # -- result -----------------------------------------------------------------------------------

    def labels(self, min_size: int) -> np.ndarray:
        """Person ids for clusters with confirmed faces, -1, -2, ... for the other clusters of
        at least ``min_size`` faces (largest first, then by smallest face index), else 0."""
        n = self.n
        roots = self.root
        sizes = np.bincount(roots, minlength=n)
        person = np.asarray(self.person, dtype=np.int64)
        first = np.full(n, n, dtype=np.int64)
        np.minimum.at(first, roots, np.arange(n))
        new = np.flatnonzero((sizes >= max(1, min_size)) & (person == 0))
        order = np.lexsort((first[new], -sizes[new]))
        label_of_root = person.copy()
        label_of_root[new[order]] = -np.arange(1, len(new) + 1)
        return label_of_root[roots]
