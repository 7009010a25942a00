"""Face detection behind one small interface.

A :class:`FaceDetector` takes an RGB image (``uint8``, ``H x W x 3``) and returns
:class:`Detection` values in the original image's pixel coordinates: a box, a score and five
landmarks. Landmarks come in one of two *schemes*, because the detectors disagree on which five
points they find:

- ``"dlib5"``: dlib's 5-point shape predictor: the two corners of each eye and the point under
  the nose, in dlib's order.
- ``"mtcnn5"``: MTCNN's points: image-left eye centre, image-right eye centre, nose tip,
  image-left mouth corner, image-right mouth corner.

:mod:`facenet_core.align` turns either scheme into the chips the embedding network expects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

LandmarkScheme = Literal["dlib5", "mtcnn5"]


@dataclass(frozen=True, slots=True)
class Detection:
    """One face found in an image, in that image's pixel coordinates."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2 (x2, y2 exclusive)
    score: float
    landmarks: np.ndarray  # (5, 2) float32, x then y
    scheme: LandmarkScheme

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2.0, (self.box[1] + self.box[3]) / 2.0)


class FaceDetector(Protocol):
    """Anything that finds faces in an RGB image."""

    name: str

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in ``image`` (RGB uint8, H x W x 3), best score first."""
        ...


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Settings of the face detector; every command that detects takes one.

    ``max_side``: images whose longer side is larger are downscaled for detection and the boxes
    mapped back (landmarks are still found at full resolution). ``upsample``: HOG's number of 2x
    upsamplings (1 finds faces down to about 40 px). ``min_score``: HOG's adjust threshold.
    """

    name: str = "mtcnn"
    max_side: int = 1600
    upsample: int = 1
    min_score: float = 0.0
    min_face_size: int = 40
    landmarks: str = "native"  # MTCNN: "native" (its own 5 points) or "dlib5" (dlib's predictor)
    fast_pyramid: bool = True  # MTCNN: each pyramid level shrunk from a larger level
    device: str | None = "cpu"


def _downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """``image`` shrunk so that its longer side is at most ``max_side``, and the factor used."""
    h, w = image.shape[:2]
    longest = max(h, w)
    if max_side <= 0 or longest <= max_side:
        return image, 1.0
    scale = max_side / longest
    import cv2

    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


class HogDetector:
    """dlib's HOG + linear SVM frontal face detector with dlib's 5-point landmark predictor."""

    name = "hog"

    def __init__(self, config: DetectorConfig | None = None) -> None:
        import dlib

        from facenet_core.align import LandmarkPredictor

        self.config = config or DetectorConfig(name="hog")
        self._detector = dlib.get_frontal_face_detector()
        self._landmarks = LandmarkPredictor()

    def detect(self, image: np.ndarray) -> list[Detection]:
        small, scale = _downscale(image, self.config.max_side)
        rects, scores, _ = self._detector.run(small, self.config.upsample, self.config.min_score)
        found = []
        for rect, score in zip(rects, scores, strict=True):
            box = (
                rect.left() / scale,
                rect.top() / scale,
                (rect.right() + 1) / scale,
                (rect.bottom() + 1) / scale,
            )
            found.append(self._landmarks.detection(image, box, float(score)))
        found.sort(key=lambda d: d.score, reverse=True)
        return found


# MTCNN's box mapped to the box dlib's HOG detector gives the same face (medians over 587 lfw-mini
# faces found by both): HOG's box is square, 1.164 MTCNN widths wide, centred 0.021 widths left
# of and 0.055 heights below MTCNN's centre. dlib's 5-point predictor was trained on HOG boxes.
MTCNN_TO_HOG_BOX = (-0.021, 0.055, 1.164)


class MtcnnDlib5Detector:
    """MTCNN's boxes with dlib's 5-point landmarks (found in the HOG-equivalent box)."""

    name = "mtcnn"

    def __init__(self, config: DetectorConfig) -> None:
        from facenet_core.align import LandmarkPredictor

        self.config = config
        self._mtcnn = _mtcnn(config)
        self._landmarks = LandmarkPredictor()

    def detect(self, image: np.ndarray) -> list[Detection]:
        dx, dy, grow = MTCNN_TO_HOG_BOX
        found = []
        for d in self._mtcnn.detect(image):
            cx, cy = d.center[0] + dx * d.width, d.center[1] + dy * d.height
            half = grow * d.width / 2
            box = (cx - half, cy - half, cx + half, cy + half)
            found.append(self._landmarks.detection(image, box, d.score))
        return found


def _mtcnn(config: DetectorConfig) -> FaceDetector:
    from facenet_core.mtcnn import MtcnnDetector

    return MtcnnDetector(
        min_face_size=config.min_face_size,
        max_side=config.max_side,
        device=config.device,
        fast_pyramid=config.fast_pyramid,
    )


def make_detector(config: DetectorConfig) -> FaceDetector:
    """The detector named by ``config.name``."""
    if config.name == "hog":
        return HogDetector(config)
    if config.name == "mtcnn":
        if config.landmarks == "dlib5":
            return MtcnnDlib5Detector(config)
        return _mtcnn(config)
    raise ValueError(f"unknown detector {config.name!r}; choose 'hog' or 'mtcnn'")
