"""Clustering: the user's word (constraints) on hand-built embeddings, determinism, scale paths."""

from __future__ import annotations

import numpy as np
import pytest

from facenet_core.people.cluster import ClusterInput, cluster_faces, cluster_mask
from facenet_core.people.knn import knn_graph
from facenet_core.settings import Settings

T = 0.3


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def blobs(
    people: int, per: int, spread: float = 0.02, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``people`` random directions, ``per`` faces around each (pairwise sq. dist ~ 2*128*s^2)."""
    rng = np.random.default_rng(seed)
    centres = unit(rng.normal(size=(people, 128)))
    truth = np.repeat(np.arange(people), per)
    x = unit(centres[truth] + rng.normal(scale=spread, size=(len(truth), 128)))
    return x, truth


def make(x: np.ndarray, photos=None, fixed=None, forbidden=None) -> ClusterInput:
    n = len(x)
    return ClusterInput(
        embeddings=x,
        photo_ids=np.arange(n, dtype=np.int64) if photos is None else np.asarray(photos),
        fixed=np.full(n, -1, dtype=np.int64) if fixed is None else np.asarray(fixed),
        forbidden=forbidden or {},
    )


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs_a = a[:, None] == a[None, :]
    pairs_b = b[:, None] == b[None, :]
    return bool(np.array_equal(pairs_a, pairs_b))


def test_separated_people_are_found_exactly() -> None:
    x, truth = blobs(6, 10)
    labels = cluster_faces(make(x), T)
    assert same_partition(labels, truth)
    assert set(labels.tolist()) == {-1, -2, -3, -4, -5, -6}


def test_new_labels_by_size_then_first_face() -> None:
    x, _truth = blobs(3, 10, seed=1)
    keep = np.concatenate([np.arange(0, 4), np.arange(10, 20), np.arange(20, 24)])
    labels = cluster_faces(make(x[keep]), T)
    # sizes 4, 10, 4: the 10 is -1, then the 4s by their first face
    assert labels[4:14].tolist() == [-1] * 10
    assert labels[:4].tolist() == [-2] * 4
    assert labels[14:].tolist() == [-3] * 4


def test_singletons_get_zero_unless_min_size_one() -> None:
    x, _ = blobs(5, 1, seed=2)
    assert cluster_faces(make(x), T).tolist() == [0] * 5
    assert sorted(cluster_faces(make(x), T, min_size=1).tolist()) == [-5, -4, -3, -2, -1]


def test_identical_faces_of_one_photo_are_never_merged() -> None:
    x, _ = blobs(1, 4, seed=3)
    x[1] = x[0]  # the very same embedding twice in photo 7
    photos = np.array([7, 7, 8, 9])
    labels = cluster_faces(make(x, photos=photos), T)
    assert labels[0] != labels[1]
    # the other faces of the person still join them
    assert labels[2] in (labels[0], labels[1]) and labels[2] != 0
    assert labels[3] in (labels[0], labels[1]) and labels[3] != 0


def test_faces_of_one_photo_split_a_person() -> None:
    x, _ = blobs(1, 12, seed=4)
    photos = np.array([1, 1, 1, *list(range(10, 19))])
    labels = cluster_faces(make(x, photos=photos), T, min_size=1)
    for p in np.unique(photos):
        in_photo = labels[photos == p]
        assert len(set(in_photo.tolist())) == len(in_photo)


def one_wrong_face_scene(seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """Person P's 8 faces (0-7) and a stranger's face (8) that looks like P's faces 4-7 and
    shares photo 100 with P's face 0: faces 4-7 and 8 group early, 0-3 apart, and the stranger
    would keep P's two halves apart for ever."""
    rng = np.random.default_rng(seed)
    centre, drift = unit(rng.normal(size=128)), unit(rng.normal(size=128))
    half_a = unit(centre + 0.25 * drift + rng.normal(scale=0.012, size=(4, 128)))
    half_b = unit(centre - 0.25 * drift + rng.normal(scale=0.012, size=(4, 128)))
    stranger = unit(centre - 0.4 * drift + rng.normal(scale=0.012, size=128))
    x = np.concatenate([half_a, half_b, stranger[None]])
    photos = np.array([100, 1, 2, 3, 4, 5, 6, 7, 100])
    return x, photos


def test_one_wrong_face_in_a_shared_photo_does_not_split_a_person() -> None:
    x, photos = one_wrong_face_scene()
    d = 2 - 2 * x @ x.T
    assert d[8, 4:8].mean() < d[0:4, 4:8].mean()  # the stranger sits nearer half B than A does
    labels = cluster_faces(make(x, photos=photos), T)
    assert len(set(labels[:8].tolist())) == 1 and labels[0] != 0  # P is one person
    assert labels[8] != labels[0]  # and the stranger is not P (two faces of photo 100)


def test_a_confirmed_face_is_never_the_one_left_out() -> None:
    x, photos = one_wrong_face_scene()
    fixed = np.full(len(x), -1)
    fixed[8] = 5  # the user said the stranger's face is person 5, and so are faces 4-7
    fixed[4] = 5
    labels = cluster_faces(make(x, photos=photos, fixed=fixed), T)
    assert labels[8] == labels[4] == 5
    assert labels[0] != 5  # face 0 shares photo 100 with a confirmed face of 5: stays apart


def test_two_shared_photos_keep_clusters_apart() -> None:
    """One face left out may mend a person; two photos in common are two people."""
    x, photos = one_wrong_face_scene()
    second = unit(x[5] + np.random.default_rng(3).normal(scale=0.012, size=128))
    x = np.concatenate([x, second[None]])
    photos = np.concatenate([photos, [1]])  # photo 1 also holds face 1 of half A
    labels = cluster_faces(make(x, photos=photos), T, min_size=1)
    assert labels[0] != labels[4]
    for p in np.unique(photos):
        in_photo = labels[photos == p]
        assert len(set(in_photo.tolist())) == len(in_photo)


def test_fixed_labels_are_kept_and_named() -> None:
    x, truth = blobs(3, 8, seed=5)
    fixed = np.full(len(x), -1)
    fixed[0] = 42  # person 0
    fixed[8] = 7  # person 1
    labels = cluster_faces(make(x, fixed=fixed), T)
    assert labels[truth == 0].tolist() == [42] * 8
    assert labels[truth == 1].tolist() == [7] * 8
    assert labels[truth == 2].tolist() == [-1] * 8


def test_confirmed_faces_of_two_people_never_merge_even_if_identical() -> None:
    x, _ = blobs(1, 6, seed=6)
    x[1] = x[0]
    fixed = np.array([3, 4, -1, -1, -1, -1])
    labels = cluster_faces(make(x, fixed=fixed), T)
    assert labels[0] == 3 and labels[1] == 4
    assert set(labels[2:].tolist()) <= {3, 4}


def test_confirmed_faces_of_one_person_stay_together_even_far_apart() -> None:
    x, _truth = blobs(2, 5, seed=7)
    fixed = np.full(len(x), -1)
    fixed[0] = fixed[5] = 9  # the user says these two look-unalikes are one person
    labels = cluster_faces(make(x, fixed=fixed), T)
    assert labels[0] == labels[5] == 9
    for i in range(len(x)):
        assert labels[i] != 0


def test_forbidden_person_is_never_joined() -> None:
    x, truth = blobs(2, 6, seed=8)
    fixed = np.full(len(x), -1)
    fixed[0] = 5
    plain = cluster_faces(make(x, fixed=fixed), T)
    assert plain[truth == 0].tolist() == [5] * 6
    labels = cluster_faces(make(x, fixed=fixed, forbidden={3: frozenset({5})}), T)
    assert labels[3] != 5
    assert labels[0] == 5 and (labels[truth == 1] != 5).all()
    # a rejection of some other person changes nothing
    other = cluster_faces(make(x, fixed=fixed, forbidden={3: frozenset({99})}), T)
    assert np.array_equal(other, plain)


def test_forbidden_carries_through_merges() -> None:
    # faces 3 and 4 rejected person 5; they join each other but never person 5's cluster,
    # even after they merged with other unnamed faces first
    x, _ = blobs(1, 10, seed=9)
    fixed = np.full(len(x), -1)
    fixed[0] = 5
    forbidden = {3: frozenset({5}), 4: frozenset({5})}
    labels = cluster_faces(make(x, fixed=fixed, forbidden=forbidden), T)
    assert labels[0] == 5
    assert labels[3] != 5 and labels[4] != 5
    assert labels[3] == labels[4] != 0  # still one (unnamed) cluster together


def test_mask_leaves_faces_out_but_keeps_confirmed() -> None:
    x, _truth = blobs(2, 6, seed=10)
    fixed = np.full(len(x), -1)
    fixed[1] = 11
    mask = np.ones(len(x), dtype=bool)
    mask[[1, 2, 7]] = False
    labels = cluster_faces(make(x, fixed=fixed), T, mask=mask)
    assert labels[2] == 0 and labels[7] == 0
    assert labels[1] == 11
    assert labels[[0, 3, 4, 5]].tolist() == [11] * 4


def test_threshold_is_average_linkage_not_single_linkage() -> None:
    # a chain of faces, each near the next, from one person to another: single linkage
    # would join the ends; average linkage keeps the far ends apart
    rng = np.random.default_rng(11)
    a, b = unit(rng.normal(size=(2, 128)))
    steps = np.linspace(0, 1, 25)[:, None]
    chain = unit((1 - steps) * a + steps * b)
    labels = cluster_faces(make(chain), 0.4, min_size=1)
    d_ends = float(np.sum((chain[0] - chain[-1]) ** 2))
    assert d_ends > 0.4
    assert labels[0] != labels[-1]


def test_deterministic_and_order_of_labels_stable() -> None:
    x, _ = blobs(20, 12, spread=0.03, seed=12)
    photos = np.random.default_rng(0).integers(0, 150, len(x))
    first = cluster_faces(make(x, photos=photos), T)
    for _ in range(2):
        assert np.array_equal(cluster_faces(make(x, photos=photos), T), first)


def test_inverted_file_graph_matches_exact_on_separated_people() -> None:
    x, truth = blobs(300, 8, spread=0.02, seed=13)
    exact = cluster_faces(make(x), T, exact_knn=True)
    approx = cluster_faces(make(x), T, exact_knn=False)
    assert same_partition(exact, truth)
    assert same_partition(approx, truth)
    assert np.array_equal(approx, cluster_faces(make(x), T, exact_knn=False))


def test_knn_graph_is_exact_and_sorted() -> None:
    x, _ = blobs(10, 5, seed=14)
    nb, d = knn_graph(x, 4, exact=True)
    full = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(full, np.inf)
    want = np.sort(full, axis=1)[:, :4]
    assert np.allclose(d, want, atol=1e-5)
    assert (nb != np.arange(len(x))[:, None]).all()
    assert (np.diff(d, axis=1) >= 0).all()


def test_tiny_inputs() -> None:
    assert cluster_faces(make(np.zeros((0, 128), np.float32)), T).shape == (0,)
    x, _ = blobs(1, 1, seed=15)
    assert cluster_faces(make(x), T).tolist() == [0]
    assert cluster_faces(make(x, fixed=np.array([4])), T).tolist() == [4]


def test_bad_shapes_are_errors() -> None:
    x, _ = blobs(1, 3, seed=16)
    with pytest.raises(ValueError, match="photo_ids"):
        ClusterInput(x, np.arange(2), np.full(3, -1), {})
    with pytest.raises(ValueError, match="forbidden"):
        ClusterInput(x, np.arange(3), np.full(3, -1), {5: frozenset({1})})


def test_cluster_mask_follows_the_settings() -> None:
    sizes = np.array([10.0, 29.9, 30.0, 200.0])
    scores = np.array([0.99, 0.99, 0.5, 0.95])
    default = cluster_mask(sizes, scores, Settings())
    assert default.tolist() == [False, False, True, True]  # 30 px by default
    strict = cluster_mask(sizes, scores, Settings(cluster_min_face_px=0, cluster_min_score=0.9))
    assert strict.tolist() == [True, True, False, True]
