"""The app's long jobs, each in the core's shape ``job(reporter, cancel) -> result``, ready for
:meth:`app.tasks.TaskRunner.run`.

The scanner and the training need torch and the detectors, which take seconds to import: they
are imported by the job itself, in its worker thread, so the window never waits for them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from facenet_core.errors import UserError
from facenet_core.library.result import ScanResult
from facenet_core.library.roots import add_root, list_roots, normalise
from facenet_core.progress import Cancelled, CancelToken, Progress, Reporter
from facenet_core.settings import Settings
from facenet_core.store import Library
from facenet_core.store.library import describe_owner

if TYPE_CHECKING:  # torch comes with these: imported by the jobs, in their worker thread
    from facenet_core.training.config import TrainConfig
    from facenet_core.training.finetune import FinetuneResult
    from facenet_core.training.measure import GuardSet
    from facenet_core.training.versions import UseResult, VersionRow

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


# -- training -------------------------------------------------------------------------------


class TrainingError(UserError, ValueError):
    """A training or model-switching job could not run; the message says why and what to do."""


GuardLoader = Callable[["Settings", str, Reporter, CancelToken], "GuardSet | None"]
"""``(settings, model_version, reporter, cancel) -> guard set or None`` (no guard check)."""


@dataclass
class TrainingOptions:
    """How the Training page trains; the defaults are the app's. ``config``: the run's
    :class:`~facenet_core.training.config.TrainConfig` from the settings (the page's epochs
    already in them); None: the registry's fine-tuning settings. ``guard``: loads the guard
    set; None: the default (``$FACENET_GUARD_DIR`` or the checkout's ``lfw-mini``; no guard
    check when there is neither). ``models_dir``/``work_dir``: where weights and the checkpoint
    go (None: next to the library). Tests put a tiny config and a small guard here."""

    config: Callable[[Settings], TrainConfig] | None = None
    guard: GuardLoader | None = None
    models_dir: Path | None = None
    work_dir: Path | None = None


@dataclass(frozen=True)
class TrainingState:
    """What the Training page shows before a run: the confirmed faces per person, what is
    missing to train, the model versions, an unfinished run's checkpoint and the guard set."""

    counts: dict[str, int]
    ready: tuple[str, ...]
    negatives: tuple[str, ...]
    shortfall: str | None
    versions: tuple[VersionRow, ...]
    epochs: int
    checkpoint_saved: float | None  # mtime of an unfinished run's checkpoint
    guard: str | None  # the default guard set's folder, or None
    busy: str | None  # another program's writing job, in words

    @property
    def confirmed(self) -> int:
        return sum(self.counts.values())

    @property
    def active(self) -> VersionRow | None:
        return next((v for v in self.versions if v.active), None)


def training_state(library: Library, options: TrainingOptions) -> TrainingState:
    """Read what the Training page shows (a read: run it in the runner's read lane)."""
    from facenet_core.evaluation.guard import default_guard_dir
    from facenet_core.training.data import MIN_FACES, library_counts, shortfall
    from facenet_core.training.finetune import checkpoint_path
    from facenet_core.training.versions import list_versions

    counts = library_counts(library)
    ready = tuple(sorted((n for n, c in counts.items() if c >= MIN_FACES), key=str.casefold))
    negatives = tuple(sorted((n for n, c in counts.items() if c < MIN_FACES), key=str.casefold))
    checkpoint = checkpoint_path(library, options.work_dir)
    try:
        saved: float | None = checkpoint.stat().st_mtime
    except OSError:
        saved = None
    owner = library.writer_owner()
    busy = None
    if owner is not None and owner.get("pid") != os.getpid():
        busy = describe_owner(owner)
    guard = default_guard_dir() if options.guard is None else None
    return TrainingState(
        counts=counts,
        ready=ready,
        negatives=negatives,
        shortfall=shortfall(counts),
        versions=tuple(list_versions(library)),
        epochs=library.settings().epochs,
        checkpoint_saved=saved,
        guard=None if guard is None else guard.name,
        busy=busy,
    )


class TrainingFeed:
    """Every training step's figures, kept in the worker thread for the GUI's plot: the runner
    coalesces progress events (the GUI sees a few a second), but a plot needs every point.
    :meth:`tap` wraps the job's reporter; the GUI :meth:`drain`\\ s the new points."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._points: list[dict[str, float]] = []

    def tap(self, reporter: Reporter) -> Reporter:
        def report(event: Progress) -> None:
            if event.task == "train" and event.phase == "train" and "step" in event.counters:
                with self._lock:
                    self._points.append(dict(event.counters))
            reporter(event)

        return report

    def drain(self) -> list[dict[str, float]]:
        with self._lock:
            points, self._points = self._points, []
        return points


def _default_guard(
    settings: Settings, model_version: str, reporter: Reporter, cancel: CancelToken
) -> GuardSet | None:
    from facenet_core.evaluation.guard import default_guard_dir, load_guard
    from facenet_core.training.measure import GuardSet

    folder = default_guard_dir()
    if folder is None:
        return None
    pairs = load_guard(folder, settings, model_version, reporter=reporter, cancel=cancel)
    return GuardSet.of(pairs)


def finetune_job(
    library: Library, epochs: int, options: TrainingOptions, feed: TrainingFeed
) -> Callable[..., FinetuneResult]:
    """Fine-tune the active model on the confirmed faces for ``epochs`` (see
    :func:`facenet_core.training.finetune.finetune_library`); every step's figures go to
    ``feed`` as well as to the runner. Cancelled, it returns a result marked ``cancelled``
    (``decision`` None when it stopped before deciding: the checkpoint resumes)."""

    def job(reporter: Reporter, cancel: CancelToken) -> FinetuneResult:
        from facenet_core.store import get_active_model_version
        from facenet_core.training.config import TrainConfig
        from facenet_core.training.finetune import FinetuneResult, finetune_library

        report = feed.tap(reporter)
        settings = replace(library.settings(), epochs=epochs)
        config = (options.config or TrainConfig.from_settings)(settings)
        config = replace(config, epochs=epochs)
        with library.session() as session:
            active = get_active_model_version(session)
            if active is None:
                raise TrainingError("the library has no model yet: add a folder of photos first")
            version = f"{active.name}@{active.weights_sha256}"
        # a busy library, a bad guard set or weights that cannot load are user errors that
        # carry their own hint (facenet_core.errors): the runner words them as the CLI does
        try:
            guard = (options.guard or _default_guard)(settings, version, report, cancel)
        except Cancelled:  # stopped while loading the guard set: nothing trained yet
            return FinetuneResult(parent_version=version, cancelled=True)
        return finetune_library(
            library,
            settings,
            guard=guard,
            config=config,
            reporter=report,
            cancel=cancel,
            models_dir=options.models_dir,
            work_dir=options.work_dir,
        )

    return job


def use_model_job(library: Library, version_id: int | None) -> Callable[..., UseResult]:
    """Make a model version active (None: the active version's parent, "the previous model");
    faces lacking its embedding are embedded, then people are regrouped."""

    def job(reporter: Reporter, cancel: CancelToken) -> UseResult:
        from facenet_core.training.versions import find_version, use_model_version

        # a busy library or weights that cannot load carry their own hint (see above)
        wanted = find_version(library, "previous") if version_id is None else version_id
        return use_model_version(
            library, library.settings(), wanted, reporter=reporter, cancel=cancel
        )

    return job
