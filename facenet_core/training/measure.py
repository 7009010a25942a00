"""Measuring a training run: the held-out figures and the guard set before and after.

The guard is face pairs unrelated to the library (e.g. LFW fold 1 = ``lfw-mini``) scored at the
calibrated threshold: the check that fine-tuning did not make the network forget how to tell
strangers apart. The figures feed the promotion decision (:mod:`.decision`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from facenet_core.metrics import accuracy_at, squared_distances
from facenet_core.models.dlib_resnet import DlibResNet
from facenet_core.progress import CancelToken, Reporter, ignore_progress
from facenet_core.settings import Settings
from facenet_core.training.config import TrainConfig
from facenet_core.training.data import FaceSet, Split
from facenet_core.training.loop import (
    FeatureBank,
    TrainResult,
    Validation,
    embed_bank,
    sface_vectors,
    train,
)
from facenet_core.types import GuardPairs


class GuardSet(GuardPairs):
    """Face pairs unrelated to the library, scored at a fixed (calibrated) threshold: a check
    that fine-tuning did not make the network forget how to tell strangers apart."""

    @classmethod
    def of(cls, pairs: GuardPairs) -> GuardSet:
        """The guard set of loaded pairs (``facenet_core.evaluation.guard.load_guard``)."""
        return cls(
            pairs.name,
            pairs.chips,
            pairs.left,
            pairs.right,
            pairs.same,
            pairs.threshold,
            pairs.arcface,
        )

    def accuracy(
        self, model: DlibResNet, bank: FeatureBank, device: torch.device, flip: bool
    ) -> float:
        emb = embed_bank(model, bank, device, flip=flip)
        dist = squared_distances(emb[self.left], emb[self.right])
        return accuracy_at(dist, self.same, self.threshold)


@dataclass
class Measured:
    """Figures before and after one training run (see :func:`train_and_measure`; ``after`` is
    empty and ``guard_after`` None when the run was cancelled)."""

    before: dict[str, float]
    after: dict[str, float]
    guard_before: float | None
    guard_after: float | None
    trained: TrainResult


def train_and_measure(
    model: DlibResNet,
    faces: FaceSet,
    split: Split,
    config: TrainConfig,
    settings: Settings,
    device: torch.device,
    *,
    guard: GuardSet | None,
    checkpoint: Path | None,
    data_key: str,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> Measured:
    """Validation and guard figures, training (``model`` in place), the figures again.

    ``faces.arcface`` set: the fused model. SFace's vectors of every face (and of the guard's)
    are computed once and ride along in the banks, so every figure, the mining and the loss are
    in the fused embedding (:mod:`.loop`); the guard must then carry ArcFace chips too."""
    bank = FeatureBank.from_chips(
        model, faces.chips, config.split, device, reporter=reporter, cancel=cancel
    )
    guard_bank = (
        None
        if guard is None
        else FeatureBank.from_chips(
            model, guard.chips, config.split, device, reporter=reporter, cancel=cancel
        )
    )
    if faces.arcface is not None:
        flip = settings.flip
        vectors = sface_vectors(faces.arcface, device, flip=flip, reporter=reporter, cancel=cancel)
        bank = bank.with_partner(vectors)
        if guard is not None and guard_bank is not None:
            if guard.arcface is None:
                raise ValueError("the fused model's guard set needs its ArcFace chips")
            guard_vectors = sface_vectors(
                guard.arcface, device, flip=flip, reporter=reporter, cancel=cancel
            )
            guard_bank = guard_bank.with_partner(guard_vectors)
    validation = Validation(
        queries=bank.subset(split.holdout),
        query_labels=split.holdout_labels,
        gallery=bank.subset(split.train),
        gallery_labels=faces.person[split.train],
        flip=settings.flip,
    )

    def guard_accuracy() -> float | None:
        if guard is None or guard_bank is None:
            return None
        return guard.accuracy(model, guard_bank, device, settings.flip)

    before = validation.figures(model, device)
    guard_before = guard_accuracy()
    trained = train(
        model,
        bank.subset(split.train),
        split.train_labels,
        config,
        device=device,
        validation=validation,
        checkpoint=checkpoint,
        data_key=data_key,
        reporter=reporter,
        cancel=cancel,
    )
    if trained.cancelled:
        return Measured(before, {}, guard_before, None, trained)
    after = validation.figures(model, device)
    return Measured(before, after, guard_before, guard_accuracy(), trained)


def training_summary(trained: TrainResult, config: TrainConfig, device: torch.device) -> dict:
    return {
        "steps": trained.steps,
        "resumed_from": trained.resumed_from,
        "batch_size": trained.batch_size,
        "seconds": trained.seconds,
        "device": str(device),
        "config": config.as_dict(),
        "history": trained.history,
    }
