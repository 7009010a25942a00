"""Models loaded lazily, once per process, shared, and releasable.

Loading the embedding network or MTCNN takes a second or more and hundreds of megabytes, so a
long-running process (the app) keeps one of each configuration in an :class:`Engines` and hands
the same instance to every job; training calls :meth:`Engines.release` to get the memory back.
Loads happen under a lock, so two jobs starting at once still load a model once.
"""

from __future__ import annotations

import dataclasses
import gc
import threading

import torch

from facenet_core.models.registry import FUSED, ModelInfo, pretrained_info
from facenet_core.settings import Settings
from facenet_core.vision.detectors import DetectorConfig, FaceDetector, make_detector
from facenet_core.vision.detectors.mtcnn import ONet, build_onet
from facenet_core.vision.device import resolve_device
from facenet_core.vision.embed import AnyEmbedder, Embedder, FusedEmbedder, Precision

GPU_BATCH = 512
"""Smallest embedding batch on a GPU: enough chips to keep it busy (``bench/gpu_scan.py``)."""


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX), where a bfloat16
    network runs about 2.7x faster than float32 (measured on the project's AMD EPYC); elsewhere
    bfloat16 is emulated and slower."""
    for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        check = getattr(torch.cpu, name, None)
        if callable(check) and check():
            return True
    return False


def embed_precision(setting: str, device: torch.device) -> Precision:
    """``fp32`` or ``bf16`` for a precision setting on a device. ``auto`` is bfloat16 on CUDA and
    on CPUs with native bfloat16, float32 elsewhere: on full LFW, bfloat16 embeddings scored
    99.15% / VAL 96.97% against float32's 99.13% / 97.00% (same chips, this project's CPU)."""
    if setting in ("fp32", "bf16"):
        return "bf16" if setting == "bf16" else "fp32"
    if device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16()):
        return "bf16"
    return "fp32"


class Engines:
    """A cache of loaded models keyed by the settings that shape them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._embedders: dict[tuple[str, int, bool, str, ModelInfo | None], AnyEmbedder] = {}
        self._detectors: dict[DetectorConfig, FaceDetector] = {}
        self._onets: dict[str, ONet] = {}

    def embedder(self, settings: Settings, model: ModelInfo | None = None) -> AnyEmbedder:
        """The embedder for ``settings`` (device, batch size, flip, precision) running ``model``
        (a model version, e.g. the library's active one; None: the shipped weights of the
        "Face model" setting: the fused :class:`FusedEmbedder` for ``accurate``).
        On CUDA it runs bfloat16 unless told ``fp32``, compiled, in batches of at least
        :data:`GPU_BATCH` chips."""
        target = resolve_device(settings.device)
        device = str(target)
        precision = embed_precision(settings.precision, target)
        batch = settings.batch_size if target.type == "cpu" else max(settings.batch_size, GPU_BATCH)
        if model is None and settings.face_model != "fast":
            model = pretrained_info(settings.face_model)
        key = (device, batch, settings.flip, precision, model)
        with self._lock:
            found = self._embedders.get(key)
            if found is None:
                if model is not None and model.name == FUSED:
                    found = FusedEmbedder(
                        model,
                        device=device,
                        batch_size=batch,
                        flip=settings.flip,
                        precision=precision,
                    )
                elif model is None:
                    found = Embedder.pretrained(
                        device=device, batch_size=batch, flip=settings.flip, precision=precision
                    )
                else:
                    found = Embedder.for_model(
                        model,
                        device=device,
                        batch_size=batch,
                        flip=settings.flip,
                        precision=precision,
                    )
                self._embedders[key] = found
            return found

    def detector_config(self, settings: Settings) -> DetectorConfig:
        """The detector configuration of ``settings``, its device resolved by the policy."""
        config = DetectorConfig.from_settings(settings)
        device = str(resolve_device(config.device))
        return dataclasses.replace(config, device=device)

    def detector(self, config: DetectorConfig) -> FaceDetector:
        """A loaded detector for ``config`` (shared: detectors are safe to call from threads)."""
        with self._lock:
            found = self._detectors.get(config)
            if found is None:
                found = make_detector(config)
                self._detectors[config] = found
            return found

    def onet(self, settings: Settings) -> ONet:
        """MTCNN's O-Net alone on the settings' device: the landmarks of a face drawn by hand
        (:mod:`facenet_core.vision.drawn`)."""
        device = str(resolve_device(settings.device))
        with self._lock:
            found = self._onets.get(device)
            if found is None:
                found = build_onet(None, device)
                self._onets[device] = found
            return found

    def release(self) -> None:
        """Forget every loaded model (their memory is freed once no job holds them)."""
        with self._lock:
            self._embedders.clear()
            self._detectors.clear()
            self._onets.clear()
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


_shared: Engines | None = None
_shared_lock = threading.Lock()


def shared_engines() -> Engines:
    """The process's engines, created on first use (nothing loads at import time)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Engines()
        return _shared
