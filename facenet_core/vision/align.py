"""From landmarks to chips: the one preprocessing step shared by scanning, evaluation and training.

The dlib ResNet was trained on chips made by dlib's 5-point shape predictor and
``get_face_chip(size=150, padding=0.25)``: a similarity transform of the five points to a fixed
template, with dlib's own pyramid downsampling for large faces. We call dlib for exactly that, so
our chips equal the ones the network was trained on, bit for bit.

The template schemes (``mtcnn5``, ``yunet5``) warp with OpenCV on the CPU (:func:`face_chip`) or
with the same arithmetic on a torch device (:func:`template_chips_tensor`, the GPU scan's
alignment): OpenCV's ``pyrDown`` reproduced exactly, its bilinear ``warpAffine`` in float32 as
OpenCV 5 computes it, so the two agree to one grey level (a test compares them).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from facenet_core.geometry import similarity_transform, similarity_transforms
from facenet_core.types import CHIP_PADDING, CHIP_SIZE, Detection, LandmarkScheme
from facenet_core.vision.dlib_loader import dlib

# Where MTCNN's five points (eye centres, nose tip, mouth corners) land in dlib's 150 x 150
# chips: the mean over 587 lfw-mini faces found by both detectors, each MTCNN point mapped
# through the similarity transform of dlib's own chip for that face. A similarity transform of
# MTCNN's points onto this template makes chips that coincide with dlib's on average.
MTCNN_TEMPLATE = np.array(
    [[46.853, 44.528], [100.729, 44.504], [73.449, 76.986], [49.483, 103.804], [97.337, 103.88]],
    dtype=np.float64,
)
# Where YuNet's five points land in dlib's chips, fitted the same way over the 1,120 lfw-mini
# faces found by both YuNet and HOG (``python tools/fit_template.py --detector yunet``). Its points
# sit up to 2.4 px away from MTCNN's (the mouth corners higher, the image-right eye lower): a
# template of its own measured better on the full LFW
# (docs/benchmarks/2026-12-06-yunet-alignment.md).
YUNET_TEMPLATE = np.array(
    [[46.527, 44.442], [101.8, 45.468], [73.171, 77.425], [50.347, 101.386], [97.454, 103.005]],
    dtype=np.float64,
)


# ArcFace's five-point template in 112 x 112 faces (insightface's ``arcface_dst``; the eye
# centres, nose tip and mouth corners, as MTCNN's O-Net gives them): what SFace was trained on.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
ARCFACE_SIZE = 112


def template_chip(
    image: np.ndarray, points: np.ndarray, template: np.ndarray, size: int = CHIP_SIZE
) -> np.ndarray:
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
        (size, size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def template_for(scheme: LandmarkScheme) -> np.ndarray:
    """The template a landmark scheme is aligned on (``dlib5`` has none: dlib aligns it)."""
    if scheme == "mtcnn5":
        return MTCNN_TEMPLATE
    if scheme == "yunet5":
        return YUNET_TEMPLATE
    raise ValueError(f"no chip template for landmark scheme {scheme!r}")


def face_chip(image: np.ndarray, detection: Detection, size: int = CHIP_SIZE) -> np.ndarray:
    """The aligned ``size`` x ``size`` RGB chip of one face (uint8)."""
    if size != CHIP_SIZE and detection.scheme != "dlib5":
        raise ValueError("template chips are 150 x 150")
    if detection.scheme != "dlib5":
        return template_chip(image, detection.landmarks, template_for(detection.scheme))
    lib = dlib()
    x1, y1, x2, y2 = (round(v) for v in detection.box)
    points = lib.points([lib.point(round(x), round(y)) for x, y in detection.landmarks])
    shape = lib.full_object_detection(lib.rectangle(x1, y1, x2 - 1, y2 - 1), points)
    return np.asarray(lib.get_face_chip(image, shape, size=size, padding=CHIP_PADDING))


def arcface_chip(image: np.ndarray, detection: Detection) -> np.ndarray:
    """The 112 x 112 RGB face SFace reads (uint8): a similarity transform of the five points
    onto :data:`ARCFACE_TEMPLATE`, bilinear, black border (a face more than twice the chip's
    size is first halved, as for today's chips, so that large faces are not aliased).

    MTCNN's and YuNet's five points are the template's own kind. dlib's five (eye corners and
    the base of the nose) are not: such a face is warped from its dlib chip, where MTCNN's
    points sit on :data:`MTCNN_TEMPLATE` on average."""
    if detection.scheme != "dlib5":
        return template_chip(image, detection.landmarks, ARCFACE_TEMPLATE, ARCFACE_SIZE)
    chip = face_chip(image, detection)
    return template_chip(chip, MTCNN_TEMPLATE, ARCFACE_TEMPLATE, ARCFACE_SIZE)


def arcface_chips(image: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
    """:func:`arcface_chip` of several faces of one image, (N, 112, 112, 3) uint8."""
    if not detections:
        return np.zeros((0, ARCFACE_SIZE, ARCFACE_SIZE, 3), dtype=np.uint8)
    return np.stack([arcface_chip(image, d) for d in detections])


def face_chips(image: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
    """Chips of several faces of one image, (N, 150, 150, 3) uint8."""
    if not detections:
        return np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
    return np.stack([face_chip(image, d) for d in detections])


# --------------------------------------------------------------------------------------------
# The same template chips with torch, on any device
# --------------------------------------------------------------------------------------------

_PYR_TAPS = (1.0, 4.0, 6.0, 4.0, 1.0)


def pyr_down(image: Tensor) -> Tensor:
    """OpenCV's ``pyrDown`` of a ``(C, H, W)`` float tensor of whole numbers 0-255, exactly:
    the 5 x 5 binomial filter with mirrored borders (``BORDER_REFLECT_101``), every second row
    and column, rounded to whole numbers. Output ``(C, (H + 1) // 2, (W + 1) // 2)``."""
    channels = image.shape[0]
    taps = torch.tensor(_PYR_TAPS, dtype=image.dtype, device=image.device)
    kernel = (taps[:, None] * taps[None, :] / 256.0).expand(channels, 1, 5, 5)
    padded = F.pad(image[None], (2, 2, 2, 2), mode="reflect")
    # sums of whole numbers times whole weights over 256: exact in float32, rounded as OpenCV
    return torch.floor(F.conv2d(padded, kernel, groups=channels)[0, :, ::2, ::2] + 0.5)


def _invert_affine(m: np.ndarray) -> np.ndarray:
    """``cv2.invertAffineTransform`` of ``(N, 2, 3)`` matrices."""
    a, b, c = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    d, e, f = m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    det = a * e - b * d
    det = np.where(det != 0, 1.0 / np.where(det != 0, det, 1.0), 0.0)
    inverse = np.empty_like(m)
    inverse[:, 0, 0], inverse[:, 0, 1] = e * det, -b * det
    inverse[:, 1, 0], inverse[:, 1, 1] = -d * det, a * det
    inverse[:, 0, 2] = -inverse[:, 0, 0] * c - inverse[:, 0, 1] * f
    inverse[:, 1, 2] = -inverse[:, 1, 0] * c - inverse[:, 1, 1] * f
    return inverse


def warp_affine(image: Tensor, matrices: np.ndarray, size: int = CHIP_SIZE) -> Tensor:
    """``cv2.warpAffine(image, m, (size, size), INTER_LINEAR, BORDER_CONSTANT 0)`` for each of
    ``matrices`` ``(N, 2, 3)`` (image pixels to chip pixels) from one ``(C, H, W)`` float tensor:
    ``(N, C, size, size)`` whole numbers. Bilinear in float32, as OpenCV 5 computes it: each
    of the four neighbours outside the image counts as black."""
    device = image.device
    channels, height, width = image.shape
    inverse = torch.tensor(_invert_affine(matrices), dtype=torch.float32, device=device)
    steps = torch.arange(size, dtype=torch.float32, device=device)
    xs, ys = steps[None, None, :], steps[None, :, None]
    sx = inverse[:, 0, 0, None, None] * xs + inverse[:, 0, 1, None, None] * ys
    sx = sx + inverse[:, 0, 2, None, None]
    sy = inverse[:, 1, 0, None, None] * xs + inverse[:, 1, 1, None, None] * ys
    sy = sy + inverse[:, 1, 2, None, None]
    x0, y0 = torch.floor(sx), torch.floor(sy)
    fx, fy = (sx - x0)[:, None], (sy - y0)[:, None]
    x0, y0 = x0.long(), y0.long()
    flat = image.reshape(channels, -1)

    def tap(yy: Tensor, xx: Tensor) -> Tensor:
        inside = (xx >= 0) & (xx < width) & (yy >= 0) & (yy < height)
        index = (yy.clamp(0, height - 1) * width + xx.clamp(0, width - 1)).reshape(-1)
        values = flat[:, index].reshape(channels, *xx.shape).transpose(0, 1)
        return values * inside[:, None]

    top = tap(y0, x0) * (1 - fx) + tap(y0, x0 + 1) * fx
    bottom = tap(y0 + 1, x0) * (1 - fx) + tap(y0 + 1, x0 + 1) * fx
    return torch.floor(top * (1 - fy) + bottom * fy + 0.5)


def template_chips_tensor(
    image: Tensor, landmarks: np.ndarray, template: np.ndarray, size: int = CHIP_SIZE
) -> Tensor:
    """:func:`template_chip` of several faces of one photo on the photo's device.

    ``image``: ``(3, H, W)`` uint8 or float tensor (RGB); ``landmarks``: ``(N, 5, 2)``. Returns
    ``(N, 3, size, size)`` float32 whole numbers 0-255, within one grey level of the CPU's
    uint8 chips. Faces that dlib would shrink first are warped from the same pyramid levels,
    each made once per photo."""
    count = len(landmarks)
    out = torch.zeros((count, 3, size, size), dtype=torch.float32, device=image.device)
    if count == 0:
        return out
    matrices = similarity_transforms(landmarks, template)
    halvings = np.zeros(count, dtype=int)
    heights, widths = [int(image.shape[1])], [int(image.shape[2])]
    for i, m in enumerate(matrices):
        scale = float(np.hypot(m[0, 0], m[0, 1]))
        level = 0
        while scale < 0.5 and min(heights[level], widths[level]) > 2:
            if level + 1 == len(heights):
                heights.append((heights[level] + 1) // 2)
                widths.append((widths[level] + 1) // 2)
            m[:, :2] *= 2.0
            scale *= 2.0
            level += 1
        halvings[i] = level
    current = image.float()
    for level in range(int(halvings.max()) + 1):
        if level > 0:
            current = pyr_down(current)
        members = np.flatnonzero(halvings == level)
        if len(members):
            index = torch.as_tensor(members, device=image.device)
            out[index] = warp_affine(current, matrices[members], size)
    return out
