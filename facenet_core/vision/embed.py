"""Batched embedding of face chips: (N, 150, 150, 3) uint8 -> (N, 128) unit float32.

On a CPU the network runs in float32 as an inference copy (affines and the input normalisation
folded into the convolutions, channels-last weights). On CUDA it can run faster:

- **bfloat16 weights and activations** (``precision="bf16"``), channels-last, so cuDNN uses the
  tensor cores. Not ``torch.autocast``: under ``inference_mode`` autocast's weight cast cache is
  never used (it only caches leaves that require grad), so every call re-casts every weight,
  and it keeps reductions and the final normalisation in float32 with casts around them: each
  forward pass launches one extra cast kernel per layer (counted with the profiler in
  ``bench/embed_speed.py``). A network whose weights *are* bfloat16 has none of that. Its input
  is the chip's pixels, whole numbers 0-255 that bfloat16 holds exactly; the descriptor is
  normalised in float32.
- **torch.compile** (``compile=True``; ``"auto"``: on CUDA): one compiled graph per batch size;
  the batches are padded to the configured size so the graph is compiled once. Any failure to
  compile (no Triton, an unsupported GPU, an old torch) falls back to the plain network, with a
  warning in the log. ``cuda_graphs=True`` compiles in ``reduce-overhead`` mode (CUDA graphs:
  worth it for small batches, where launching kernels costs more than running them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal, TypedDict, Unpack, cast

import numpy as np
import torch
from torch import Tensor, nn

from facenet_core.models.registry import (
    FUSED,
    ModelInfo,
    fused_info,
    load_dlib_resnet,
    load_model,
)
from facenet_core.models.sface import load_sface
from facenet_core.types import EMBEDDING_DIM, FUSED_DIM
from facenet_core.vision.align import (
    ARCFACE_SIZE,
    ARCFACE_TEMPLATE,
    MTCNN_TEMPLATE,
    template_chip,
)
from facenet_core.vision.device import resolve_device

log = logging.getLogger(__name__)

CL = torch.channels_last
Precision = Literal["auto", "fp32", "bf16"]
Switch = bool | Literal["auto"]


class EmbedOptions(TypedDict, total=False):
    """How an embedder runs: the keywords every way of making one takes (their defaults are
    :class:`Embedder`'s), written once here."""

    device: str | torch.device | None
    batch_size: int
    flip: bool
    precision: Precision
    compile: Switch
    cuda_graphs: bool


class _InferenceNet(nn.Module):
    """The network's trunk in the chosen precision, then pooling, the last dense layer and the
    normalisation in float32 (a bfloat16 descriptor would carry only 3 significant digits)."""

    def __init__(self, net: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.net = net.to(dtype=dtype).to(memory_format=CL)
        fc = getattr(net, "fc", None)
        self.split = callable(getattr(net, "trunk", None)) and isinstance(fc, nn.Linear)
        if self.split:
            assert isinstance(fc, nn.Linear)
            self.fc = nn.Linear(fc.in_features, fc.out_features, bias=fc.bias is not None)
            self.fc.load_state_dict({k: v.float() for k, v in fc.state_dict().items()})

    def forward(self, x: Tensor) -> Tensor:
        if not self.split:
            return self.net(x).float()
        trunk = cast(Callable[[Tensor], Tensor], self.net.trunk)
        features = trunk(x).float().mean(dim=(2, 3))
        return torch.nn.functional.normalize(self.fc(features), dim=1)


class Embedder:
    """Runs an embedding network over chips in batches, without gradients.

    ``flip``: test-time augmentation; each chip and its mirror image are embedded, averaged and
    normalised again. ``precision``: ``fp32``, ``bf16`` or ``auto`` (float32; bfloat16 is a
    choice made by the caller, see the module docstring). ``compile``: ``torch.compile`` the
    network (``auto``: on CUDA only). ``cuda_graphs``: compile in CUDA-graph mode.
    """

    def __init__(
        self,
        model: nn.Module,
        info: ModelInfo,
        *,
        device: str | torch.device | None = "auto",
        batch_size: int = 32,
        flip: bool = True,
        precision: Precision = "auto",
        compile: Switch = "auto",
        cuda_graphs: bool = False,
    ) -> None:
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        fuse = getattr(model, "fused_for_inference", None)
        net = fuse() if callable(fuse) else self.model
        self._net: nn.Module = _InferenceNet(net, self.dtype).to(self.device).eval()
        self.info = info
        self.batch_size = max(1, int(batch_size))
        self.flip = flip
        wants_compile = compile is True or (compile == "auto" and self.device.type == "cuda")
        self._compiled: Callable[[Tensor], Tensor] | None = None
        self._compile_failed = False
        if wants_compile:
            mode = "reduce-overhead" if cuda_graphs else None
            try:
                self._compiled = torch.compile(self._net, mode=mode, dynamic=False)
            except Exception as exc:  # compile unsupported here: the plain network
                log.warning("torch.compile unavailable (%s); embedding without it", exc)

    @classmethod
    def pretrained(cls, **options: Unpack[EmbedOptions]) -> Embedder:
        """The shipped dlib ResNet (converted and cached on first use)."""
        model, info = load_dlib_resnet()
        return cls(model, info, **options)

    @classmethod
    def for_model(cls, info: ModelInfo, **options: Unpack[EmbedOptions]) -> Embedder:
        """The embedder of a recorded model version, pretrained or fine-tuned (raises
        :class:`~facenet_core.models.registry.ModelLoadError` when its weights are gone)."""
        return cls(load_model(info), info, **options)

    @property
    def model_version(self) -> str:
        return self.info.version

    wants_arcface = False
    """Whether :meth:`embed` also reads ArcFace chips (the fused model's SFace branch does)."""
    dim = EMBEDDING_DIM

    @property
    def compiled(self) -> bool:
        """Whether batches currently go through the compiled network."""
        return self._compiled is not None and not self._compile_failed

    def embed(self, chips: np.ndarray, arcface: np.ndarray | None = None) -> np.ndarray:
        """Unit-length embeddings (N, 128) float32 of uint8 chips (N, 150, 150, 3)
        (``arcface``: ignored, this network reads today's chips only)."""
        if chips.ndim != 4 or chips.shape[3] != 3:
            raise ValueError(f"expected chips of shape (N, H, W, 3), got {chips.shape}")
        out = np.zeros((len(chips), EMBEDDING_DIM), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(chips), self.batch_size):
                batch = torch.from_numpy(chips[start : start + self.batch_size]).to(self.device)
                # NHWC chips viewed as NCHW are already channels-last, as the network wants
                emb = self._forward(batch.permute(0, 3, 1, 2))
                out[start : start + len(batch)] = emb.cpu().numpy()
        return out

    def embed_tensor(self, chips: Tensor) -> Tensor:
        """Unit-length embeddings ``(N, 128)`` float32 on the device of chips already there:
        ``(N, 3, 150, 150)`` pixels 0-255 (uint8 or float), in batches of ``batch_size``."""
        if chips.ndim != 4 or chips.shape[1] != 3:
            raise ValueError(f"expected chips of shape (N, 3, H, W), got {tuple(chips.shape)}")
        with torch.inference_mode():
            parts = [self._forward(part) for part in chips.to(self.device).split(self.batch_size)]
            if not parts:
                return torch.zeros((0, EMBEDDING_DIM), device=self.device)
            return torch.cat(parts)

    def _forward(self, x: Tensor) -> Tensor:
        """One batch of at most ``batch_size`` chips (NCHW, any dtype) to unit float32 rows."""
        n = x.shape[0]
        x = x.to(self.dtype).contiguous(memory_format=CL)
        if self.flip:
            x = torch.cat([x, x.flip(3)]).contiguous(memory_format=CL)
        unit = self._run(x)
        if self.flip:
            return torch.nn.functional.normalize(unit[:n] + unit[n:], dim=1)
        return unit

    def _run(self, x: Tensor) -> Tensor:
        """The network on ``x``: compiled when possible (padded to the one compiled batch
        size), plain otherwise."""
        if self._compiled is None or self._compile_failed:
            return self._net(x)
        full = self.batch_size * (2 if self.flip else 1)
        count = x.shape[0]
        if count < full:  # one shape for the compiled graph
            pad = x.new_zeros((full - count, *x.shape[1:])).contiguous(memory_format=CL)
            x = torch.cat([x, pad]).contiguous(memory_format=CL)
        try:
            out = self._compiled(x)
        except Exception as exc:  # compiling happens on the first call
            log.warning("torch.compile failed (%s); embedding without it", exc)
            self._compile_failed = True
            return self._net(x[:count])
        if isinstance(out, Tensor) and out.shape[0] != count:
            out = out[:count]
        return out.clone() if self.device.type == "cuda" else out


def arcface_from_chip(chip: np.ndarray) -> np.ndarray:
    """An ArcFace chip (112 x 112) warped from today's 150 x 150 chip, where O-Net's points sit
    on :data:`MTCNN_TEMPLATE` on average: only for faces whose photo is not at hand. It is an
    approximation: that chip does not hold the forehead and temples the ArcFace chip shows (they
    come out black), and on lfw-mini's fold 1 SFace's descriptors of such chips had a mean
    cosine of 0.914 with the ones from the photo, and the fused embedding scored 99.50% against
    99.67% (``bench/fused_chip_source.py``), so every path that has the photo makes the ArcFace
    chip from it."""
    return template_chip(chip, MTCNN_TEMPLATE, ARCFACE_TEMPLATE, ARCFACE_SIZE)


SFACE_CPU_IMAGES = 8
"""Images (a face and its mirror count two) per SFace forward pass on a CPU. SFace keeps
112 x 112 feature maps of up to 64 channels for its first layers (1.6 MB a image in bfloat16),
so larger batches fall out of the cache: on this project's 2-core CPU, one thread, bfloat16,
mirror-averaged, per face: 21.7 ms one at a time, 16.9 ms in chunks of 4 faces, 21.1 ms in
chunks of 16, 27.9 ms in batches of 32 (the default batch size). The outputs are bit for bit
the same whatever the chunk (checked for chunks of 1-16). dlib's ResNet is the other way
round (7.0 ms a face in chunks of 4, 5.8 in 16, 6.0 in 32) and keeps ``batch_size``."""


class FusedEmbedder:
    """The accurate model: dlib's ResNet on today's chips and SFace on ArcFace chips, each
    mirror-averaged like the other, their unit vectors side by side and normalised again
    (equal weights: docs/design/models.md, "The fused embedding"), ``(N, 256)``.

    The same interface as :class:`Embedder` (``embed``, ``embed_tensor``, ``info``, ``flip``,
    ``device``, ``batch_size``), and ``embed`` takes the faces' ArcFace chips beside today's
    (``wants_arcface``): the scan, evaluation and re-embedding make both from the photo."""

    wants_arcface = True
    dim = FUSED_DIM

    def __init__(self, info: ModelInfo, **options: Unpack[EmbedOptions]) -> None:
        if info.name != FUSED:
            raise ValueError(f"FusedEmbedder runs {FUSED}, not {info.name}")
        self.dlib = Embedder.for_model(info, **options)
        self.info = info
        self.device = self.dlib.device
        self.dtype = self.dlib.dtype
        self.batch_size = self.dlib.batch_size
        self.flip = self.dlib.flip
        net = load_sface().fused_for_inference()
        self._sface: nn.Module = net.to(self.device, dtype=self.dtype).to(memory_format=CL).eval()
        # on a CPU SFace runs in small batches: see SFACE_CPU_IMAGES
        per_face = 2 if self.flip else 1
        cpu = self.device.type == "cpu"
        self.sface_batch = (
            max(1, min(self.batch_size, SFACE_CPU_IMAGES // per_face)) if cpu else self.batch_size
        )

    @classmethod
    def pretrained(cls, **options: Unpack[EmbedOptions]) -> FusedEmbedder:
        """The shipped fused model."""
        return cls(fused_info(), **options)

    @property
    def model_version(self) -> str:
        return self.info.version

    @property
    def compiled(self) -> bool:
        return self.dlib.compiled

    def embed(self, chips: np.ndarray, arcface: np.ndarray | None = None) -> np.ndarray:
        """Unit-length ``(N, 256)`` float32 of today's uint8 chips ``(N, 150, 150, 3)`` and the
        same faces' ArcFace chips ``(N, 112, 112, 3)`` (None: warped from today's chips, see
        :func:`arcface_from_chip`)."""
        if arcface is None:
            arcface = np.stack([arcface_from_chip(c) for c in chips]) if len(chips) else None
        if arcface is None or len(arcface) != len(chips):
            if len(chips) == 0:
                return np.zeros((0, FUSED_DIM), np.float32)
            raise ValueError(f"{len(chips)} chips but {0 if arcface is None else len(arcface)}")
        first = self.dlib.embed(chips)
        second = np.zeros((len(chips), EMBEDDING_DIM), np.float32)
        with torch.inference_mode():
            for start in range(0, len(arcface), self.sface_batch):
                batch = torch.from_numpy(arcface[start : start + self.sface_batch]).to(self.device)
                second[start : start + len(batch)] = (
                    self._sface_forward(batch.permute(0, 3, 1, 2)).cpu().numpy()
                )
        return join(first, second)

    def embed_tensor(self, chips: Tensor, arcface: Tensor) -> Tensor:
        """:meth:`embed` of chips already on the device: ``(N, 3, 150, 150)`` and
        ``(N, 3, 112, 112)`` pixels 0-255."""
        first = self.dlib.embed_tensor(chips)
        with torch.inference_mode():
            faces = arcface.to(self.device).split(self.sface_batch)
            parts = [self._sface_forward(p) for p in faces]
            second = torch.cat(parts) if parts else first.new_zeros((0, EMBEDDING_DIM))
            return torch.nn.functional.normalize(torch.cat([first, second], dim=1), dim=1)

    def _sface_forward(self, x: Tensor) -> Tensor:
        """SFace on one batch of ArcFace chips (NCHW): unit rows, mirror-averaged as
        :func:`facenet_core.models.sface.sface_embeddings` does (each descriptor normalised
        before the two are added)."""
        n = x.shape[0]
        x = x.to(self.dtype).contiguous(memory_format=CL)
        if self.flip:
            x = torch.cat([x, x.flip(3)]).contiguous(memory_format=CL)
        unit = torch.nn.functional.normalize(self._sface(x).float(), dim=1)
        if self.flip:
            return torch.nn.functional.normalize(unit[:n] + unit[n:], dim=1)
        return unit


def join(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The fused embedding of two networks' unit vectors: side by side, normalised again."""
    both = np.concatenate([first, second], axis=1).astype(np.float32)
    return both / np.maximum(np.linalg.norm(both, axis=1, keepdims=True), 1e-12)


AnyEmbedder = Embedder | FusedEmbedder
"""Either model's embedder (they share ``embed``, ``info``, ``flip``, ``device``)."""


def embedder_for(info: ModelInfo, **options: Unpack[EmbedOptions]) -> AnyEmbedder:
    """The embedder of a model version: the fused one for the accurate model, otherwise
    :meth:`Embedder.for_model`."""
    if info.name == FUSED:
        return FusedEmbedder(info, **options)
    return Embedder.for_model(info, **options)
