"""Recall of the default detector on close-up portraits (the set of ``bench/closeup_set.py``).

    python bench/closeup_recall.py --set ~/datasets/closeups [--device cpu] [--diagnose]
        [--json out.json]

Per photo the detector (``DetectorConfig()``: YuNet with O-Net's points, at the defaults) runs
once on the photo as saved. Figures:

- **recall**: share of photos whose target face a detection matches at IoU >= 0.5;
- **false boxes per photo**: detections that match neither the target nor another face known
  in the source at IoU >= 0.4, divided by the photos;
- **photos with no face**: photos where the detector returned nothing at all;
- **sec/photo**: median wall time of ``detect`` (decoding excluded);
- recall by source (LFW, WIDER), by frame (portrait, landscape) and by fill (box height over
  frame height).

``--diagnose`` explains each missed target from YuNet's levels: every level of the photo is run
alone at the detector's threshold with no size rule, and the report says on which levels a box
matched the target (IoU >= 0.5 in the photo's pixels), its side in that level's pixels, and
whether a level rule dropped it: "handed on" (at least ``LEVEL_SPLIT`` on a level that is not
the last) or "too small here" (below ``LEVEL_SPLIT * LEVEL_FACTOR`` on a level after the first).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from facenet_core.evaluation.detection import box_iou
from facenet_core.imageio import load_image
from facenet_core.vision.detectors import DetectorConfig, make_detector
from facenet_core.vision.detectors.yunet import LEVEL_FACTOR, LEVEL_SPLIT, YunetDetector

RECALL_IOU = 0.5
KNOWN_IOU = 0.4


def yunet_of(detector: Any) -> YunetDetector:
    return detector if isinstance(detector, YunetDetector) else detector.yunet


def diagnose(yunet: YunetDetector, image: np.ndarray, target: np.ndarray) -> str:
    """Which levels saw the target face, and the rule that dropped it there."""
    prepared = yunet.prepare(image)
    notes = []
    depth = len(prepared.levels)
    for rank, level in enumerate(prepared.levels):
        rows = yunet.detect_raw([level])[0]
        if len(rows) == 0:
            notes.append(f"L{rank}: nothing")
            continue
        fx, fy = prepared.width / level.shape[1], prepared.height / level.shape[0]
        boxes = np.stack(
            [
                rows[:, 0] * fx,
                rows[:, 1] * fy,
                (rows[:, 0] + rows[:, 2]) * fx,
                (rows[:, 1] + rows[:, 3]) * fy,
            ],
            axis=1,
        )
        iou = box_iou(boxes, target[None])[:, 0]
        best = int(np.argmax(iou))
        if iou[best] < RECALL_IOU:
            notes.append(f"L{rank}: not the target (best IoU {iou[best]:.2f})")
            continue
        side = float(max(rows[best, 2], rows[best, 3]))
        rule = "kept"
        if rank < depth - 1 and side >= LEVEL_SPLIT:
            rule = "handed on"
        if rank > 0 and side < LEVEL_SPLIT * LEVEL_FACTOR:
            rule = "too small here"
        notes.append(f"L{rank}: side {side:.0f} score {rows[best, 14]:.2f} {rule}")
    return "; ".join(notes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=Path.home() / "datasets" / "closeups")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--diagnose", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    photos = json.loads((args.set / "manifest.json").read_text(encoding="utf-8"))["photos"]
    detector = make_detector(DetectorConfig(device=args.device))
    detector.detect(np.zeros((480, 640, 3), np.uint8))  # warm up
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    false_boxes = 0
    empty = 0
    times = []
    missed = []
    strays: list[str] = []
    for photo in photos:
        image = load_image(args.set / photo["file"])
        start = time.perf_counter()
        faces = detector.detect(image)
        times.append(time.perf_counter() - start)
        target = np.asarray(photo["target"], np.float64)
        known = np.asarray([photo["target"], *photo["others"]], np.float64)
        boxes = np.asarray([f.box for f in faces], np.float64).reshape(-1, 4)
        hit = bool(len(faces)) and float(box_iou(boxes, target[None]).max()) >= RECALL_IOU
        if len(faces):
            stray = box_iou(boxes, known).max(axis=1) < KNOWN_IOU
            false_boxes += int(stray.sum())
            for face in np.asarray(faces, dtype=object)[stray]:
                strays.append(f"{photo['file']}: {np.round(face.box).tolist()} {face.score:.2f}")
        else:
            empty += 1
        frame = "landscape" if photo["width"] > photo["height"] else "portrait"
        fill = f"fill {min(int(photo['fill'] * 10), 8) / 10:.1f}"
        for key in ("all", photo["source"].split("/")[0], frame, fill, f"cut {photo['cut']}"):
            total[key] += 1
            found[key] += hit
        if not hit:
            missed.append((photo, image, target, len(faces)))
    n = len(photos)
    result = {
        "photos": n,
        "recall": found["all"] / n,
        "false_boxes_per_photo": false_boxes / n,
        "photos_with_no_face": empty,
        "sec_per_photo": statistics.median(times),
        "recall_by": {k: [found[k], total[k]] for k in sorted(total)},
    }
    print(
        f"close-ups: {n} photos, recall {100 * result['recall']:.1f}% "
        f"({found['all']}/{n}), false boxes/photo {result['false_boxes_per_photo']:.3f}, "
        f"photos with no face {empty}, {result['sec_per_photo']:.3f} s/photo (median)"
    )
    for key in sorted(total):
        print(f"  {key:15s} {found[key]:4d}/{total[key]:4d}  {100 * found[key] / total[key]:.1f}%")
    for stray in strays:
        print(f"  false box {stray}")
    if args.diagnose:
        yunet = yunet_of(detector)
        causes: Counter[str] = Counter()
        for photo, image, target, count in missed:
            why = diagnose(yunet, image, target)
            print(
                f"  missed {photo['file']} {photo['width']}x{photo['height']} "
                f"fill {photo['fill']:.2f} cut {photo['cut']} ({count} boxes): {why}"
            )
            if "handed on" in why and "too small here" in why:
                causes["gap between the level rules"] += 1
            elif "kept" in why:
                causes["found on a level, lost in merging"] += 1
            elif "handed on" in why or "too small here" in why:
                causes["a level rule (one level saw it)"] += 1
            else:
                causes["no level sees it"] += 1
        print("  causes:", dict(causes))
        result["causes"] = dict(causes)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
