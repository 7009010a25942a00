"""Fine-tuning from the library (or a folder of people), measured before and after.

:func:`finetune_library` is one long job:

1. the user's confirmed faces, by person, chips re-made from the stored landmarks; a share of
   each person's faces held out (:mod:`.data`); too few confirmed faces is a clear error;
2. the frozen trunk's activations for every face, once (:class:`~.loop.FeatureBank`);
3. **before**: VAL at FAR = 1e-3 over the held-out pairs and their nearest-person accuracy
   against the training faces, and the **guard** (a face-pair set unrelated to the library,
   e.g. LFW fold 1 = ``lfw-mini``) accuracy at the calibrated threshold;
4. training (:func:`~.loop.train`, checkpointed: a cancelled or crashed run resumes);
5. **after**: the same figures;
6. the weights are saved (``<library>.models/<sha256>.pt``, next to the library) and recorded as a
   :class:`~facenet_core.store.ModelVersion` (parent: the active version; metrics: the figures
   and the decision). **Promoted** only if VAL improved, the nearest-person accuracy did not
   drop and the guard dropped by at most 0.5 pp; otherwise the version stays inactive and the
   result says why;
7. after promotion: a backup of the library, the new version activated, every face re-embedded
   (:func:`facenet_core.library.reembed.reembed`, resumable) and the people re-clustered (a
   :func:`facenet_core.people.jobs.recluster`, which keeps every rule of the user's word).

The whole job holds the library's writer lock (no scan or other job writes meanwhile).

No user edit (names, confirmations, rejections, ignored faces) is touched by any of this: only
embeddings and the active flag change. The decision is :mod:`.decision`'s; restoring an older
version is :mod:`.versions`'.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from facenet_core.library.reembed import ReembedResult, version_info
from facenet_core.models.registry import (
    FUSED,
    ModelInfo,
    load_dlib_resnet,
    load_model,
    save_fine_tuned,
)
from facenet_core.paths import atomic_write_bytes
from facenet_core.progress import Cancelled, CancelToken, Reporter, ignore_progress
from facenet_core.settings import Settings
from facenet_core.store import Library, ModelVersion, activate_model_version
from facenet_core.store.models import utcnow
from facenet_core.store.queries import ensure_model_version, get_active_model_version
from facenet_core.training.config import TrainConfig
from facenet_core.training.data import (
    NotEnoughFaces,
    counts_of,
    dataset_faces,
    describe,
    library_faces,
    shortfall,
    split_faces,
)
from facenet_core.training.decision import Decision, decide
from facenet_core.training.loop import (
    reset_weights,
)
from facenet_core.training.measure import GuardSet, train_and_measure, training_summary
from facenet_core.training.versions import NoModelVersion, Recluster, refresh
from facenet_core.vision.device import resolve_device
from facenet_core.vision.engines import Engines, shared_engines


@dataclass
class TrainingFigures:
    """What a fine-tuning run measured and decided (fractions in [0, 1]), whatever it trained
    on: :class:`FinetuneResult` (a library's faces) and :class:`DatasetResult` (a folder).

    ``decision``: the promotion decision with its checks (None: the run stopped before it was
    decided). ``cancelled``: the job stopped on request. Each kind of run adds the field naming
    what it trained (keyword-only), which comes first in its JSON."""

    decision: Decision | None = None
    cancelled: bool = False
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    guard_before: float | None = None
    guard_after: float | None = None
    guard: str | None = None
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    def _json(self, first: str) -> dict[str, Any]:
        """The fields as JSON, ``first`` first and the decision as ``promoted`` and ``checks``."""
        data = asdict(self)
        return _with_decision({first: data.pop(first), **data}, self.decision)


@dataclass
class FinetuneResult(TrainingFigures):
    """What :func:`finetune_library` did and measured. ``cancelled``: during training the
    checkpoint is kept and the same run resumes; after a promotion re-embedding is resumable."""

    parent_version: str = field(kw_only=True)
    new_version: str | None = None
    new_version_id: int | None = None
    weights_path: str | None = None
    backup: str | None = None
    reembed: ReembedResult | None = None
    reclustered: str = "skipped"
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def promoted(self) -> bool:
        return self.decision is not None and self.decision.promoted

    def to_json_dict(self) -> dict[str, Any]:
        data = self._json("parent_version")
        data["reembed"] = None if self.reembed is None else self.reembed.to_json_dict()
        return _clean(data)


def _with_decision(data: dict[str, Any], decision: Decision | None) -> dict[str, Any]:
    """``decision`` as ``promoted`` and ``checks`` (the JSON the commands write)."""
    data.pop("decision", None)
    data["promoted"] = None if decision is None else decision.promoted
    data["checks"] = [] if decision is None else [c.to_json_dict() for c in decision.checks]
    return data


def _clean(value: Any) -> Any:
    """NaN -> None, recursively (JSON has no NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _active(library: Library) -> tuple[int, ModelInfo]:
    with library.session() as session:
        active = get_active_model_version(session)
        if active is None:
            raise NoModelVersion("the library has no model yet: scan some photos first")
        return active.id, version_info(active)


def finetune_library(
    library: Library,
    settings: Settings,
    *,
    guard: GuardSet | None,
    config: TrainConfig | None = None,
    engines: Engines | None = None,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
    recluster: Recluster | None = None,
    models_dir: Path | None = None,
    work_dir: Path | None = None,
) -> FinetuneResult:
    """Fine-tune the active model on the user's confirmed faces; promote it if it is better.

    ``guard``: the set checked against forgetting (None: not checked, and said so).
    ``models_dir``: where weights go (default ``<library>.models``); ``work_dir``: where the
    checkpoint goes (default ``<library>.training``). Raises
    :class:`~facenet_core.training.data.NotEnoughFaces` and :class:`NoModelVersion`. Cancelling
    returns a result marked ``cancelled`` (training resumes from its checkpoint when run
    again)."""
    with library.writer("train"):
        return _finetune_library(
            library,
            settings,
            guard=guard,
            config=config,
            engines=engines,
            reporter=reporter,
            cancel=cancel,
            recluster=recluster,
            models_dir=models_dir,
            work_dir=work_dir,
        )


def _finetune_library(
    library: Library,
    settings: Settings,
    *,
    guard: GuardSet | None,
    config: TrainConfig | None,
    engines: Engines | None,
    reporter: Reporter,
    cancel: CancelToken | None,
    recluster: Recluster | None,
    models_dir: Path | None,
    work_dir: Path | None,
) -> FinetuneResult:
    started = time.perf_counter()
    parent_id, info = _active(library)
    result = FinetuneResult(
        parent_version=info.version, guard=None if guard is None else guard.name
    )
    try:
        _finetune_into(
            result,
            library,
            settings,
            parent_id,
            info,
            guard=guard,
            config=config or TrainConfig.from_settings(settings),
            engines=engines or shared_engines(),
            reporter=reporter,
            cancel=cancel or CancelToken(),
            recluster=recluster,
            models_dir=models_dir or library.models_dir,
            work_dir=work_dir,
        )
    except Cancelled:  # stopped before training (reading faces, computing features)
        result.cancelled = True
    result.seconds = time.perf_counter() - started
    return result


def _finetune_into(
    result: FinetuneResult,
    library: Library,
    settings: Settings,
    parent_id: int,
    info: ModelInfo,
    *,
    guard: GuardSet | None,
    config: TrainConfig,
    engines: Engines,
    reporter: Reporter,
    cancel: CancelToken,
    recluster: Recluster | None,
    models_dir: Path,
    work_dir: Path | None,
) -> None:
    """Fill ``result`` in as the run goes; may raise :class:`Cancelled` before training."""
    workers = settings.workers if settings.workers is not None else 2
    fused = info.name == FUSED  # SFace frozen beside the dlib branch that trains (.loop)
    config = config.in_scale_of(info.version)
    faces = library_faces(library, workers=workers, reporter=reporter, cancel=cancel, arcface=fused)
    split = split_faces(faces.person, holdout=settings.holdout, seed=config.seed)
    result.counts = describe(faces, split)
    device = resolve_device(settings.device)
    model = load_model(info).to(device)
    engines.release()  # the scan's models are not needed while training: give the memory back
    data_key = json.dumps([info.sha256, faces.ids, split.train.tolist(), settings.flip])
    checkpoint = checkpoint_path(library, work_dir)
    measured = train_and_measure(
        model,
        faces,
        split,
        config,
        settings,
        device,
        guard=guard,
        checkpoint=checkpoint,
        data_key=data_key,
        reporter=reporter,
        cancel=cancel,
    )
    result.before, result.guard_before = measured.before, measured.guard_before
    result.training = training_summary(measured.trained, config, device)
    if measured.trained.cancelled:  # the checkpoint is kept: the same run resumes
        result.cancelled = True
        return
    result.after, result.guard_after = measured.after, measured.guard_after
    decision = decide(result.before, result.after, result.guard_before, result.guard_after)
    result.decision = decision
    new = save_fine_tuned(model.cpu(), models_dir, info.name)
    result.new_version, result.weights_path = new.version, str(new.source)
    metrics = {
        "before": result.before,
        "after": result.after,
        "guard": result.guard,
        "guard_before": result.guard_before,
        "guard_after": result.guard_after,
        **decision.to_json_dict(),
        "counts": result.counts,
        "training": {k: v for k, v in result.training.items() if k != "history"},
    }
    with library.write() as session:
        row = ensure_model_version(
            session,
            new.name,
            new.sha256,
            parent=session.get(ModelVersion, parent_id),
            weights_path=str(new.source),
        )
        row.metrics = _clean(metrics)
        row.notes = decision.summary()
        session.flush()
        result.new_version_id = row.id
    checkpoint.unlink(missing_ok=True)  # the run is recorded; a new run starts afresh
    if decision.promoted:
        result.backup = str(backup_library(library, f"before-model-{result.new_version_id}"))
        with library.write() as session:
            version = session.get(ModelVersion, result.new_version_id)
            assert version is not None
            activate_model_version(session, version)
        refreshed = refresh(
            library, settings, result.new_version_id, engines, reporter, cancel, recluster
        )
        result.reembed, result.reclustered = refreshed.reembed, refreshed.reclustered
        result.cancelled = refreshed.cancelled


@dataclass
class DatasetResult(TrainingFigures):
    """What :func:`finetune_dataset` did and measured (a cancelled run writes no weights)."""

    output: str = field(kw_only=True)
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def improved(self) -> bool:
        return self.decision is not None and self.decision.promoted

    def to_json_dict(self) -> dict[str, Any]:
        return _clean(self._json("output"))


def finetune_dataset(
    folder: Path,
    settings: Settings,
    output: Path,
    *,
    guard: GuardSet | None,
    config: TrainConfig | None = None,
    engines: Engines | None = None,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> DatasetResult:
    """Train on ``folder/<person>/<photos>`` (outside any library) and write the weights to
    ``output`` (a ``state_dict`` of the network, written atomically). ``config.from_scratch``:
    start from random weights (the paper's recipe: :meth:`TrainConfig.paper`); otherwise
    fine-tune the shipped network. The checkpoint is ``output`` + ``.ckpt`` until the end.
    Cancelling returns a result marked ``cancelled`` (the same command resumes)."""
    started = time.perf_counter()
    result = DatasetResult(output=str(output), guard=None if guard is None else guard.name)
    try:
        _finetune_dataset_into(
            result,
            folder,
            settings,
            output,
            guard=guard,
            config=config or TrainConfig.from_settings(settings),
            engines=engines or shared_engines(),
            reporter=reporter,
            cancel=cancel,
        )
    except Cancelled:
        result.cancelled = True
    result.seconds = time.perf_counter() - started
    return result


def _finetune_dataset_into(
    result: DatasetResult,
    folder: Path,
    settings: Settings,
    output: Path,
    *,
    guard: GuardSet | None,
    config: TrainConfig,
    engines: Engines,
    reporter: Reporter,
    cancel: CancelToken | None,
) -> None:
    faces = dataset_faces(folder, settings, engines=engines, reporter=reporter, cancel=cancel)
    message = shortfall(counts_of(faces))
    if message is not None:
        raise NotEnoughFaces(f"{folder}: {message.replace('confirmed ', '')}")
    split = split_faces(faces.person, holdout=settings.holdout, seed=config.seed)
    result.counts = describe(faces, split)
    device = resolve_device(settings.device)
    model, _ = load_dlib_resnet()
    model = model.to(device)
    if config.from_scratch:
        reset_weights(model, config.seed)
    engines.release()
    checkpoint = output.with_name(output.name + ".ckpt")
    measured = train_and_measure(
        model,
        faces,
        split,
        config,
        settings,
        device,
        guard=guard,
        checkpoint=checkpoint,
        data_key=json.dumps([faces.ids, split.train.tolist(), settings.flip]),
        reporter=reporter,
        cancel=cancel,
    )
    result.before, result.guard_before = measured.before, measured.guard_before
    result.training = training_summary(measured.trained, config, device)
    if measured.trained.cancelled:
        result.cancelled = True
        return
    result.after, result.guard_after = measured.after, measured.guard_after
    result.decision = decide(result.before, result.after, result.guard_before, result.guard_after)
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    atomic_write_bytes(output, buffer.getvalue())
    checkpoint.unlink(missing_ok=True)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def checkpoint_path(library: Library, work_dir: Path | None = None) -> Path:
    """Where :func:`finetune_library` keeps the checkpoint of an unfinished run (a cancelled run
    resumes from it when started again with the same settings and faces)."""
    folder = work_dir or library.training_dir
    return folder / f"{library.path.stem}-{_digest(str(library.path))}.ckpt"


def backup_library(library: Library, label: str) -> Path:
    """A consistent copy of the library in ``<library>.backups/<time>-<label>.db``."""
    folder = library.backups_dir
    folder.mkdir(parents=True, exist_ok=True)
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return library.backup(folder / f"{stamp}-{label}.db")
