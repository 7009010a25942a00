"""Batched embedding of face chips: (N, 150, 150, 3) uint8 -> (N, 128) unit float32."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from facenet_core.models.registry import ModelInfo, load_dlib_resnet, load_model
from facenet_core.types import EMBEDDING_DIM
from facenet_core.vision.device import resolve_device

CL = torch.channels_last


class Embedder:
    """Runs an embedding network over chips in batches, without gradients.

    ``flip``: test-time augmentation; each chip and its mirror image are embedded, averaged and
    normalised again.
    """

    def __init__(
        self,
        model: nn.Module,
        info: ModelInfo,
        *,
        device: str | torch.device | None = "auto",
        batch_size: int = 32,
        flip: bool = True,
    ) -> None:
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        fuse = getattr(model, "fused_for_inference", None)
        self._net = fuse() if callable(fuse) else self.model
        self.info = info
        self.batch_size = batch_size
        self.flip = flip

    @classmethod
    def pretrained(
        cls,
        *,
        device: str | torch.device | None = "auto",
        batch_size: int = 32,
        flip: bool = True,
    ) -> Embedder:
        """The shipped dlib ResNet (converted and cached on first use)."""
        model, info = load_dlib_resnet()
        return cls(model, info, device=device, batch_size=batch_size, flip=flip)

    @classmethod
    def for_model(
        cls,
        info: ModelInfo,
        *,
        device: str | torch.device | None = "auto",
        batch_size: int = 32,
        flip: bool = True,
    ) -> Embedder:
        """The embedder of a recorded model version, pretrained or fine-tuned (raises
        :class:`~facenet_core.models.registry.ModelLoadError` when its weights are gone)."""
        return cls(load_model(info), info, device=device, batch_size=batch_size, flip=flip)

    @property
    def model_version(self) -> str:
        return self.info.version

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """Unit-length embeddings (N, 128) float32 of uint8 chips (N, 150, 150, 3)."""
        if chips.ndim != 4 or chips.shape[3] != 3:
            raise ValueError(f"expected chips of shape (N, H, W, 3), got {chips.shape}")
        out = np.zeros((len(chips), EMBEDDING_DIM), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(chips), self.batch_size):
                batch = torch.from_numpy(chips[start : start + self.batch_size]).to(self.device)
                # NHWC chips viewed as NCHW are already channels-last, as the network wants
                x = batch.permute(0, 3, 1, 2).float()
                if self.flip:
                    n = len(x)
                    both = self._net(torch.cat([x, x.flip(3)]).contiguous(memory_format=CL))
                    emb = torch.nn.functional.normalize(both[:n] + both[n:], dim=1)
                else:
                    emb = self._net(x.contiguous(memory_format=CL))
                out[start : start + len(x)] = emb.float().cpu().numpy()
        return out
