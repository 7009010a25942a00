"""Plane geometry on numpy arrays: the similarity transform of alignment and the one downscale.

A leaf module: it imports nothing from the rest of the package. Box overlaps (IoU) come from
``torchvision.ops.box_iou`` where torch is already in use; the one variant torchvision lacks,
intersection over the smaller box, lives with MTCNN's NMS, its only user.
"""

from __future__ import annotations

import cv2
import numpy as np


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2 x 3 least-squares similarity (rotation, uniform scale, shift) taking src to dst
    (Umeyama 1991)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / s.var(0).sum()
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def similarity_transforms(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """:func:`similarity_transform` of many point sets at once: ``src`` ``(N, K, 2)`` onto the
    one ``dst`` ``(K, 2)``, as ``(N, 2, 3)``. The closed form of the 2-D least-squares
    similarity (a rotation-scale ``[[a, -b], [b, a]]`` and a shift), equal to Umeyama's."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s = src.mean(axis=1, keepdims=True)
    mu_d = dst.mean(axis=0)
    s = src - mu_s
    d = dst - mu_d
    norm = (s**2).sum(axis=(1, 2))
    a = (s[..., 0] * d[:, 0] + s[..., 1] * d[:, 1]).sum(axis=1) / norm
    b = (s[..., 0] * d[:, 1] - s[..., 1] * d[:, 0]).sum(axis=1) / norm
    m = np.zeros((len(src), 2, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = a, -b, b, a
    m[:, :, 2] = mu_d - np.einsum("nij,nj->ni", m[:, :, :2], mu_s[:, 0])
    return m


def downscale(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """``image`` shrunk (area interpolation) so that its longer side is at most ``max_side``,
    and the factor used (1.0 when it was small enough, or ``max_side`` is None or <= 0)."""
    h, w = image.shape[:2]
    longest = max(h, w)
    if not max_side or max_side <= 0 or longest <= max_side:
        return image, 1.0
    scale = max_side / longest
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale
