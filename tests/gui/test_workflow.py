"""The whole workflow through the real widgets and the real task runner, on real photos:
add a folder -> scan -> people appear -> rename (F2) -> merge -> "not this person" (Delete) ->
undo (Ctrl+Z) and redo -> photos of two people together -> a setting changed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit
from sqlalchemy import select

from app.main import warm_up
from app.models import ItemRole
from facenet_core.people.queries import person_label, photos_with_people
from facenet_core.store import Face, Library
from tests.gui.conftest import window_fixture

pytestmark = pytest.mark.slow


def folder_of(face) -> str:  # type: ignore[no-untyped-def]
    return Path(face.photo_path).parent.name


@pytest.fixture
def family(photo_folder: Path) -> Path:
    """The 5 people's photos plus two "group photos": two people side by side."""
    people = sorted(p for p in photo_folder.iterdir() if p.is_dir())
    a, b = people[0], people[1]
    for n in range(2):
        left = Image.open(sorted(a.glob("*.jpg"))[n]).convert("RGB")
        right = Image.open(sorted(b.glob("*.jpg"))[n]).convert("RGB")
        group = Image.new("RGB", (500, 250))
        group.paste(left, (0, 0))
        group.paste(right, (250, 0))
        (photo_folder / "Together").mkdir(exist_ok=True)
        group.save(photo_folder / "Together" / f"group_{n}.jpg", quality=92)
    return photo_folder


@pytest.fixture
def window(qtbot, tmp_path: Path):
    library = Library.open(tmp_path / "lib" / "library.db", create=True)
    yield from window_fixture(qtbot, library)


def people_cards(window) -> list:  # type: ignore[no-untyped-def]
    grid = window.people_view.people
    return [grid.proxy.index(r, 0).data(ItemRole) for r in range(grid.proxy.rowCount())]


def wait_people(qtbot, window, condition, timeout: int = 15_000) -> list:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: condition(people_cards(window)), timeout=timeout)
    return people_cards(window)


def test_scan_name_merge_correct_undo_filter_and_settings(qtbot, window, family: Path) -> None:
    warm_up(window.library.settings())
    library_view = window.library_view

    # 1. add a folder: it is scanned through the task runner
    window.add_folders([str(family)])
    qtbot.waitUntil(lambda: library_view.scan_task is not None, timeout=10_000)
    qtbot.waitUntil(lambda: library_view.scan_task is None, timeout=600_000)
    assert "Scan finished" in window.banner.message

    # 2. people appear: the new faces were grouped, each group mostly one real person
    window.show_view("People")
    people = wait_people(qtbot, window, lambda cards: len(cards) >= 4)
    assert all(card.name is None for card in people)
    grid = window.people_view.people.grid
    biggest = max(people, key=lambda c: c.faces)
    assert biggest.faces >= 6

    # open the biggest person: its faces come from one folder
    row = next(r for r, c in enumerate(people) if c.id == biggest.id)
    index = window.people_view.people.proxy.index(row, 0)
    grid.setCurrentIndex(index)
    qtbot.keyClick(grid, Qt.Key.Key_Return)
    page = window.people_view.person
    qtbot.waitUntil(lambda: page.faces.rowCount() == biggest.faces, timeout=10_000)
    folders = Counter(folder_of(f) for f in page.faces.items if folder_of(f) != "Together")
    who, count = folders.most_common(1)[0]
    assert count >= 0.8 * sum(folders.values())
    page.back.emit()

    # 3. rename it in place: F2, type, Enter
    grid.setCurrentIndex(index)
    qtbot.keyClick(grid, Qt.Key.Key_F2)
    editor = grid.findChild(QLineEdit)
    assert editor is not None and editor.isVisible()
    editor.setText(who)
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    people = wait_people(qtbot, window, lambda cards: any(c.name == who for c in cards))
    named = next(c for c in people if c.name == who)
    assert people[0].id == named.id  # named people come first
    assert (
        window.undo_action.isEnabled()
        or qtbot.waitUntil(lambda: window.undo_action.isEnabled(), timeout=5000) is None
    )

    # 4. merge the named person with another group (select both, Merge)
    other = min((c for c in people if c.id != named.id), key=lambda c: c.faces)
    selection = grid.selectionModel()
    grid.clearSelection()
    for card in (named, other):
        r = next(i for i, c in enumerate(people_cards(window)) if c.id == card.id)
        selection.select(
            window.people_view.people.proxy.index(r, 0), selection.SelectionFlag.Select
        )
    assert window.people_view.people.merge_button.isEnabled()
    window.people_view.people.merge_button.click()
    people = wait_people(
        qtbot, window, lambda cards: all(c.id != other.id for c in cards) and len(cards) > 0
    )
    merged = next(c for c in people if c.name == who)
    assert merged.faces == named.faces + other.faces

    # 5. "Not this person": open the person, select the faces of another folder, press Delete
    window.people_view.open_person(merged.id)
    qtbot.waitUntil(lambda: page.faces.rowCount() == merged.faces, timeout=10_000)
    strangers = [r for r, f in enumerate(page.faces.items) if folder_of(f) not in (who, "Together")]
    assert strangers, "the merged group holds faces of another folder"
    page.grid.clearSelection()
    for r in strangers:
        page.grid.selectionModel().select(
            page.faces.index(r, 0), page.grid.selectionModel().SelectionFlag.Select
        )
    page.grid.setFocus()
    qtbot.keyClick(page.grid, Qt.Key.Key_Delete)
    left = merged.faces - len(strangers)
    qtbot.waitUntil(lambda: page.person is not None and page.person.faces == left, timeout=10_000)
    qtbot.waitUntil(lambda: page.faces.total == left, timeout=10_000)

    # 6. undo (Ctrl+Z): the faces are back
    qtbot.waitUntil(lambda: "removed" in window.undo_action.text(), timeout=5000)
    window.undo_action.trigger()
    qtbot.waitUntil(lambda: page.faces.total == merged.faces, timeout=10_000)
    assert {f.id for f in page.faces.items} >= {page.faces.items[r].id for r in strangers}
    # ... and Redo (Ctrl+Shift+Z) takes them out again, then Undo brings them back once more
    qtbot.waitUntil(lambda: "removed" in window.redo_action.text(), timeout=5000)
    window.redo_action.trigger()
    qtbot.waitUntil(lambda: page.faces.total == left, timeout=10_000)
    qtbot.waitUntil(lambda: "removed" in window.undo_action.text(), timeout=5000)
    window.undo_action.trigger()
    qtbot.waitUntil(lambda: page.faces.total == merged.faces, timeout=10_000)
    qtbot.waitUntil(lambda: window.redo_action.isEnabled(), timeout=5000)

    # 7. photos with two people together: the two group photos
    page.back.emit()
    people = people_cards(window)
    with window.library.session() as s:
        owners = {}
        for card in people:
            for photo in photos_with_people(s, [card.id], limit=500).items:
                if Path(photo.path).parent.name == "Together":
                    owners.setdefault(photo.path, set()).add(card.id)
    pair = next(ids for ids in owners.values() if len(ids) == 2)
    photos = window.show_view("Photos")
    names = {c.id: c.name or f"Unnamed person {c.id}" for c in people}
    photos.set_people([(pid, names[pid]) for pid in sorted(pair)])
    qtbot.waitUntil(lambda: photos.model.rowCount() > 0, timeout=10_000)
    shown = {Path(p.path).name for p in photos.model.items}
    assert {"group_0.jpg", "group_1.jpg"} & shown
    # every photo shown holds a face of each of the two (a background face of an LFW photo may
    # be grouped with one of them: then that photo is rightly shown too)
    with window.library.session() as s:
        for item in photos.model.items:
            holders = set(s.scalars(select(Face.person_id).where(Face.photo_id == item.id)).all())
            assert set(pair) <= holders, item.path
    assert "with" in photos.header.subtitle.text()
    # the viewer: both faces boxed and labelled
    photos.open_row(0)
    qtbot.waitUntil(lambda: len(photos.canvas.faces) >= 2, timeout=10_000)
    qtbot.waitUntil(lambda: photos.canvas.pixmap is not None, timeout=20_000)
    boxed = {f.person_id: f.label for f in photos.canvas.faces}
    assert set(pair) <= set(boxed)  # (LFW photos can hold a second, background face)
    for pid in pair:  # each box is labelled with its person's name ("Unnamed person 12")
        assert boxed[pid] == person_label(pid, next(c.name for c in people if c.id == pid))

    # 8. a setting changed in the Settings page is saved into the library
    settings = window.show_view("Settings")
    qtbot.waitUntil(lambda: settings.loads > 0)
    settings.controls["min_cluster_faces"].setValue(2)
    qtbot.waitUntil(lambda: window.library.settings().min_cluster_faces == 2, timeout=5000)
