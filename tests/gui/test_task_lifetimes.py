"""Every Qt object of the task runner dies on the GUI thread.

A QObject deleted on a worker thread (its last Python reference dropped there) can crash the
program later, when a queued event for it arrives; such a crash once made the GUI tests run one
file per process. The stress test below starts, cancels and finishes hundreds of jobs of every
lane while real pages open and close around them, and records on which thread each
:class:`~app.tasks.Task` is destroyed (its ``destroyed`` signal runs on the deleting thread).
"""

from __future__ import annotations

import gc
import random
import sys
import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication

from app.actions import PeopleActions
from app.context import AppContext
from app.tasks import Task, TaskRunner
from app.thumbs import PhotoRef
from app.views.library_view import LibraryView
from app.views.people_view import PeopleView
from app.views.photos_view import PhotosView
from facenet_core.progress import Cancelled, CancelToken, PhaseClock, Reporter
from facenet_core.store import Library

ROUNDS = 12
JOBS_PER_ROUND = 10  # each of run, query, edit: 360 jobs in all, plus the pages' own reads


@pytest.fixture
def deaths(monkeypatch) -> dict[str, list[int]]:
    """Every Task made from now on reports the thread it was destroyed on."""
    record: dict[str, list[int]] = {"made": [], "died": []}
    original = Task.__init__

    def spy(self: Task, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        record["made"].append(threading.get_ident())
        self.destroyed.connect(lambda *_: record["died"].append(threading.get_ident()))

    monkeypatch.setattr(Task, "__init__", spy)
    return record


class SlowToRelease:
    """What a real job may hold when it fails: something whose release takes a moment (a file or
    a connection closed on a busy disk). The failed job's frame, and so this, is released with
    the error, after the runner has been told of it: meanwhile the GUI thread runs on."""

    def __del__(self) -> None:
        time.sleep(0.01)


def _long_job(steps: int, fail: bool) -> object:
    def job(reporter: Reporter, cancel: CancelToken) -> int:
        scratch = SlowToRelease()
        clock = PhaseClock("stress", "count")
        for i in range(steps):
            cancel.raise_if_cancelled()
            reporter(clock.event(i + 1, steps))
            time.sleep(0.0005)
        if fail:
            raise ValueError("this job fails on purpose")
        del scratch
        return steps

    return job


def test_hundreds_of_tasks_all_die_on_the_gui_thread(
    qtbot, tmp_path: Path, deaths: dict[str, list[int]], record_property
) -> None:
    gui = threading.get_ident()
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # hand Python's GIL between threads as often as possible
    rng = random.Random(16)
    library = Library.open(tmp_path / "lib" / "library.db", create=True)
    ctx = AppContext(library)
    actions = PeopleActions(ctx)
    runner = ctx.runner
    results: list[object] = []
    try:
        for round_no in range(ROUNDS):
            pages = [LibraryView(ctx), PhotosView(ctx, actions), PeopleView(ctx, actions)]
            for page in pages:
                page.show()  # each reads what it shows, through the runner
            started: list[Task] = []
            for i in range(JOBS_PER_ROUND):
                owner = pages[i % len(pages)]
                started.append(
                    runner.run(
                        _long_job(rng.randint(0, 40), fail=i % 7 == 3),
                        title="Stress",
                        on_done=results.append,
                        on_error=results.append,
                        owner=owner,
                        lane=rng.choice(["job", "read"]),
                    )
                )
                started.append(
                    runner.query(
                        lambda n=i: n * n, results.append, key=f"stress-{i % 3}", owner=owner
                    )
                )
                started.append(runner.edit(lambda n=i: n, results.append, title="Stress edit"))
                # thumbnails of photos that are not there: the loader's workers run and fail
                ctx.thumbs.photo(PhotoRef(round_no * 100 + i, str(tmp_path / "gone.jpg")), 64)
            for task in rng.sample(started, len(started) // 3):
                task.cancel()  # some before they start, some midway, some after they ended
            qtbot.wait(rng.randint(0, 30))
            for page in pages:  # close the pages while their reads are on their way
                page.close()
                page.deleteLater()
            del pages, started
            qtbot.wait(rng.randint(0, 10))
        runner.cancel_all()
        assert runner.wait(120_000)
        qtbot.waitUntil(lambda: not runner.active, timeout=30_000)
        for _ in range(3):
            gc.collect()
            QApplication.processEvents()
            qtbot.wait(20)
        made, died = deaths["made"], deaths["died"]
        off_thread = sum(1 for ident in died if ident != gui)
        record_property("tasks_made", len(made))
        record_property("tasks_destroyed_off_gui_thread", off_thread)
        print(f"\n{len(made)} tasks made, {len(died)} destroyed, {off_thread} off the GUI thread")
        assert len(made) >= ROUNDS * JOBS_PER_ROUND * 3
        assert results  # jobs did run and deliver
        assert off_thread == 0, f"{off_thread} tasks were destroyed off the GUI thread"
        assert len(died) == len(made), "every task is deleted once the GUI thread saw it end"
    finally:
        sys.setswitchinterval(switch)
        runner.cancel_all()
        runner.wait(60_000)
        library.close()


def test_a_job_that_holds_a_qt_object_is_refused(qtbot) -> None:
    runner = TaskRunner()
    widget_like = QObject()

    def holds_it() -> str:
        return widget_like.objectName()

    with pytest.raises(TypeError, match="Qt object"):
        runner.query(holds_it)
    with pytest.raises(TypeError, match="Qt object"):
        runner.edit(widget_like.objectName, title="Bound to a Qt object")

    def long_job(reporter: Reporter, cancel: CancelToken) -> None:
        if cancel.cancelled:
            raise Cancelled
        widget_like.setObjectName("touched from a worker")

    with pytest.raises(TypeError, match="Qt object"):
        runner.run(long_job, title="Holds a Qt object")
    assert not runner.active  # nothing was started
