"""The app's long jobs, each in the core's shape ``job(reporter, cancel) -> result``, ready for
:meth:`app.tasks.TaskRunner.run`.

The scanner needs torch and the detectors, which take seconds to import: they are imported by
the job itself, in its worker thread, so the window never waits for them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from facenet_core.library.result import ScanResult
from facenet_core.library.roots import add_root, list_roots, normalise
from facenet_core.progress import CancelToken, Reporter
from facenet_core.store import Library

LongJob = Callable[[Reporter, CancelToken], object]


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    """A scan's counts, and the folders that were skipped because they are not on disk now
    (an unplugged drive: their photos are kept, not marked missing)."""

    result: ScanResult
    folders: tuple[str, ...]
    absent: tuple[str, ...]


def scan_job(library: Library, folders: Sequence[str] | None = None) -> Callable[..., ScanOutcome]:
    """Scan ``folders`` (added to the library first), or every folder of the library."""
    wanted = None if folders is None else [normalise(f) for f in folders]

    def job(reporter: Reporter, cancel: CancelToken) -> ScanOutcome:
        # heavy imports (torch, detectors) happen here, in the worker thread
        from facenet_core.library import scan

        if wanted is not None:
            for folder in wanted:
                add_root(library, folder)  # listed even if the scan is cancelled
            roots = wanted
        else:
            roots = [r.path for r in list_roots(library)]
        present = tuple(r for r in roots if os.path.isdir(r))
        absent = tuple(r for r in roots if not os.path.isdir(r))
        settings = library.settings()
        if not present:
            return ScanOutcome(ScanResult(), present, absent)
        result = scan(library, list(present), settings, reporter=reporter, cancel=cancel)
        return ScanOutcome(result, present, absent)

    return job


def recluster_job(library: Library) -> Callable[..., object]:
    """Group every face into people again (the user's word is kept: see
    ``facenet_core.people.jobs``)."""

    def job(reporter: Reporter, cancel: CancelToken) -> object:
        from facenet_core.people.jobs import recluster

        return recluster(library, library.settings(), reporter=reporter, cancel=cancel)

    return job
