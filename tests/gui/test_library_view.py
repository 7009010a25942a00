"""The Library page, driven through the real widgets: the empty state, adding a folder and
scanning it through the real task runner (with the GUI's longest stall measured), the failed
files with their reasons, and removing a folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from app.main import warm_up
from app.thumbs import PhotoRef
from facenet_core.store import Library
from tests.gui.conftest import window_fixture


@pytest.fixture
def window(qtbot, tmp_path: Path):
    library = Library.open(tmp_path / "lib" / "library.db", create=True)
    yield from window_fixture(qtbot, library, None)


def test_an_empty_library_asks_for_a_folder(window, qtbot) -> None:
    view = window.show_view("Library")
    qtbot.waitUntil(lambda: view.loads > 0)
    assert view.stack.currentIndex() == 0
    assert view.drop_zone.isVisible()
    assert view.drop_zone.button.text() == "Add a folder…"
    assert not view.add_button.isVisible()  # the big button is the one call to action
    qtbot.waitUntil(lambda: window.counts_label.text().startswith("0 photos"))


@pytest.mark.slow
def test_add_a_folder_scan_it_and_remove_it(
    window, qtbot, photo_folder: Path, stall_meter, record_property, monkeypatch
) -> None:
    view = window.show_view("Library")
    # the app loads torch and the face models in the background at start-up (app.main.warm_up):
    # an import or a model load holds Python's GIL for up to a second, so it is done before
    # measuring
    warm_up(window.library.settings())
    # a thumbnail that could not be made is tried again after a scan (the photo may be back)
    gone = PhotoRef(10_000, str(photo_folder / "not yet.jpg"))
    window.ctx.thumbs.photo(gone, 64)
    qtbot.waitUntil(lambda: window.ctx.thumbs.photo_missing(gone.id, 64), timeout=10_000)
    stall_meter.start()
    # a folder dropped on the window is added and scanned
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo_folder))])
    drop = QDropEvent(
        QPoint(300, 300),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(drop)
    qtbot.waitUntil(lambda: view.job_panel.isVisible(), timeout=10_000)
    assert view.scan_task is not None
    progress_seen: list[str] = []
    view.ctx.runner.job_progress.connect(lambda info, event: progress_seen.append(event.phase))
    qtbot.waitUntil(lambda: view.scan_task is None, timeout=600_000)
    stall_meter.stop()
    worst = stall_meter.worst_ms
    record_property("gui_worst_stall_during_scan_ms", round(worst, 1))
    record_property("gui_p99_stall_during_scan_ms", round(stall_meter.percentile_ms(0.99), 1))
    print(
        f"\nGUI event loop during a scan of 41 files: worst stall {worst:.1f} ms, "
        f"p99 {stall_meter.percentile_ms(0.99):.1f} ms, median tick gap "
        f"{stall_meter.percentile_ms(0.5) + 10:.1f} ms over {len(stall_meter.gaps)} ticks"
    )
    assert "faces" in progress_seen
    assert not window.ctx.thumbs.photo_missing(gone.id, 64)
    # measured 31-227 ms on 2 cores shared with a load of 6-16; the GUI thread's own work is a
    # few ms, the rest is waiting for a CPU. A cold model load in the scan's thread (no warm-up)
    # froze it for 0.9-1.9 s: that is what this bound catches
    assert worst < 750, f"the GUI froze for {worst:.0f} ms during the scan"

    # the folder is listed with its counts, the broken file with its reason
    folders = view.folder_model

    def listed() -> bool:
        return folders.rowCount() == 1 and folders.index(0, 1).data() == "41"

    qtbot.waitUntil(listed, timeout=10_000)
    root = folders.item(0)
    assert folders.index(0, 0).data() == root.path == str(photo_folder)
    assert root.faces >= 38  # every LFW photo has a face, some two
    assert folders.index(0, 2).data() == f"{root.faces:,}"
    assert folders.index(0, 3).data() == "1"
    qtbot.waitUntil(lambda: view.failed_model.rowCount() == 1)
    failed = view.failed_model.item(0)
    assert failed.path.endswith("broken.jpg") and "image" in failed.error
    assert view.failed_model.index(0, 1).data() == failed.error
    assert view.failed_title.text() == "Files that could not be read (1)"
    assert "Scan finished" in window.banner.message
    qtbot.waitUntil(lambda: window.counts_label.text().startswith("41 photos"))

    # remove it: confirmed in a dialog; the files stay
    view.select_folder(root.id)
    assert view.remove_button.isEnabled() and view.open_button.isEnabled()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    view.remove_button.click()
    qtbot.waitUntil(lambda: folders.rowCount() == 0, timeout=10_000)
    qtbot.waitUntil(lambda: view.stack.currentIndex() == 0)
    qtbot.waitUntil(lambda: window.counts_label.text().startswith("0 photos"))
    assert len(list(photo_folder.rglob("*.jpg"))) == 41
