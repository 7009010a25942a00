"""Batched embedding of face chips: (N, 150, 150, 3) uint8 -> (N, 128) unit float32."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from facenet_core.models.registry import ModelInfo, load_dlib_resnet

CL = torch.channels_last


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


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
        device: str | torch.device | None = None,
        batch_size: int = 32,
        flip: bool = True,
    ) -> None:
        self.device = torch.device(device) if device is not None else default_device()
        self.model = model.to(self.device).eval()
        fuse = getattr(model, "fused_for_inference", None)
        self._net = fuse() if callable(fuse) else self.model
        self.info = info
        self.batch_size = batch_size
        self.flip = flip

    @classmethod
    def pretrained(cls, **kwargs: object) -> Embedder:
        """The shipped dlib ResNet (converted and cached on first use)."""
        model, info = load_dlib_resnet()
        return cls(model, info, **kwargs)  # type: ignore[arg-type]

    @property
    def model_version(self) -> str:
        return self.info.version

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """Unit-length embeddings (N, 128) float32 of uint8 chips (N, 150, 150, 3)."""
        if chips.ndim != 4 or chips.shape[3] != 3:
            raise ValueError(f"expected chips of shape (N, H, W, 3), got {chips.shape}")
        out = np.zeros((len(chips), 128), dtype=np.float32)
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
