"""One protocol for long work: immutable progress events, a reporter, and a cancel token.

Every long job of the core (scan, evaluation, clustering, training, re-embedding) is a plain
function ``job(..., reporter=..., cancel=...) -> Result``. It reports :class:`Progress` values
(frozen, so they can be handed to another thread, such as the GUI's) and checks its
:class:`CancelToken` between units of work. The command line renders the events as a progress bar
with rate and time left; the app turns them into widgets. The core itself never prints.

One cancellation convention: a public long job that stops on request **returns** its result with
``cancelled=True`` (what it committed or measured until then, as that result documents), and never
lets :class:`Cancelled` escape. :class:`Cancelled` is this module's internal exception: a step deep
inside a job (a clustering pass, a batch loop, a helper such as ``lfw_pair_chips``) may raise it
(:meth:`CancelToken.raise_if_cancelled`) to unwind at once, and the job catches it at its
boundary and returns the result marked cancelled. So a caller checks ``result.cancelled``, and
never needs ``except Cancelled``.

A leaf module: it imports nothing from the rest of the package.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a job stands.

    ``task`` names the job (``"scan"``), ``phase`` the step within it (``"walk"``, ``"faces"``),
    ``done`` of ``total`` units (``total`` None while unknown), ``unit`` what is counted
    (``"photo"``), ``elapsed`` seconds since the phase began, ``counters`` other running figures
    (``{"faces": 12}``, ``{"loss": 0.1}``) and ``message`` a line for a person.
    """

    task: str
    phase: str
    done: int
    total: int | None = None
    unit: str = "item"
    elapsed: float = 0.0
    counters: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    message: str = ""

    @property
    def fraction(self) -> float | None:
        """Share done in [0, 1], or None while the total is unknown."""
        if not self.total:
            return None
        return min(1.0, self.done / self.total)

    @property
    def rate(self) -> float | None:
        """Units per second so far, or None before any time has passed."""
        return self.done / self.elapsed if self.elapsed > 0 and self.done else None

    @property
    def seconds_left(self) -> float | None:
        """Estimated seconds to finish at the rate so far, or None when unknown."""
        rate = self.rate
        if rate is None or self.total is None:
            return None
        return max(0.0, (self.total - self.done) / rate)


class Reporter(Protocol):
    """Receives progress events; must be cheap and must not raise."""

    def __call__(self, event: Progress) -> None: ...


def ignore_progress(event: Progress) -> None:
    """A reporter that drops every event."""


class Cancelled(Exception):
    """Raised inside a job, by a step, when its cancel token was set; caught at the job's
    boundary, which returns its result marked ``cancelled`` (see the module docstring)."""


class CancelToken:
    """Set by whoever started a job (Ctrl-C, a Cancel button); checked by the job."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled


class PhaseClock:
    """Builds the events of one phase with its elapsed time: ``clock.event(done, total, ...)``."""

    def __init__(self, task: str, phase: str, unit: str = "item") -> None:
        self.task, self.phase, self.unit = task, phase, unit
        self.start = time.perf_counter()

    def event(
        self,
        done: int,
        total: int | None = None,
        message: str = "",
        **counters: float,
    ) -> Progress:
        return Progress(
            task=self.task,
            phase=self.phase,
            done=done,
            total=total,
            unit=self.unit,
            elapsed=time.perf_counter() - self.start,
            counters=MappingProxyType(dict(counters)),
            message=message,
        )
