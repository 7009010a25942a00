"""The task runner: jobs run off the GUI thread, progress arrives coalesced on the GUI thread,
cancel stops a job, errors arrive as one line, and superseded reads never deliver."""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QObject, QThread
from PySide6.QtWidgets import QApplication

from app.tasks import TaskRunner, one_line
from facenet_core.progress import CancelToken, PhaseClock, Progress, Reporter
from facenet_core.store import LibraryError


def test_a_job_runs_off_the_gui_thread_and_reports_on_it(qtbot) -> None:
    runner = TaskRunner(progress_interval=0.05)
    gui = QApplication.instance().thread()
    seen: dict[str, object] = {}
    events: list[Progress] = []
    threads: list[bool] = []

    def job(reporter: Reporter, cancel: CancelToken) -> str:
        seen["worker"] = threading.current_thread() is not threading.main_thread()
        clock = PhaseClock("test", "count", "item")
        for i in range(20_000):  # far more events than the GUI should ever see
            reporter(clock.event(i + 1, 20_000))
        return "finished"

    def progress(event: Progress) -> None:
        threads.append(QThread.currentThread() is gui)
        events.append(event)

    started: list[object] = []
    runner.job_started.connect(started.append)
    results: list[str] = []
    runner.run(job, title="Counting", on_progress=progress, on_done=results.append)
    qtbot.waitUntil(lambda: bool(results), timeout=10_000)
    assert results == ["finished"]
    assert seen["worker"] is True
    assert all(threads) and events
    assert len(events) < 200  # coalesced: 20,000 events became a handful of deliveries
    assert events[-1].done == 20_000  # the last event is never lost
    assert [info.title for info in started] == ["Counting"]
    assert runner.wait(5000)


def test_cancel_stops_a_job(qtbot) -> None:
    runner = TaskRunner()
    running = threading.Event()

    def job(reporter: Reporter, cancel: CancelToken) -> int:
        running.set()
        while True:
            cancel.raise_if_cancelled()
            time.sleep(0.005)

    stopped: list[bool] = []
    task = runner.run(job, title="Forever", on_cancelled=lambda: stopped.append(True))
    assert running.wait(5)
    task.cancel()
    qtbot.waitUntil(lambda: stopped == [True], timeout=5000)
    assert runner.wait(5000)


def test_errors_arrive_as_one_line(qtbot) -> None:
    runner = TaskRunner()
    failures: list[tuple[str, str]] = []
    runner.failed.connect(lambda title, reason: failures.append((title, reason)))

    def broken() -> None:
        raise LibraryError("the library is locked by another program\nsecond line")

    with qtbot.waitSignal(runner.failed, timeout=5000):
        runner.edit(broken, title="Renaming")
    assert failures == [("Renaming", "the library is locked by another program")]
    assert one_line(KeyError()) == "unexpected error (KeyError)"
    assert one_line(ZeroDivisionError("division by zero")) == (
        "unexpected error (ZeroDivisionError): division by zero"
    )


def test_a_superseded_read_never_delivers_and_a_dead_owner_gets_nothing(qtbot) -> None:
    runner = TaskRunner()
    results: list[int] = []
    gate = threading.Event()

    def slow() -> int:
        gate.wait(5)
        return 1

    runner.query(slow, results.append, key="people")
    runner.query(lambda: 2, results.append, key="people")
    gate.set()
    assert runner.wait(5000)
    qtbot.waitUntil(lambda: results == [2], timeout=5000)
    qtbot.wait(50)
    assert results == [2]

    owner = QObject()
    gate.clear()
    orphan: list[int] = []
    runner.query(slow, orphan.append, owner=owner)
    owner.deleteLater()
    qtbot.wait(20)
    gate.set()
    assert runner.wait(5000)
    qtbot.wait(50)
    assert orphan == []
