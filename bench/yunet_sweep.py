"""Choosing YuNet's score threshold and filters on the WIDER development photos.

    python bench/yunet_sweep.py --images ~/datasets/wider-train/images
        --truth ../shared/datasets/wider-train/wider_face_train_bbx_gt_subset.txt
        [--limit N] [--min-face-sizes 40,30,20]

YuNet runs once per smallest-face setting at a low threshold (0.3) with no size filter; every
detection also gets MTCNN's O-Net face probability (on its square 48 x 48 crop) and simple
landmark-geometry features. The rows then apply, offline, each way of removing false positives
while keeping recall, scored as ``facenet-photos eval-detect`` scores (recall of faces >= 40 and
>= 80 px at IoU 0.5, precision at IoU 0.4), plus the recall of the small faces (20-40 px):

- a score threshold alone;
- a minimum box size (0.75 x the smallest face looked for: what the detector keeps);
- O-Net re-scoring: scores from LOW up to 0.7 are kept only when O-Net also says face;
- landmark geometry: eyes-to-mouth distance over box height > 0.45 or box height over width
  > 1.75 is not a face (only below score 0.75).

Also prints YuNet's median seconds per photo at each setting and O-Net's cost per photo.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from facenet_core.evaluation.detection import (
    MatchCounts,
    box_iou,
    greedy_match,
    match_image,
    read_wider_annotations,
    select_evenly,
)
from facenet_core.imageio import load_image
from facenet_core.types import Detection
from facenet_core.vision.detectors.mtcnn import (
    ONET_INPUT,
    build_mtcnn_networks,
    crop_patches,
    normalize_pixels,
    square_boxes,
)
from facenet_core.vision.detectors.yunet import YunetDetector

# per detection: x1, y1, x2, y2, score, onet, eye-mouth / height, height / width
Table = list[np.ndarray]


def features(image: np.ndarray, found: list[Detection], onet: torch.nn.Module) -> np.ndarray:
    rows = np.zeros((len(found), 8), np.float64)
    if not found:
        return rows
    for i, d in enumerate(found):
        p = d.landmarks.astype(np.float64)
        eyes, mouth = (p[0] + p[1]) / 2, (p[3] + p[4]) / 2
        rows[i, :4] = d.box
        rows[i, 4] = d.score
        rows[i, 6] = (mouth[1] - eyes[1]) / max(d.height, 1e-6)
        rows[i, 7] = d.height / max(d.width, 1e-6)
    with torch.inference_mode():
        x = torch.from_numpy(normalize_pixels(image)).permute(2, 0, 1)[None].contiguous()
        boxes = square_boxes(torch.from_numpy(rows[:, :4]).float())
        crops = crop_patches(x, boxes, ONET_INPUT).contiguous(memory_format=torch.channels_last)
        rows[:, 5] = onet(crops)[2].numpy()
    return rows


def score(annotations: list, table: Table, keep: Callable[[np.ndarray], np.ndarray]) -> str:
    counts = MatchCounts()
    small = found_small = 0
    for annotation, rows in zip(annotations, table, strict=True):
        chosen = rows[keep(rows)]
        boxes = chosen[:, :4]
        truth = [f.box for f in annotation.faces]
        invalid = [f.invalid for f in annotation.faces]
        counts += match_image(truth, boxes, invalid)
        valid = [f for f in annotation.faces if not f.invalid and 20 <= f.size < 40]
        if valid:
            iou = box_iou(np.array([f.box for f in valid]), boxes)
            small += len(valid)
            found_small += len(greedy_match(iou, 0.5))
    r40 = counts.found_40 / counts.faces_40
    r80 = counts.found_80 / counts.faces_80
    precision = counts.true_positives / max(counts.detections, 1)
    return (
        f"{100 * r40:6.2f} {100 * r80:6.2f} {100 * precision:7.2f} "
        f"{100 * found_small / max(small, 1):7.2f} {counts.false_positives:5d}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--min-face-sizes", default="40,30,20")
    args = parser.parse_args()
    torch.set_num_threads(1)
    annotations = select_evenly(read_wider_annotations(args.truth), args.limit)
    onet = build_mtcnn_networks(device="cpu").onet
    sizes = [float(v) for v in args.min_face_sizes.split(",")]
    detectors = {
        m: YunetDetector(0.3, min_face_size=m, keep_fraction=0.0, device="cpu") for m in sizes
    }
    tables: dict[float, Table] = {m: [] for m in sizes}
    seconds: dict[float, list[float]] = {m: [] for m in sizes}
    onet_seconds: list[float] = []
    for annotation in annotations:
        image = load_image(args.images / annotation.path)
        for m, detector in detectors.items():  # settings take turns: fair timing on a busy CPU
            start = time.perf_counter()
            found = detector.detect(image)
            seconds[m].append(time.perf_counter() - start)
            start = time.perf_counter()
            tables[m].append(features(image, found, onet))
            onet_seconds.append(time.perf_counter() - start)
    print(
        f"{len(annotations)} photos; O-Net re-scoring costs {statistics.median(onet_seconds):.3f} s"
    )
    print(f"{'rule':<58} {'r40':>6} {'r80':>6} {'prec':>7} {'r20-40':>7} {'FP':>5}")
    for m in sizes:
        smallest = 0.75 * m
        # column 8: the box is at least the size the detector keeps
        table = [
            np.column_stack([r, np.maximum(r[:, 2] - r[:, 0], r[:, 3] - r[:, 1]) >= smallest])
            for r in tables[m]
        ]
        print(
            f"-- smallest face {m:g} px: YuNet median {statistics.median(seconds[m]):.3f} s/photo"
        )
        for threshold in (0.5, 0.55, 0.6, 0.65, 0.7, 0.75):
            rule = f"score >= {threshold}"
            print(f"{rule:<58}", score(annotations, table, lambda r, t=threshold: r[:, 4] >= t))
            rule += f", box >= {smallest:g} px"
            keep = lambda r, t=threshold: (r[:, 4] >= t) & (r[:, 8] > 0)  # noqa: E731
            print(f"{rule:<58}", score(annotations, table, keep))
        for low in (0.4, 0.5):
            for p in (0.3, 0.5, 0.7):
                rule = f"O-Net: {low} <= score < 0.7 needs O-Net > {p}, box >= {smallest:g}"

                def rescored(r: np.ndarray, low: float = low, p: float = p) -> np.ndarray:
                    sure = r[:, 4] >= 0.7
                    return (sure | ((r[:, 4] >= low) & (r[:, 5] > p))) & (r[:, 8] > 0)

                print(f"{rule:<58}", score(annotations, table, rescored))
        for threshold in (0.55, 0.6):
            rule = f"geometry below 0.75, score >= {threshold}, box >= {smallest:g}"

            def shaped(r: np.ndarray, t: float = threshold) -> np.ndarray:
                odd = ((r[:, 6] > 0.45) | (r[:, 7] > 1.75)) & (r[:, 4] < 0.75)
                return (r[:, 4] >= t) & ~odd & (r[:, 8] > 0)

            print(f"{rule:<58}", score(annotations, table, shaped))


if __name__ == "__main__":
    main()
