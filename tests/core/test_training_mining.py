"""Triplet selection and loss: exactly the paper's rules (FaceNet Eq. 1-3, section 3.2)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from pytorch_metric_learning.miners import TripletMarginMiner

from facenet_core.training.loss import TripletLoss, squared_distance
from facenet_core.training.mining import mine_triplets

ALPHA = 0.2


def circle(degrees: list[float]) -> torch.Tensor:
    """Unit vectors in the plane at these angles (squared distance 2 - 2 cos(difference))."""
    r = np.radians(degrees)
    return torch.tensor(np.stack([np.cos(r), np.sin(r)], axis=1), dtype=torch.float64)


def sqd(a: float, b: float) -> float:
    return 2.0 - 2.0 * math.cos(math.radians(a - b))


# A0, A1 (person 0), B0, B1 (person 1), C (person 2), at these angles:
ANGLES = [0.0, 20.0, 30.0, 65.0, -25.0]
LABELS = [0, 0, 1, 1, 2]


def brute_force(dist: np.ndarray, labels: list[int], fallback: str) -> set[tuple[int, int, int]]:
    """The paper's rules, literally: every ordered anchor-positive pair; the semi-hard negative
    of smallest distance (lowest index on ties); else the fallback's negative."""
    chosen = set()
    n = len(labels)
    for a, p in itertools.permutations(range(n), 2):
        if labels[a] < 0 or labels[a] != labels[p]:
            continue
        d_ap = dist[a, p]
        negatives = [x for x in range(n) if labels[x] != labels[a]]
        semi = [x for x in negatives if d_ap < dist[a, x] < d_ap + ALPHA]
        if semi:
            chosen.add((a, p, min(semi, key=lambda x: (dist[a, x], x))))
            continue
        hard = [x for x in negatives if dist[a, x] <= d_ap]
        if not hard or fallback == "skip":
            continue
        if fallback == "hard":
            chosen.add((a, p, max(hard, key=lambda x: (dist[a, x], -x))))
        else:
            chosen.add((a, p, min(negatives, key=lambda x: (dist[a, x], x))))
    return chosen


def as_set(mined) -> set[tuple[int, int, int]]:
    return set(zip(*(t.tolist() for t in mined.as_tuple()), strict=True))


def test_hand_built_batch_gets_exactly_the_paper_triplets() -> None:
    emb = circle(ANGLES)
    dist = squared_distance()(emb)
    labels = torch.tensor(LABELS)
    # (A0, A1): d_ap = 0.121; B0 at 0.268 and C at 0.187 are both semi-hard: C is nearer.
    # (A1, A0): B0 at 0.030 is hard, B1 and C are beyond the margin: no semi-hard negative.
    # (B0, B1): d_ap = 0.362; A0 (0.268) and A1 (0.030) are hard, C (0.853) is easy.
    # (B1, B0): every negative is beyond d_ap + alpha: no triplet under any rule.
    assert sqd(0, 20) < sqd(0, -25) < sqd(0, 30) < sqd(0, 20) + ALPHA
    assert sqd(65, 20) > sqd(65, 30) + ALPHA
    expected = {
        "skip": {(0, 1, 4)},
        "hard": {(0, 1, 4), (1, 0, 2), (2, 3, 0)},
        "hardest": {(0, 1, 4), (1, 0, 2), (2, 3, 1)},
    }
    for fallback, triplets in expected.items():
        mined = mine_triplets(dist, labels, ALPHA, fallback)  # type: ignore[arg-type]
        assert as_set(mined) == triplets, fallback
        assert mined.pairs == 4
        chosen = zip(*mined.as_tuple(), strict=True)
        assert mined.semihard.tolist() == [t == (0, 1, 4) for t in chosen]
    skip = mine_triplets(dist, labels, ALPHA, "skip")
    assert skip.semihard_fraction == pytest.approx(0.25)
    assert skip.active_fraction == pytest.approx(0.25)
    assert skip.mean_ap == pytest.approx((2 * sqd(0, 20) + 2 * sqd(30, 65)) / 4)


def test_negative_only_faces_are_never_anchors_or_positives() -> None:
    # two faces of a negative-only person (label -1) sit right next to person 0's faces
    emb = circle([0.0, 20.0, 5.0, 6.0, 90.0])
    labels = torch.tensor([0, 0, -1, -1, 1])
    mined = mine_triplets(squared_distance()(emb), labels, ALPHA, "hardest")
    assert mined.pairs == 2  # only (0, 1) and (1, 0)
    assert set(mined.anchor.tolist()) <= {0, 1} and set(mined.positive.tolist()) <= {0, 1}
    assert as_set(mined) == brute_force(
        squared_distance()(emb).numpy(), [0, 0, -1, -1, 1], "hardest"
    )
    assert set(mined.negative.tolist()) <= {2, 3}


@pytest.mark.parametrize("fallback", ["skip", "hard", "hardest"])
def test_random_batches_match_brute_force(fallback: str) -> None:
    rng = np.random.default_rng(7)
    for trial in range(30):
        n = int(rng.integers(6, 30))
        labels = rng.integers(-2, 5, size=n).tolist()
        # clustered embeddings in 8-D, so every kind of negative occurs
        centres = rng.normal(size=(8, 8))
        x = centres[np.array(labels) + 2] * 0.4 + rng.normal(size=(n, 8))
        emb = torch.nn.functional.normalize(torch.tensor(x), dim=1)
        dist = squared_distance()(emb)
        mined = mine_triplets(dist, torch.tensor(labels), ALPHA, fallback)  # type: ignore[arg-type]
        assert as_set(mined) == brute_force(dist.numpy(), labels, fallback), trial
        assert len(as_set(mined)) == len(mined)  # no duplicates


def test_semihard_choice_agrees_with_pytorch_metric_learning() -> None:
    """Every chosen triplet is in PML's semi-hard set, and each pair's negative is the nearest of
    that pair's semi-hard candidates there (PML returns all of them)."""
    rng = np.random.default_rng(3)
    labels = torch.tensor(rng.integers(0, 6, size=48))
    centres = torch.tensor(rng.normal(size=(6, 16)))
    noise = torch.tensor(rng.normal(size=(48, 16)))
    emb = torch.nn.functional.normalize(centres[labels] + 0.45 * noise, dim=1)
    dist = squared_distance()(emb)
    ours = as_set(mine_triplets(dist, labels, ALPHA, "skip"))
    pml = TripletMarginMiner(margin=ALPHA, type_of_triplets="semihard", distance=squared_distance())
    theirs = set(zip(*(t.tolist() for t in pml(emb, labels)), strict=True))
    assert ours and ours <= theirs
    best: dict[tuple[int, int], int] = {}
    for a, p, n in sorted(theirs):
        if (a, p) not in best or dist[a, n] < dist[a, best[(a, p)]]:
            best[(a, p)] = n
    assert ours == {(a, p, n) for (a, p), n in best.items()}


def test_loss_matches_a_hand_computation() -> None:
    emb = circle(ANGLES).requires_grad_(True)
    labels = torch.tensor(LABELS)
    loss_fn = TripletLoss(ALPHA)
    for fallback in ("skip", "hard", "hardest"):
        mined = mine_triplets(loss_fn.distances(emb), labels, ALPHA, fallback)  # type: ignore[arg-type]
        by_hand = [
            max(0.0, sqd(ANGLES[a], ANGLES[p]) - sqd(ANGLES[a], ANGLES[n]) + ALPHA)
            for a, p, n in zip(*(t.tolist() for t in mined.as_tuple()), strict=True)
        ]
        loss = loss_fn(emb, mined)
        assert float(loss.detach()) == pytest.approx(sum(by_hand) / len(by_hand), abs=1e-9), (
            fallback
        )
    # skip: the one triplet (A0, A1, C): 0.1206 - 0.1874 + 0.2
    mined = mine_triplets(loss_fn.distances(emb), labels, ALPHA, "skip")
    loss = loss_fn(emb, mined)
    assert float(loss) == pytest.approx(sqd(0, 20) - sqd(0, -25) + 0.2, abs=1e-9)
    loss.backward()
    assert emb.grad is not None and emb.grad[[0, 1, 4]].abs().sum() > 0
    assert emb.grad[[2, 3]].abs().sum() == 0  # faces in no triplet get no gradient


def test_no_triplets_gives_a_zero_loss_with_a_graph() -> None:
    emb = circle([0.0, 1.0, 90.0, 91.0]).requires_grad_(True)
    loss_fn = TripletLoss(ALPHA)
    mined = mine_triplets(loss_fn.distances(emb), torch.tensor([0, 0, 1, 1]), ALPHA, "skip")
    assert len(mined) == 0 and mined.pairs == 4
    loss = loss_fn(emb, mined)
    assert float(loss) == 0.0
    loss.backward()
