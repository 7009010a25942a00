"""Pretrained models by name: where their weights come from, how they are cached, what they are.

Weights come only from pip packages (never from a hub or URL). The dlib ResNet is converted from
its ``.dat`` file once and cached as a PyTorch ``state_dict`` in the user cache folder, keyed by
the sha256 of the source file, so a changed source file is converted again. Cached weights load
with ``weights_only=True``.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from facenet_core.models.dlib_format import read_network
from facenet_core.models.dlib_resnet import DlibResNet
from facenet_core.models.files import dlib_model_path
from facenet_core.paths import atomic_write_bytes, cache_dir, sha256_file

log = logging.getLogger(__name__)

DLIB_RESNET = "dlib-resnet-v1"


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Identity of a set of embedding weights; stored beside every embedding it makes."""

    name: str
    sha256: str
    source: Path

    @property
    def version(self) -> str:
        """A short, stable identifier such as ``dlib-resnet-v1@1a2b3c4d5e6f``."""
        return f"{self.name}@{self.sha256[:12]}"


def dlib_resnet_info() -> ModelInfo:
    source = dlib_model_path("dlib_face_recognition_resnet_model_v1.dat")
    return ModelInfo(DLIB_RESNET, sha256_file(source), source)


def load_dlib_resnet(cache: Path | None = None) -> tuple[DlibResNet, ModelInfo]:
    """The pretrained dlib ResNet in eval mode, converted once and then read from the cache."""
    info = dlib_resnet_info()
    folder = cache if cache is not None else cache_dir()
    cached = folder / f"{info.name}-{info.sha256}.pt"
    model = DlibResNet()
    if cached.is_file():
        try:
            model.load_state_dict(torch.load(cached, map_location="cpu", weights_only=True))
            return model.eval(), info
        except Exception as exc:  # any unreadable cache file: convert again
            log.warning("converted weights %s are unreadable (%s); converting again", cached, exc)
    log.info("converting %s to PyTorch", info.source)
    model = DlibResNet.from_dlib(read_network(info.source))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    try:
        atomic_write_bytes(cached, buffer.getvalue())  # a crash never leaves half a cache file
    except OSError as exc:
        log.warning("could not cache converted weights in %s: %s", folder, exc)
    return model.eval(), info
