"""YuNet face detection in PyTorch: one forward pass per batch of photos, on CPU or GPU.

The network (:mod:`facenet_core.models.yunet`) predicts, for every cell of three feature maps
(strides 8, 16, 32), a class score, an objectness, a box and five landmarks. Decoding follows
OpenCV's ``cv2.FaceDetectorYN`` exactly (``modules/objdetect/src/face_detect.cpp``), so that on
the same pixels this detector finds the boxes OpenCV finds (a test compares them on real photos):

- the photo is padded with black on the right and bottom to multiples of 32;
- score = ``sqrt(clip(class, 0, 1) * clip(objectness, 0, 1))``, kept from ``score_threshold`` up;
- box centre = ``(cell + delta) * stride``, size = ``exp(delta) * stride``; landmark =
  ``(cell + offset) * stride``;
- greedy NMS at IoU 0.3 on the boxes truncated to whole pixels (OpenCV's ``Rect2i``), at most
  ``top_k`` boxes going in.

What this detector adds around that core, each measured on the WIDER development photos
(docs/benchmarks/2026-12-06-detection-choices.md):

- **Scale from the smallest face.** YuNet finds faces from about 30 px of its input reliably;
  looking for faces of ``min_face_size`` px or more, the photo (after the ``max_side`` cap) is
  shrunk by ``30 / min_face_size`` (0.75 for the default 40 px): 2.1x less work than full size,
  and as many faces of 40 px and more found.
- **A second, smaller level for large faces.** Boxes of faces much larger than about 300 px of
  its input come out too small (an LFW face enlarged to 790 px got a 573 px box), so when a
  level's shorter side exceeds 240 px the photo is also run at a quarter of that scale. A level
  keeps the faces it sees best: from 60 px on every level but the first; a face of 240 px or
  more on a level that is not the last is *handed on*: it gives way in NMS to any box of the
  next level that overlaps it, and stays when that level saw it only under its keep size
  (dropped, as before, when no later level saw it). Dropping it then too lost close-ups:
  YuNet's boxes do not scale with the photo (a face boxed 245 px at 0.75 is boxed 56 px at
  0.1875, not 61), so a face just over 240 px on the first level fell under 60 px on the next
  and neither kept it.
- **A second look at photos with no face.** Where the levels found no face of the kept size,
  the photo is run once more at a level whose shorter side is 160 px (when the first level is
  at least 1.25 times larger), keeping faces from 48 px there: a close-up's face, 40-90% of
  the frame, is then 60-150 px, the sizes YuNet finds best, and a face cut by the border that
  no level saw is often seen there (``bench/closeup_recall.py``).

Its five landmarks are the points MTCNN finds, in the same order (image-left eye, image-right
eye, nose tip, image-left mouth corner, image-right mouth corner), and go through the same
template alignment (:mod:`facenet_core.vision.align`), under the scheme ``yunet5`` with a template
fitted on YuNet's own points.

Batches: photos (and levels) of different sizes share one forward pass, each padded to the
largest padded size of the batch; a mask keeps every photo's numbers exactly those of the photo
alone (:class:`~facenet_core.models.yunet.YuNet`). Decoding and NMS run on the device, over the
whole batch at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import cv2
import numpy as np
import torch
from torch import Tensor
from torchvision.ops import box_iou

from facenet_core.geometry import downscale
from facenet_core.models.yunet import DIVISOR, YuNet, build_yunet
from facenet_core.types import Detection, LandmarkScheme
from facenet_core.vision.detectors.base import check_rgb
from facenet_core.vision.detectors.yunet_decode import (
    NMS_THRESHOLD,
    TOP_K,
    Candidates,
    decode_cells,
    opencv_nms,
    padded_size,
    xyxy,
    yunet_masks,
)
from facenet_core.vision.device import resolve_device

logger = logging.getLogger(__name__)

#: Score threshold chosen on the WIDER development photos
#: (docs/benchmarks/2026-12-06-detection-choices.md).
DEFAULT_SCORE_THRESHOLD: Final = 0.6
#: Columns of a raw result row, as OpenCV's: box x, y, w, h; five (x, y) landmarks; score.
RAW_COLUMNS: Final = 15
#: Smallest face side (pixels of the network's input) found reliably: sets the first level's scale.
SMALLEST_FACE: Final = 30.0
#: The first level enlarges the photo at most this much (for a ``min_face_size`` below 30 px).
MAX_UPSCALE: Final = 2.5
#: A level hands faces larger than this (pixels of its input) to the next level...
LEVEL_SPLIT: Final = 240.0
#: ... which is this much smaller.
LEVEL_FACTOR: Final = 0.25
#: The second look, for a photo where the levels found no face: a level with this shorter side
#: (a close-up's face is then 60-150 px, where YuNet sees faces best) ...
SECOND_LOOK_SIDE: Final = 160.0
#: ... keeping faces from this side (pixels of that level: a face filling a third of the frame).
SECOND_LOOK_MIN_FACE: Final = 48.0
#: ... run only when the first level is at least this much larger (else it saw the same).
SECOND_LOOK_GAIN: Final = 1.25


def level_scales(height: int, width: int, min_face_size: float) -> list[float]:
    """Scales of the levels of a photo of ``height x width`` (after the ``max_side`` cap): the
    first maps ``min_face_size`` onto :data:`SMALLEST_FACE` (enlarging at most
    :data:`MAX_UPSCALE` times), each next one is
    :data:`LEVEL_FACTOR` times the previous, added while the previous level's shorter side is
    larger than :data:`LEVEL_SPLIT` (so it could hold a face it would hand on)."""
    first = 1.0 if min_face_size <= 0 else min(MAX_UPSCALE, SMALLEST_FACE / min_face_size)
    scales = [first]
    while min(height, width) * scales[-1] > LEVEL_SPLIT:
        scales.append(scales[-1] * LEVEL_FACTOR)
    return scales


@dataclass(frozen=True, slots=True)
class PreparedPhoto:
    """A photo ready for the network: its levels (RGB uint8 arrays, largest first) and the size
    of the photo they came from. Made on CPU threads by :meth:`YunetDetector.prepare`."""

    levels: tuple[np.ndarray, ...]
    height: int  # the photo as given
    width: int
    detect_scale: float  # pixels of the photo as detected (after max_side) per photo pixel


class YunetDetector:
    """YuNet face detector implementing ``FaceDetector``, with batched detection.

    ``score_threshold``: the smallest score kept (OpenCV's ``score_threshold``).
    ``max_side``: photos whose longer side is larger are shrunk first (area interpolation;
    ``None``: never); results are reported in the original pixels. ``min_face_size``: the
    smallest face side looked for, in pixels of the photo after that cap: it sets the scale of
    the first level (see the module docstring), and faces whose box is smaller than
    ``keep_fraction`` of it are dropped. ``scheme``: the landmark scheme the detections carry
    (``yunet5``: aligned on YuNet's own template; ``mtcnn5``: on MTCNN's).
    """

    name = "yunet"

    def __init__(
        self,
        score_threshold: float = DEFAULT_SCORE_THRESHOLD,
        *,
        min_face_size: float = 40.0,
        keep_fraction: float = 0.75,
        max_side: int | None = 1600,
        nms_threshold: float = NMS_THRESHOLD,
        top_k: int = TOP_K,
        device: torch.device | str | None = None,
        network: YuNet | None = None,
        weights: Path | None = None,
        scheme: LandmarkScheme = "yunet5",
    ) -> None:
        if not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"score_threshold must lie in [0, 1], got {score_threshold}")
        if not 0.0 < nms_threshold <= 1.0:
            raise ValueError(f"nms_threshold must lie in (0, 1], got {nms_threshold}")
        if max_side is not None and max_side < DIVISOR:
            raise ValueError(f"max_side must be at least {DIVISOR}, got {max_side}")
        if min_face_size < 0:
            raise ValueError(f"min_face_size must not be negative, got {min_face_size}")
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.top_k = int(top_k)
        self.max_side = max_side
        self.min_face_size = float(min_face_size)
        self.keep_fraction = float(keep_fraction)
        self.scheme: LandmarkScheme = scheme
        if network is None:
            network = build_yunet(weights, resolve_device(device))
        elif device is not None:
            wanted = resolve_device(device)
            if next(network.parameters()).device != wanted:
                raise ValueError(f"the network lives elsewhere than the requested {wanted}")
        self.network = network
        self.device = next(network.parameters()).device

    # -- public API ---------------------------------------------------------------------------

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in one RGB ``uint8`` ``H x W x 3`` photo, best score first."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Faces in each of several photos (any sizes), all levels of a rank in one pass."""
        return self.detect_prepared([self.prepare(image) for image in images])

    def prepare(self, image: np.ndarray) -> PreparedPhoto:
        """The CPU part: check the photo, cap its size, make its levels (area interpolation
        to shrink, bilinear to enlarge)."""
        check_rgb(image)
        height, width = image.shape[:2]
        work, _ = downscale(image, self.max_side)
        wh, ww = work.shape[:2]
        levels = []
        for scale in level_scales(wh, ww, self.min_face_size):
            if scale == 1.0:
                levels.append(work)
                continue
            size = (max(1, round(ww * scale)), max(1, round(wh * scale)))
            method = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
            levels.append(cv2.resize(work, size, interpolation=method))
        return PreparedPhoto(tuple(levels), height, width, ww / width)

    def detect_prepared(self, photos: Sequence[PreparedPhoto]) -> list[list[Detection]]:
        """Faces of prepared photos: one forward pass per level rank for the whole batch."""
        if len(photos) == 0:
            return []
        with torch.inference_mode():
            faces = self.find(photos)
            rows = rows_per_photo(faces, len(photos))
        return [self.to_detections(r, photo) for r, photo in zip(rows, photos, strict=True)]

    def level_batches(
        self, photos: Sequence[PreparedPhoto], pin: bool | None = None
    ) -> list[tuple[list[int], Tensor]]:
        """The CPU part of batching: per level rank, which photos have that level and their
        levels padded into one ``(N, H, W, 3)`` uint8 CPU tensor (pinned for a fast, overlapped
        copy when the detector is on CUDA)."""
        pin = self.device.type == "cuda" if pin is None else pin
        batches = []
        for rank in range(max(len(p.levels) for p in photos)):
            members = [i for i, p in enumerate(photos) if len(p.levels) > rank]
            batch = pad_arrays([photos[i].levels[rank] for i in members])
            batches.append((members, batch.pin_memory() if pin else batch))
        return batches

    def find(
        self,
        photos: Sequence[PreparedPhoto],
        batches: Sequence[tuple[list[int], Tensor]] | None = None,
    ) -> Candidates:
        """Every level of every photo through the network, decoded, mapped to the photos'
        pixels, each level's size range kept, a second look at the photos with no face
        (:meth:`second_look`), merged by NMS. Stays on the device. ``batches``:
        :meth:`level_batches` of ``photos`` made beforehand (by another thread)."""
        parts = []
        handed_on: list[Tensor] = []
        seen = []  # every face of the levels after the first, whatever its size
        if batches is None:
            batches = self.level_batches(photos)
        depth = len(batches)
        for rank, (members, batch) in enumerate(batches):
            arrays = [photos[i].levels[rank] for i in members]
            sizes = [(int(a.shape[0]), int(a.shape[1])) for a in arrays]
            upload = batch.to(self.device, non_blocking=True).permute(0, 3, 1, 2)
            found = self.run(upload, sizes)
            if found.boxes.shape[0] == 0:
                continue
            side = found.boxes[:, 2:].amax(dim=1)
            last = torch.tensor([len(photos[i].levels) == rank + 1 for i in members])
            handed = (side >= LEVEL_SPLIT) & ~last.to(self.device)[found.image_ids]
            # to the photos' own pixels
            fx = torch.tensor(
                [photos[i].width / a.shape[1] for i, a in zip(members, arrays, strict=True)],
                device=self.device,
            )
            fy = torch.tensor(
                [photos[i].height / a.shape[0] for i, a in zip(members, arrays, strict=True)],
                device=self.device,
            )
            factor = torch.stack([fx, fy], dim=1)[found.image_ids]  # (k, 2)
            ids = torch.tensor(members, device=self.device)[found.image_ids]
            mapped = Candidates(
                boxes=found.boxes * factor.repeat(1, 2),
                landmarks=found.landmarks * factor[:, None, :],
                scores=found.scores,
                image_ids=ids,
            )
            if rank > 0:
                seen.append(mapped)
                kept = torch.nonzero(side >= LEVEL_SPLIT * LEVEL_FACTOR).flatten()
                mapped, handed = mapped.select(kept), handed[kept]
            parts.append(mapped)
            handed_on.append(handed)
        second = self.second_look(photos, Candidates.cat(parts, self.device))
        if second is not None:
            parts.append(second)
            handed_on.append(
                torch.zeros(second.scores.shape[0], dtype=torch.bool, device=self.device)
            )
            depth += 1
        merged = Candidates.cat(parts, self.device)
        if depth == 1:
            return merged
        # A face handed on gives way in NMS to the next level's box of it. It stays when that
        # level saw it but under its keep size (a box of LEVEL_SPLIT here can come out below
        # LEVEL_SPLIT * LEVEL_FACTOR there), and goes, as before, when no later level saw it.
        demoted = torch.cat(handed_on)
        later = Candidates.cat(seen, self.device)
        if bool(demoted.any()):
            overlap = box_iou(xyxy(merged.boxes[demoted]), xyxy(later.boxes))
            same = merged.image_ids[demoted][:, None] == later.image_ids[None, :]
            confirmed = ((overlap >= self.nms_threshold) & same).any(dim=1)
            unconfirmed = torch.nonzero(demoted).flatten()[~confirmed]
            drop = torch.zeros_like(demoted).index_fill(0, unconfirmed, True)
            merged, demoted = merged.select(torch.nonzero(~drop).flatten()), demoted[~drop]
        ranking = merged.scores - 2.0 * demoted.to(merged.scores.dtype)
        return opencv_nms(merged, self.nms_threshold, self.top_k, ranking)

    def second_look(self, photos: Sequence[PreparedPhoto], found: Candidates) -> Candidates | None:
        """Faces of a second look at the photos where ``found`` (their levels' faces, in their
        own pixels) holds none of the size kept: each such photo once more at a level whose
        shorter side is :data:`SECOND_LOOK_SIDE`, keeping faces from
        :data:`SECOND_LOOK_MIN_FACE` of that level. ``None`` when no photo needs one."""
        side = found.boxes[:, 2:].amax(dim=1).cpu()
        ids = found.image_ids.cpu()
        members, arrays = [], []
        for i, photo in enumerate(photos):
            smallest = self.keep_fraction * self.min_face_size / photo.detect_scale
            if bool((side[ids == i] >= smallest).any()):
                continue
            first = photo.levels[0]
            scale = SECOND_LOOK_SIDE / min(first.shape[:2])
            if scale * SECOND_LOOK_GAIN > 1.0:
                continue
            size = (max(1, round(first.shape[1] * scale)), max(1, round(first.shape[0] * scale)))
            members.append(i)
            arrays.append(cv2.resize(first, size, interpolation=cv2.INTER_AREA))
        if not members:
            return None
        sizes = [(int(a.shape[0]), int(a.shape[1])) for a in arrays]
        look = self.run(pad_arrays(arrays).to(self.device).permute(0, 3, 1, 2), sizes)
        large = look.boxes[:, 2:].amax(dim=1) >= SECOND_LOOK_MIN_FACE
        look = look.select(torch.nonzero(large).flatten())
        factor = torch.tensor(
            [
                [photos[i].width / a.shape[1], photos[i].height / a.shape[0]]
                for i, a in zip(members, arrays, strict=True)
            ],
            device=self.device,
        )[look.image_ids]
        return Candidates(
            boxes=look.boxes * factor.repeat(1, 2),
            landmarks=look.landmarks * factor[:, None, :],
            scores=look.scores,
            image_ids=torch.tensor(members, device=self.device)[look.image_ids],
        )

    def run(self, batch: Tensor, sizes: Sequence[tuple[int, int]]) -> Candidates:
        """Network, decoding and NMS on one ready batch (``(N, 3, H, W)`` RGB uint8 or float
        0-255, photo ``i`` in the top-left ``sizes[i]`` corner, black elsewhere), in the pixels
        of the batch. Stays on the device."""
        height, width = int(batch.shape[2]), int(batch.shape[3])
        if height % DIVISOR or width % DIVISOR:
            raise ValueError(f"batch sides must be multiples of {DIVISOR}, got {height}x{width}")
        with torch.inference_mode():
            x = batch.to(self.device, non_blocking=True)
            x = x.float().contiguous(memory_format=torch.channels_last)
            masks = yunet_masks(sizes, (height, width), self.device)
            outputs = self.network(x, masks)
            found = decode_cells(outputs, sizes, self.score_threshold)
            return opencv_nms(found, self.nms_threshold, self.top_k)

    def detect_raw(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """What ``cv2.FaceDetectorYN`` returns for each photo at its own size (one level, no
        resizing, no size filter): rows ``(k, 15)`` of box x, y, w, h, five landmarks (x, y),
        score, best score first."""
        if len(images) == 0:
            return []
        sizes = [(int(im.shape[0]), int(im.shape[1])) for im in images]
        with torch.inference_mode():
            found = self.run(pad_batch(images, self.device), sizes)
            return rows_per_photo(found, len(images))

    # -- results ------------------------------------------------------------------------------

    def to_detections(self, rows: np.ndarray, photo: PreparedPhoto) -> list[Detection]:
        """One photo's rows as :class:`Detection` values: boxes clipped to the photo, faces
        below ``keep_fraction * min_face_size`` (pixels as detected) dropped."""
        smallest = self.keep_fraction * self.min_face_size / photo.detect_scale
        found: list[Detection] = []
        for row in rows:
            x, y, w, h = (float(v) for v in row[:4])
            if max(w, h) < smallest:
                continue
            x1, y1 = max(x, 0.0), max(y, 0.0)
            x2, y2 = min(x + w, float(photo.width)), min(y + h, float(photo.height))
            if x2 <= x1 or y2 <= y1:
                continue
            found.append(
                Detection(
                    box=(x1, y1, x2, y2),
                    score=float(row[14]),
                    landmarks=row[4:14].reshape(5, 2).astype(np.float32),
                    scheme=self.scheme,
                )
            )
        return found


def pad_arrays(images: Sequence[np.ndarray]) -> Tensor:
    """RGB ``uint8`` photos as one ``(N, H, W, 3)`` uint8 CPU tensor, each in the top-left
    corner of black padding to the largest padded size."""
    sizes = [padded_size(im.shape[0], im.shape[1]) for im in images]
    height = max(h for h, _ in sizes)
    width = max(w for _, w in sizes)
    batch = np.zeros((len(images), height, width, 3), dtype=np.uint8)
    for i, image in enumerate(images):
        batch[i, : image.shape[0], : image.shape[1]] = image
    return torch.from_numpy(batch)


def pad_batch(images: Sequence[np.ndarray], device: torch.device) -> Tensor:
    """RGB ``uint8`` photos as one ``(N, 3, H, W)`` uint8 batch on ``device`` (channels-last
    memory), each in the top-left corner of black padding to the largest padded size."""
    tensor = pad_arrays(images)
    if device.type == "cuda":
        tensor = tensor.pin_memory()
    return tensor.to(device, non_blocking=True).permute(0, 3, 1, 2)


def rows_per_photo(candidates: Candidates, count: int) -> list[np.ndarray]:
    """Per photo, ``(k, 15)`` float32 rows (OpenCV's layout), in the candidates' order;
    ``candidates`` grouped by photo (as :func:`opencv_nms` leaves them)."""
    table = (
        torch.cat(
            [
                candidates.boxes,
                candidates.landmarks.reshape(-1, 10),
                candidates.scores[:, None],
            ],
            dim=1,
        )
        .float()
        .cpu()
        .numpy()
    )
    ids = candidates.image_ids.cpu().numpy()
    bounds = np.searchsorted(ids, np.arange(count + 1))
    return [table[bounds[i] : bounds[i + 1]] for i in range(count)]
