"""dlib's HOG + linear SVM frontal face detector, with dlib's 5-point landmarks."""

from __future__ import annotations

import numpy as np

from facenet_core.geometry import downscale
from facenet_core.types import Detection
from facenet_core.vision.detectors.base import DetectorConfig, check_rgb
from facenet_core.vision.dlib_loader import dlib
from facenet_core.vision.landmarks import LandmarkPredictor


class HogDetector:
    """dlib's HOG detector; landmarks are found at full resolution."""

    name = "hog"

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig(name="hog")
        self._detector = dlib().get_frontal_face_detector()
        self._landmarks = LandmarkPredictor()

    def detect(self, image: np.ndarray) -> list[Detection]:
        check_rgb(image)  # dlib would take a grey or 4-channel array and find nothing
        small, scale = downscale(image, self.config.max_side)
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
