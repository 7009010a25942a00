"""Landmarks for a face box the user drew: O-Net's five points in it, or the template's.

A face the detector missed (a profile, a blur, a baby) still needs five points to be aligned like
every other face. MTCNN's last stage, O-Net, finds them in a given box (it already does so in
YuNet's boxes, :mod:`.detectors.yunet_onet`); the user's box is treated as a YuNet box. When
O-Net does not see a face there (its face probability under :data:`ONET_MIN_PROBABILITY`) or puts
a point outside the box, the points are the mean template's, scaled to the box
(:func:`box_template_points`): a box-only alignment, worse than a real one but never nothing.
Either way the points are ``mtcnn5`` points, so the face re-embeds from them like any other
(``library.chips``).
"""

from __future__ import annotations

import numpy as np
import torch

from facenet_core.types import CHIP_PADDING, CHIP_SIZE, Box, Detection
from facenet_core.vision.align import MTCNN_TEMPLATE
from facenet_core.vision.detectors.mtcnn import ONet
from facenet_core.vision.detectors.yunet_onet import onet_points

ONET_MIN_PROBABILITY = 0.7
"""O-Net's face probability at or above which its points are used (MTCNN's own O-Net
threshold)."""

POINT_MARGIN = 0.1
"""How far outside the drawn box (in box sizes) a point may lie and still be believed."""


def box_template_points(box: Box) -> np.ndarray:
    """The five ``mtcnn5`` template points placed in ``box``: the chip's face square (the chip
    less its padding on each side) stretched onto the box. ``(5, 2)`` float32."""
    x1, y1, x2, y2 = (float(v) for v in box)
    pad = CHIP_SIZE * CHIP_PADDING / (1 + 2 * CHIP_PADDING)
    inner = CHIP_SIZE - 2 * pad
    unit = (MTCNN_TEMPLATE - pad) / inner
    points = np.stack([x1 + unit[:, 0] * (x2 - x1), y1 + unit[:, 1] * (y2 - y1)], axis=1)
    return points.astype(np.float32)


def _inside(points: np.ndarray, box: Box) -> bool:
    x1, y1, x2, y2 = box
    mx, my = POINT_MARGIN * (x2 - x1), POINT_MARGIN * (y2 - y1)
    xs, ys = points[:, 0], points[:, 1]
    return bool(
        np.all(xs >= x1 - mx)
        and np.all(xs <= x2 + mx)
        and np.all(ys >= y1 - my)
        and np.all(ys <= y2 + my)
    )


def drawn_detection(onet: ONet, image: np.ndarray, box: Box) -> Detection:
    """The face in ``box`` of ``image`` (RGB uint8, the photo's displayed pixels) as a
    :class:`Detection` with ``mtcnn5`` points: O-Net's when it sees a face there (``score`` its
    probability), else the template's scaled to the box (``score`` 0)."""
    fbox = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
    pixels = torch.from_numpy(np.require(image, requirements="W"))
    boxes = torch.tensor([fbox], dtype=torch.float32)
    probability, points = onet_points(onet, pixels, boxes)
    score = float(probability[0])
    found = points[0].cpu().numpy().astype(np.float32)
    if score >= ONET_MIN_PROBABILITY and _inside(found, fbox):
        return Detection(fbox, score, found, "mtcnn5")
    return Detection(fbox, 0.0, box_template_points(fbox), "mtcnn5")
