"""Re-clustering's decisions, as plain values: faces in, label writes out.

:func:`plan_recluster` holds every rule of the user's word that re-clustering keeps (listed in
:mod:`.jobs`); the job only reads its inputs (:mod:`.labels`) and writes its plan. With no
database here, each rule is tested on small hand-made arrays, and the clustering can be tried on
a copy of a library's faces without touching the library.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from facenet_core.people.cluster import ClusterInput, cluster_faces, cluster_mask
from facenet_core.progress import CancelToken, Reporter, ignore_progress
from facenet_core.settings import Settings
from facenet_core.store.models import Assignment

NONE, AUTO, SUGGESTED, CONFIRMED = (
    Assignment.NONE.value,
    Assignment.AUTO.value,
    Assignment.SUGGESTED.value,
    Assignment.CONFIRMED.value,
)


@dataclass
class FaceRows:
    """Faces with a current embedding, as arrays (one row per face, by face id)."""

    ids: np.ndarray
    photo_ids: np.ndarray
    person_ids: np.ndarray  # -1: none
    kinds: np.ndarray  # object array of assignment strings
    confidence: np.ndarray  # nan: none
    ignored: np.ndarray
    sizes: np.ndarray
    scores: np.ndarray
    embeddings: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True)
class LabelWrite:
    face_id: int
    old_person: int  # -1: none
    old_kind: str
    new_person: int  # -1: none; <= -2: the new person of that cluster key
    new_kind: str
    confidence: float | None


def photo_guard(photo_ids: np.ndarray, persons: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Indices to unassign so that no person (``persons >= 0``) has two faces of one photo: in
    each (photo, person) the face of highest ``priority`` stays, and every face of priority 2
    (confirmed: the user said so) stays too."""
    assigned = np.flatnonzero(persons >= 0)
    if not len(assigned):
        return np.zeros(0, np.int64)
    order = np.lexsort((assigned, -priority[assigned], persons[assigned], photo_ids[assigned]))
    idx = assigned[order]
    drop = []
    prev: tuple[int, int] | None = None
    for i in idx.tolist():
        key = (int(photo_ids[i]), int(persons[i]))
        if key != prev:
            prev = key
        elif priority[i] < 2:
            drop.append(i)
    return np.asarray(drop, np.int64)


PersonRow = tuple[str | None, bool, int]
"""A person as planning sees it: (name or None, hidden, number of confirmed faces)."""


@dataclass(frozen=True, slots=True)
class ReclusterPlan:
    """What re-clustering decided: the automatic labels to write (each to land only if its face
    is still as read) among ``considered`` faces (pending suggestions are left out)."""

    writes: list[LabelWrite]
    considered: int


def plan_recluster(
    faces: FaceRows,
    rejected: Mapping[int, frozenset[int]],
    people: Mapping[int, PersonRow],
    settings: Settings,
    *,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> ReclusterPlan:
    """Cluster ``faces`` again, keeping every rule of the user's word (:mod:`.jobs` lists them),
    and say which automatic labels change. Plain values in, a plan out: no database, so every
    rule is tested on hand-made arrays. ``faces``: the faces with an embedding, ignored ones
    left out; ``rejected``: face id -> people it was rejected from; ``people``: every person;
    ``settings``: ``cluster_threshold``, ``cluster_min_face_px``, ``cluster_min_score``. Raises
    :class:`~facenet_core.progress.Cancelled` when ``cancel`` is set while clustering."""
    # who is fixed: confirmed faces; and the faces of named or hidden people that have no
    # confirmed face (so that the algorithm can never empty them)
    anchored_people = {
        pid
        for pid, (name, hidden, confirmed) in people.items()
        if (name or hidden) and not confirmed
    }
    kinds = faces.kinds
    confirmed = kinds == CONFIRMED
    anchored = (kinds == AUTO) & np.isin(faces.person_ids, list(anchored_people))
    suggested = kinds == SUGGESTED
    # suggestions are pending questions: left out of clustering, left where they are
    take = ~suggested
    index = np.flatnonzero(take)
    fixed = np.where(confirmed | anchored, faces.person_ids, -1)[index]
    position = {int(f): i for i, f in enumerate(faces.ids[index].tolist())}
    forbidden = {position[f]: people_ids for f, people_ids in rejected.items() if f in position}
    mask = cluster_mask(faces.sizes[index], faces.scores[index], settings)
    labels = cluster_faces(
        ClusterInput(
            embeddings=faces.embeddings[index],
            photo_ids=faces.photo_ids[index],
            fixed=fixed,
            forbidden=forbidden,
        ),
        settings.cluster_threshold,
        mask=mask,
        reporter=reporter,
        cancel=cancel,
    )

    # new clusters take over the unnamed people they overlap most
    old_person = faces.person_ids[index]
    free_people = {
        pid for pid, (_, _, n_confirmed) in people.items() if n_confirmed == 0
    } - anchored_people
    overlap: dict[tuple[int, int], int] = defaultdict(int)
    for label, person in zip(labels.tolist(), old_person.tolist(), strict=True):
        if label < 0 and person in free_people:
            overlap[(label, person)] += 1
    mapping: dict[int, int] = {}
    taken_people: set[int] = set()
    for (label, person), _n in sorted(
        overlap.items(), key=lambda kv: (-kv[1], -kv[0][0], kv[0][1])
    ):
        if label not in mapping and person not in taken_people:
            mapping[label] = person
            taken_people.add(person)
    next_key = -2
    for label in sorted({int(x) for x in labels.tolist() if x < 0}, reverse=True):
        if label not in mapping:
            mapping[label] = next_key  # a new person, made at write time
            next_key -= 1
    target = np.asarray(
        [lab if lab > 0 else (mapping[lab] if lab < 0 else -1) for lab in labels.tolist()],
        np.int64,
    )
    clustered = mask | (fixed > 0)
    target = np.where(clustered, target, old_person)  # faces not grouped keep what they have
    # never a person the face was rejected from
    for i, f in enumerate(faces.ids[index].tolist()):
        no = rejected.get(f)
        if no and target[i] in no:
            target[i] = -1
    # never two faces of one photo in one person: the whole library's view (suggestions too)
    full_person = faces.person_ids.copy()
    full_person[index] = target  # new people (keys <= -2) are whole new clusters: no clash
    priority = np.where(confirmed, 2, np.where(suggested, 1, 0))
    for i in photo_guard(faces.photo_ids, full_person, priority).tolist():
        if not confirmed[i] and not suggested[i]:
            local = position.get(int(faces.ids[i]))
            if local is not None:
                target[local] = -1

    writes: list[LabelWrite] = []
    for i, (f, old, kind, new) in enumerate(
        zip(
            faces.ids[index].tolist(),
            old_person.tolist(),
            kinds[index].tolist(),
            target.tolist(),
            strict=True,
        )
    ):
        if kind == CONFIRMED or anchored[index[i]]:
            continue
        new_kind = AUTO if new != -1 else NONE
        if (old, kind) != (new, new_kind):
            conf = faces.confidence[index[i]]
            keep_conf = old == new and not np.isnan(conf)
            writes.append(
                LabelWrite(f, old, kind, new, new_kind, float(conf) if keep_conf else None)
            )
    return ReclusterPlan(writes, len(index))
