"""The training loop: triplet loss with online semi-hard mining over P x K batches, resumable.

What a run trains and how is its :class:`~.config.TrainConfig`; the loss terms are :mod:`.loss`'s
objects; saving and resuming are :mod:`.checkpoints`'.

**Frozen trunk, cached once.** When only the layers above a split point train, everything below
it is a fixed function (dlib's batch norms are folded into affine layers, so there are no running
statistics to update): its activations for every face, plain and mirrored, are computed once
(:class:`FeatureBank`) and each step runs only the small top of the network. This is exactly the
same computation as running the whole network with the lower layers frozen, and it makes
fine-tuning on a CPU a matter of minutes.

**A frozen partner (the fused model).** The accurate model's embedding is dlib's unit vector and
SFace's side by side, normalised again (each half has length 1/sqrt 2, so the squared fused
distance is the mean of the two networks' squared distances). SFace stays frozen: each face's
SFace half is exactly what the fused embedder stores for it (its unit vector, mirror-averaged
with the test-time flip), computed once (:func:`sface_vectors`) and carried in the bank
(``FeatureBank.partner``), the same for a face's plain and mirrored chip; every step joins it
to the dlib head's output, so
semi-hard mining and the triplet loss see the fused distance, while the gradient reaches only
the dlib blocks that train. The anchor and scale terms act on the dlib half (the part that moves).

**Deterministic and resumable.** Batches are a pure function of ``(seed, step)``
(:class:`~.sampler.PKSampler`). A checkpoint (a dict: model, optimiser, step, epoch, sampler
position, random states, config and a data fingerprint) is written atomically every
``checkpoint_every`` steps and on cancel; :func:`train` resumes from it when config and data
match, and ends at the same weights as a run that was never interrupted.

Progress: one event per step (``task="train"``, ``phase="train"``) with counters ``step``,
``epoch``, ``loss``, ``active`` (share of anchor-positive pairs that yielded a triplet),
``semihard`` (share with a semi-hard negative), ``triplets``, ``d_ap`` and ``d_an`` (mean squared
anchor-positive and anchor-negative distances), ``lr``, and on validation steps ``val`` (VAL at
FAR = 1e-3 on the held-out faces) and ``nearest`` (their nearest-person accuracy).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from facenet_core.metrics import all_pairs, nearest_person_accuracy, val_at_far
from facenet_core.models.dlib_resnet import INPUT, Affine, DlibResNet
from facenet_core.progress import (
    CancelToken,
    PhaseClock,
    Reporter,
    ignore_progress,
)
from facenet_core.training.checkpoints import fingerprint as run_fingerprint
from facenet_core.training.checkpoints import resume, save_checkpoint
from facenet_core.training.config import PAPER_BATCH, TrainConfig
from facenet_core.training.loss import AnchorLoss, ScaleLoss, TripletLoss
from facenet_core.training.mining import mine_triplets
from facenet_core.training.sampler import PKSampler

# -- features -------------------------------------------------------------------------------


def chips_to_tensor(chips: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """(N, 150, 150, 3) uint8 chips -> (N, 3, 150, 150) float on ``device``."""
    t = torch.as_tensor(chips).to(device)
    return t.permute(0, 3, 1, 2).float()


class FeatureBank:
    """The trainable head's input for every face, plain and mirrored (``split`` >= 0), or the
    chips themselves (``split`` = INPUT: the whole network trains, nothing is cached).

    ``partner``: for the fused model, the frozen second network's unit vectors of the same
    faces, ``(N, 128)`` (:func:`sface_vectors`); the embeddings this bank gives are then the
    fused ones (:func:`join_partner`)."""

    def __init__(
        self,
        plain: torch.Tensor,
        mirrored: torch.Tensor | None,
        split: int,
        partner: torch.Tensor | None = None,
    ) -> None:
        self.plain = plain
        self.mirrored = mirrored
        self.split = split
        if partner is not None and len(partner) != len(plain):
            raise ValueError(f"{len(plain)} faces but {len(partner)} partner vectors")
        self.partner = partner

    def with_partner(self, partner: torch.Tensor | None) -> FeatureBank:
        """The same faces with the frozen second network's vectors (None: without)."""
        return FeatureBank(self.plain, self.mirrored, self.split, partner)

    def partner_of(self, indices: np.ndarray, device: torch.device) -> torch.Tensor | None:
        """The partner's unit vectors of faces ``indices`` (None without a partner)."""
        if self.partner is None:
            return None
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.partner.device)
        return self.partner[idx].to(device)

    def __len__(self) -> int:
        return len(self.plain)

    @property
    def device(self) -> torch.device:
        return self.plain.device

    @classmethod
    def from_chips(
        cls,
        model: DlibResNet,
        chips: np.ndarray,
        split: int,
        device: torch.device,
        *,
        batch: int = 64,
        reporter: Reporter = ignore_progress,
        cancel: CancelToken | None = None,
    ) -> FeatureBank:
        """Run the frozen layers below ``split`` once over ``chips`` and their mirror images.

        Raises :class:`~facenet_core.progress.Cancelled` when ``cancel`` is set: a step inside
        a job, whose boundary (:mod:`.finetune`) turns it into a result marked cancelled."""
        if split == INPUT:
            return cls(torch.as_tensor(np.ascontiguousarray(chips)), None, INPUT)
        trunk = model.fused_for_inference().to(device)
        plain: list[torch.Tensor] = []
        mirrored: list[torch.Tensor] = []
        clock = PhaseClock("train", "features", "face")
        with torch.inference_mode():
            for start in range(0, len(chips), batch):
                x = chips_to_tensor(chips[start : start + batch], device)
                x = x.contiguous(memory_format=torch.channels_last)
                plain.append(trunk.features(x, split).contiguous())
                mirrored.append(trunk.features(x.flip(3), split).contiguous())
                if cancel is not None:
                    cancel.raise_if_cancelled()
                reporter(clock.event(min(start + batch, len(chips)), len(chips)))
        if not plain:
            raise ValueError("no faces to compute features of")
        return cls(torch.cat(plain), torch.cat(mirrored), split)

    def advanced(self, model: DlibResNet, split: int, batch: int = 256) -> FeatureBank:
        """The bank at a higher ``split``, by running the (frozen) blocks in between."""
        if split == self.split:
            return self
        if split < self.split or self.split == INPUT or self.mirrored is None:
            raise ValueError(f"cannot move features from split {self.split} down to {split}")
        trunk = model.fused_for_inference().to(self.device)
        out = []
        with torch.inference_mode():
            for source in (self.plain, self.mirrored):
                parts = [
                    trunk.advance(source[s : s + batch], self.split, split).contiguous()
                    for s in range(0, len(source), batch)
                ]
                out.append(torch.cat(parts))
        return FeatureBank(out[0], out[1], split, self.partner)

    def subset(self, indices: np.ndarray) -> FeatureBank:
        idx = torch.as_tensor(indices, dtype=torch.long)
        mirrored = None if self.mirrored is None else self.mirrored[idx.to(self.device)]
        partner = None if self.partner is None else self.partner[idx.to(self.partner.device)]
        return FeatureBank(self.plain[idx.to(self.plain.device)], mirrored, self.split, partner)

    def take(self, indices: np.ndarray, flips: np.ndarray, device: torch.device) -> torch.Tensor:
        """The head's input for a batch: face ``indices[i]``, mirrored where ``flips[i]``."""
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.plain.device)
        if self.split == INPUT:
            x = chips_to_tensor(self.plain[idx], device)
            flip = torch.as_tensor(flips, device=device)
            return torch.where(flip[:, None, None, None], x.flip(3), x)
        assert self.mirrored is not None
        flip = torch.as_tensor(flips, device=self.plain.device)
        view = (-1,) + (1,) * (self.plain.dim() - 1)
        x = torch.where(flip.view(view), self.mirrored[idx], self.plain[idx])
        return x.to(device)


def join_partner(emb: torch.Tensor, partner: torch.Tensor | None) -> torch.Tensor:
    """The fused embedding of the dlib head's unit rows and the frozen partner's (side by side,
    normalised again, as :func:`facenet_core.vision.embed.join`); ``emb`` itself without one."""
    if partner is None:
        return emb
    return torch.nn.functional.normalize(torch.cat([emb, partner.to(emb.dtype)], dim=1), dim=1)


def sface_vectors(
    arcface: np.ndarray,
    device: torch.device,
    *,
    flip: bool = True,
    batch: int = 64,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> torch.Tensor:
    """SFace's unit vectors ``(N, 128)`` float32 of ArcFace chips ``(N, 112, 112, 3)`` uint8 RGB
    (``flip``: mirror-averaged, as the fused embedder does): the frozen half of the fused
    embedding, computed once per run."""
    from facenet_core.models.sface import load_sface

    net = load_sface().fused_for_inference().to(device)
    out: list[torch.Tensor] = []
    clock = PhaseClock("train", "features", "face")
    with torch.inference_mode():
        for start in range(0, len(arcface), batch):
            x = torch.as_tensor(np.ascontiguousarray(arcface[start : start + batch]))
            x = x.to(device).permute(0, 3, 1, 2).float()
            unit = torch.nn.functional.normalize(net(x).float(), dim=1)
            if flip:
                mirrored = torch.nn.functional.normalize(net(x.flip(3)).float(), dim=1)
                unit = torch.nn.functional.normalize(unit + mirrored, dim=1)
            out.append(unit)
            if cancel is not None:
                cancel.raise_if_cancelled()
            reporter(clock.event(min(start + batch, len(arcface)), len(arcface)))
    if not out:
        return torch.zeros((0, 128), device=device)
    return torch.cat(out)


def embed_bank(
    model: DlibResNet,
    bank: FeatureBank,
    device: torch.device,
    *,
    flip: bool = True,
    batch: int = 256,
    fused: bool = True,
) -> np.ndarray:
    """Unit embeddings (N, 128) of every face of ``bank`` through ``model``'s head; ``flip``:
    average with the mirror image's and normalise again (the embedder's test-time flip).
    A bank with a partner gives the fused ones (N, 256: the dlib half mirror-averaged on its
    own, beside the partner's vector) unless ``fused`` is False (the dlib half alone)."""
    was_training = model.training
    model.eval()
    out = []
    partner = bank.partner if fused else None
    with torch.inference_mode():
        for start in range(0, len(bank), batch):
            idx = np.arange(start, min(start + batch, len(bank)))
            emb = model.head(bank.take(idx, np.zeros(len(idx), bool), device), bank.split)
            if flip:
                other = model.head(bank.take(idx, np.ones(len(idx), bool), device), bank.split)
                emb = torch.nn.functional.normalize(emb + other, dim=1)
            second = None if partner is None else bank.partner_of(idx, device)
            out.append(join_partner(emb.float(), second).cpu().numpy())
    model.train(was_training)
    if not out:
        return np.zeros((0, 256 if partner is not None else 128), np.float32)
    return np.concatenate(out)


# -- validation -----------------------------------------------------------------------------


@dataclass
class Validation:
    """Held-out faces (``queries``) and the faces they are recognised against (``gallery``)."""

    queries: FeatureBank
    query_labels: np.ndarray
    gallery: FeatureBank
    gallery_labels: np.ndarray
    flip: bool = True

    def figures(self, model: DlibResNet, device: torch.device) -> dict[str, float]:
        """``val``: VAL at FAR = 1e-3 over every pair of held-out faces; ``nearest``: share of
        held-out faces whose nearest gallery face is the same person; ``d_diff``: the mean
        squared distance between held-out faces of different people (the distance scale: the
        calibrated thresholds assume it stays where the pretrained network put it)."""
        q = embed_bank(model, self.queries, device, flip=self.flip)
        g = embed_bank(model, self.gallery, device, flip=self.flip)
        dist, same = all_pairs(q, self.query_labels)
        return {
            "val": val_at_far(q, self.query_labels),
            "nearest": nearest_person_accuracy(q, self.query_labels, g, self.gallery_labels),
            "d_diff": float(dist[~same].mean()) if (~same).any() else math.nan,
        }


# -- the loop -------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """What a run did: ``steps`` done of ``total_steps``, where it resumed from, the validation
    figures over time (``history``: dicts with ``step`` and the figures) and the time taken;
    ``cancelled``: it stopped on request after ``steps`` steps (a checkpoint, if one was given,
    holds them: the same run resumes there)."""

    steps: int
    total_steps: int
    resumed_from: int
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    batch_size: int = 0
    last: dict[str, float] = field(default_factory=dict)
    cancelled: bool = False


def _memory_available(device: torch.device) -> int:
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 2 << 30


def auto_batch_size(
    model: DlibResNet, bank: FeatureBank, device: torch.device, cap: int = PAPER_BATCH
) -> int:
    """Faces per batch that fit in a quarter of the free memory of ``device`` (activations of
    the trainable layers, kept for the backward pass, about 3x their size), at most ``cap``."""
    sizes: list[int] = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: sizes.append(out.numel()))
        for m in model.modules()
        if not list(m.children())
    ]
    try:
        with torch.no_grad():
            model.head(bank.take(np.array([0]), np.array([False]), device), bank.split)
    finally:
        for h in hooks:
            h.remove()
    per_face = max(1, 3 * 4 * sum(sizes))
    fit = _memory_available(device) // 4 // per_face
    return int(max(16, min(cap, fit)))


def _anchor_embeddings(model: DlibResNet, bank: FeatureBank, device: torch.device) -> torch.Tensor:
    """(N, 2, 128): every face's embedding, plain and mirrored, by the starting network."""
    plain = embed_bank(model, bank, device, flip=False, fused=False)
    if bank.split == INPUT or bank.mirrored is None:
        raise ValueError("anchoring needs a frozen trunk (cached features)")
    mirrored = embed_bank(
        model, FeatureBank(bank.mirrored, bank.plain, bank.split), device, flip=False, fused=False
    )
    model.train()
    return torch.from_numpy(np.stack([plain, mirrored], axis=1)).to(device)


def make_optimiser(config: TrainConfig, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    if config.optimiser == "adam":
        return torch.optim.Adam(params, lr=config.learning_rate)
    if config.optimiser == "adagrad":
        return torch.optim.Adagrad(params, lr=config.learning_rate)
    if config.optimiser == "sgd":
        return torch.optim.SGD(params, lr=config.learning_rate, momentum=0.9)
    raise ValueError(f"unknown optimiser {config.optimiser!r}")


@contextmanager
def _deterministic() -> Iterator[None]:
    """cuDNN's deterministic kernels for the run (CPU kernels already are)."""
    cudnn = torch.backends.cudnn
    saved = (cudnn.deterministic, cudnn.benchmark)
    cudnn.deterministic, cudnn.benchmark = True, False
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark = saved


def reset_weights(model: nn.Module, seed: int) -> None:
    """Random weights (PyTorch's default initialisation), reproducibly from ``seed``."""
    torch.manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            module.reset_parameters()
        elif isinstance(module, Affine):
            with torch.no_grad():
                module.weight.fill_(1.0)
                module.bias.zero_()


def train(
    model: DlibResNet,
    bank: FeatureBank,
    labels: np.ndarray,
    config: TrainConfig,
    *,
    device: torch.device,
    validation: Validation | None = None,
    checkpoint: Path | None = None,
    data_key: str = "",
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
    on_step: Callable[[int], None] | None = None,
) -> TrainResult:
    """Train ``model`` (in place) with triplets mined from ``bank`` (the head's inputs of the
    training faces, labelled by person; < 0: negative-only faces).

    ``checkpoint``: a file to save to and resume from (a checkpoint of another config or other
    data is ignored and replaced). When ``cancel`` is set it stops before the next step, saves
    a checkpoint and returns a result marked ``cancelled`` (the model keeps the weights of the
    steps done). ``on_step``: called after each step (tests use it)."""
    if bank.split != config.split:
        raise ValueError(f"features are at split {bank.split}, the config trains {config.split}")
    cancel = cancel or CancelToken()
    started = time.perf_counter()
    model.to(device)
    labels = np.asarray(labels)
    if config.from_scratch:
        reset_weights(model, config.seed)
    model.requires_grad_(False)
    params = model.head_parameters(config.split)
    for p in params:
        p.requires_grad_(True)
    model.train()
    optimiser = make_optimiser(config, params)
    batch_size = config.batch_size or auto_batch_size(model, bank, device, config.max_batch)
    extra = round(config.extra * batch_size / (1 + config.extra))
    sampler = PKSampler(
        labels,
        faces_per_person=config.faces_per_person,
        batch_size=batch_size - extra,
        extra=extra,
        epochs=config.epochs,
        flip=config.flip,
        seed=config.seed,
    )
    loss_fn = TripletLoss(config.margin)
    anchor_loss, scale_loss = AnchorLoss(config.anchor), ScaleLoss(config.scale)
    labels_t = torch.as_tensor(labels, dtype=torch.long, device=device)
    fingerprint = run_fingerprint(config, labels, data_key)
    result = TrainResult(
        steps=0, total_steps=sampler.total_steps, resumed_from=0, batch_size=batch_size
    )
    anchored = config.anchor > 0 or config.scale > 0
    anchors = _anchor_embeddings(model, bank, device) if anchored else None
    start_step = 0
    if checkpoint is not None and checkpoint.is_file():
        start_step = resume(checkpoint, fingerprint, model, optimiser, result)
    result.resumed_from = start_step
    drop_step = math.floor(config.lr_drop_at * sampler.total_steps)
    validate_every = config.validate_every or sampler.steps_per_epoch[0]
    clock = PhaseClock("train", "train", "step")

    def save(step: int) -> None:
        if checkpoint is not None:
            save_checkpoint(
                checkpoint, fingerprint, step, sampler, model, optimiser, config, result
            )

    def validate(step: int) -> dict[str, float]:
        if validation is None:
            return {}
        figures = validation.figures(model, device)
        result.history.append({"step": float(step), **figures})
        return figures

    with _deterministic():
        if start_step == 0 and validation is not None:
            reporter(clock.event(0, sampler.total_steps, "", step=0, **validate(0)))
        for step in range(start_step, sampler.total_steps):
            if cancel.cancelled:
                save(step)
                result.cancelled = True
                break
            lr = config.learning_rate * (0.1 if step >= drop_step else 1.0)
            for group in optimiser.param_groups:
                group["lr"] = lr
            batch = sampler.batch(step)
            x = bank.take(batch.indices, batch.flips, device)
            emb = model.head(x, config.split)
            joint = join_partner(emb, bank.partner_of(batch.indices, device))
            batch_labels = labels_t[torch.as_tensor(batch.indices, device=device)]
            mined = mine_triplets(
                loss_fn.distances(joint), batch_labels, config.margin, config.fallback
            )
            loss = loss_fn(joint, mined)
            drift = spread = 0.0
            if anchors is not None:
                idx = torch.as_tensor(batch.indices, device=device)
                flip = torch.as_tensor(batch.flips, device=device).long()
                start = anchors[idx, flip]
                loss = loss + anchor_loss(emb, start)
                if scale_loss.weight > 0:
                    loss = loss + scale_loss(emb, start)
                with torch.no_grad():
                    drift = float(AnchorLoss.drift(emb, start))
                    spread = float(ScaleLoss.spread(emb, start))
            optimiser.zero_grad(set_to_none=True)
            if len(mined) or anchors is not None:
                loss.backward()
                optimiser.step()
            done = step + 1
            counters: dict[str, float] = {
                "step": float(done),
                "epoch": float(batch.epoch + 1),
                "loss": float(loss.detach()),
                "active": mined.active_fraction,
                "semihard": mined.semihard_fraction,
                "triplets": float(len(mined)),
                "d_ap": mined.mean_ap,
                "d_an": mined.mean_an,
                "lr": lr,
                "drift": drift,
                "spread": spread,
            }
            if done % validate_every == 0 or done == sampler.total_steps:
                counters.update(validate(done))
            result.last = counters
            result.steps = done
            reporter(clock.event(done, sampler.total_steps, "", **counters))
            if on_step is not None:
                on_step(done)
            if done % config.checkpoint_every == 0 and done < sampler.total_steps:
                save(done)
    model.eval()
    model.requires_grad_(False)
    result.seconds = time.perf_counter() - started
    if checkpoint is not None and not result.cancelled:
        save(result.steps)  # a finished run: resuming it again is a no-op
    return result
