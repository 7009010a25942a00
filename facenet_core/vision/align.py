"""From landmarks to chips: the one preprocessing step shared by scanning, evaluation and training.

The dlib ResNet was trained on chips made by dlib's 5-point shape predictor and
``get_face_chip(size=150, padding=0.25)``: a similarity transform of the five points to a fixed
template, with dlib's own pyramid downsampling for large faces. We call dlib for exactly that, so
our chips equal the ones the network was trained on, bit for bit.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import dlib
import numpy as np

from facenet_core.geometry import similarity_transform
from facenet_core.types import CHIP_PADDING, CHIP_SIZE, Detection

# Where MTCNN's five points (eye centres, nose tip, mouth corners) land in dlib's 150 x 150
# chips: the mean over 587 lfw-mini faces found by both detectors, each MTCNN point mapped
# through the similarity transform of dlib's own chip for that face. A similarity transform of
# MTCNN's points onto this template makes chips that coincide with dlib's on average.
MTCNN_TEMPLATE = np.array(
    [[46.853, 44.528], [100.729, 44.504], [73.449, 76.986], [49.483, 103.804], [97.337, 103.88]],
    dtype=np.float64,
)

YUNET_TEMPLATE = MTCNN_TEMPLATE.copy()  # placeholder until fitted


def template_chip(image: np.ndarray, points: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Warp ``image`` so that ``points`` land on ``template`` (chip pixels). Like dlib, a face
    much larger than the chip is first halved (Gaussian pyramid) until at most 2x the chip."""
    m = similarity_transform(points, template)
    scale = float(np.hypot(m[0, 0], m[0, 1]))
    while scale < 0.5 and min(image.shape[:2]) > 2:
        image = cv2.pyrDown(image)
        m[:, :2] *= 2.0
        scale *= 2.0
    return cv2.warpAffine(
        image,
        m,
        (CHIP_SIZE, CHIP_SIZE),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def face_chip(image: np.ndarray, detection: Detection, size: int = CHIP_SIZE) -> np.ndarray:
    """The aligned ``size`` x ``size`` RGB chip of one face (uint8)."""
    if size != CHIP_SIZE and detection.scheme != "dlib5":
        raise ValueError("template chips are 150 x 150")
    if detection.scheme == "mtcnn5":
        return template_chip(image, detection.landmarks, MTCNN_TEMPLATE)
    if detection.scheme == "yunet5":
        return template_chip(image, detection.landmarks, YUNET_TEMPLATE)
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
