"""The desktop window opens on a library and quits from its menu."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.main_window import MainWindow


def test_window_shows_the_library_and_quits(qtbot, tmp_path) -> None:
    library = tmp_path / "library.db"
    window = MainWindow(library)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert window.windowTitle() == "FaceNet Photos"
    assert str(library) in window.library_label.text()
    quit_action = window.menuBar().actions()[0].menu().actions()[0]
    quit_action.trigger()
    qtbot.waitUntil(lambda: not window.isVisible())
