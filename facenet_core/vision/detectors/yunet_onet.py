"""YuNet's boxes with MTCNN's O-Net points (``--landmarks onet``).

YuNet finds faces better and faster than MTCNN (docs/design/models.md), but chips aligned on its
own five points verify a little worse on LFW than MTCNN's. MTCNN's last stage, O-Net, takes a
48 x 48 crop of a square box and returns a face score, a box correction and five points; given
YuNet's box turned into the box O-Net expects, it finds MTCNN's points for YuNet's faces at the
cost of one small network per face. Those points are ``mtcnn5`` points (aligned on
``MTCNN_TEMPLATE``), so the chips are MTCNN's chips of YuNet's faces.

The box O-Net is shown: MTCNN hands O-Net R-Net's boxes made square. Over 600 lfw-mini photos
(the face nearest the centre found by both), R-Net's square box measured 0.930 YuNet box
heights on a side (YuNet's boxes are taller than wide: width/height 0.755), centred 0.024 box
widths left of and 0.005 heights above YuNet's centre (medians; :data:`YUNET_TO_ONET_BOX`).

The same functions run on a photo tensor on any device, so the GPU scan
(:mod:`facenet_core.vision.batched`) refines its faces on the device.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import torch
from torch import Tensor

from facenet_core.types import Detection
from facenet_core.vision.detectors.mtcnn import (
    ONET_INPUT,
    ONet,
    build_onet,
    crop_patches,
    decode_landmarks,
)
from facenet_core.vision.detectors.yunet import YunetDetector

#: YuNet's box to the square box O-Net is shown: centre moved by (dx box widths, dy box
#: heights), side in box heights (medians over 600 lfw-mini faces; module docstring).
YUNET_TO_ONET_BOX: Final = (-0.024, -0.005, 0.930)


def onet_boxes(boxes: Tensor) -> Tensor:
    """YuNet's ``(N, 4)`` x1, y1, x2, y2 boxes to the square boxes O-Net is shown."""
    dx, dy, side = YUNET_TO_ONET_BOX
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 + dx * width
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 + dy * height
    half = side * height / 2
    return torch.stack([cx - half, cy - half, cx + half, cy + half], dim=1)


def onet_points(onet: ONet, pixels: Tensor, boxes: Tensor) -> tuple[Tensor, Tensor]:
    """O-Net on the faces of one photo: face probabilities ``(N,)`` and five points
    ``(N, 5, 2)`` in the photo's pixels. ``pixels``: ``(H, W, 3)`` RGB uint8 on O-Net's device;
    ``boxes``: YuNet's ``(N, 4)`` x1, y1, x2, y2 boxes in those pixels."""
    device = next(onet.parameters()).device
    if boxes.shape[0] == 0:
        return torch.zeros(0, device=device), torch.zeros((0, 5, 2), device=device)
    with torch.inference_mode():
        squares = onet_boxes(boxes.to(device).float())
        height, width = int(pixels.shape[0]), int(pixels.shape[1])
        # only the part of the photo the crops sample (as the whole photo would sample it)
        x0, y0, x1, y1 = crop_region(squares, height, width)
        region = pixels[y0 : y1 + 1, x0 : x1 + 1].to(device)
        # MTCNN's input scale, (pixel - 127.5) / 128, as normalize_pixels computes it
        image = (region.float() - 127.5) * (1.0 / 128.0)
        image = image.permute(2, 0, 1)[None].contiguous(memory_format=torch.channels_last)
        crops = crop_patches(image, squares, ONET_INPUT, (x0, y0), (height, width))
        _, landmarks, probability = onet(crops)
        return probability, decode_landmarks(squares, landmarks)


def crop_region(squares: Tensor, height: int, width: int) -> tuple[int, int, int, int]:
    """The photo's pixels (x0, y0, x1, y1 inclusive) that bilinear crops of ``squares`` read:
    every sample inside the photo, with its right and lower neighbours."""
    lo = squares[:, :2].amin(dim=0).tolist()
    hi = squares[:, 2:].amax(dim=0).tolist()
    # crop_patches samples x at x * (W - 1) / W (the reference's geometry)
    x0 = min(max(math.floor(lo[0] * (width - 1) / width), 0), width - 1)
    y0 = min(max(math.floor(lo[1] * (height - 1) / height), 0), height - 1)
    x1 = max(min(math.ceil(hi[0] * (width - 1) / width) + 1, width - 1), x0)
    y1 = max(min(math.ceil(hi[1] * (height - 1) / height) + 1, height - 1), y0)
    return x0, y0, x1, y1


def with_onet_points(faces: Sequence[Detection], points: np.ndarray) -> list[Detection]:
    """``faces`` with O-Net's ``(N, 5, 2)`` points (scheme ``mtcnn5``); boxes and YuNet's scores
    kept."""
    return [
        Detection(face.box, face.score, np.asarray(p, dtype=np.float32), "mtcnn5")
        for face, p in zip(faces, points, strict=True)
    ]


class YunetOnetDetector:
    """YuNet's faces, each with the five points O-Net finds in it (``mtcnn5`` scheme).
    ``yunet``: the detector whose faces are refined; ``onet``: O-Net (loaded on YuNet's device
    when not given)."""

    name = "yunet"

    def __init__(
        self, yunet: YunetDetector, onet: ONet | None = None, weights_dir: Path | None = None
    ) -> None:
        self.yunet = yunet
        self.onet = onet if onet is not None else build_onet(weights_dir, yunet.device)
        self.device = yunet.device

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in one RGB ``uint8`` ``H x W x 3`` photo, best score first."""
        return self.refine(image, self.yunet.detect(image))

    def refine(self, image: np.ndarray, faces: Sequence[Detection]) -> list[Detection]:
        """YuNet's ``faces`` of ``image`` (RGB uint8 ``H x W x 3``) with O-Net's points."""
        if not faces:
            return []
        return self.refine_pixels(torch.from_numpy(np.require(image, requirements="W")), faces)

    def refine_pixels(self, pixels: Tensor, faces: Sequence[Detection]) -> list[Detection]:
        """:meth:`refine` on the photo as an ``(H, W, 3)`` uint8 tensor on any device."""
        if not faces:
            return []
        boxes = torch.tensor([face.box for face in faces], dtype=torch.float32)
        _, points = onet_points(self.onet, pixels, boxes)
        return with_onet_points(faces, points.cpu().numpy())
