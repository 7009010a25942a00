"""Measuring a face detector against WIDER FACE ground truth.

The annotation format (``wider_face_*_bbx_gt.txt``) is, per photo::

    <event>/<file>.jpg
    <number of faces>
    x1 y1 w h blur expression illumination invalid occlusion pose      (one line per face)

and a photo with no faces has a count of 0 followed by one line of ten zeros.

Metrics (see :func:`match_image`):

- **recall_40 / recall_80**: the share of ground-truth faces whose longer side is at least 40 px
  (resp. 80 px) that a detection matches at IoU >= 0.5;
- **precision**: the share of detections that match a ground-truth face of any size at IoU >= 0.4;
  a detection that matches none is a false positive;
- faces flagged ``invalid`` are ignored entirely: they count for no recall, and a detection on
  one (IoU >= 0.4) is neither a true nor a false positive;
- matching is one-to-one and greedy, highest IoU first, so a second detection of one face is a
  false positive;
- **sec_per_image**: the median wall time of ``detector.detect`` per photo (decoding excluded).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision.ops

from facenet_core.imageio import load_image
from facenet_core.progress import CancelToken, PhaseClock, Reporter, ignore_progress
from facenet_core.vision.detectors import FaceDetector

logger = logging.getLogger(__name__)

#: IoU at which a detection finds a ground-truth face (recall).
RECALL_IOU = 0.5
#: IoU at which a detection counts as a face at all (precision).
PRECISION_IOU = 0.4
#: Face size classes: longer side of the ground-truth box in pixels.
SIZE_SMALL = 40
SIZE_LARGE = 80


@dataclass(frozen=True, slots=True)
class FaceAnnotation:
    """One ground-truth face: box ``(x1, y1, x2, y2)`` (x2 = x1 + w) and WIDER attributes."""

    box: tuple[float, float, float, float]
    blur: int = 0
    expression: int = 0
    illumination: int = 0
    invalid: bool = False
    occlusion: int = 0
    pose: int = 0

    @property
    def size(self) -> float:
        """Longer side of the box in pixels."""
        return max(self.box[2] - self.box[0], self.box[3] - self.box[1])


@dataclass(frozen=True, slots=True)
class ImageAnnotation:
    """Ground truth of one photo: its path relative to the images folder and its faces."""

    path: str
    faces: tuple[FaceAnnotation, ...]


def parse_wider_annotations(text: str, source: str = "<text>") -> list[ImageAnnotation]:
    """Parse WIDER FACE ground truth text (format in the module docstring).

    Boxes of width or height 0 (the line of zeros after a count of 0, and a few degenerate
    annotations) are not faces and are dropped. ``source`` names the file in error messages.
    """
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line]
    images: list[ImageAnnotation] = []
    position = 0

    def fail(reason: str) -> ValueError:
        return ValueError(f"{source}: line {position + 1} (non-empty lines): {reason}")

    while position < len(lines):
        path = lines[position]
        position += 1
        if position >= len(lines):
            raise fail(f"photo {path!r} has no face count")
        try:
            count = int(lines[position])
        except ValueError:
            raise fail(f"expected the face count of {path!r}, got {lines[position]!r}") from None
        position += 1
        rows = max(count, 1)  # a count of 0 is followed by one line of zeros
        if position + rows > len(lines):
            raise fail(f"photo {path!r} announces {count} faces but the file ends")
        faces: list[FaceAnnotation] = []
        for offset in range(rows):
            fields = lines[position + offset].split()
            if len(fields) < 4:
                raise fail(f"face line {lines[position + offset]!r} of {path!r} is too short")
            try:
                x1, y1, w, h = (float(value) for value in fields[:4])
                attributes = [int(value) for value in fields[4:10]]
            except ValueError:
                raise fail(f"face line {lines[position + offset]!r} is not numeric") from None
            attributes += [0] * (6 - len(attributes))
            if count == 0 or w <= 0 or h <= 0:
                continue
            blur, expression, illumination, invalid, occlusion, pose = attributes
            faces.append(
                FaceAnnotation(
                    box=(x1, y1, x1 + w, y1 + h),
                    blur=blur,
                    expression=expression,
                    illumination=illumination,
                    invalid=bool(invalid),
                    occlusion=occlusion,
                    pose=pose,
                )
            )
        position += rows
        images.append(ImageAnnotation(path=path, faces=tuple(faces)))
    return images


def read_wider_annotations(path: Path) -> list[ImageAnnotation]:
    """Read and parse a WIDER FACE ground-truth file."""
    return parse_wider_annotations(Path(path).read_text(encoding="utf-8"), source=str(path))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``(len(a), len(b))`` of ``(x1, y1, x2, y2)`` boxes (``torchvision.ops.box_iou``
    in float64; a pair of empty boxes has IoU 0)."""
    ta = torch.as_tensor(np.asarray(a, dtype=np.float64).reshape(-1, 4))
    tb = torch.as_tensor(np.asarray(b, dtype=np.float64).reshape(-1, 4))
    return np.nan_to_num(torchvision.ops.box_iou(ta, tb).numpy(), nan=0.0)


def greedy_match(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """One-to-one matching of rows to columns, highest IoU first, pairs with IoU >= threshold.

    Returns ``(row, column)`` pairs in the order they were matched.
    """
    if iou.size == 0:
        return []
    rows, cols = np.nonzero(iou >= threshold)
    order = np.argsort(-iou[rows, cols], kind="stable")
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r in used_rows or c in used_cols:
            continue
        used_rows.add(r)
        used_cols.add(c)
        pairs.append((r, c))
    return pairs


@dataclass(frozen=True, slots=True)
class MatchCounts:
    """Counts of one photo (or, summed, of many) behind the metrics."""

    faces_40: int = 0  # valid ground-truth faces with longer side >= 40 px
    found_40: int = 0  # ... of them matched at IoU >= 0.5
    faces_80: int = 0
    found_80: int = 0
    detections: int = 0  # detections that count for precision (not on an invalid face)
    true_positives: int = 0  # ... of them matched to a valid face at IoU >= 0.4
    ignored_detections: int = 0  # detections matched to a face flagged invalid

    @property
    def false_positives(self) -> int:
        return self.detections - self.true_positives

    def __add__(self, other: MatchCounts) -> MatchCounts:
        return MatchCounts(
            faces_40=self.faces_40 + other.faces_40,
            found_40=self.found_40 + other.found_40,
            faces_80=self.faces_80 + other.faces_80,
            found_80=self.found_80 + other.found_80,
            detections=self.detections + other.detections,
            true_positives=self.true_positives + other.true_positives,
            ignored_detections=self.ignored_detections + other.ignored_detections,
        )


def match_image(
    truth_boxes: Sequence[Sequence[float]] | np.ndarray,
    detected_boxes: Sequence[Sequence[float]] | np.ndarray,
    invalid: Sequence[bool] | np.ndarray | None = None,
) -> MatchCounts:
    """Counts for one photo from its ground-truth boxes, the detected boxes (both
    ``(x1, y1, x2, y2)``) and the ground truth's ``invalid`` flags.

    Recall: valid faces and detections are matched one-to-one at IoU >= 0.5; a face counts as
    found when matched, in the >= 40 px and >= 80 px classes by its longer side. Precision:
    all faces (invalid ones too) and detections are matched one-to-one at IoU >= 0.4; a
    detection matched to a valid face is a true positive, one matched to an invalid face is
    ignored, an unmatched one is a false positive.
    """
    truth = np.asarray(truth_boxes, dtype=np.float64).reshape(-1, 4)
    detected = np.asarray(detected_boxes, dtype=np.float64).reshape(-1, 4)
    flags = (
        np.zeros(len(truth), dtype=bool)
        if invalid is None
        else np.asarray(invalid, dtype=bool).reshape(-1)
    )
    if len(flags) != len(truth):
        raise ValueError(f"{len(flags)} invalid flags for {len(truth)} ground-truth boxes")
    iou = box_iou(truth, detected)

    valid = np.flatnonzero(~flags)
    sizes = np.maximum(truth[:, 2] - truth[:, 0], truth[:, 3] - truth[:, 1])
    found = np.zeros(len(truth), dtype=bool)
    for row, _ in greedy_match(iou[valid], RECALL_IOU):
        found[valid[row]] = True
    small = ~flags & (sizes >= SIZE_SMALL)
    large = ~flags & (sizes >= SIZE_LARGE)

    true_positives = 0
    ignored = 0
    for row, _ in greedy_match(iou, PRECISION_IOU):
        if flags[row]:
            ignored += 1
        else:
            true_positives += 1
    return MatchCounts(
        faces_40=int(small.sum()),
        found_40=int((found & small).sum()),
        faces_80=int(large.sum()),
        found_80=int((found & large).sum()),
        detections=len(detected) - ignored,
        true_positives=true_positives,
        ignored_detections=ignored,
    )


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else float("nan")


@dataclass(frozen=True, slots=True)
class DetectionReport:
    """A detector's scores on a set of photos."""

    detector: str
    images: int
    counts: MatchCounts
    seconds: tuple[float, ...] = field(repr=False)  # detect() wall time per photo
    cancelled: bool = False
    """Stopped on request: the figures are those of the ``images`` photos scored until then."""

    @property
    def recall_40(self) -> float:
        return _ratio(self.counts.found_40, self.counts.faces_40)

    @property
    def recall_80(self) -> float:
        return _ratio(self.counts.found_80, self.counts.faces_80)

    @property
    def precision(self) -> float:
        return _ratio(self.counts.true_positives, self.counts.detections)

    @property
    def sec_per_image(self) -> float:
        """Median seconds per photo."""
        return statistics.median(self.seconds) if self.seconds else float("nan")

    def to_json_dict(self) -> dict[str, Any]:
        """The headline numbers, with exactly the keys of the benchmark files."""
        return {
            "recall_40": self.recall_40,
            "recall_80": self.recall_80,
            "precision": self.precision,
            "sec_per_image": self.sec_per_image,
            "images": self.images,
        }


def select_evenly(items: Sequence[ImageAnnotation], limit: int | None) -> list[ImageAnnotation]:
    """At most ``limit`` items spread evenly over ``items`` (all of them when ``None``), so a
    subset samples every event of the file rather than the first one."""
    if limit is None or limit >= len(items):
        return list(items)
    if limit <= 0:
        return []
    picks = np.unique(np.linspace(0, len(items) - 1, limit).round().astype(int))
    return [items[i] for i in picks]


def evaluate_detector(
    detector: FaceDetector,
    images_dir: Path,
    truth_file: Path,
    limit: int | None = None,
    *,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> DetectionReport:
    """Run ``detector`` on the annotated photos under ``images_dir`` and score it.

    ``limit`` evaluates at most that many photos, spread evenly over the annotation file.
    Cancelling stops after the photo in hand: the report scores the photos done so far and says
    ``cancelled``.
    """
    clock = PhaseClock("eval-detect", "detect", "photo")
    annotations = select_evenly(read_wider_annotations(Path(truth_file)), limit)
    total = len(annotations)
    counts = MatchCounts()
    seconds: list[float] = []
    done = 0
    for annotation in annotations:
        if cancel is not None and cancel.cancelled:
            break
        image = load_image(Path(images_dir) / annotation.path)
        start = time.perf_counter()
        detections = detector.detect(image)
        seconds.append(time.perf_counter() - start)
        counts += match_image(
            [face.box for face in annotation.faces],
            [detection.box for detection in detections],
            [face.invalid for face in annotation.faces],
        )
        done += 1
        reporter(clock.event(done, total))
    report = DetectionReport(
        detector=getattr(detector, "name", type(detector).__name__),
        images=done,
        counts=counts,
        seconds=tuple(seconds),
        cancelled=done < total,
    )
    logger.info("%s on %d photos: %s", report.detector, total, report.to_json_dict())
    return report
