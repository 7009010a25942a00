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
