"""From landmarks to chips: the one preprocessing step shared by scanning, evaluation and training.

The dlib ResNet was trained on chips made by dlib's 5-point shape predictor and
``get_face_chip(size=150, padding=0.25)``: a similarity transform of the five points to a fixed
template, with dlib's own pyramid downsampling for large faces. We call dlib for exactly that, so
our chips equal the ones the network was trained on, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from facenet_core.detect import Detection

CHIP_SIZE = 150
CHIP_PADDING = 0.25


class LandmarkPredictor:
    """dlib's 5-point shape predictor: a face box in, five ``dlib5`` landmarks out."""

    def __init__(self) -> None:
        import dlib

        from facenet_core.models.files import dlib_model_path

        self._predictor = dlib.shape_predictor(
            str(dlib_model_path("shape_predictor_5_face_landmarks.dat"))
        )

    def detection(
        self, image: np.ndarray, box: tuple[float, float, float, float], score: float
    ) -> Detection:
        """A :class:`Detection` for ``box`` (x1, y1, x2, y2 exclusive) with its landmarks."""
        import dlib

        x1, y1, x2, y2 = (round(v) for v in box)
        shape = self._predictor(image, dlib.rectangle(x1, y1, x2 - 1, y2 - 1))
        points = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)
        return Detection(box=tuple(map(float, box)), score=score, landmarks=points, scheme="dlib5")  # type: ignore[arg-type]


def face_chip(image: np.ndarray, detection: Detection, size: int = CHIP_SIZE) -> np.ndarray:
    """The aligned ``size`` x ``size`` RGB chip of one face (uint8)."""
    import dlib

    if detection.scheme != "dlib5":
        raise ValueError(f"no chip alignment for landmark scheme {detection.scheme!r}")
    x1, y1, x2, y2 = (round(v) for v in detection.box)
    points = dlib.points([dlib.point(round(x), round(y)) for x, y in detection.landmarks])
    shape = dlib.full_object_detection(dlib.rectangle(x1, y1, x2 - 1, y2 - 1), points)
    return np.asarray(dlib.get_face_chip(image, shape, size=size, padding=CHIP_PADDING))


def face_chips(image: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
    """Chips of several faces of one image, (N, 150, 150, 3) uint8."""
    if not detections:
        return np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
    return np.stack([face_chip(image, d) for d in detections])
