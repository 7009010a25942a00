"""GUI test fixtures: an isolated window state, a small folder of real photos, and a stall meter
for the GUI event loop."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, QTimer

PEOPLE_IN_FOLDER = 5


@pytest.fixture(autouse=True)
def isolated_qsettings(tmp_path: Path) -> None:
    """Window geometry and the last page go to a temporary folder, not the user's config."""
    folder = tmp_path / "qsettings"
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder))


@pytest.fixture(autouse=True)
def styled_app(qapp) -> None:
    from app.resources import apply_style

    apply_style(qapp)


@pytest.fixture
def photo_folder(tmp_path: Path, lfw_mini: Path) -> Path:
    """40 real photos: 8 each of 5 people, in a folder per person, plus one broken file."""
    folder = tmp_path / "Family photos"
    people: dict[str, list[str]] = {}
    for line in (lfw_mini / "clusters.txt").read_text().splitlines():
        path, person = line.split("\t")
        people.setdefault(person, []).append(path)
    for person in list(people)[:PEOPLE_IN_FOLDER]:
        (folder / person).mkdir(parents=True)
        for rel in people[person][:8]:
            shutil.copy(lfw_mini / "images" / rel, folder / person / Path(rel).name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a photo")
    return folder


class StallMeter:
    """Measures how long the GUI event loop is blocked: a 10 ms timer records the gaps between
    its ticks; the longest gap minus the interval is the longest stall. It also records the GUI
    thread's own CPU time between ticks: on a loaded machine a wall-clock gap also holds the
    time the thread waited for a CPU (or for Python's GIL), the CPU time only its own work."""

    def __init__(self, interval_ms: int = 10) -> None:
        self.interval = interval_ms / 1000
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.last_cpu = 0.0
        self.gaps: list[float] = []
        self.busy: list[float] = []

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        if self.last:
            self.gaps.append(now - self.last)
            self.busy.append(cpu - self.last_cpu)
        self.last, self.last_cpu = now, cpu

    def start(self) -> None:
        self.last = 0.0
        self.gaps = []
        self.busy = []
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    @property
    def worst_ms(self) -> float:
        return max(0.0, (max(self.gaps, default=0.0) - self.interval) * 1000)

    @property
    def worst_busy_ms(self) -> float:
        """The GUI thread's longest stretch of its own work between two ticks."""
        return max(self.busy, default=0.0) * 1000

    def percentile_ms(self, q: float) -> float:
        if not self.gaps:
            return 0.0
        ordered = sorted(self.gaps)
        return max(
            0.0, (ordered[min(len(ordered) - 1, int(q * len(ordered)))] - self.interval) * 1000
        )


@pytest.fixture
def stall_meter(qapp) -> Iterator[StallMeter]:
    meter = StallMeter()
    yield meter
    meter.stop()


SCREENSHOT_SIZE = (1180, 780)


def show_main_window(qtbot, library, size=SCREENSHOT_SIZE):  # type: ignore[no-untyped-def]
    """The app's window on ``library``, shown (at ``size``, by default the size the screenshots
    use; None: its own) and exposed (end it with :func:`shut_down`)."""
    from app.main_window import MainWindow

    window = MainWindow(library, restore_state=False)
    qtbot.addWidget(window)
    if size is not None:
        window.resize(*size)
    window.show()
    qtbot.waitExposed(window)
    return window


def window_fixture(qtbot, library, size=SCREENSHOT_SIZE):  # type: ignore[no-untyped-def]
    """A test's window on ``library``, for a fixture to ``yield from``: shown as by
    :func:`show_main_window`, then shut down with its library (:func:`shut_down`) once the
    test is over, however it ended."""
    window = show_main_window(qtbot, library, size)
    yield window
    shut_down(window, library, qtbot)


def shut_down(window, library, qtbot) -> None:  # type: ignore[no-untyped-def]
    """End a test's window the way the app ends: cancel every task, wait until the worker
    threads are idle (generously: the machine may be loaded), deliver what they queued, and only
    then close the window and the library, so no worker still reads a library being closed."""
    from shiboken6 import isValid

    runner = window.ctx.runner
    runner.cancel_all()
    assert runner.wait(300_000), "worker threads still busy after 5 minutes"
    qtbot.wait(20)
    if isValid(window):  # a test may have closed (and so deleted) it already
        window.close()
    # pytest-qt closes and deletes the window itself before this runs (its teardown hook comes
    # first); the runner goes with it, once its pools have waited for their workers
    assert not isValid(runner) or runner.wait(60_000)
    qtbot.wait(20)
    library.close()
