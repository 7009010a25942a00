"""What every face detector is: the :class:`FaceDetector` protocol and its configuration.

A detector takes an RGB image (``uint8``, ``H x W x 3``) and returns
:class:`~facenet_core.types.Detection` values in that image's pixels: a box, a score and five
landmarks in one of the schemes named in :mod:`facenet_core.types`. A new detector is a module in
this package implementing the protocol, plus a branch in :func:`make_detector` and a choice of the
``detector`` setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from facenet_core.settings import Settings
from facenet_core.types import Detection


def check_rgb(image: np.ndarray) -> None:
    """Refuse anything but a non-empty RGB ``uint8`` ``H x W x 3`` photo (what every detector
    takes), with a message saying what was given instead."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"expected an RGB uint8 image of shape (H, W, 3), got {image.dtype} {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"empty image of shape {image.shape}")


class FaceDetector(Protocol):
    """Anything that finds faces in an RGB image."""

    name: str

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in ``image`` (RGB uint8, H x W x 3), best score first."""
        ...


_DEFAULTS = Settings()


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Settings of the face detector; every command that detects takes one.

    ``max_side``: images whose longer side is larger are downscaled for detection and the boxes
    mapped back (landmarks are still found at full resolution). ``upsample``: HOG's number of 2x
    upsamplings (1 finds faces down to about 40 px). ``min_score``: HOG's adjust threshold.
    ``device``: a device setting (``auto`` follows :mod:`facenet_core.vision.device`).
    """

    # the defaults are the settings registry's (one place for each default)
    name: str = _DEFAULTS.detector
    max_side: int = _DEFAULTS.detect_max_side
    upsample: int = _DEFAULTS.upsample
    min_score: float = 0.0  # HOG's adjust threshold: not a setting
    score_threshold: float = 0.6  # YuNet: smallest score kept (not a setting)
    min_face_size: int = _DEFAULTS.min_face_size
    # "onet": MTCNN's O-Net points (YuNet: O-Net in YuNet's box; MTCNN: its own points),
    # "native": the detector's own points, "dlib5": dlib's predictor in the detector's box
    landmarks: str = _DEFAULTS.landmarks
    fast_pyramid: bool = not _DEFAULTS.exact_pyramid  # MTCNN: levels shrunk from larger ones
    device: str = _DEFAULTS.device

    @classmethod
    def from_settings(cls, settings: Settings) -> DetectorConfig:
        """The detector ``settings`` describe (``DetectorConfig()`` is that of the defaults)."""
        return cls(
            name=settings.detector,
            max_side=settings.detect_max_side,
            upsample=settings.upsample,
            min_face_size=settings.min_face_size,
            landmarks=settings.landmarks,
            fast_pyramid=not settings.exact_pyramid,
            device=settings.device,
        )

    @property
    def threaded(self) -> bool:
        """Whether the detector runs without holding the GIL (YuNet, MTCNN: torch), so that
        threads of one process can share one instance; HOG (dlib) needs worker processes."""
        return self.name in ("yunet", "mtcnn")

    @property
    def alignment(self) -> str:
        """How chips are aligned, the key of the calibrated thresholds: ``hog`` (dlib's 5
        points), ``mtcnn`` (MTCNN's points onto its template), ``yunet-onet`` (O-Net's points in
        YuNet's boxes onto MTCNN's template), ``yunet`` (YuNet's own points onto its template)
        ``mtcnn-dlib5`` or ``yunet-dlib5``. ``landmarks`` does not apply to HOG; MTCNN's own
        points are O-Net's (``native`` and ``onet`` are one alignment)."""
        if self.name in ("mtcnn", "yunet") and self.landmarks == "dlib5":
            return f"{self.name}-dlib5"
        if self.name == "yunet" and self.landmarks == "onet":
            return "yunet-onet"
        return self.name
