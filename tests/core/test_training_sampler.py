"""P x K batches: shape, coverage, negatives-only faces, determinism."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from facenet_core.training.sampler import PKSampler

# 7 trained people with 3..60 faces, a person with one face, two negative-only people (< 0)
SIZES = {0: 60, 1: 12, 2: 8, 3: 5, 4: 3, 5: 30, 6: 9, 7: 1}
LABELS = np.array(
    [p for p, n in SIZES.items() for _ in range(n)] + [-1] * 4 + [-2] * 2, dtype=np.int64
)


def make(**kw) -> PKSampler:
    options = {"faces_per_person": 8, "batch_size": 40, "extra": 6, "epochs": 3, "seed": 1}
    return PKSampler(LABELS, **(options | kw))


def test_batches_are_p_people_by_k_faces_plus_extra_negatives() -> None:
    s = make()
    assert len(s.people) == 7  # person 7 (one face) and negative-only people never anchor
    for step in range(s.total_steps):
        b = s.batch(step)
        assert len(set(b.indices.tolist())) == len(b.indices)  # no face twice
        counts = Counter(LABELS[b.indices[: len(b.indices) - 6]].tolist())
        people = [p for p in counts]
        assert len(people) == b.people >= 2
        assert all(p >= 0 for p in people)
        for p in people:
            assert counts[p] == min(8, SIZES[p])  # K faces, or all of a smaller person's
        assert sum(counts.values()) <= 40
        extra = LABELS[b.indices[-6:]]
        assert not set(extra.tolist()) & set(people)  # extras are other people's faces
        assert b.flips.dtype == bool and len(b.flips) == len(b.indices)


def test_an_epoch_visits_every_person_once() -> None:
    s = make()
    for epoch in range(3):
        seen: list[int] = []
        first = sum(s.steps_per_epoch[:epoch])
        for step in range(first, first + s.steps_per_epoch[epoch]):
            b = s.batch(step)
            assert s.position(step) == (epoch, step - first) and b.epoch == epoch
            labels = LABELS[b.indices[: len(b.indices) - 6]]
            seen += sorted(set(labels.tolist()))
        assert sorted(seen) == s.people


def test_negative_only_faces_appear_only_as_extras() -> None:
    s = make(extra=20, epochs=5)
    extras = Counter()
    for step in range(s.total_steps):
        b = s.batch(step)
        core = LABELS[b.indices[: len(b.indices) - 20]]
        assert (core >= 0).all()
        extras.update(LABELS[b.indices[-20:]].tolist())
    assert extras[-1] > 0 and extras[-2] > 0 and extras[7] > 0


def test_same_seed_same_batches_in_any_order_other_seed_differs() -> None:
    a, b, c = make(), make(), make(seed=2)
    order = list(range(a.total_steps))
    forwards = [a.batch(i) for i in order]
    backwards = [b.batch(i) for i in reversed(order)][::-1]
    for x, y in zip(forwards, backwards, strict=True):
        assert np.array_equal(x.indices, y.indices) and np.array_equal(x.flips, y.flips)
    assert any(not np.array_equal(x.indices, c.batch(i).indices) for i, x in enumerate(forwards))


def test_flip_off_and_large_batches() -> None:
    s = make(flip=False, batch_size=1800, extra=0, epochs=1)
    assert s.total_steps == 1  # everyone fits in one paper-sized batch
    b = s.batch(0)
    assert not b.flips.any() and b.people == 7
    with pytest.raises(IndexError):
        s.batch(1)


def test_needs_two_people_with_pairs() -> None:
    with pytest.raises(ValueError, match="two people"):
        PKSampler(np.array([0, 0, 0, 1, -1, -1]))
