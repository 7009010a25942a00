"""Forgetting through the real widgets: a person from their page (the confirmation says what
goes; Cancel changes nothing; Forget removes them, their codes leave the database file), a single
face from the face menu, and the whole library from the File menu (its files go, the photos
stay). The confirmations are the real message boxes, answered by clicking their buttons."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from sqlalchemy import select

from app.forget import ConfirmBox
from app.models import ItemRole
from facenet_core.library.forget import library_paths
from facenet_core.store import Face, Library, Person
from tests.gui.conftest import window_fixture
from tests.helpers import DEFAULT_CODE_BYTES, copy_library, named_library_fixture

PEOPLE = 3
EACH = 3
scanned = named_library_fixture(PEOPLE, EACH)


@pytest.fixture
def window(qtbot, scanned: tuple[Path, Path], tmp_path: Path):
    source, _ = scanned
    library = Library.open(copy_library(source, tmp_path / "lib"))
    yield from window_fixture(qtbot, library)


def answer_next_box(qtbot, button: str, seen: list[dict[str, object]]) -> Callable[[], None]:  # type: ignore[no-untyped-def]
    """Arm a poll that finds the next modal message box, records what it says, and clicks
    ``button`` ("forget" or "cancel") in it; returns a function that stops the poll."""
    timer = QTimer()
    timer.setInterval(20)

    def poll() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, ConfirmBox):
            timer.stop()
            seen.append(
                {
                    "text": box.message,
                    "default_is_cancel": box.defaultButton() is box.cancel_button,
                    "destructive": box.forget_button.property("destructive"),
                    "action": box.forget_button.text(),
                }
            )
            target = box.forget_button if button == "forget" else box.cancel_button
            target.click()

    timer.timeout.connect(poll)
    timer.start()
    return timer.stop


def cards(window) -> list:  # type: ignore[no-untyped-def]
    grid = window.people_view.people
    return [grid.proxy.index(r, 0).data(ItemRole) for r in range(grid.proxy.rowCount())]


def codes_of(library: Library, **where: int) -> dict[int, list[bytes]]:
    """Each face's 128-byte codes, for the faces of a person or one face."""
    with library.session() as s:
        query = select(Face)
        if "person_id" in where:
            query = query.where(Face.person_id == where["person_id"])
        if "face_id" in where:
            query = query.where(Face.id == where["face_id"])
        return {f.id: [e.vector for e in f.embeddings] for f in s.scalars(query)}


def everything(library: Library) -> dict[int, tuple]:
    with library.session() as s:
        return {
            f.id: (f.person_id, f.assignment, tuple(sorted(e.vector for e in f.embeddings)))
            for f in s.scalars(select(Face))
        }


def file_bytes(library: Library) -> bytes:
    wal = library.path.with_name(library.path.name + "-wal")
    return library.path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def open_first_person(qtbot, window):  # type: ignore[no-untyped-def]
    view = window.show_view("People")
    qtbot.waitUntil(lambda: len(cards(window)) == PEOPLE, timeout=15_000)
    person = cards(window)[0]
    view.open_person(person.id)
    page = view.person
    qtbot.waitUntil(
        lambda: page.person is not None and page.faces.rowCount() == EACH, timeout=15_000
    )
    return person, page


def test_forget_a_person_asks_first_and_cancel_changes_nothing(qtbot, window) -> None:
    library = window.library
    person, page = open_first_person(qtbot, window)
    before = everything(library)
    assert page.forget_button.isVisible() and page.forget_button.isEnabled()

    seen: list[dict[str, object]] = []
    stop = answer_next_box(qtbot, "cancel", seen)
    qtbot.mouseClick(page.forget_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(seen) == 1, timeout=15_000)
    stop()
    said = str(seen[0]["text"])
    assert f"Forget {person.name}?" in said
    assert f"{EACH} faces ({EACH} confirmed by you) in {EACH} photos" in said
    assert "cannot be undone" in said and "Undo will not bring them back" in said
    assert seen[0]["default_is_cancel"] and seen[0]["destructive"]
    assert seen[0]["action"] == "Forget"
    qtbot.wait(300)  # nothing was queued: the library stays as it was
    assert window.ctx.runner.running_jobs() == []
    assert everything(library) == before
    assert window.people_view.stack.currentWidget() is page


def test_forget_a_person_removes_them_and_their_codes_from_the_file(qtbot, window) -> None:
    library = window.library
    person, page = open_first_person(qtbot, window)
    codes = [c for face in codes_of(library, person_id=person.id).values() for c in face]
    assert len(codes) >= EACH
    assert all(len(c) == DEFAULT_CODE_BYTES and c in file_bytes(library) for c in codes)
    before = everything(library)
    others = {fid: row for fid, row in before.items() if row[0] != person.id}

    seen: list[dict[str, object]] = []
    stop = answer_next_box(qtbot, "forget", seen)
    page.forget_button.click()
    qtbot.waitUntil(lambda: len(seen) == 1, timeout=15_000)
    stop()
    # gone from the grid, back on it, the banner says what went, the counts follow
    qtbot.waitUntil(lambda: all(c.id != person.id for c in cards(window)), timeout=30_000)
    qtbot.waitUntil(lambda: len(cards(window)) == PEOPLE - 1, timeout=15_000)
    assert window.people_view.stack.currentWidget() is window.people_view.people
    assert f"Forgot '{person.name}': {EACH} faces" in window.banner.message
    qtbot.waitUntil(lambda: f"{PEOPLE - 1} people" in window.counts_label.text(), timeout=15_000)
    data = file_bytes(library)
    assert not [c for c in codes if c in data]  # not one of their codes is left in the file
    assert str(person.name).encode() not in data
    assert everything(library) == others  # everybody else unchanged
    with library.session() as s:
        assert s.get(Person, person.id) is None
    assert not window.undo_action.isEnabled() or "Forg" not in window.undo_action.text()


def test_forget_one_face_from_the_face_menu_keeps_the_person(qtbot, window) -> None:
    library = window.library
    person, page = open_first_person(qtbot, window)
    page.grid.setCurrentIndex(page.faces.index(0, 0))
    face_id = page.grid.selected()[0].id
    codes = codes_of(library, face_id=face_id)[face_id]
    assert codes and all(c in file_bytes(library) for c in codes)
    menu = page.face_menu()
    forget = next(a for a in menu.actions() if a.text() == "Forget This Face…")

    seen: list[dict[str, object]] = []
    stop = answer_next_box(qtbot, "forget", seen)
    forget.trigger()
    qtbot.waitUntil(lambda: len(seen) == 1, timeout=15_000)
    stop()
    assert "Forget this face?" in str(seen[0]["text"])
    assert "cannot be undone" in str(seen[0]["text"])
    qtbot.waitUntil(lambda: page.faces.rowCount() == EACH - 1, timeout=30_000)
    assert "Forgot 1 face, " in window.banner.message
    data = file_bytes(library)
    assert not [c for c in codes if c in data]
    with library.session() as s:
        assert s.get(Face, face_id) is None
        assert s.get(Person, person.id) is not None  # the person keeps the other faces
    assert window.people_view.stack.currentWidget() is page


def test_remove_the_library_from_the_file_menu_keeps_the_photos(
    qtbot, window, scanned: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, photos = scanned
    photo_bytes = {p: p.read_bytes() for p in sorted(photos.iterdir())}
    path = window.library.path
    assert path.is_file() and path.with_name("library.db.thumbnails").is_dir()
    told: list[str] = []
    monkeypatch.setattr(
        "app.main_window.notify_removed", lambda box: told.append(box.informativeText())
    )

    seen: list[dict[str, object]] = []
    stop = answer_next_box(qtbot, "forget", seen)
    window.remove_library_action.trigger()
    qtbot.waitUntil(lambda: len(seen) == 1, timeout=15_000)
    stop()
    said = str(seen[0]["text"])
    assert str(path) in said and "library.db.thumbnails" in said
    assert "Your photos are not touched" in said and seen[0]["action"] == "Remove Library"
    assert seen[0]["default_is_cancel"]
    assert "next time it asks which library to open" in said  # not the default library
    qtbot.waitUntil(lambda: len(told) == 1, timeout=30_000)
    assert "Your photos were not touched" in told[0] and "quits now" in told[0]
    assert not [p for p in library_paths(path) if p.exists()]  # all it created is gone
    assert {p: p.read_bytes() for p in sorted(photos.iterdir())} == photo_bytes
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)


def test_cancelling_the_library_removal_keeps_everything(qtbot, window) -> None:
    path = window.library.path
    before = sorted(p.name for p in path.parent.iterdir())
    seen: list[dict[str, object]] = []
    stop = answer_next_box(qtbot, "cancel", seen)
    window.settings_view.remove_button.click()
    qtbot.waitUntil(lambda: len(seen) == 1, timeout=15_000)
    stop()
    qtbot.wait(200)
    assert sorted(p.name for p in path.parent.iterdir()) == before
    assert window.isVisible() and window.centralWidget().isEnabled()
    assert not isinstance(QApplication.activeModalWidget(), QMessageBox)


def test_forgetting_during_a_scan_says_so_and_waits_for_it(qtbot, window) -> None:
    """A long job in the job lane (standing in for a scan) holds the forgetting back: the box
    says so, and the person is forgotten only once the job has ended."""
    library = window.library
    person, page = open_first_person(qtbot, window)
    gate = threading.Event()
    window.ctx.runner.run(lambda report, cancel: gate.wait(60), title="Finding faces")

    seen: list[dict[str, object]] = []
    stop = answer_next_box(qtbot, "forget", seen)
    page.forget_button.click()
    qtbot.waitUntil(lambda: len(seen) == 1, timeout=15_000)
    stop()
    assert "\u201cFinding faces\u201d is running: forgetting starts when it has finished" in str(
        seen[0]["text"]
    )
    qtbot.waitUntil(lambda: "will be forgotten when" in window.banner.message, timeout=5_000)
    qtbot.wait(500)
    with library.session() as s:
        assert s.get(Person, person.id) is not None  # still there: the job runs
    gate.set()
    qtbot.waitUntil(lambda: f"Forgot '{person.name}'" in window.banner.message, timeout=30_000)
    with library.session() as s:
        assert s.get(Person, person.id) is None


def test_the_unassigned_and_ignored_face_menus_offer_forgetting(qtbot, window) -> None:
    for title, own in (("Unassigned", "Name…\tF2"), ("Ignored", "Restore")):
        view = window.show_view(title)
        texts = [a.text() for a in view.face_menu().actions() if not a.isSeparator()]
        assert texts[0] == own and texts[-1] == "Forget These Faces…"
