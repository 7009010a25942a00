"""The one task runner: every job that could take more than a frame runs here, off the GUI thread.

A job is a plain callable. Long jobs take the core's long-job protocol, ``fn(reporter, cancel)``
(scan, clustering, training, re-embedding); reads and edits take nothing, ``fn()``. The runner
runs it in a thread pool and hands everything back to the GUI thread:

- progress: the core's frozen :class:`~facenet_core.progress.Progress` values, *coalesced*: the
  worker keeps only the newest event and at most one delivery is on its way at a time, no more
  often than ``progress_interval`` seconds (an event held back is picked up by the GUI's next
  poll), so a job that reports a thousand times a second costs the GUI a few repaints a second;
- the result, to ``on_done``;
- an error, as one line for a person (the traceback goes to the log), to ``on_error`` or else to
  the runner's :attr:`TaskRunner.failed` signal, which the main window shows in its banner;
- cancellation: :meth:`Task.cancel` sets the job's :class:`~facenet_core.progress.CancelToken`;
  a job that raises :class:`~facenet_core.progress.Cancelled` ends quietly.

**Who owns what.** Qt objects belong to the thread that made them, and one deleted on another
thread can crash the program later (a queued event for a dead object). So a worker never sees a
Qt object: it writes to a plain-Python, thread-safe :class:`_Channel` (began, newest progress,
the outcome) and posts the channel's id to the runner's :class:`_Hub`, which wakes the GUI
thread with one queued signal of a long-lived object the runner owns (:class:`_Waker`, a child
of the runner, deleted after the runner's thread pools have waited for their workers). The GUI
thread reads the channels, turns what it finds into the :class:`Task`'s signals, and alone
creates, keeps and drops every :class:`Task`: the runner holds each one from submission until
the GUI thread has seen it end, then deletes it with ``deleteLater`` (napari/superqt keep their
workers the same way). :func:`check_plain` refuses a job whose closure holds a Qt object.

Work is split into lanes, each its own pool: ``"job"`` (one long job at a time, in order),
``"edit"`` (one edit at a time, in order, so undo follows its edit), ``"read"`` (two threads for
the views' queries) and ``"thumbs"`` (thumbnail decoding). A read or edit given a ``key``
supersedes an earlier one with the same key that has not delivered yet: its result is dropped,
so a view that reloads twice only ever shows the newest answer.

Like Anki's ``QueryOp``/``CollectionOp``: callers never block, never spin an event loop, and
never touch the database from the GUI thread.
"""

from __future__ import annotations

import contextlib
import functools
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
LANE_INTERVAL: dict[str, float] = {"thumbs": 0.0}
"""Lanes whose progress is not held back: a finished thumbnail is worth showing at once (the
loader limits the repaints itself)."""

EXPECTED_ERRORS: tuple[type[BaseException], ...] = (UserError, OSError)
"""Errors whose message is meant for a person (by class: see :mod:`facenet_core.errors`);
anything else is a bug, shown as an unexpected error with its traceback in the log."""


def one_line(exc: BaseException) -> str:
    """An error as one line a person can read: its message and hint, the same words the command
    line prints (:func:`facenet_core.errors.explain`); a bug is worded as an unexpected error."""
    return explain(exc)


def check_plain(fn: Callable[..., Any], *, depth: int = 3) -> None:
    """Raise TypeError when the job ``fn`` holds a Qt object (bound to one, or in its closure,
    looking ``depth`` closures deep): the worker would hold a reference to a GUI-thread object
    and might drop the last one off the GUI thread."""
    seen: set[int] = set()

    def visit(obj: Any, level: int) -> None:
        if id(obj) in seen or level > depth:
            return
        seen.add(id(obj))
        if isinstance(obj, QObject):
            raise TypeError(
                f"a job must not hold a Qt object ({type(obj).__name__}): give it plain values"
            )
        if isinstance(obj, functools.partial):
            for part in (obj.func, *obj.args, *obj.keywords.values()):
                visit(part, level + 1)
            return
        owner = getattr(obj, "__self__", None)
        if owner is not None and not isinstance(owner, type):
            visit(owner, level + 1)
        for cell in getattr(obj, "__closure__", None) or ():
            with contextlib.suppress(ValueError):  # an empty cell has no contents
                visit(cell.cell_contents, level + 1)

    visit(fn, 0)


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """What the runner tells the window about a running long job."""

    id: int
    title: str
    lane: str
    cancellable: bool


# -- the worker's side: plain Python only ------------------------------------------------------


class _Hub:
    """Which channels have news for the GUI thread, in the order they had it. Thread-safe; at
    most one wake-up is on its way at a time."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake  # the emit of a signal of the runner's long-lived _Waker
        self._lock = threading.Lock()
        self._ready: dict[int, None] = {}
        self._woken = False

    def post(self, channel_id: int) -> None:
        with self._lock:
            self._ready[channel_id] = None
            if self._woken:
                return
            self._woken = True
        self._wake()

    def take(self) -> list[int]:
        with self._lock:
            ready, self._ready = list(self._ready), {}
            self._woken = False
        return ready


MAX_PHASES_HELD = 8
"""At most this many phases' events wait for one delivery (the oldest go first)."""


class _Channel:
    """One job's link to the GUI thread: the worker writes, the GUI thread reads. Holds only
    plain values (the progress events and the job's result are frozen values or plain data)."""

    def __init__(self, task_id: int, hub: _Hub, token: CancelToken, interval: float) -> None:
        self.id = task_id
        self.token = token
        self._hub = hub
        self._interval = interval
        self._lock = threading.Lock()
        self._began = False
        self._pending: list[Progress] = []
        """Events not yet delivered: the newest of each phase, in order (a phase that lasted
        less than a delivery is still shown, never overwritten by the next)."""
        self._posted = False
        self._last_emit = 0.0
        self._last_phase = ""
        self._outcome: tuple[str, object] | None = None

    # worker side

    def begin(self) -> None:
        with self._lock:
            self._began = True
        self._hub.post(self.id)

    def report(self, event: Progress) -> None:
        """The reporter handed to the job: cheap, thread-safe, never raises, never floods."""
        now = time.monotonic()
        with self._lock:
            if self._pending and self._pending[-1].phase == event.phase:
                self._pending[-1] = event
            else:
                self._pending = [*self._pending[-(MAX_PHASES_HELD - 1) :], event]
            if self._posted:
                return
            if event.phase == self._last_phase and now - self._last_emit < self._interval:
                return  # held back: the GUI's next poll picks it up
            self._posted = True
            self._last_emit = now
            self._last_phase = event.phase
        self._hub.post(self.id)

    def end(self, kind: str, value: object = None) -> None:
        with self._lock:
            self._outcome = (kind, value)
        self._hub.post(self.id)

    # GUI side

    def held_back(self) -> bool:
        with self._lock:
            return bool(self._pending) and not self._posted

    def take(self) -> tuple[bool, list[Progress], tuple[str, object] | None]:
        with self._lock:
            began, events, outcome = self._began, self._pending, self._outcome
            self._pending, self._outcome, self._posted = [], None, False
            if events:
                self._last_emit = time.monotonic()
                self._last_phase = events[-1].phase
        return began, events, outcome


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
    """Runs in a pool thread; holds the job and its channel, nothing of Qt's."""

    def __init__(self, channel: _Channel, fn: Callable[[], Any], lane: str, title: str) -> None:
        super().__init__()
        self.fn: Callable[[], Any] | None = fn
        self.channel = channel
        self.niceness = NICENESS.get(lane, 0)
        self.title = title

    def run(self) -> None:
        channel, fn = self.channel, self.fn
        self.fn = None  # from here on the job lives only in this frame
        if fn is None:
            return
        if channel.token.cancelled:
            channel.end("cancelled")
            return
        channel.begin()
        if self.niceness:
            _lower_priority(self.niceness)
        try:
            value = fn()
        except Cancelled:
            channel.end("cancelled")
        except BaseException as exc:
            if isinstance(exc, EXPECTED_ERRORS):
                log.info("%s failed: %s", self.title, exc)
            else:
                log.exception("%s failed", self.title)
            channel.end("error", one_line(exc))
        else:
            channel.end("done", value)


# -- the GUI thread's side ---------------------------------------------------------------------


class Task(QObject):
    """One submitted job, seen from the GUI thread. Keep it to cancel the job or to connect to
    :attr:`progress`. Only the GUI thread ever holds it: the runner keeps it until the GUI thread
    has seen it end, then deletes it (``deleteLater``); its plain attributes (``info``,
    ``finished``, :meth:`cancel`) still answer afterwards."""

    started = Signal()  # a pool thread took it up
    progress = Signal(object)  # Progress
    done = Signal(object)
    error = Signal(str)
    cancelled = Signal()
    ended = Signal()  # after done, error or cancelled

    def __init__(self, info: TaskInfo, channel: _Channel, owner: QObject | None) -> None:
        super().__init__()
        self.info = info
        self.token = channel.token
        self.owner = owner
        self.latest: Progress | None = None
        self.superseded = False
        self.running = False
        self.finished = False
        self._channel = channel

    @property
    def id(self) -> int:
        return self.info.id

    def cancel(self) -> None:
        """Ask the job to stop (it stops at its next check; committed work is kept)."""
        self.token.cancel()

    def _alive(self) -> bool:
        return not self.superseded and (self.owner is None or shiboken6.isValid(self.owner))

    def _deliver(self) -> None:
        """Turn what the worker wrote into signals, in order: started, progress, the outcome."""
        if self.finished:
            return
        began, events, outcome = self._channel.take()
        if began and not self.running:
            self.running = True
            if self._alive():
                self.started.emit()
        for event in events:
            self.latest = event
            if self._alive():
                self.progress.emit(event)
        if outcome is None:
            return
        self.finished = True
        self.running = False
        kind, value = outcome
        if self._alive():
            if kind == "done":
                self.done.emit(value)
            elif kind == "error":
                self.error.emit(str(value))
            else:
                self.cancelled.emit()
        self.ended.emit()


class _Waker(QObject):
    """Lives in the GUI thread as long as the runner; a worker's one way to wake it."""

    wake = Signal()


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
        # made after the pools: children are deleted in order, so the pools wait for their
        # workers before the waker they signal goes
        self._waker = _Waker(self)
        self._waker.wake.connect(self._pump, Qt.ConnectionType.QueuedConnection)
        self._hub = _Hub(self._waker.wake.emit)
        self._poll = QTimer(self)  # picks up progress the workers held back
        self._poll.setInterval(max(10, round(progress_interval * 1000)))
        self._poll.timeout.connect(self._poll_held_back)
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
        check_plain(fn)
        task = self._task(title, lane, owner, cancellable=True, key=None)
        channel = task._channel
        report, token = channel.report, channel.token

        def call() -> T:  # holds the plain channel and the job, never the Task
            return fn(report, token)

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
        """A read ``fn()`` in the ``"read"`` lane; ``key``: supersedes an unfinished older one."""
        return self._short(fn, on_done, on_error, title, "read", owner, key)

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
        return self._short(fn, on_done, on_error, title, "edit", owner, None)

    def _short(
        self,
        fn: Callable[[], T],
        on_done: Callable[[T], None] | None,
        on_error: Callable[[str], None] | None,
        title: str,
        lane: Lane,
        owner: QObject | None,
        key: str | None,
    ) -> Task:
        """A read or an edit: a short call ``fn()`` that cannot be cancelled."""
        check_plain(fn)
        task = self._task(title, lane, owner, cancellable=False, key=key)
        self._connect(task, on_done, on_error, None)
        self._start(task, fn)
        return task

    def thumbs(
        self, fn: Callable[[Reporter, CancelToken], None], *, title: str = "Loading thumbnails"
    ) -> Task:
        """Run a thumbnail-decoding worker ``fn(reporter, cancel)`` in the ``"thumbs"`` lane; it
        reports (any event) when it has thumbnails ready, and each report reaches the task's
        :attr:`Task.progress` without being held back."""
        return self.run(fn, title=title, lane="thumbs")

    # -- state -----------------------------------------------------------------------------------

    @property
    def active(self) -> list[Task]:
        return list(self._tasks.values())

    def running_jobs(self) -> list[Task]:
        return [t for t in self._tasks.values() if t.info.lane == "job"]

    def cancel_all(self) -> None:
        for task in self._tasks.values():
            task.cancel()

    def wait(self, msecs: int = -1) -> bool:
        """Block until every pool is idle (closing the app, and tests); True when idle. What the
        workers wrote is delivered on the GUI thread's next turn of the event loop."""
        deadline = None if msecs < 0 else time.monotonic() + msecs / 1000
        for pool in self.pools.values():
            left = -1 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            if not pool.waitForDone(left):
                return False
        return True

    # -- internals -------------------------------------------------------------------------------

    def supersede(self, key: str) -> None:
        """Drop the unfinished read or edit with this ``key``: its result never arrives (a cache
        answered, or a newer read replaces it)."""
        if (older := self._keys.get(key)) is not None and not older.finished:
            older.superseded = True
            older.cancel()

    def _task(
        self, title: str, lane: str, owner: QObject | None, *, cancellable: bool, key: str | None
    ) -> Task:
        info = TaskInfo(self._next_id, title, lane, cancellable)
        self._next_id += 1
        interval = LANE_INTERVAL.get(lane, self.progress_interval)
        channel = _Channel(info.id, self._hub, CancelToken(), interval)
        task = Task(info, channel, owner)
        self._tasks[info.id] = task
        if key is not None:
            self.supersede(key)
            self._keys[key] = task
        task.ended.connect(lambda tid=info.id, k=key: self._forget(tid, k))
        if not self._poll.isActive():
            self._poll.start()
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
        runnable = _Runnable(task._channel, fn, task.info.lane, task.info.title)
        runnable.setAutoDelete(True)
        self.pools[task.info.lane].start(runnable)

    @Slot()
    def _pump(self) -> None:
        """The workers have news: deliver it, task by task, in the order it came."""
        for task_id in self._hub.take():
            task = self._tasks.get(task_id)
            if task is not None:
                task._deliver()

    @Slot()
    def _poll_held_back(self) -> None:
        for task in list(self._tasks.values()):
            if task._channel.held_back():
                task._deliver()
        if not self._tasks:
            self._poll.stop()

    def _forget(self, task_id: int, key: str | None) -> None:
        task = self._tasks.pop(task_id, None)
        if key is not None and self._keys.get(key) is task:
            del self._keys[key]
        if task is not None:
            # not from inside the task's own signal: delete it on the next turn of the loop,
            # here, on the GUI thread, whoever still holds its Python wrapper
            task.owner = None  # the task's last link to a view goes here, too
            task.deleteLater()
            self._retired.append(task)
            if len(self._retired) == 1:
                QTimer.singleShot(0, self, self._retired.clear)
        if not self._tasks:
            self._poll.stop()
            self.idle.emit()
