"""Start-up and the main window: the default library is created on first start, a library that
cannot be opened leads to a choice (never an overwrite), pages and window state persist."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QProgressDialog

from app.main import open_library, open_waiting
from app.main_window import MainWindow, app_settings
from facenet_core.store import Library, LibraryError

PAGES = ["Library", "People", "Photos", "Unassigned", "Ignored", "Training", "Settings"]


def test_the_default_library_is_created_on_first_start(tmp_path, monkeypatch) -> None:
    default = tmp_path / "data" / "library.db"
    monkeypatch.setattr("app.main.default_library_path", lambda: default)
    library = open_library(None, ask=lambda path, reason: pytest.fail(reason))
    assert library is not None and library.path == default and default.exists()
    library.close()


def test_a_missing_library_given_on_the_command_line_is_not_created(tmp_path) -> None:
    asked: list[str] = []
    wanted = tmp_path / "typo.db"
    result = open_library(wanted, ask=lambda path, reason: asked.append(reason) or None)
    assert result is None and not wanted.exists()
    assert "no library at" in asked[0]


def test_a_broken_library_is_never_overwritten_and_another_can_be_chosen(tmp_path) -> None:
    broken = tmp_path / "notes.db"
    broken.write_bytes(b"my precious notes, not a database" * 100)
    other = tmp_path / "other.db"
    answers = iter([(other, True)])
    reasons: list[str] = []

    def ask(path: Path, reason: str):
        reasons.append(reason)
        return next(answers)

    library = open_library(broken, ask=ask)
    assert library is not None and library.path == other
    assert broken.read_bytes() == b"my precious notes, not a database" * 100
    assert len(reasons) == 1 and reasons[0]
    library.close()


def test_a_slow_opening_keeps_the_gui_responsive_and_says_so(qtbot, tmp_path, monkeypatch) -> None:
    """Opening runs in a worker thread (a large library's upgrade takes a while); Qt's events
    keep flowing and a small window says what is happening; errors still reach the caller."""
    release = threading.Event()
    opened_in: list[str] = []
    real_open = Library.open

    def slow_open(path: Path, *, create: bool = False) -> Library:
        opened_in.append(threading.current_thread().name)
        release.wait(10)
        return real_open(path, create=create)

    monkeypatch.setattr(Library, "open", staticmethod(slow_open))
    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    seen: list[str] = []

    def look_then_release() -> None:
        dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, QProgressDialog)]
        seen.extend(d.labelText() for d in dialogs if d.isVisible())
        release.set()

    QTimer.singleShot(300, look_then_release)
    library = open_waiting(tmp_path / "library.db", True, show_after_ms=100)
    timer.stop()
    assert library.path == tmp_path / "library.db"
    library.close()
    assert opened_in and opened_in[0] != threading.main_thread().name
    assert len(ticks) >= 5  # the event loop ran while the library opened
    assert seen and "Opening the library" in seen[0]
    release.clear()
    QTimer.singleShot(0, release.set)
    with pytest.raises(LibraryError, match="no library at"):
        open_waiting(tmp_path / "missing.db", False)


def test_pages_shortcuts_and_window_state(qtbot, tmp_path) -> None:
    library = Library.open(tmp_path / "library.db", create=True)
    window = MainWindow(library, restore_state=True)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    titles = [window.sidebar.list.item(i).text() for i in range(window.sidebar.list.count())]
    assert titles == PAGES
    assert window.windowTitle() == "FaceNet Photos"
    assert window.add_folder_action.shortcut().toString() == "Ctrl+O"
    window.show_view("Settings")
    assert window.stack.currentWidget() is window.views["Settings"]
    window.resize(1000, 700)
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible())
    assert app_settings().value("window/view") == "Settings"
    # a new window opens on the page the last one showed
    again = MainWindow(Library.open(tmp_path / "library.db"), restore_state=True)
    qtbot.addWidget(again)
    assert again.current_view.title == "Settings"
    again.close()
