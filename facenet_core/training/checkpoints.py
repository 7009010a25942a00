"""Training checkpoints: written atomically, resumed only by the same run on the same data.

A checkpoint is a dict: model, optimiser, step, epoch, sampler position, random states, config and
a data fingerprint. :func:`~.loop.train` writes one every ``checkpoint_every`` steps and on cancel,
and resumes from it when config and data match, ending at the same weights as a run that was never
interrupted.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from facenet_core.paths import atomic_write_bytes
from facenet_core.training.sampler import PKSampler

if TYPE_CHECKING:
    from facenet_core.training.config import TrainConfig
    from facenet_core.training.loop import TrainResult

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1


def fingerprint(config: TrainConfig, labels: np.ndarray, data_key: str) -> str:
    """What a checkpoint must match to be resumed: the config, the labels and the caller's key
    for the data (e.g. the face ids and the model's sha256)."""
    h = hashlib.sha256()
    h.update(json.dumps(config.as_dict(), sort_keys=True).encode())
    h.update(np.asarray(labels, dtype=np.int64).tobytes())
    h.update(data_key.encode())
    return h.hexdigest()


def _rng_states() -> dict[str, Any]:
    np_state: tuple[Any, ...] = np.random.get_state(legacy=True)  # type: ignore[assignment]
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _tuples(value: Any) -> Any:
    """Lists back to tuples (the random module's state must be tuples)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def save_checkpoint(
    path: Path,
    fingerprint: str,
    step: int,
    sampler: PKSampler,
    model: nn.Module,
    optimiser: torch.optim.Optimizer,
    config: TrainConfig,
    result: TrainResult,
) -> None:
    """Write the run's state at ``step`` (the next step to run) to ``path``, atomically: a
    crash while writing leaves the previous checkpoint whole."""
    epoch = sampler.position(min(step, sampler.total_steps - 1))[0]
    state = {
        "format": CHECKPOINT_FORMAT,
        "fingerprint": fingerprint,
        "model": model.state_dict(),
        "optimiser": optimiser.state_dict(),
        "step": step,
        "epoch": epoch,
        "sampler": {"seed": sampler.seed, "step": step, "total_steps": sampler.total_steps},
        "rng": _rng_states(),
        "config": config.as_dict(),
        "history": result.history,
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def resume(
    path: Path,
    fingerprint: str,
    model: nn.Module,
    optimiser: torch.optim.Optimizer,
    result: TrainResult,
) -> int:
    """Load ``path`` into ``model``, ``optimiser``, the random states and ``result.history``
    if it belongs to this run (same ``fingerprint`` and format); the step to continue from
    (0: nothing resumed, the file is unreadable or another run's)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        log.warning("ignoring the unreadable checkpoint %s (%s)", path, exc)
        return 0
    if state.get("format") != CHECKPOINT_FORMAT or state.get("fingerprint") != fingerprint:
        log.info("checkpoint %s belongs to another run; starting afresh", path)
        return 0
    model.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimiser"])
    rng = dict(state["rng"])
    rng["python"] = _tuples(rng["python"])
    _set_rng_states(rng)
    result.history = list(state.get("history", []))
    step = int(state["step"])
    log.info("resuming training from step %d (%s)", step, path)
    return step
