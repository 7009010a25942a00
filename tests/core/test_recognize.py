"""k-NN recognition against confirmed faces: best person, confidence, the user's "not this
person", one person per photo."""

from __future__ import annotations

import numpy as np
import pytest

from facenet_core.people.recognize import (
    AUTO_CONFIDENCE,
    CENTRE,
    SUGGEST_CONFIDENCE,
    recognize,
    same_probability,
)


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def at_distance(base: np.ndarray, d: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at squared distance ``d`` from unit vector ``base``."""
    r = rng.normal(size=base.shape)
    r -= r.dot(base) * base
    r /= np.linalg.norm(r)
    cos = 1.0 - d / 2.0
    return unit(cos * base + np.sqrt(1 - cos * cos) * r)


@pytest.fixture
def gallery() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(3, 128)))
    faces = np.stack([at_distance(centres[p], 0.05, rng) for p in (0, 0, 1, 1, 2, 2)])
    return faces, np.array([10, 10, 20, 20, 30, 30]), centres


def test_nearest_person_with_high_confidence(gallery) -> None:
    faces, people, centres = gallery
    result = recognize(faces, people, centres)
    assert result.person_ids.tolist() == [10, 20, 30]
    assert (result.confidence > AUTO_CONFIDENCE).all() and result.auto.all()
    assert (result.distance < 0.06).all()


def test_stranger_is_nobody(gallery) -> None:
    faces, people, _ = gallery
    stranger = unit(np.random.default_rng(1).normal(size=(1, 128)))
    result = recognize(faces, people, stranger)
    assert result.person_ids.tolist() == [-1]
    assert result.confidence[0] < 0.01 and not result.suggest[0] and not result.auto[0]


def test_confidence_from_distance_is_monotone_and_half_at_centre() -> None:
    d = np.linspace(0.0, 0.4, 41)
    s = same_probability(d)
    assert (np.diff(s) < 0).all()
    assert same_probability(CENTRE) == pytest.approx(0.5)
    assert s.min() >= 0.0 and s.max() <= 1.0


def test_two_close_people_lower_confidence() -> None:
    rng = np.random.default_rng(2)
    q = unit(rng.normal(size=128))
    one = at_distance(q, 0.10, rng)
    twin = at_distance(q, 0.11, rng)
    alone = recognize(one[None], np.array([1]), q[None])
    both = recognize(np.stack([one, twin]), np.array([1, 2]), q[None])
    assert alone.person_ids[0] == 1 and alone.auto[0]
    assert both.confidence[0] < SUGGEST_CONFIDENCE  # shared between the two: ask
    assert both.person_ids[0] == -1 and not both.auto[0]
    looser = recognize(np.stack([one, twin]), np.array([1, 2]), q[None], suggest_confidence=0.5)
    assert looser.person_ids[0] == 1  # the nearer one, when the user accepts more doubt
    far = at_distance(q, 0.30, rng)  # a clearly different second person changes nothing much
    apart = recognize(np.stack([one, far]), np.array([1, 2]), q[None])
    assert apart.person_ids[0] == 1 and apart.confidence[0] > 0.99 * alone.confidence[0]


def test_forbidden_person_is_skipped_for_the_next(gallery) -> None:
    faces, people, centres = gallery
    q = at_distance(centres[0], 0.02, np.random.default_rng(3))
    result = recognize(faces, people, q[None], forbidden={0: frozenset({10})})
    assert result.person_ids[0] != 10
    free = recognize(faces, people, q[None])
    assert free.person_ids[0] == 10


def test_people_already_in_the_photo_are_skipped(gallery) -> None:
    faces, people, centres = gallery
    result = recognize(faces, people, centres, taken={1: frozenset({20})})
    assert result.person_ids.tolist() == [10, -1, 30]


def test_faces_of_one_photo_get_different_people(gallery) -> None:
    faces, people, centres = gallery
    rng = np.random.default_rng(4)
    closer = at_distance(centres[0], 0.01, rng)
    farther = at_distance(centres[0], 0.08, rng)
    queries = np.stack([farther, closer])
    apart = recognize(faces, people, queries)
    assert apart.person_ids.tolist() == [10, 10]
    together = recognize(faces, people, queries, query_photos=np.array([5, 5]))
    assert together.person_ids[1] == 10  # the more confident face keeps the person
    assert together.person_ids[0] != 10


def test_empty_gallery_and_bad_thresholds(gallery) -> None:
    _, _, centres = gallery
    empty = recognize(np.zeros((0, 128), np.float32), np.zeros(0, np.int64), centres)
    assert empty.person_ids.tolist() == [-1, -1, -1]
    assert SUGGEST_CONFIDENCE < AUTO_CONFIDENCE
    with pytest.raises(ValueError):
        recognize(*gallery[:2], centres, suggest_confidence=0.9, auto_confidence=0.5)
