"""P x K mini-batches: P people with up to K faces each, plus randomly sampled negative faces.

FaceNet section 3.2: "we sample the training data such that around 40 faces are selected per
identity per mini-batch. Additionally, randomly sampled negative faces are added to each
mini-batch." Here:

- an **epoch** visits every trainable person once, in an order shuffled per epoch; its people are
  packed into batches of at most ``batch_size`` faces (at least two people per batch, so every
  anchor has negatives of another person);
- each person of a batch brings ``min(K, faces)`` faces drawn without replacement;
- ``extra`` faces of people *not* in the batch are added as negatives (negative-only people, i.e.
  those with too few faces to form pairs, appear only this way);
- with ``flip``, each face of a batch is mirrored with probability 1/2 (augmentation).

Every batch is a pure function of ``(seed, step)``: the schedule needs no state to resume, and the
"sampler position" of a checkpoint is just the step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_PEOPLE, _FACES, _EXTRA, _FLIP = 0, 1, 2, 3  # independent random streams


@dataclass(frozen=True)
class Batch:
    """Face indices of one mini-batch, whether each is mirrored, and where it sits."""

    indices: np.ndarray
    flips: np.ndarray
    epoch: int
    step: int
    people: int


class PKSampler:
    """Deterministic P x K batches over ``labels`` (one per face; < 0: negative-only)."""

    def __init__(
        self,
        labels: np.ndarray,
        *,
        faces_per_person: int = 40,
        batch_size: int = 1800,
        extra: int = 0,
        epochs: int = 1,
        flip: bool = True,
        seed: int = 0,
    ) -> None:
        self.labels = np.asarray(labels)
        self.k = faces_per_person
        self.batch_size = batch_size
        self.extra = extra
        self.flip = flip
        self.seed = seed
        by_person: dict[int, list[int]] = {}
        for i, label in enumerate(self.labels.tolist()):
            by_person.setdefault(int(label), []).append(i)
        self.people = sorted(p for p, faces in by_person.items() if p >= 0 and len(faces) >= 2)
        if len(self.people) < 2:
            raise ValueError("P x K batches need at least two people with two or more faces")
        self.faces = {p: np.array(by_person[p], dtype=np.int64) for p in self.people}
        self.epochs = epochs
        self._schedule = [self._epoch(e) for e in range(epochs)]
        self.steps_per_epoch = [len(s) for s in self._schedule]
        self.total_steps = sum(self.steps_per_epoch)

    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, *key])

    def _epoch(self, epoch: int) -> list[list[int]]:
        """The people of each batch of ``epoch``: the shuffled order, packed greedily."""
        order = [self.people[i] for i in self._rng(_PEOPLE, epoch).permutation(len(self.people))]
        batches: list[list[int]] = []
        current: list[int] = []
        size = 0
        for person in order:
            n = min(self.k, len(self.faces[person]))
            if len(current) >= 2 and size + n > self.batch_size:
                batches.append(current)
                current, size = [], 0
            current.append(person)
            size += n
        if len(current) == 1 and batches:  # a lone person has no negatives: join the last batch
            batches[-1].extend(current)
        elif current:
            batches.append(current)
        if len(batches[-1]) < 2:  # only when the epoch has a single person: cannot happen here
            raise AssertionError("a batch with fewer than two people")
        return batches

    def position(self, step: int) -> tuple[int, int]:
        """(epoch, batch within the epoch) of a global step."""
        for epoch, count in enumerate(self.steps_per_epoch):
            if step < count:
                return epoch, step
            step -= count
        raise IndexError("step beyond the last epoch")

    def batch(self, step: int) -> Batch:
        """The mini-batch of global ``step`` (0-based)."""
        epoch, j = self.position(step)
        people = self._schedule[epoch][j]
        parts = []
        for person in people:
            faces = self.faces[person]
            n = min(self.k, len(faces))
            parts.append(self._rng(_FACES, step, person).choice(faces, n, replace=False))
        indices = np.concatenate(parts)
        if self.extra > 0:
            taken = np.isin(self.labels, people)
            pool = np.flatnonzero(~taken)
            if len(pool):
                count = min(self.extra, len(pool))
                extra = self._rng(_EXTRA, step).choice(pool, count, replace=False)
                indices = np.concatenate([indices, np.sort(extra)])
        if self.flip:
            flips = self._rng(_FLIP, step).random(len(indices)) < 0.5
        else:
            flips = np.zeros(len(indices), dtype=bool)
        return Batch(indices=indices, flips=flips, epoch=epoch, step=step, people=len(people))

    def __len__(self) -> int:
        return self.total_steps
