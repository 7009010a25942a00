"""Value types shared by every layer: a detected face and its box (with the boxes' overlap),
landmark schemes, chip and embedding sizes, and the guard set evaluation loads and training
scores.

A leaf module: it imports nothing from the rest of the package, so any layer can use it.

Landmarks come in one of two *schemes*, because the detectors disagree on which five points they
find:

- ``"dlib5"``: dlib's 5-point shape predictor: the two corners of each eye and the point under
  the nose, in dlib's order.
- ``"mtcnn5"``: MTCNN's points: image-left eye centre, image-right eye centre, nose tip,
  image-left mouth corner, image-right mouth corner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

LandmarkScheme = Literal["dlib5", "mtcnn5", "yunet5"]
Box = tuple[float, float, float, float]
"""``(x1, y1, x2, y2)`` in pixels, ``x2`` and ``y2`` exclusive."""


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ``(x1, y1, x2, y2)`` boxes (0 for empty ones): the rule for
    telling whether two boxes are one face (video tracks, hand-drawn faces, face tags). Many
    boxes at once: ``torchvision.ops.box_iou``, where torch is in use."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def _area(b: Sequence[float]) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


CHIP_SIZE = 150
"""Side of the aligned face chip the embedding network reads (dlib's ``get_face_chip`` size)."""
CHIP_PADDING = 0.25
EMBEDDING_DIM = 128
"""Length of an embedding: a unit vector in R^128 (FaceNet's choice, and dlib's)."""
EMBEDDING_BYTES = 128
"""Bytes per stored embedding of the fast model: one signed byte per component (see
:mod:`facenet_core.quantize`)."""
FUSED_DIM = 256
"""Length of the accurate model's fused embedding: dlib's and SFace's 128-D unit vectors side by
side, re-normalised (docs/design/models.md, "The fused embedding")."""
EMBEDDING_SIZES = (EMBEDDING_DIM, FUSED_DIM)
"""Every embedding length a library may store (bytes = components: one signed byte each)."""


@dataclass(frozen=True)
class GuardPairs:
    """A guard set: aligned chips of face images unrelated to the library, its pairs as indices
    into them (``left``, ``right``; ``same``: whether the two are one person), and the
    threshold the pairs are scored at (the active model's calibrated accuracy threshold).
    Evaluation loads one; training scores a network on it before and after fine-tuning.
    ``arcface``: the same faces' ArcFace chips, for the fused model's SFace half."""

    name: str
    chips: np.ndarray
    left: np.ndarray
    right: np.ndarray
    same: np.ndarray
    threshold: float
    arcface: np.ndarray | None = None


@dataclass(frozen=True, slots=True)
class Detection:
    """One face found in an image, in that image's pixel coordinates."""

    box: Box
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

    def scaled(self, factor: float) -> Detection:
        """The same face in an image ``factor`` times as large."""
        if factor == 1.0:
            return self
        x1, y1, x2, y2 = self.box
        box = (x1 * factor, y1 * factor, x2 * factor, y2 * factor)
        return Detection(box, self.score, self.landmarks * np.float32(factor), self.scheme)
