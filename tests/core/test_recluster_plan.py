"""Re-clustering's decisions, without a database: every rule of the user's word on hand-made
faces (:func:`facenet_core.people.plan.plan_recluster`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from facenet_core.people.plan import FaceRows, LabelWrite, PersonRow, plan_recluster
from facenet_core.progress import Cancelled, CancelToken
from facenet_core.settings import Settings

SETTINGS = Settings()
CENTRES = np.random.default_rng(7).normal(size=(6, 128))
CENTRES /= np.linalg.norm(CENTRES, axis=1, keepdims=True)


@dataclass
class F:
    """One face: its identity (a direction), photo, person (-1: none), assignment, size."""

    identity: int
    photo: int
    person: int = -1
    kind: str = "none"
    size: float = 100.0


def rows(faces: list[F]) -> FaceRows:
    """Face ids 1, 2, ...; embeddings a little apart within an identity (squared distance
    ~0.02, under the default strictness 0.15), far apart between identities (~2)."""
    rng = np.random.default_rng(len(faces))  # the same noise whatever ran before
    x = CENTRES[[f.identity for f in faces]] + rng.normal(scale=0.006, size=(len(faces), 128))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    n = len(faces)
    return FaceRows(
        ids=np.arange(1, n + 1, dtype=np.int64),
        photo_ids=np.asarray([f.photo for f in faces], np.int64),
        person_ids=np.asarray([f.person for f in faces], np.int64),
        kinds=np.asarray([f.kind for f in faces], object),
        confidence=np.full(n, np.nan),
        ignored=np.zeros(n, bool),
        sizes=np.asarray([f.size for f in faces], np.float64),
        scores=np.full(n, 0.99),
        embeddings=x.astype(np.float32),
    )


def plan(
    faces: list[F],
    people: dict[int, PersonRow],
    rejected: dict[int, frozenset[int]] | None = None,
) -> dict[int, LabelWrite]:
    result = plan_recluster(rows(faces), rejected or {}, people, SETTINGS)
    assert result.considered == sum(f.kind != "suggested" for f in faces)
    return {w.face_id: w for w in result.writes}


def test_a_group_takes_over_the_unnamed_person_it_overlaps_and_others_become_new_people() -> None:
    faces = [
        F(0, 1, person=7, kind="auto"),
        F(0, 2, person=7, kind="auto"),
        F(0, 3),  # joins person 7
        F(1, 4),  # identity 1: a new person
        F(1, 5),
        F(2, 6),  # alone: stays nobody's
    ]
    writes = plan(faces, {7: (None, False, 0)})
    assert set(writes) == {3, 4, 5}
    assert (writes[3].new_person, writes[3].new_kind) == (7, "auto")
    new = {writes[4].new_person, writes[5].new_person}
    assert len(new) == 1 and new.pop() <= -2  # one new person, made at write time
    assert all((w.old_person, w.old_kind) == (-1, "none") for w in writes.values())


def test_confirmed_faces_and_named_people_without_confirmed_faces_never_move() -> None:
    faces = [
        F(0, 1, person=1, kind="confirmed"),
        F(0, 2, person=1, kind="confirmed"),
        F(5, 3, person=3, kind="confirmed"),  # Cy's only face
        F(0, 4),  # joins Ada
        F(4, 5, person=2, kind="auto"),  # Bob has no confirmed face: his faces anchor him
        F(4, 6, person=2, kind="auto"),
        F(1, 7, person=2, kind="auto"),  # even one unlike the others
    ]
    writes = plan(faces, {1: ("Ada", False, 2), 2: ("Bob", False, 0), 3: ("Cy", False, 1)})
    assert set(writes) == {4}
    assert (writes[4].new_person, writes[4].new_kind) == (1, "auto")


def test_a_face_never_goes_to_a_person_it_was_rejected_from() -> None:
    faces = [
        F(0, 1, person=1, kind="confirmed"),
        F(0, 2, person=1, kind="confirmed"),
        F(0, 3, person=1, kind="auto"),  # "not Ada" since the last run
        F(0, 4),  # "not Ada" either
    ]
    rejected = {3: frozenset({1}), 4: frozenset({1})}
    writes = plan(faces, {1: ("Ada", False, 2)}, rejected)
    assert writes[3].old_person == 1 and writes[3].new_person != 1  # it leaves Ada
    assert all(w.new_person != 1 for w in writes.values())
    # the two rejected faces look alike: they may form a new group of their own
    assert writes[3].new_person == writes.get(4, writes[3]).new_person


def test_two_faces_of_one_photo_never_join_one_person() -> None:
    faces = [
        F(0, 1, person=1, kind="confirmed"),
        F(0, 2, person=1, kind="confirmed"),
        F(0, 2),  # same look, same photo as a confirmed face of Ada: not Ada
        F(0, 3),  # joins Ada
    ]
    writes = plan(faces, {1: ("Ada", False, 2)})
    assert writes[4].new_person == 1
    assert 3 not in writes or writes[3].new_person != 1


def test_suggestions_stay_where_they_are_and_tiny_faces_keep_their_labels() -> None:
    faces = [
        F(0, 1, person=1, kind="confirmed"),
        F(0, 2, person=1, kind="confirmed"),
        F(1, 3, person=1, kind="suggested"),  # a question for the user: left alone
        F(1, 4, person=5, kind="auto", size=10.0),  # too small to group: keeps person 5
        F(1, 5, size=10.0),  # too small: stays nobody's
    ]
    writes = plan(faces, {1: ("Ada", False, 2), 5: (None, False, 0)})
    assert writes == {}


def test_an_unchanged_library_plans_no_write() -> None:
    faces = [F(0, 1, person=7, kind="auto"), F(0, 2, person=7, kind="auto"), F(2, 3)]
    assert plan(faces, {7: (None, False, 0)}) == {}


def test_cancelling_while_clustering_raises_cancelled() -> None:
    cancel = CancelToken()
    cancel.cancel()
    faces = rows([F(i % 3, i) for i in range(30)])
    with pytest.raises(Cancelled):
        plan_recluster(faces, {}, {}, SETTINGS, cancel=cancel)
