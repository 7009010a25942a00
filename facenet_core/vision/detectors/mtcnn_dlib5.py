"""A detector's boxes with dlib's 5-point landmarks (``--landmarks dlib5``): MTCNN's or YuNet's."""

from __future__ import annotations

from typing import Final

import numpy as np

from facenet_core.types import Detection
from facenet_core.vision.detectors.base import FaceDetector
from facenet_core.vision.landmarks import LandmarkPredictor

# A detector's box mapped to the box dlib's HOG detector gives the same face, as (centre moved
# by dx box widths and dy box heights, HOG's square side in box widths or heights). dlib's
# 5-point predictor was trained on HOG boxes.
# MTCNN (medians over 587 lfw-mini faces found by both): HOG's box is square, 1.164 MTCNN widths
# wide, centred 0.021 widths left of and 0.055 heights below MTCNN's centre.
MTCNN_TO_HOG_BOX: Final = (-0.021, 0.055, 1.164)
# YuNet (medians over 372 lfw-mini faces, every third image, found by both): 0.853 YuNet heights
# wide (YuNet's boxes are taller than wide), centred 0.040 widths left of and 0.042 heights
# below YuNet's centre.
YUNET_TO_HOG_BOX: Final = (-0.040, 0.042, 0.853)


class MtcnnDlib5Detector:
    """A detector's boxes (MTCNN's by default); dlib's 5-point landmarks found in the
    HOG-equivalent box. ``to_hog_box``: (dx, dy, side) as above; ``side_of``: whether the side
    counts box widths (MTCNN) or heights (YuNet)."""

    def __init__(
        self,
        detector: FaceDetector,
        to_hog_box: tuple[float, float, float] = MTCNN_TO_HOG_BOX,
        side_of: str = "width",
    ) -> None:
        self._detector = detector
        self._to_hog_box = to_hog_box
        self._side_of = side_of
        self._landmarks = LandmarkPredictor()
        self.name = detector.name

    def detect(self, image: np.ndarray) -> list[Detection]:
        dx, dy, grow = self._to_hog_box
        found = []
        for d in self._detector.detect(image):
            cx, cy = d.center[0] + dx * d.width, d.center[1] + dy * d.height
            half = grow * (d.width if self._side_of == "width" else d.height) / 2
            box = (cx - half, cy - half, cx + half, cy + half)
            found.append(self._landmarks.detection(image, box, d.score))
        return found
