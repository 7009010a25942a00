"""People queries: what the people views show, as plain frozen dataclasses."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from facenet_core.library.browse import all_photos
from facenet_core.people import edits, history_trace, queries
from facenet_core.people.errors import PeopleError
from facenet_core.store import Person, Photo
from tests.core.people_helpers import Small, add_face, add_photo, small_library


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Small]:
    lib = small_library(tmp_path)
    yield lib
    lib.lib.close()


def test_people_are_listed_named_first_then_by_size(small: Small) -> None:
    with small.lib.write() as s:
        zed = Person(name="zed")
        s.add(zed)
        s.flush()
        photo = add_photo(s, 50)
        add_face(s, photo, zed, "confirmed")
    with small.lib.session() as s:
        people = queries.list_people(s)
        assert [p.label for p in people] == [
            "Ada",
            "zed",
            f"Unnamed person {small.u1}",
            f"Unnamed person {small.u2}",
        ]
        ada = people[0]
        assert (ada.faces, ada.confirmed, ada.suggestions) == (3, 2, 1)
        assert people[2].faces == 2 and people[3].faces == 1
        assert dataclasses.is_dataclass(ada) and not isinstance(ada, Person)
        with pytest.raises(dataclasses.FrozenInstanceError):
            ada.name = "Eve"  # type: ignore[misc]
        # the smallest-group setting hides small unnamed groups, never named people
        assert [p.label for p in queries.list_people(s, min_faces=2)] == [
            "Ada",
            "zed",
            f"Unnamed person {small.u1}",
        ]
        assert queries.count_people(s, min_faces=2) == 3
        assert [p.label for p in queries.list_people(s, offset=1, limit=2)] == [
            "zed",
            f"Unnamed person {small.u1}",
        ]
    edits.hide_person(small.lib, small.u1)
    with small.lib.session() as s:
        assert small.u1 not in [p.id for p in queries.list_people(s)]
        hidden = [p for p in queries.list_people(s, include_hidden=True) if p.id == small.u1]
        assert hidden and hidden[0].is_hidden


def test_covers(small: Small) -> None:
    with small.lib.session() as s:
        assert queries.get_person(s, small.ada).cover_face_id is None  # not chosen
        covers = queries.cover_faces(s, [small.ada, small.u1, 999])
        assert covers == {small.ada: small.a1, small.u1: small.u1a}  # first confirmed / first
    edits.set_cover(small.lib, small.ada, small.a2)
    with small.lib.session() as s:
        assert queries.get_person(s, small.ada).cover_face_id == small.a2
        assert queries.cover_faces(s, [small.ada])[small.ada] == small.a2
    edits.move_faces(small.lib, [small.a2], small.u1)  # the cover leaves Ada
    with small.lib.session() as s:
        assert queries.get_person(s, small.ada).cover_face_id is None
        assert queries.cover_faces(s, [small.ada])[small.ada] == small.a1
    edits.undo(small.lib)  # it comes back, and is the cover again
    with small.lib.session() as s:
        assert queries.get_person(s, small.ada).cover_face_id == small.a2


def test_person_faces_by_kind_and_page(small: Small) -> None:
    with small.lib.session() as s:
        page = queries.person_faces(s, small.ada)
        assert page.total == 3 and not page.has_more
        assert [(f.id, f.kind) for f in page.items] == [
            (small.a2, "confirmed"),
            (small.a1, "confirmed"),
            (small.a3, "auto"),
        ]
        assert page.items[2].confidence == 0.95 and page.items[0].photo_path.endswith(".jpg")
        both = queries.person_faces(s, small.ada, kinds=("suggested", "confirmed", "auto"))
        assert both.items[0].id == small.s1 and both.total == 4
        second = queries.person_faces(s, small.ada, offset=1, limit=1)
        assert [f.id for f in second.items] == [small.a1] and second.has_more
        with pytest.raises(PeopleError, match="there is no person 99"):
            queries.person_faces(s, 99)
        with pytest.raises(PeopleError, match="bad page"):
            queries.person_faces(s, small.ada, limit=0)


def test_one_count_of_people_says_what_is_listed_and_what_is_left_out(small: Small) -> None:
    """Ada (named, 3 faces), an unnamed group of 2 and one of 1: with groups of 2 or more
    shown, the count agrees with the list, and the rest is small or hidden, never lost."""
    with small.lib.session() as s:
        count = queries.people_count(s, min_faces=2)
        assert (count.shown, count.named, count.hidden, count.small) == (2, 1, 0, 1)
        assert count.shown == len(queries.list_people(s, min_faces=2))
    edits.hide_person(small.lib, small.u1)
    with small.lib.session() as s:
        count = queries.people_count(s, min_faces=2)
        assert (count.shown, count.named, count.hidden, count.small) == (1, 1, 1, 1)
        assert count.shown == len(queries.list_people(s, min_faces=2))
        everyone = queries.list_people(s, min_faces=2, include_hidden=True)
        assert count.shown + count.hidden == len(everyone)
        assert count.total == s.query(Person).count()


def test_photos_are_listed_by_date_taken_newest_first_undated_last(small: Small) -> None:
    with small.lib.write() as s:
        old = add_photo(s, 60)
        old.taken_at = datetime(2021, 5, 2, 10, 0)
        new = add_photo(s, 61)
        new.taken_at = datetime(2023, 1, 9, 8, 30)
        add_face(s, old, s.get(Person, small.ada), "confirmed")
        add_face(s, new, s.get(Person, small.ada), "auto")
        old_path, new_path = old.path, new.path
    with small.lib.session() as s:
        everything = [p.path for p in all_photos(s).items]
        undated = sorted(
            (p for p in everything if p not in (new_path, old_path)),
            key=lambda path: -s.scalars(select(Photo.id).where(Photo.path == path)).one(),
        )
        assert everything == [new_path, old_path, *undated]
        ada = queries.photos_with_people(s, [small.ada])
        assert [p.path for p in ada.items][:2] == [new_path, old_path]
        assert [p.taken_at for p in ada.items][2:] == [None] * (ada.total - 2)
        second = queries.photos_with_people(s, [small.ada], offset=1, limit=1)
        assert [p.path for p in second.items] == [old_path] and second.total == ada.total


def test_photos_with_all_of_these_people(small: Small) -> None:
    with small.lib.session() as s:
        both = queries.photos_with_people(s, [small.ada, small.u1])
        assert [p.path for p in both.items] == ["/photos/img_1.jpg"] and both.total == 1
        ada = queries.photos_with_people(s, [small.ada])
        assert ada.total == 3  # a1, a2, a3: the suggestion s1 does not count
        assert queries.photos_with_people(s, [small.ada, small.u2]).total == 0
        with pytest.raises(PeopleError, match="there is no person 404"):
            queries.photos_with_people(s, [small.ada, 404])


def test_unassigned_ignored_and_suggested_faces(small: Small) -> None:
    with small.lib.session() as s:
        assert [f.id for f in queries.unassigned_faces(s).items] == [small.n1]
        assert queries.unassigned_faces(s).total == 1
        assert [f.id for f in queries.ignored_faces(s).items] == [small.ig]
        pending = queries.suggested_faces(s)
        assert [(f.id, f.person_id, f.confidence) for f in pending.items] == [
            (small.s1, small.ada, 0.7)
        ]
        assert queries.suggested_faces(s, small.u1).total == 0
        assert queries.suggestion_count(s, small.ada) == 1
    edits.remove_faces(small.lib, [small.a3], small.ada)
    edits.ignore_faces(small.lib, [small.n1])
    with small.lib.session() as s:
        assert [f.id for f in queries.unassigned_faces(s).items] == [small.a3]
        assert {f.id for f in queries.ignored_faces(s).items} == {small.ig, small.n1}
        assert queries.faces_by_id(s, [small.a3])[0].kind == "none"
        with pytest.raises(PeopleError, match="there is no face 31337"):
            queries.faces_by_id(s, [small.a3, 31337])


def test_search_and_resolve_people(small: Small) -> None:
    edits.name_person(small.lib, small.u1, "Bernadette Ada")
    edits.name_person(small.lib, small.u2, "Zoë")
    with small.lib.session() as s:
        assert [p.name for p in queries.search_people(s, "ada")] == ["Ada", "Bernadette Ada"]
        assert [p.name for p in queries.search_people(s, "ZOË")] == ["Zoë"]
        assert queries.search_people(s, "  ") == []
        assert queries.resolve_person(s, "ada") == small.ada
        assert queries.resolve_person(s, str(small.u2)) == small.u2
        with pytest.raises(PeopleError, match="nobody is named 'Eve'"):
            queries.resolve_person(s, "Eve")
        with pytest.raises(PeopleError, match="there is no person 77"):
            queries.resolve_person(s, "77")
    edits.name_person(small.lib, small.u2, "ADA")
    with small.lib.session() as s, pytest.raises(PeopleError, match="2 people are named"):
        queries.resolve_person(s, "Ada")


def test_edit_history(small: Small) -> None:
    edits.name_person(small.lib, small.u1, "Bob")
    edits.merge_people(small.lib, [small.u1, small.u2])
    with small.lib.session() as s:
        history = history_trace.edit_history(s)
        assert [h.kind for h in history] == ["merge", "name"]
        assert history[0].summary == f'merged 1 person into "Bob" (#{small.u1})'
