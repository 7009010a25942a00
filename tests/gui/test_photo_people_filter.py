"""A person on a photo without a face box (issue 15, item 5) shows in the Photos page's "photos
of A and B" filter through the core's query, with no change to the page."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from facenet_core.people.photo_people import tag_photo
from facenet_core.store import Face, Library, Person, Photo
from tests.gui.conftest import show_main_window, shut_down
from tests.helpers import named_library


@pytest.fixture
def window(qtbot, lfw_mini: Path, tmp_path_factory: pytest.TempPathFactory):
    path, _ = named_library(lfw_mini, tmp_path_factory, 2, 2)
    library = Library.open(path)
    win = show_main_window(qtbot, library)
    yield win
    shut_down(win, library, qtbot)


def test_the_photos_filter_shows_a_photo_where_a_person_is_tagged_without_a_face(
    qtbot, window
) -> None:
    library = window.library
    with library.session() as s:
        (a, a_name), (b, b_name) = s.execute(
            select(Person.id, Person.name).where(Person.name.is_not(None)).order_by(Person.name)
        ).all()
        a_photos = select(Face.photo_id).where(Face.person_id == a)
        b_photo, b_path = s.execute(
            select(Photo.id, Photo.path)
            .join(Face, Face.photo_id == Photo.id)
            .where(Face.person_id == b, Photo.id.not_in(a_photos))
            .order_by(Photo.path)
        ).first()
    photos = window.show_view("Photos")
    photos.set_people([(a, a_name), (b, b_name)])
    qtbot.waitUntil(lambda: "with" in photos.header.subtitle.text(), timeout=10_000)
    before = {p.path for p in photos.model.items}
    assert b_path not in before

    tag_photo(library, b_photo, a)  # A is on B's photo, back to the camera
    photos.reload()
    qtbot.waitUntil(lambda: len(photos.model.items) == len(before) + 1, timeout=10_000)
    assert {p.path for p in photos.model.items} == before | {b_path}
    assert photos.header.subtitle.text().startswith(f"{len(before) + 1} photo")
