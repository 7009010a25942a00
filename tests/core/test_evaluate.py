"""Verification metrics on hand-made distances, where the right answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from facenet_core.evaluation.verification import (
    accuracy_at,
    best_threshold,
    far_threshold,
    kfold_report,
    read_pairs,
    val_far,
)


def test_best_threshold_separates_perfectly_separable_pairs() -> None:
    dist = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    same = np.array([True, True, True, False, False])
    t = best_threshold(dist, same)
    assert 0.3 < t < 0.8
    assert t == pytest.approx(0.55)
    assert accuracy_at(dist, same, t) == 1.0


def test_best_threshold_with_overlap_maximises_accuracy() -> None:
    dist = np.array([0.1, 0.4, 0.5, 0.6, 0.9, 1.0])
    same = np.array([True, False, True, True, False, False])
    t = best_threshold(dist, same)
    assert accuracy_at(dist, same, t) == pytest.approx(5 / 6)


def test_ties_are_never_split() -> None:
    dist = np.array([0.5, 0.5, 0.5, 0.5])
    same = np.array([True, True, True, False])
    t = best_threshold(dist, same)
    assert accuracy_at(dist, same, t) == 0.75


def test_far_threshold_allows_at_most_the_rate() -> None:
    rng = np.random.default_rng(1)
    diff = rng.uniform(0.5, 2.0, 3000)
    dist = np.concatenate([rng.uniform(0.0, 1.0, 3000), diff])
    same = np.concatenate([np.ones(3000, bool), np.zeros(3000, bool)])
    t = far_threshold(dist, same, 1e-3)
    _, far = val_far(dist, same, t)
    assert far <= 1e-3
    assert np.sum(diff <= t) == 3  # floor(1e-3 * 3000) false accepts, and not one more
    assert t < np.sort(diff)[3]


def test_kfold_uses_thresholds_from_the_other_folds() -> None:
    # fold 0's pairs alone would pick a very different threshold from the rest
    dist = np.array([0.1, 0.2, 0.3, 0.4] * 3 + [0.5, 0.6, 0.7, 0.8])
    same = np.array([True, True, False, False] * 3 + [True, True, False, False])
    folds = np.repeat(np.arange(4), 4)
    r = kfold_report(dist, same, folds)
    assert len(r.thresholds) == 4
    assert r.thresholds[3] == pytest.approx(0.25)  # learnt on folds 0-2
    assert r.fold_accuracies[3] == 0.5  # and it fails fold 3, as it should
    assert r.accuracy == pytest.approx((1 + 1 + 1 + 0.5) / 4)
    assert r.accuracy_sem > 0


def test_read_pairs_official_format(tmp_path) -> None:
    f = tmp_path / "pairs.txt"
    f.write_text("2\t1\nAlice\t1\t2\nAlice\t1\tBob\t3\nCarol\t2\t4\nCarol\t1\tDan\t1\n")
    pairs = read_pairs(f)
    assert [(p.same, p.fold) for p in pairs] == [(True, 0), (False, 0), (True, 1), (False, 1)]
    assert pairs[1].left == ("Alice", 1) and pairs[1].right == ("Bob", 3)


def test_read_pairs_rejects_a_wrong_count(tmp_path) -> None:
    f = tmp_path / "pairs.txt"
    f.write_text("1\t2\nAlice\t1\t2\n")
    with pytest.raises(ValueError, match="promises"):
        read_pairs(f)


def test_lfw_mini_pairs_file_is_fold_one(lfw_mini) -> None:
    pairs = read_pairs(lfw_mini / "pairs_fold1.txt")
    assert len(pairs) == 600 and sum(p.same for p in pairs) == 300
