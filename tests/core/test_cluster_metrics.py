"""Pairwise and BCubed clustering scores on hand-made labelings with values worked out by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facenet_core.evaluation.clusters import (
    bcubed_scores,
    evaluate_clusters,
    noise_as_singletons,
    pairwise_scores,
    read_truth,
)
from facenet_core.progress import CancelToken
from facenet_core.settings import Settings


def test_worked_example() -> None:
    # person a: faces 0-2, person b: faces 3-4; clusters {0, 1}, {2, 3, 4}
    truth = ["a", "a", "a", "b", "b"]
    pred = np.array([1, 1, 2, 2, 2])
    pw = pairwise_scores(truth, pred)
    # pairs together and right: (0,1), (3,4) = 2; claimed: 1 + 3 = 4; true: 3 + 1 = 4
    assert (pw.precision, pw.recall, pw.f1) == pytest.approx((0.5, 0.5, 0.5))
    b = bcubed_scores(truth, pred)
    # precision per face: 1, 1, 1/3, 2/3, 2/3; recall: 2/3, 2/3, 1/3, 1, 1
    assert b.precision == pytest.approx(11 / 15)
    assert b.recall == pytest.approx(11 / 15)
    assert b.f1 == pytest.approx(11 / 15)


def test_perfect_and_label_names_do_not_matter() -> None:
    truth = ["x", "x", "y", "z", "z", "z"]
    pred = np.array([-2, -2, 7, -1, -1, -1])
    for s in (pairwise_scores(truth, pred), bcubed_scores(truth, pred)):
        assert (s.precision, s.recall, s.f1) == (1.0, 1.0, 1.0)


def test_everything_in_one_cluster() -> None:
    truth = ["a", "b"]
    pred = np.array([-1, -1])
    pw = pairwise_scores(truth, pred)
    assert (pw.precision, pw.recall, pw.f1) == (0.0, 1.0, 0.0)  # no true pair: recall 1
    b = bcubed_scores(truth, pred)
    assert (b.precision, b.recall) == (0.5, 1.0)
    assert b.f1 == pytest.approx(2 / 3)


def test_zero_means_each_face_alone() -> None:
    truth = ["a", "a"]
    pred = np.array([0, 0])
    pw = pairwise_scores(truth, pred)
    assert (pw.precision, pw.recall, pw.f1) == (1.0, 0.0, 0.0)  # nothing claimed: precision 1
    b = bcubed_scores(truth, pred)
    assert (b.precision, b.recall) == (1.0, 0.5)
    assert b.f1 == pytest.approx(2 / 3)
    relabelled = noise_as_singletons(np.array([0, -1, 0, 3]))
    assert len(set(relabelled.tolist())) == 4 and relabelled[1] == -1 and relabelled[3] == 3


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="faces"):
        bcubed_scores(["a", "b"], np.array([1]))


def test_read_truth(tmp_path: Path) -> None:
    f = tmp_path / "t.txt"
    f.write_text("# comment\nA/A_1.jpg\tA\n\nB/B_1.jpg\tB\n", encoding="utf-8")
    assert read_truth(f) == [("A/A_1.jpg", "A"), ("B/B_1.jpg", "B")]
    f.write_text("A/A_1.jpg A\n", encoding="utf-8")
    with pytest.raises(ValueError, match=":1: expected PATH<TAB>PERSON"):
        read_truth(f)


def test_evaluate_clusters_names_a_missing_image_before_any_work(tmp_path: Path) -> None:
    truth = tmp_path / "truth.txt"
    truth.write_text("A/A_0001.jpg\tA\n", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match=r"A_0001\.jpg"):
        evaluate_clusters(tmp_path, truth, Settings(device="cpu"))


def test_a_cancelled_cluster_evaluation_says_so_and_scores_nothing(
    tmp_path: Path, lfw_mini: Path
) -> None:
    """Cancelled before the scan finds any face: the result is marked ``cancelled`` (NaN
    scores), no ``Cancelled`` escapes, and no model was needed to get there."""
    truth = tmp_path / "truth.txt"
    rels = sorted(p.relative_to(lfw_mini / "images") for p in (lfw_mini / "images").glob("*/*.jpg"))
    truth.write_text("".join(f"{rel}\t{rel.parent.name}\n" for rel in rels[:4]), encoding="utf-8")
    cancel = CancelToken()
    cancel.cancel()
    result = evaluate_clusters(lfw_mini / "images", truth, Settings(device="cpu"), cancel=cancel)
    assert result.cancelled and result.images == 4 and result.all_faces == 0
    assert np.isnan(result.bcubed.f1) and result.to_json_dict()["cancelled"] is True
