"""People clustering and recognition on real faces (lfw-mini: 40 people x 8 photos)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facenet_core.calibration import distance_scale
from facenet_core.evaluation.clusters import bcubed_scores, embed_centre_faces, read_truth
from facenet_core.models.registry import FACE_MODELS
from facenet_core.people.cluster import ClusterInput, cluster_faces
from facenet_core.people.recognize import recognize
from facenet_core.settings import Settings

FAST = Settings(device="cpu", workers=1, face_model="fast")


@pytest.fixture(scope="module")
def eval_clusters_json(lfw_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``eval-clusters`` on lfw-mini's clusters.txt, run once as a user would."""
    out = tmp_path_factory.mktemp("eval-clusters") / "clusters.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "facenet_core",
            "eval-clusters",
            "--images",
            str(lfw_mini / "images"),
            "--truth",
            str(lfw_mini / "clusters.txt"),
            "--json",
            str(out),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    assert "BCubed F1" in proc.stderr or "BCubed F1" in proc.stdout
    return json.loads(out.read_text())


@pytest.mark.slow
def test_lfw_mini_bcubed_at_least_095(eval_clusters_json: dict) -> None:
    r = eval_clusters_json
    for key in (
        "pairwise_f1",
        "bcubed_f1",
        "bcubed_precision",
        "bcubed_recall",
        "clusters",
        "true_people",
    ):
        assert key in r
    assert r["true_people"] == 40
    assert r["images"] == 320
    assert r["bcubed_f1"] >= 0.95
    assert 0.0 <= r["bcubed_precision"] <= 1.0 and 0.0 <= r["bcubed_recall"] <= 1.0
    assert 30 <= r["clusters"] <= 80
    # the default face model's distances: the setting scaled as the library's clustering does
    model = FACE_MODELS[Settings().face_model]
    assert r["threshold"] == pytest.approx(
        Settings().cluster_threshold * distance_scale(model).factor
    )


@pytest.fixture(scope="module")
def twelve_people(lfw_mini: Path) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of the central face of 12 lfw-mini people x 8 photos, and their names, by
    the fast model (the thresholds below are on its distances)."""
    rows = read_truth(lfw_mini / "clusters.txt")
    people = sorted({p for _, p in rows})[::3][:12]
    chosen = [(rel, p) for rel, p in rows if p in people]
    paths = [lfw_mini / "images" / rel for rel, _ in chosen]
    x, _ = embed_centre_faces(paths, FAST)
    return x, np.array([p for _, p in chosen])


@pytest.mark.slow
def test_real_faces_cluster_and_keep_the_users_word(twelve_people) -> None:
    x, names = twelve_people
    n = len(x)
    plain = cluster_faces(ClusterInput.unconstrained(x), FAST.cluster_threshold)
    assert bcubed_scores(names, plain).f1 >= 0.9
    # confirm one face per person; reject one other face of the first person
    _, first = np.unique(names, return_index=True)
    fixed = np.full(n, -1, dtype=np.int64)
    fixed[first] = np.arange(1, len(first) + 1) * 10
    rejected = int(np.flatnonzero(names == names[first[0]])[1])
    inp = ClusterInput(x, np.arange(n), fixed, {rejected: frozenset({10})})
    labels = cluster_faces(inp, FAST.cluster_threshold)
    assert (labels[first] == fixed[first]).all()
    assert labels[rejected] != 10
    named = labels > 0
    # the named clusters are the right people: each face given a person is that person
    person_of_label = {int(fixed[i]): names[i] for i in first}
    right = [
        person_of_label[int(label)] == name
        for label, name in zip(labels[named], names[named], strict=True)
    ]
    assert np.mean(right) >= 0.97
    assert named.mean() >= 0.85  # most faces joined their confirmed person


@pytest.mark.slow
def test_real_faces_recognized_from_two_confirmed_each(twelve_people) -> None:
    x, names = twelve_people
    ids = np.unique(names, return_inverse=True)[1] + 1
    gallery = np.concatenate([np.flatnonzero(ids == p)[:2] for p in np.unique(ids)])
    queries = np.setdiff1d(np.arange(len(x)), gallery)
    result = recognize(x[gallery], ids[gallery], x[queries])
    suggested = result.suggest
    assert suggested.mean() >= 0.85
    assert (result.person_ids[suggested] == ids[queries][suggested]).mean() >= 0.97
    assert (result.person_ids[result.auto] == ids[queries][result.auto]).all()
    # a person the query must not be is never the answer
    forbidden = {i: frozenset({int(ids[q])}) for i, q in enumerate(queries)}
    other = recognize(x[gallery], ids[gallery], x[queries], forbidden=forbidden)
    assert not (other.person_ids == ids[queries]).any()
