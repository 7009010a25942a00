"""Re-clustering's decisions, as plain values: faces in, label writes out (no database)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class _Faces:
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
class _Write:
    face_id: int
    old_person: int  # -1: none
    old_kind: str
    new_person: int  # -1: none; <= -2: the new person of that cluster key
    new_kind: str
    confidence: float | None


def _photo_guard(photo_ids: np.ndarray, persons: np.ndarray, priority: np.ndarray) -> np.ndarray:
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
