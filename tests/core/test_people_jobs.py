"""The rules every automatic run keeps (re-cluster, recognise new faces), on hand-built
embeddings stored in a real library. The same rules on real faces: test_people_rules.py."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from facenet_core.people import edits, queries
from facenet_core.people import labels as people_labels
from facenet_core.people.jobs import recluster, recognize_new
from facenet_core.progress import CancelToken, Progress
from facenet_core.settings import Settings
from facenet_core.store import Face, Person
from tests.core.people_helpers import Blobs, state

SETTINGS = Settings()


@pytest.fixture
def blobs(tmp_path: Path) -> Iterator[Blobs]:
    b = Blobs(tmp_path / "library.db")
    yield b
    b.lib.close()


def groups(b: Blobs) -> dict[int, set[int]]:
    """person id -> identities of its faces (automatic and confirmed)."""
    out: dict[int, set[int]] = {}
    with b.lib.session() as s:
        for face in s.scalars(select(Face).where(Face.person_id.is_not(None))):
            if face.assignment in ("auto", "confirmed"):
                out.setdefault(face.person_id, set()).add(b.truth[face.id])
    return out


def person_for(b: Blobs, identity: int, unique: bool = True) -> int:
    """The person holding the identity's faces (the one holding most, when not ``unique``)."""
    count: Counter[int] = Counter()
    with b.lib.session() as s:
        for face in s.scalars(select(Face).where(Face.person_id.is_not(None))):
            if b.truth[face.id] == identity and face.assignment in ("auto", "confirmed"):
                count[face.person_id] += 1
    assert count and (len(count) == 1 or not unique), count
    return count.most_common(1)[0][0]


def test_recluster_finds_the_identities_and_is_stable(blobs: Blobs) -> None:
    for k in range(4):
        blobs.add_many(k, 5)
    lonely = blobs.add(7)[0]
    report = recluster(blobs.lib, SETTINGS)
    found = groups(blobs)
    assert sorted(map(sorted, found.values())) == [[0], [1], [2], [3]]
    assert report.people == 4 and report.named_people == 0 and report.created == 4
    assert report.assigned_faces == 20 and report.unassigned_faces == 1
    assert blobs.person_of(lonely) == (None, "none")  # a face like no other is nobody yet
    before = state(blobs.lib)
    again = recluster(blobs.lib, SETTINGS)
    assert again.moved == 0 and again.created == 0 and again.deleted == 0
    assert state(blobs.lib) == before  # same ids, same everything


def test_unnamed_ids_survive_new_faces(blobs: Blobs) -> None:
    for k in range(3):
        blobs.add_many(k, 4)
    recluster(blobs.lib, SETTINGS)
    ids = {k: person_for(blobs, k) for k in range(3)}
    for k in range(3):
        blobs.add_many(k, 3)
    blobs.add_many(5, 3)
    recluster(blobs.lib, SETTINGS)
    assert {k: person_for(blobs, k) for k in range(3)} == ids  # each kept its person
    assert person_for(blobs, 5) not in ids.values()


def test_recluster_keeps_every_edit(blobs: Blobs) -> None:
    faces = {k: blobs.add_many(k, 5) for k in range(4)}
    pair = blobs.add([0, 0])  # two faces of identity 0 in one photo
    ignored = blobs.add(1)[0]
    recluster(blobs.lib, SETTINGS)
    # the second face of the shared photo cannot join the first: identity 0 may be split
    ada, bob, u2 = person_for(blobs, 0, False), person_for(blobs, 1), person_for(blobs, 2)
    edits.name_person(blobs.lib, ada, "Ada")
    edits.move_faces(blobs.lib, [faces[1][0]], ada)  # the user says this face is Ada
    edits.remove_faces(blobs.lib, [faces[0][1]], ada)  # "not Ada"
    edits.ignore_faces(blobs.lib, [ignored])
    edits.hide_person(blobs.lib, u2)
    named = state(blobs.lib)
    for _ in range(2):
        recluster(blobs.lib, SETTINGS)
        after = state(blobs.lib)
        assert after["people"][ada][0] == "Ada"
        assert blobs.person_of(faces[1][0]) == (ada, "confirmed")  # never moves
        assert blobs.person_of(faces[0][1])[0] != ada  # never back to Ada
        assert after["faces"][ignored] == named["faces"][ignored]  # left alone
        assert after["people"][u2][1] is True  # still hidden, still there
        assert all(blobs.person_of(f)[0] == u2 for f in faces[2])
        assert after["rejections"] == named["rejections"]
        # never two faces of one photo in one person
        assert blobs.person_of(pair[0])[0] != blobs.person_of(pair[1])[0] or (
            blobs.person_of(pair[0])[0] is None
        )
    assert bob in state(blobs.lib)["people"]


def test_two_faces_of_one_photo_only_when_the_user_says_so(blobs: Blobs) -> None:
    blobs.add_many(0, 4)
    pair = blobs.add([0, 0])
    recluster(blobs.lib, SETTINGS)
    p = person_for(blobs, 0, False)
    edits.move_faces(blobs.lib, pair, p)  # the user: both are this person (a mirror, a poster)
    recluster(blobs.lib, SETTINGS)
    assert blobs.person_of(pair[0]) == (p, "confirmed") == blobs.person_of(pair[1])


def test_named_person_without_confirmed_faces_is_not_emptied(blobs: Blobs) -> None:
    faces = blobs.add_many(3, 4)
    with blobs.lib.write() as s:  # e.g. from an older version of the app
        eve = Person(name="Eve")
        s.add(eve)
        s.flush()
        for f in faces:
            s.get(Face, f).person_id = eve.id
            s.get(Face, f).assignment = "auto"
        eve_id = eve.id
    recluster(blobs.lib, SETTINGS)
    assert all(blobs.person_of(f) == (eve_id, "auto") for f in faces)


def test_empty_unnamed_people_are_deleted(blobs: Blobs) -> None:
    faces = blobs.add_many(0, 4)
    recluster(blobs.lib, SETTINGS)
    p = person_for(blobs, 0)
    edits.move_faces(blobs.lib, faces[:2], None)
    edits.move_faces(blobs.lib, faces[2:], None)
    with blobs.lib.session() as s:
        assert s.get(Person, p) is None  # the edit emptied it
    with blobs.lib.write() as s:
        s.add(Person())  # an empty stray
    report = recluster(blobs.lib, SETTINGS)
    assert report.deleted == 1


def test_a_user_edit_during_the_run_wins(blobs: Blobs) -> None:
    for k in range(2):
        blobs.add_many(k, 4)
    recluster(blobs.lib, SETTINGS)
    a = person_for(blobs, 0)
    blobs.add_many(0, 3)
    newcomer = blobs.add(0)[0]

    def meanwhile(event: Progress) -> None:  # the user moves a face while the run thinks
        if event.phase == "merge" and event.done:
            edits.move_faces(blobs.lib, [newcomer], None)

    recluster(blobs.lib, SETTINGS, reporter=meanwhile)
    person, kind = blobs.person_of(newcomer)
    assert kind == "confirmed" and person != a


def test_a_cancelled_run_writes_nothing(blobs: Blobs) -> None:
    blobs.add_many(0, 4)
    before = state(blobs.lib)
    cancel = CancelToken()
    cancel.cancel()
    assert recluster(blobs.lib, SETTINGS, cancel=cancel).cancelled
    assert recognize_new(blobs.lib, SETTINGS, cancel=cancel).cancelled
    assert state(blobs.lib) == before


def test_clustering_reports_its_phases_and_cancels_mid_way(blobs: Blobs) -> None:
    """The slow part of a re-cluster (neighbour search, merging) shows progress and stops
    when cancelled while it runs, writing nothing."""
    for k in range(3):
        blobs.add_many(k, 5)
    events: list[Progress] = []
    report = recluster(blobs.lib, SETTINGS, reporter=events.append)
    assert not report.cancelled
    phases = {e.phase for e in events if e.task == "cluster"}
    assert {"neighbours", "merge"} <= phases
    searched = [e for e in events if e.phase == "neighbours"]
    assert searched[-1].done == searched[-1].total == 15
    merged = [e for e in events if e.phase == "merge"]
    assert merged[-1].done >= 12  # 3 people x 5 faces: at least 4 merges each
    blobs.add_many(0, 2)
    before = state(blobs.lib)
    cancel = CancelToken()

    def stop_while_searching(event: Progress) -> None:
        if event.phase == "neighbours":
            cancel.cancel()

    assert recluster(blobs.lib, SETTINGS, reporter=stop_while_searching, cancel=cancel).cancelled
    assert state(blobs.lib) == before


def test_recognize_new_faces(blobs: Blobs) -> None:
    ada_faces = blobs.add_many(0, 5)
    blobs.add_many(1, 4)
    recluster(blobs.lib, SETTINGS)
    ada = person_for(blobs, 0)
    u1 = person_for(blobs, 1)
    edits.name_person(blobs.lib, ada, "Ada")  # Ada's faces are confirmed now
    assert recognize_new(blobs.lib, SETTINGS).faces == 0  # nothing new since
    new_ada = blobs.add_many(0, 3)
    rejected = blobs.add(0)[0]
    edits.move_faces(blobs.lib, [rejected], ada)
    edits.remove_faces(blobs.lib, [rejected], ada)  # "not Ada", now unassigned
    two_in_one = blobs.add([0, 0])
    new_u1 = blobs.add_many(1, 2)
    strangers = blobs.add_many(6, 2)
    lonely = blobs.add(7)[0]
    report = recognize_new(blobs.lib, SETTINGS)
    kinds = {f: blobs.person_of(f) for f in [*new_ada, *two_in_one]}
    for f in new_ada:
        assert kinds[f][0] == ada and kinds[f][1] in ("auto", "suggested")
    assert [kinds[f][0] for f in two_in_one].count(ada) == 1  # one photo, Ada at most once
    assert blobs.person_of(rejected)[0] != ada
    assert all(blobs.person_of(f) == (u1, "auto") for f in new_u1)  # joined the group
    group = {blobs.person_of(f)[0] for f in strangers}
    assert len(group) == 1 and None not in group and group.isdisjoint({ada, u1})
    assert blobs.person_of(lonely) == (None, "none")
    assert report.faces == 11 and report.joined == 2 and report.unassigned == 1
    # new groups: the strangers, and the two faces of identity 0 that could not be Ada (the
    # rejected one and the second Ada of the shared photo)
    assert report.new_people == 2 and report.grouped == 4
    with blobs.lib.session() as s:
        pending = queries.suggested_faces(s, ada)
        assert all(0 < f.confidence < 1 for f in pending.items)
    assert all(blobs.person_of(f)[1] == "confirmed" for f in ada_faces)
    again = recognize_new(blobs.lib, SETTINGS)
    assert again.faces == 0  # the bookmark moved on


def test_recognize_pairs_a_new_face_with_an_older_unassigned_one(blobs: Blobs) -> None:
    blobs.add_many(0, 3)
    old = blobs.add(4)[0]
    recognize_new(blobs.lib, SETTINGS)
    assert blobs.person_of(old) == (None, "none")
    new = blobs.add(4)[0]
    report = recognize_new(blobs.lib, SETTINGS)
    assert report.new_people == 1
    assert blobs.person_of(old)[0] == blobs.person_of(new)[0] is not None


def test_groups_are_pure_on_blobs(blobs: Blobs) -> None:
    for k in range(6):
        blobs.add_many(k, 6)
    recluster(blobs.lib, SETTINGS)
    sizes = Counter(len(v) for v in groups(blobs).values())
    assert sizes == {1: 6}


def test_writes_in_small_batches_give_the_same_people(
    blobs: Blobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(people_labels, "WRITE_BATCH", 3)  # groups spread over many transactions
    for k in range(4):
        blobs.add_many(k, 5)
    report = recluster(blobs.lib, SETTINGS)
    assert sorted(map(sorted, groups(blobs).values())) == [[0], [1], [2], [3]]
    assert report.created == 4 and report.moved == 20
