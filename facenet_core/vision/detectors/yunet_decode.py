"""YuNet's raw outputs decoded into candidate faces, and OpenCV's non-maximum suppression, on
tensors (the device's): what :class:`~facenet_core.vision.detectors.yunet.YunetDetector` runs
between the network and its level rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import torch
from torch import Tensor
from torchvision.ops import batched_nms

from facenet_core.models.yunet import DIVISOR, STRIDES

#: OpenCV's defaults for ``FaceDetectorYN``.
NMS_THRESHOLD: Final = 0.3
TOP_K: Final = 5000


def padded_size(height: int, width: int) -> tuple[int, int]:
    """The network input size of a photo: each side rounded up to a multiple of 32."""
    return -(-height // DIVISOR) * DIVISOR, -(-width // DIVISOR) * DIVISOR


@dataclass(frozen=True, slots=True)
class Candidates:
    """Decoded faces of a batch, on the device."""

    boxes: Tensor  # (M, 4) x, y, w, h
    landmarks: Tensor  # (M, 5, 2)
    scores: Tensor  # (M,)
    image_ids: Tensor  # (M,) long

    def select(self, index: Tensor) -> Candidates:
        return Candidates(
            self.boxes[index], self.landmarks[index], self.scores[index], self.image_ids[index]
        )

    @staticmethod
    def cat(parts: Sequence[Candidates], device: torch.device) -> Candidates:
        if not parts:
            return empty_candidates(device)
        return Candidates(
            torch.cat([p.boxes for p in parts]),
            torch.cat([p.landmarks for p in parts]),
            torch.cat([p.scores for p in parts]),
            torch.cat([p.image_ids for p in parts]),
        )


def empty_candidates(device: torch.device) -> Candidates:
    empty = torch.zeros(0, device=device)
    return Candidates(
        empty.reshape(0, 4),
        empty.reshape(0, 5, 2),
        empty,
        torch.zeros(0, dtype=torch.long, device=device),
    )


def yunet_masks(
    sizes: Sequence[tuple[int, int]], batch_hw: tuple[int, int], device: torch.device
) -> dict[int, Tensor] | None:
    """Per stride 2-32, ``(N, 1, h, w)`` masks of each photo's padded extent within a batch of
    padded size ``batch_hw``; ``None`` when every photo fills the batch (no mask needed)."""
    padded = [padded_size(h, w) for h, w in sizes]
    if all(p == batch_hw for p in padded):
        return None
    masks: dict[int, Tensor] = {}
    for stride in (2, 4, 8, 16, 32):
        h, w = batch_hw[0] // stride, batch_hw[1] // stride
        mask = torch.zeros((len(sizes), 1, h, w))
        for i, (ph, pw) in enumerate(padded):
            mask[i, :, : ph // stride, : pw // stride] = 1.0
        masks[stride] = mask.to(device).contiguous(memory_format=torch.channels_last)
    return masks


def decode_cells(
    outputs: Sequence[Tensor], sizes: Sequence[tuple[int, int]], score_threshold: float
) -> Candidates:
    """Every cell of each photo's padded extent whose score reaches ``score_threshold``, decoded
    as OpenCV decodes it, in the pixels of the network's input; ``sizes`` are the photos'
    unpadded sizes."""
    device = outputs[0].device
    padded = torch.tensor([padded_size(h, w) for h, w in sizes], device=device)
    parts = []
    for out, stride in zip(outputs, STRIDES, strict=True):
        out = out.float()
        score = torch.sqrt(out[:, 0].clamp(0.0, 1.0) * out[:, 1].clamp(0.0, 1.0))  # (N, h, w)
        rows = torch.arange(score.shape[1], device=device)
        cols = torch.arange(score.shape[2], device=device)
        inside = (rows[None, :, None] < (padded[:, 0] // stride)[:, None, None]) & (
            cols[None, None, :] < (padded[:, 1] // stride)[:, None, None]
        )
        n, r, c = torch.nonzero((score >= score_threshold) & inside, as_tuple=True)
        if n.numel() == 0:
            continue
        cell = out[n, :, r, c]  # (k, 16)
        cx = (c + cell[:, 2]) * stride
        cy = (r + cell[:, 3]) * stride
        w = torch.exp(cell[:, 4]) * stride
        h = torch.exp(cell[:, 5]) * stride
        grid = torch.stack([c, r], dim=1).to(cell.dtype)[:, None, :]
        parts.append(
            Candidates(
                boxes=torch.stack([cx - w / 2, cy - h / 2, w, h], dim=1),
                landmarks=(cell[:, 6:16].reshape(-1, 5, 2) + grid) * stride,
                scores=score[n, r, c],
                image_ids=n,
            )
        )
    return Candidates.cat(parts, device)


def xyxy(boxes: Tensor) -> Tensor:
    """``(N, 4)`` x, y, w, h boxes as x1, y1, x2, y2."""
    return torch.cat([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], dim=1)


def opencv_nms(
    candidates: Candidates,
    threshold: float = NMS_THRESHOLD,
    top_k: int = TOP_K,
    ranking: Tensor | None = None,
) -> Candidates:
    """OpenCV's ``NMSBoxes`` within each photo: the ``top_k`` best boxes, greedy at IoU
    ``threshold`` on boxes truncated to whole pixels. Kept faces grouped by photo (ascending
    id), best score first within each photo. ``ranking``: the order in which boxes win
    (default: their scores), so that a box that should give way to another (a face a level
    handed on, :meth:`YunetDetector.find`) loses to it whatever their scores."""
    boxes, scores, ids = candidates.boxes, candidates.scores, candidates.image_ids
    if boxes.shape[0] == 0:
        return candidates
    ranks = scores if ranking is None else ranking
    whole = torch.trunc(boxes.double())
    corners = torch.cat([whole[:, :2], whole[:, :2] + whole[:, 2:]], dim=1)
    subset = torch.arange(boxes.shape[0], device=boxes.device)
    if boxes.shape[0] > top_k:  # OpenCV keeps the top_k best of a photo before NMS
        chosen = []
        for image_id in torch.unique(ids):
            members = torch.nonzero(ids == image_id).flatten()
            best = torch.argsort(ranks[members], descending=True, stable=True)[:top_k]
            chosen.append(members[best])
        subset = torch.cat(chosen)
    kept = subset[batched_nms(corners[subset], ranks[subset].double(), ids[subset], threshold)]
    if ranking is not None:  # best score first again
        kept = kept[torch.argsort(scores[kept], descending=True, stable=True)]
    order = torch.argsort(ids[kept], stable=True)  # by photo; score order kept within a photo
    return candidates.select(kept[order])
