"""One training run's settings: :class:`TrainConfig`, in two regimes.

``TrainConfig.paper()`` is FaceNet's recipe for training from scratch: every layer, AdaGrad at
0.05, lowered to finish (x0.1 for the last fifth of the steps). The default, ``TrainConfig()``,
fine-tunes the pretrained network, and its settings were measured (docs/design/training.md): the
paper's AdaGrad destroys a pretrained network within a few steps; what helps is Adam at a small
rate on the top blocks only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from facenet_core.calibration import distance_scale
from facenet_core.models.dlib_resnet import INPUT
from facenet_core.settings import SPECS, Settings
from facenet_core.training.loss import MARGIN
from facenet_core.training.mining import Fallback

N_BLOCKS = 14
PAPER_BATCH = 1800
"""FaceNet's usual mini-batch ("around 1,800 exemplars")."""
FINE_TUNING_BATCH = 480
"""Largest automatic batch for fine-tuning: about 48 people x 8 faces + 96 other faces."""

Optimiser = Literal["adam", "adagrad", "sgd"]

SETTING_OF: dict[str, str] = {
    "epochs": "epochs",
    "learning_rate": "learning_rate",
    "top_blocks": "top_blocks",
    "faces_per_person": "faces_per_person",
    "batch_size": "train_batch_size",
    "fallback": "semihard_fallback",
    "margin": "margin",
    "anchor": "anchor",
    "scale": "scale",
    "seed": "seed",
}
"""The :class:`TrainConfig` fields that are user settings, and their keys in the registry
(:mod:`facenet_core.settings`): their defaults come from there, nowhere else."""


def _registry(field_name: str) -> Any:
    """The registry's default for a :class:`TrainConfig` field (see :data:`SETTING_OF`)."""
    return SPECS[SETTING_OF[field_name]].default


@dataclass(frozen=True)
class TrainConfig:
    """One training run's settings (defaults: fine-tuning the pretrained network, measured).

    ``top_blocks``: residual blocks trained below the final fc layer (0: the fc only; None:
    every layer, stem included). ``batch_size``: faces per batch (None: sized to the memory
    available, at most ``max_batch``: 480 for fine-tuning, measured better than the paper's
    1,800 per step and per face seen). ``extra``: randomly sampled negative faces added to
    each batch, as a fraction of its P x K faces. ``fallback``: what an anchor-positive pair
    without a semi-hard negative gets (:mod:`.mining`). ``lr_drop_at``: fraction of the steps
    after which the rate is divided by 10 (1.0: never). ``validate_every``: steps between
    validations (0: once per epoch). ``from_scratch``: start from random weights.
    ``anchor``: weight of a term keeping each face's embedding near the one the starting
    network gave it, ``anchor * mean ||f(x) - f_start(x)||^2`` (0: the paper's loss alone).
    ``scale``: weight of a term holding the batch's mean squared distance, which is exactly
    ``2 (1 - |mean f(x)|^2)``, at the starting network's: ``scale * (relative change)^2``
    (both terms: :mod:`.loss`). ``margin``: 0.05 by default, measured (FaceNet's 0.2 is relative
    to its own distance scale; dlib's embedding is about seven times tighter, where 0.2 makes
    every pair "semi-hard" and the loss blows the space apart).

    The fields that are user settings (:data:`SETTING_OF`) take their defaults from the
    settings registry; the others (optimiser, batch cap, extra negatives, mirroring, schedule,
    checkpoints) are the loop's own and no setting repeats them.
    """

    epochs: int = _registry("epochs")
    optimiser: Optimiser = "adam"
    learning_rate: float = _registry("learning_rate")
    top_blocks: int | None = _registry("top_blocks")
    faces_per_person: int = _registry("faces_per_person")
    batch_size: int | None = _registry("batch_size")
    max_batch: int = FINE_TUNING_BATCH
    extra: float = 0.25
    margin: float = _registry("margin")
    fallback: Fallback = _registry("fallback")  # noqa: RUF009 (a str: immutable)
    flip: bool = True
    seed: int = _registry("seed")
    lr_drop_at: float = 1.0
    validate_every: int = 0
    checkpoint_every: int = 25
    from_scratch: bool = False
    anchor: float = _registry("anchor")
    scale: float = _registry("scale")

    def __post_init__(self) -> None:
        if self.top_blocks is not None and not 0 <= self.top_blocks <= N_BLOCKS:
            raise ValueError(f"top_blocks must be 0 to {N_BLOCKS} or None (every layer)")
        if self.epochs < 1 or self.learning_rate <= 0 or self.faces_per_person < 2:
            raise ValueError("epochs >= 1, learning_rate > 0 and faces_per_person >= 2 needed")
        if self.anchor < 0 or (self.anchor > 0 and self.from_scratch):
            raise ValueError("anchor must be >= 0, and 0 when training from scratch")
        if self.scale < 0 or (self.scale > 0 and self.from_scratch):
            raise ValueError("scale must be >= 0, and 0 when training from scratch")

    @property
    def split(self) -> int:
        """Where the trainable head starts (see :meth:`DlibResNet.features`)."""
        return INPUT if self.top_blocks is None else N_BLOCKS - self.top_blocks

    @classmethod
    def paper(cls, **changes: Any) -> TrainConfig:
        """FaceNet's settings for training from scratch (section 3.2)."""
        base = cls(
            optimiser="adagrad",
            learning_rate=0.05,
            top_blocks=None,
            batch_size=PAPER_BATCH,
            max_batch=PAPER_BATCH,
            faces_per_person=40,
            lr_drop_at=0.8,
            margin=MARGIN,
            anchor=0.0,
            scale=0.0,
            from_scratch=True,
        )
        return dataclasses.replace(base, **changes)

    @classmethod
    def from_settings(cls, settings: Settings, **changes: Any) -> TrainConfig:
        """Fine-tuning with the user's training settings (group "Training")."""
        base = cls(**{name: getattr(settings, key) for name, key in SETTING_OF.items()})
        return dataclasses.replace(base, **changes)

    def in_scale_of(self, model_version: str) -> TrainConfig:
        """This config for fine-tuning ``model_version``: ``margin`` is set in the fast model's
        squared distances (as the settings are); a model whose distances are on another scale
        (the fused one: x4.58, its calibrated threshold over dlib's) gets it multiplied by
        that factor, so that a triplet is as hard, relative to the threshold, as before."""
        factor = distance_scale(model_version).factor
        if factor == 1.0:
            return self
        return dataclasses.replace(self, margin=self.margin * factor)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
