"""The GUI's speed checks, shared by ``bench/gui_speed.py`` and the loose tests: how long the
People page takes to show a large library, and the longest stall of the event loop while a
person with thousands of faces is scrolled from top to bottom."""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import QEventLoop, QTimer

from app.main import settle_memory
from tests.gui.conftest import StallMeter


def wait(condition, timeout: float = 30.0, step_ms: int = 5) -> bool:  # type: ignore[no-untyped-def]
    """Run the event loop until ``condition()`` holds (a benchmark's qtbot.waitUntil)."""
    deadline = time.perf_counter() + timeout
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(step_ms)

    def check() -> None:
        if condition() or time.perf_counter() > deadline:
            loop.quit()

    timer.timeout.connect(check)
    timer.start()
    if not condition():
        loop.exec()
    timer.stop()
    return bool(condition())


def open_people(window) -> float:  # type: ignore[no-untyped-def]
    """Seconds from switching to the People page until its grid shows every person (after the
    garbage-collector settling the app does once its models are loaded)."""
    settle_memory()
    view = window.views["People"]
    before = view.loads
    start = time.perf_counter()
    window.show_view("People")
    assert wait(lambda: view.loads > before), "the people grid never loaded"
    return time.perf_counter() - start


@dataclass(frozen=True)
class ScrollResult:
    faces: int
    seconds: float
    worst_stall_ms: float
    p99_stall_ms: float
    worst_busy_ms: float
    ticks: int
    thumbnails_decoded: int


def scroll_person(window, person_id: int, px_per_frame: int = 160) -> ScrollResult:  # type: ignore[no-untyped-def]
    """Open a person and scroll its face grid until its last face is on screen,
    ``px_per_frame`` per 16 ms frame (about 10,000 px/s, a fast flick), fetching pages and
    thumbnails as a user would; the stall meter records the longest gap of the event loop
    meanwhile."""
    view = window.show_view("People")
    view.open_person(person_id)
    page = view.person
    assert wait(lambda: page.faces.total > 0 and page.faces.rowCount() > 0)
    grid = page.grid
    bar = grid.verticalScrollBar()
    meter = StallMeter()
    decoded_before = window.ctx.thumbs.decoded
    done = {"flag": False}

    def last_row_on_screen() -> bool:
        rows = page.faces.rowCount()
        if rows < page.faces.total:
            return False
        rect = grid.visualRect(page.faces.index(rows - 1, 0))
        return rect.isValid() and grid.viewport().rect().intersects(rect)

    def frame() -> None:
        if bar.value() >= bar.maximum():
            if last_row_on_screen():
                done["flag"] = True
                return
            if page.faces.canFetchMore():
                page.faces.fetchMore()
            return
        bar.setValue(bar.value() + px_per_frame)

    scroller = QTimer()
    scroller.setInterval(16)
    scroller.timeout.connect(frame)
    start = time.perf_counter()
    meter.start()
    scroller.start()
    wait(lambda: done["flag"], timeout=300)
    scroller.stop()
    # the last screen's thumbnails arrive
    wait(lambda: window.ctx.thumbs.pending() == 0, timeout=30)
    meter.stop()
    seconds = time.perf_counter() - start
    return ScrollResult(
        faces=page.faces.rowCount(),
        seconds=seconds,
        worst_stall_ms=meter.worst_ms,
        p99_stall_ms=meter.percentile_ms(0.99),
        worst_busy_ms=meter.worst_busy_ms,
        ticks=len(meter.gaps),
        thumbnails_decoded=window.ctx.thumbs.decoded - decoded_before,
    )
