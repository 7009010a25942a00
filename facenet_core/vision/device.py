"""The one device policy: which processor runs detection, embedding and training.

``auto`` picks CUDA when a CUDA GPU is usable, then Apple's MPS, then the CPU; ``cpu``, ``cuda``,
``cuda:N`` and ``mps`` force one. Every model of the app (detectors, embedder, trainer) asks
:func:`resolve_device`, so a scan never detects on one device and embeds on another. The choice
is logged once per process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from facenet_core.errors import UserError

log = logging.getLogger(__name__)


class DeviceError(UserError, RuntimeError):
    """The device setting names a device this machine does not have."""

    hint = "Set the device to auto or cpu (--device in the command line)."


_announced: set[str] = set()


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def auto_device() -> torch.device:
    """CUDA, then MPS, then CPU: the first one this machine can use."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(setting: str | torch.device | None = "auto") -> torch.device:
    """The device for a setting value (``None`` and ``"auto"`` mean the automatic choice).

    Asking for a device this machine lacks is an error that says what to do, rather than a
    crash deep inside torch."""
    if isinstance(setting, torch.device):
        device = setting
    elif setting is None or setting == "auto":
        device = auto_device()
    else:
        device = torch.device(setting)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {setting!r}: no usable CUDA GPU on this machine")
    if device.type == "mps" and not _mps_available():
        raise DeviceError(f"device {setting!r}: Apple's MPS is not available")
    key = str(device)
    if key not in _announced:
        _announced.add(key)
        log.info("computing on %s (device setting %r)", key, setting)
    return device


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run a block with torch's intra-op CPU threads set to ``count``, then restore them.

    Process-wide, so only a program's top level uses it (benchmarks, tools, tests): the core's
    own jobs set one thread per worker thread instead (``vision.faces``)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
