"""The one task runner: every job that could take more than a frame runs here, off the GUI thread.

A job is a plain callable. Long jobs take the core's long-job protocol, ``fn(reporter, cancel)``
(scan, clustering, training, re-embedding); reads and edits take nothing, ``fn()``. The runner
runs it in a thread pool and hands everything back to the GUI thread through queued signals:

- progress: the core's frozen :class:`~facenet_core.progress.Progress` values, *coalesced*: the
  worker keeps only the newest event and at most one delivery is queued at a time, no more often
  than ``progress_interval`` seconds, so a job that reports a thousand times a second costs the
  GUI a few repaints a second;
- the result, to ``on_done``;
- an error, as one line for a person (the traceback goes to the log), to ``on_error`` or else to
  the runner's :attr:`TaskRunner.failed` signal, which the main window shows in its banner;
- cancellation: :meth:`Task.cancel` sets the job's :class:`~facenet_core.progress.CancelToken`;
  a job that raises :class:`~facenet_core.progress.Cancelled` ends quietly.

Work is split into lanes, each its own pool: ``"job"`` (one long job at a time, in order),
``"edit"`` (one edit at a time, in order, so undo follows its edit), ``"read"`` (two threads for
the views' queries) and ``"thumbs"`` (thumbnail decoding). A read or edit given a ``key``
supersedes an earlier one with the same key that has not delivered yet: its result is dropped,
so a view that reloads twice only ever shows the newest answer.

Like Anki's ``QueryOp``/``CollectionOp``: callers never block, never spin an event loop, and
never touch the database from the GUI thread.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import shiboken6
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QTimer, Signal, Slot

from facenet_core.errors import UserError, explain
from facenet_core.progress import Cancelled, CancelToken, Progress, Reporter

log = logging.getLogger(__name__)

T = TypeVar("T")
Lane = Literal["job", "edit", "read", "thumbs"]
LANE_THREADS: dict[str, int] = {"job": 1, "edit": 1, "read": 2, "thumbs": 2}

EXPECTED_ERRORS: tuple[type[BaseException], ...] = (UserError, OSError)
"""Errors whose message is meant for a person (by class: see :mod:`facenet_core.errors`);
anything else is a bug, shown as an unexpected error with its traceback in the log."""


def one_line(exc: BaseException) -> str:
    """An error as one line a person can read: its message and hint, the same words the command
    line prints (:func:`facenet_core.errors.explain`); a bug is worded as an unexpected error."""
    return explain(exc)


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """What the runner tells the window about a running long job."""

    id: int
    title: str
    lane: str
    cancellable: bool


class _Bridge(QObject):
    """Lives in the GUI thread; the worker emits these, Qt queues them to the GUI thread."""

    began = Signal()
    progress_ready = Signal()
    finished = Signal(object)
    errored = Signal(str)
    was_cancelled = Signal()


class Task(QObject):
    """One submitted job, seen from the GUI thread. Keep it to cancel the job or to connect to
    :attr:`progress`. Only the GUI thread holds it (the worker sees plain values and the bridge),
    so it is always deleted there; the runner lets go of it once it has ended."""

    started = Signal()  # a pool thread took it up
    progress = Signal(object)  # Progress
    done = Signal(object)
    error = Signal(str)
    cancelled = Signal()
    ended = Signal()  # after done, error or cancelled

    def __init__(self, runner: TaskRunner, info: TaskInfo, owner: QObject | None) -> None:
        super().__init__()
        self.info = info
        self.token = CancelToken()
        self.owner = owner
        self.latest: Progress | None = None
        self.superseded = False
        self.running = False
        self.finished = False
        self._lock = threading.Lock()
        self._pending: Progress | None = None
        self._queued = False
        self._last_emit = 0.0
        self._last_phase = ""
        self._interval = runner.progress_interval
        self.bridge = _Bridge(self)  # a child: deleted with the task, on the GUI thread
        queued = Qt.ConnectionType.QueuedConnection
        self.bridge.began.connect(self._on_began, queued)
        self.bridge.progress_ready.connect(self._deliver_progress, queued)
        self.bridge.finished.connect(self._on_finished, queued)
        self.bridge.errored.connect(self._on_error, queued)
        self.bridge.was_cancelled.connect(self._on_cancelled, queued)

    @property
    def id(self) -> int:
        return self.info.id

    def cancel(self) -> None:
        """Ask the job to stop (it stops at its next check; committed work is kept)."""
        self.token.cancel()

    # -- worker side -----------------------------------------------------------------------------

    def report(self, event: Progress) -> None:
        """The reporter handed to the job: cheap, thread-safe, never raises, never floods."""
        now = time.monotonic()
        with self._lock:
            self._pending = event
            if self._queued:
                return
            if event.phase == self._last_phase and now - self._last_emit < self._interval:
                return
            self._queued = True
            self._last_emit = now
            self._last_phase = event.phase
        self.bridge.progress_ready.emit()

    # -- GUI side --------------------------------------------------------------------------------

    def _alive(self) -> bool:
        return self.owner is None or shiboken6.isValid(self.owner)

    @Slot()
    def _on_began(self) -> None:
        self.running = True
        if self._alive() and not self.superseded:
            self.started.emit()

    @Slot()
    def _deliver_progress(self) -> None:
        with self._lock:
            event, self._pending, self._queued = self._pending, None, False
        if event is not None:
            self.latest = event
            if self._alive() and not self.superseded:
                self.progress.emit(event)

    def _end(self) -> None:
        self._deliver_progress()  # the last event, if it was held back
        self.finished = True

    @Slot(object)
    def _on_finished(self, value: object) -> None:
        self._end()
        if self._alive() and not self.superseded:
            self.done.emit(value)
        self.ended.emit()

    @Slot(str)
    def _on_error(self, reason: str) -> None:
        self._end()
        if self._alive() and not self.superseded:
            self.error.emit(reason)
        self.ended.emit()

    @Slot()
    def _on_cancelled(self) -> None:
        self._end()
        if self._alive() and not self.superseded:
            self.cancelled.emit()
        self.ended.emit()


NICENESS = {"job": 10}
"""Long jobs run at a lower CPU priority (Linux: per thread, inherited by
the threads a job starts), so that on a busy machine the GUI thread is scheduled first."""


def _lower_priority(niceness: int) -> None:
    if hasattr(os, "setpriority") and sys.platform.startswith("linux"):
        try:
            tid = threading.get_native_id()
            if os.getpriority(os.PRIO_PROCESS, tid) < niceness:
                os.setpriority(os.PRIO_PROCESS, tid, niceness)
        except OSError:  # not allowed here: run at normal priority
            pass


class _Runnable(QRunnable):
    """Runs in a pool thread; touches only plain values and the bridge's signals."""

    def __init__(self, task: Task, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.niceness = NICENESS.get(task.info.lane, 0)
        self.title = task.info.title
        self.token = task.token
        self.bridge = task.bridge

    def run(self) -> None:
        bridge = self.bridge
        if self.token.cancelled:
            bridge.was_cancelled.emit()
            return
        bridge.began.emit()
        if self.niceness:
            _lower_priority(self.niceness)
        try:
            value = self.fn()
        except Cancelled:
            bridge.was_cancelled.emit()
        except BaseException as exc:
            if isinstance(exc, EXPECTED_ERRORS):
                log.info("%s failed: %s", self.title, exc)
            else:
                log.exception("%s failed", self.title)
            bridge.errored.emit(one_line(exc))
        else:
            bridge.finished.emit(value)
        finally:
            self.fn = None  # type: ignore[assignment]  # free the job's closure here


class TaskRunner(QObject):
    """Runs jobs off the GUI thread and delivers their progress and results on it."""

    job_started = Signal(object)  # TaskInfo of a long job ("job" lane), when it starts running
    job_progress = Signal(object, object)  # TaskInfo, Progress
    job_ended = Signal(object)  # TaskInfo
    failed = Signal(str, str)  # title, one-line reason: errors nobody else handled
    idle = Signal()

    def __init__(self, parent: QObject | None = None, *, progress_interval: float = 0.1) -> None:
        super().__init__(parent)
        self.progress_interval = progress_interval
        self.pools: dict[str, QThreadPool] = {}
        for lane, threads in LANE_THREADS.items():
            pool = QThreadPool(self)
            pool.setMaxThreadCount(threads)
            pool.setExpiryTimeout(30_000)
            self.pools[lane] = pool
        self._tasks: dict[int, Task] = {}
        self._keys: dict[str, Task] = {}
        self._retired: list[Task] = []
        self._next_id = 1

    # -- submitting ------------------------------------------------------------------------------

    def run(
        self,
        fn: Callable[[Reporter, CancelToken], T],
        *,
        title: str,
        on_done: Callable[[T], None] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
        owner: QObject | None = None,
        lane: Lane = "job",
    ) -> Task:
        """Run a long job ``fn(reporter, cancel)``; it appears in :attr:`job_started` and friends
        (the window's progress area) when it runs in the ``"job"`` lane."""
        task = self._task(title, lane, owner, cancellable=True, key=None)
        token = task.token

        def call() -> T:
            return fn(task.report, token)

        self._connect(task, on_done, on_error, on_cancelled)
        if on_progress is not None:
            task.progress.connect(on_progress)
        if lane == "job":
            info = task.info
            task.started.connect(lambda: self.job_started.emit(info))
            task.progress.connect(lambda event: self.job_progress.emit(info, event))
            task.ended.connect(lambda: self.job_ended.emit(info))
        self._start(task, call)
        return task

    def query(
        self,
        fn: Callable[[], T],
        on_done: Callable[[T], None] | None = None,
        *,
        title: str = "Reading the library",
        key: str | None = None,
        owner: QObject | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> Task:
        """Run a read ``fn()`` in the ``"read"`` lane; with ``key``, an older unfinished read of
        the same key is superseded (its result never arrives)."""
        task = self._task(title, "read", owner, cancellable=False, key=key)
        self._connect(task, on_done, on_error, None)
        self._start(task, fn)
        return task

    def edit(
        self,
        fn: Callable[[], T],
        on_done: Callable[[T], None] | None = None,
        *,
        title: str,
        owner: QObject | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> Task:
        """Run a change ``fn()`` in the ``"edit"`` lane: edits run one at a time, in order."""
        task = self._task(title, "edit", owner, cancellable=False, key=None)
        self._connect(task, on_done, on_error, None)
        self._start(task, fn)
        return task

    def thumbs(self, fn: Callable[[], None], *, title: str = "Loading thumbnails") -> Task:
        """Run a thumbnail-decoding worker in the ``"thumbs"`` lane."""
        task = self._task(title, "thumbs", None, cancellable=True, key=None)
        self._connect(task, None, None, None)
        self._start(task, fn)
        return task

    # -- state -----------------------------------------------------------------------------------

    @property
    def active(self) -> list[Task]:
        return list(self._tasks.values())

    def running_jobs(self) -> list[Task]:
        return [t for t in self._tasks.values() if t.info.lane == "job"]

    def is_busy(self, lane: str | None = None) -> bool:
        return any(lane is None or t.info.lane == lane for t in self._tasks.values())

    def cancel_all(self) -> None:
        for task in self._tasks.values():
            task.cancel()

    def wait(self, msecs: int = -1) -> bool:
        """Block until every pool is idle (closing the app, and tests); True when idle."""
        deadline = None if msecs < 0 else time.monotonic() + msecs / 1000
        for pool in self.pools.values():
            left = -1 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            if not pool.waitForDone(left):
                return False
        return True

    # -- internals -------------------------------------------------------------------------------

    def _task(
        self, title: str, lane: str, owner: QObject | None, *, cancellable: bool, key: str | None
    ) -> Task:
        info = TaskInfo(self._next_id, title, lane, cancellable)
        self._next_id += 1
        task = Task(self, info, owner)
        self._tasks[info.id] = task
        if key is not None:
            older = self._keys.get(key)
            if older is not None and not older.finished:
                older.superseded = True
                older.cancel()
            self._keys[key] = task
        task.ended.connect(lambda tid=info.id, k=key: self._forget(tid, k))
        return task

    def _connect(
        self,
        task: Task,
        on_done: Callable[[Any], None] | None,
        on_error: Callable[[str], None] | None,
        on_cancelled: Callable[[], None] | None,
    ) -> None:
        if on_done is not None:
            task.done.connect(on_done)
        if on_cancelled is not None:
            task.cancelled.connect(on_cancelled)
        if on_error is not None:
            task.error.connect(on_error)
        else:
            title = task.info.title
            task.error.connect(lambda reason: self.failed.emit(title, reason))

    def _start(self, task: Task, fn: Callable[[], Any]) -> None:
        runnable = _Runnable(task, fn)
        runnable.setAutoDelete(True)
        self.pools[task.info.lane].start(runnable)

    def _forget(self, task_id: int, key: str | None) -> None:
        task = self._tasks.pop(task_id, None)
        if key is not None and self._keys.get(key) is task:
            del self._keys[key]
        if task is not None:
            # not from inside the task's own slot: let go of it on the next turn of the loop
            self._retired.append(task)
            QTimer.singleShot(0, self, self._retired.clear)
        if not self._tasks:
            self.idle.emit()
