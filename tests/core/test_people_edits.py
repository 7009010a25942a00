"""Each edit of people, its rules, its errors (which change nothing), and undo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from facenet_core.people import edits
from facenet_core.people.edits import HISTORY_DEPTH
from facenet_core.people.errors import PeopleError
from tests.core.people_helpers import Small, history_size, small_library, state


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Small]:
    lib = small_library(tmp_path)
    yield lib
    lib.lib.close()


def face(small: Small, face_id: int) -> tuple:
    return state(small.lib)["faces"][face_id]


def person(small: Small, person_id: int) -> tuple | None:
    return state(small.lib)["people"].get(person_id)


def undo_restores(small: Small, before: dict) -> None:
    change = edits.undo(small.lib)
    assert change.kind == "undo" and change.summary.startswith("undid: ")
    assert state(small.lib) == before


# -- naming -------------------------------------------------------------------------------------


def test_naming_an_unnamed_person_confirms_its_automatic_faces(small: Small) -> None:
    before = state(small.lib)
    change = edits.name_person(small.lib, small.u1, "  Bob   Smith ")
    assert change.kind == "name" and change.person_id == small.u1 and change.edit_id
    assert person(small, small.u1)[0] == "Bob Smith"
    assert face(small, small.u1a)[:3] == (small.u1, "confirmed", None)
    assert face(small, small.u1b)[:2] == (small.u1, "confirmed")
    assert change.faces == {small.u1a, small.u1b} and change.people == {small.u1}
    undo_restores(small, before)


def test_renaming_changes_only_the_name(small: Small) -> None:
    before = state(small.lib)
    change = edits.name_person(small.lib, small.ada, "Ada Lovelace")
    assert 'renamed "Ada"' in change.summary
    after = state(small.lib)
    assert after["people"][small.ada][0] == "Ada Lovelace"
    assert after["faces"] == before["faces"]  # the automatic a3 stays automatic
    undo_restores(small, before)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ada", ""), "cannot be empty"),
        (("ada", "   "), "cannot be empty"),
        ((999, "Eve"), "there is no person 999"),
        (("ada", "x" * 201), "at most 200"),
    ],
)
def test_bad_names_change_nothing(small: Small, args: tuple, message: str) -> None:
    before = state(small.lib)
    pid = small.ada if args[0] == "ada" else args[0]
    with pytest.raises(PeopleError, match=message):
        edits.name_person(small.lib, pid, args[1])
    assert state(small.lib) == before and history_size(small.lib) == 0


def test_the_same_name_again_is_no_edit(small: Small) -> None:
    change = edits.name_person(small.lib, small.ada, "Ada")
    assert not change.changed and change.edit_id is None and history_size(small.lib) == 0


# -- merging ------------------------------------------------------------------------------------


def test_merge_goes_into_the_named_person_and_confirms(small: Small) -> None:
    before = state(small.lib)
    change = edits.merge_people(small.lib, [small.u1, small.ada, small.u2])
    assert change.person_id == small.ada and 'into "Ada"' in change.summary
    after = state(small.lib)
    assert set(after["people"]) == {small.ada}  # the others are gone, Ada keeps her name
    assert after["people"][small.ada][0] == "Ada"
    for f in (small.a1, small.a2, small.a3, small.u1a, small.u1b, small.u2a):
        assert after["faces"][f][:2] == (small.ada, "confirmed")
    assert after["faces"][small.s1][:3] == (small.ada, "suggested", 0.7)  # still a question
    undo_restores(small, before)  # the merged-away people come back with their ids


def test_merge_of_unnamed_people_keeps_the_first(small: Small) -> None:
    change = edits.merge_people(small.lib, [small.u2, small.u1])
    assert change.person_id == small.u2
    assert face(small, small.u1a)[:2] == (small.u2, "confirmed")
    assert person(small, small.u1) is None


def test_merge_carries_rejections_and_the_latest_word_wins(small: Small) -> None:
    # u1b is rejected from u2; a3 (automatic with Ada) is rejected from u1; a2 (confirmed with
    # Ada) is rejected from u1 too
    edits.remove_faces(small.lib, [small.u2a], small.u2)  # gives u2 a rejection, empties it
    assert person(small, small.u2) is None  # unnamed and empty: deleted
    edits.undo(small.lib)
    with small.lib.write() as s:
        from facenet_core.store import FaceRejection

        s.add_all(
            [
                FaceRejection(face_id=small.u1b, person_id=small.u2),
                FaceRejection(face_id=small.a3, person_id=small.u1),
                FaceRejection(face_id=small.a2, person_id=small.u1),
            ]
        )
    before = state(small.lib)
    edits.merge_people(small.lib, [small.ada, small.u1, small.u2])
    after = state(small.lib)
    assert after["faces"][small.a3][:2] == (None, "none")  # automatic and rejected: leaves
    assert after["faces"][small.a2][:2] == (small.ada, "confirmed")  # confirmed: stays
    assert (small.a2, small.ada) not in after["rejections"]
    assert (small.a3, small.ada) in after["rejections"]
    # u1b was u1's automatically and "not u2": u2 is now Ada too, so it leaves
    assert (small.u1b, small.ada) in after["rejections"]
    assert after["faces"][small.u1b][:2] == (None, "none")
    assert after["faces"][small.u1a][:2] == (small.ada, "confirmed")
    undo_restores(small, before)


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (["ada", "ada"], "cannot merge a person with itself"),
        (["ada"], "at least two people"),
        (["ada", 12345], "there is no person 12345"),
    ],
)
def test_bad_merges_change_nothing(small: Small, ids: list, message: str) -> None:
    before = state(small.lib)
    with pytest.raises(PeopleError, match=message):
        edits.merge_people(small.lib, [small.ada if i == "ada" else i for i in ids])
    assert state(small.lib) == before and history_size(small.lib) == 0


# -- moving, removing -------------------------------------------------------------------------


def test_move_confirms_unignores_lifts_rejection_and_drops_empty_people(small: Small) -> None:
    edits.remove_faces(small.lib, [small.u2a], small.u2)  # u2a rejected from u2, u2 deleted
    edits.undo(small.lib)
    with small.lib.write() as s:
        from facenet_core.store import FaceRejection

        s.add(FaceRejection(face_id=small.ig, person_id=small.ada))
    before = state(small.lib)
    change = edits.move_faces(small.lib, [small.u2a, small.ig, small.a1], small.ada)
    after = state(small.lib)
    assert after["faces"][small.u2a][:2] == (small.ada, "confirmed")
    assert after["faces"][small.ig] == (small.ada, "confirmed", None, False)
    assert (small.ig, small.ada) not in after["rejections"]
    assert small.u2 not in after["people"]  # unnamed, visible and empty now
    assert change.summary == f'moved 2 faces to "Ada" (#{small.ada})'  # a1 was already there
    undo_restores(small, before)


def test_move_to_a_new_person(small: Small) -> None:
    before = state(small.lib)
    change = edits.move_faces(small.lib, [small.n1, small.a3], None)
    new = change.person_id
    assert new is not None and new not in before["people"]
    after = state(small.lib)
    assert after["people"][new][0] is None
    assert after["faces"][small.n1][:2] == (new, "confirmed")
    assert after["faces"][small.a3][:2] == (new, "confirmed")
    undo_restores(small, before)  # the new person goes again


def test_move_errors(small: Small) -> None:
    before = state(small.lib)
    with pytest.raises(PeopleError, match="there is no face 4242"):
        edits.move_faces(small.lib, [small.n1, 4242], small.ada)
    with pytest.raises(PeopleError, match="there is no person 77"):
        edits.move_faces(small.lib, [small.n1], 77)
    with pytest.raises(PeopleError, match="no faces given"):
        edits.move_faces(small.lib, [], small.ada)
    assert state(small.lib) == before and history_size(small.lib) == 0


def test_remove_records_the_rejection(small: Small) -> None:
    before = state(small.lib)
    change = edits.remove_faces(small.lib, [small.a1, small.a3], small.ada)
    after = state(small.lib)
    assert after["faces"][small.a1][:2] == (None, "none")
    assert {(small.a1, small.ada), (small.a3, small.ada)} <= after["rejections"]
    assert small.ada in after["people"]  # named people are never dropped
    assert change.faces == {small.a1, small.a3}
    undo_restores(small, before)


def test_remove_a_face_that_is_not_with_the_person(small: Small) -> None:
    before = state(small.lib)
    with pytest.raises(PeopleError, match=f'face {small.u1a} is not with "Ada"'):
        edits.remove_faces(small.lib, [small.a1, small.u1a], small.ada)
    assert state(small.lib) == before


# -- suggestions --------------------------------------------------------------------------------


def test_confirm_and_reject_suggestions(small: Small) -> None:
    before = state(small.lib)
    change = edits.confirm_suggestions(small.lib, [small.s1])
    assert face(small, small.s1)[:3] == (small.ada, "confirmed", None)
    assert change.faces == {small.s1}
    undo_restores(small, before)
    change = edits.reject_suggestions(small.lib, person_id=small.ada)
    assert change.faces == {small.s1}
    assert face(small, small.s1)[:2] == (None, "none")
    assert (small.s1, small.ada) in state(small.lib)["rejections"]
    undo_restores(small, before)
    with pytest.raises(PeopleError, match=f"face {small.a3} is not a suggestion"):
        edits.confirm_suggestions(small.lib, [small.s1, small.a3])
    with pytest.raises(PeopleError, match="is not suggested for"):
        edits.reject_suggestions(small.lib, [small.s1], person_id=small.u1)
    assert state(small.lib) == before
    assert not edits.confirm_suggestions(small.lib, person_id=small.u1).changed  # none pending


def test_confirm_faces_where_they_are(small: Small) -> None:
    before = state(small.lib)
    edits.confirm_faces(small.lib, [small.a3, small.u2a, small.a1])
    assert face(small, small.a3)[:2] == (small.ada, "confirmed")
    assert face(small, small.u2a)[:2] == (small.u2, "confirmed")
    undo_restores(small, before)
    with pytest.raises(PeopleError, match="has no person"):
        edits.confirm_faces(small.lib, [small.n1])


# -- ignoring, hiding, covers -------------------------------------------------------------------


def test_ignore_takes_faces_out_and_unignore_puts_the_mark_off(small: Small) -> None:
    before = state(small.lib)
    edits.ignore_faces(small.lib, [small.u2a, small.a1])
    after = state(small.lib)
    assert after["faces"][small.u2a] == (None, "none", None, True)
    assert small.u2 not in after["people"]
    undo_restores(small, before)
    edits.unignore_faces(small.lib, [small.ig])
    assert face(small, small.ig) == (None, "none", None, False)
    undo_restores(small, before)


def test_hide_confirms_and_unhide_shows(small: Small) -> None:
    before = state(small.lib)
    edits.hide_person(small.lib, small.u1)
    after = state(small.lib)
    assert after["people"][small.u1][1] is True
    assert after["faces"][small.u1a][1] == "confirmed"
    edits.unhide_person(small.lib, small.u1)
    assert person(small, small.u1)[1] is False
    assert face(small, small.u1a)[1] == "confirmed"  # unhiding changes only the flag
    edits.undo(small.lib)
    undo_restores(small, before)


def test_set_cover(small: Small) -> None:
    before = state(small.lib)
    edits.set_cover(small.lib, small.ada, small.a3)
    assert person(small, small.ada)[2] == small.a3
    assert face(small, small.a3)[1] == "confirmed"
    undo_restores(small, before)
    with pytest.raises(PeopleError, match="is not with"):
        edits.set_cover(small.lib, small.ada, small.u1a)
    with pytest.raises(PeopleError, match="there is no face 555"):
        edits.set_cover(small.lib, small.ada, 555)
    assert state(small.lib) == before


# -- undo ---------------------------------------------------------------------------------------


def test_undo_is_repeatable_and_exact(small: Small) -> None:
    states = [state(small.lib)]
    steps = [
        lambda: edits.name_person(small.lib, small.u1, "Bob"),
        lambda: edits.move_faces(small.lib, [small.n1], small.u1),
        lambda: edits.confirm_suggestions(small.lib, person_id=small.ada),
        lambda: edits.merge_people(small.lib, [small.u1, small.u2]),
        lambda: edits.remove_faces(small.lib, [small.u2a], small.u1),
        lambda: edits.ignore_faces(small.lib, [small.a3]),
        lambda: edits.hide_person(small.lib, small.ada),
        lambda: edits.set_cover(small.lib, small.ada, small.a2),
        lambda: edits.move_faces(small.lib, [small.a1, small.ig], None),
    ] + [lambda i=i: edits.name_person(small.lib, small.u1, f"Bob {i}") for i in range(15)]
    for step in steps:
        assert step().changed
        states.append(state(small.lib))
    assert len(states) == 25
    while len(states) > 1:
        states.pop()
        edits.undo(small.lib)
        assert state(small.lib) == states[-1]
    with pytest.raises(PeopleError, match="nothing to undo"):
        edits.undo(small.lib)


def test_redo_makes_undone_edits_again_exactly(small: Small) -> None:
    states = [state(small.lib)]
    steps = [
        lambda: edits.name_person(small.lib, small.u1, "Bob"),
        lambda: edits.move_faces(small.lib, [small.n1], small.u1),
        lambda: edits.merge_people(small.lib, [small.u1, small.u2]),  # deletes a person
        lambda: edits.remove_faces(small.lib, [small.u2a], small.u1),  # a rejection
        lambda: edits.move_faces(small.lib, [small.a1], None),  # creates a person
        lambda: edits.hide_person(small.lib, small.ada),
    ]
    summaries = []
    for step in steps:
        change = step()
        assert change.changed
        summaries.append(change.summary)
        states.append(state(small.lib))
    with pytest.raises(PeopleError, match="nothing to redo"):
        edits.redo(small.lib)
    for back in range(len(steps), 0, -1):
        edits.undo(small.lib)
        assert state(small.lib) == states[back - 1]
    with small.lib.session() as s:
        assert edits.redo_summary(s) == summaries[0]  # the last undone is the first made
    for forward in range(1, len(steps) + 1):
        change = edits.redo(small.lib)
        assert change.kind == "redo" and change.summary.startswith("redid: ")
        assert state(small.lib) == states[forward]
    with pytest.raises(PeopleError, match="nothing to redo"):
        edits.redo(small.lib)
    # what was redone can be undone again, and redone again
    edits.undo(small.lib)
    assert state(small.lib) == states[-2]
    edits.redo(small.lib)
    assert state(small.lib) == states[-1]


def test_a_new_edit_forgets_what_could_be_redone(small: Small) -> None:
    edits.name_person(small.lib, small.u1, "Bob")
    edits.undo(small.lib)
    with small.lib.session() as s:
        assert edits.redo_summary(s)
    edits.name_person(small.lib, small.u2, "Cy")
    with small.lib.session() as s:
        assert edits.redo_summary(s) == ""
    with pytest.raises(PeopleError, match="nothing to redo"):
        edits.redo(small.lib)
    assert history_size(small.lib) == 1  # the undone edit left no trace in the history
    edits.undo(small.lib)  # undoes naming Cy, not the undone naming of Bob
    assert person(small, small.u2)[0] is None


def test_history_keeps_the_last_edits(small: Small) -> None:
    for i in range(HISTORY_DEPTH + 5):
        edits.name_person(small.lib, small.ada, f"Ada {i}")
    assert history_size(small.lib) == HISTORY_DEPTH
    for _ in range(HISTORY_DEPTH):
        edits.undo(small.lib)
    assert person(small, small.ada)[0] == "Ada 4"  # the five oldest edits were forgotten
    with pytest.raises(PeopleError, match="nothing to undo"):
        edits.undo(small.lib)


def test_undo_after_an_automatic_run_deleted_a_person(small: Small) -> None:
    edits.move_faces(small.lib, [small.u1a], small.ada)
    with small.lib.write() as s:  # what a re-cluster does to an emptied person
        from sqlalchemy import delete

        from facenet_core.store import Person

        s.execute(delete(Person).where(Person.id == small.u1))
    edits.undo(small.lib)
    assert face(small, small.u1a)[:2] == (None, "none")  # its person is gone: unassigned
