"""How should YuNet's faces be aligned? Full-LFW verification of several ways, same pipeline.

    python tools/compare_alignment.py --lfw-dir ~/datasets/lfw [--variants own,mtcnn,...]
                                      [--cache DIR] [--workers 2]

Every image the pairs name is detected with YuNet (the face nearest the centre; dlib's 5
points in the fixed centre box when none is found, as ``eval-lfw`` does), aligned the
variant's way, embedded (flip on unless ``--no-flip``; float32 unless ``--precision bf16``)
and scored by the 10-fold protocol. Variants:

    own       YuNet's points on YuNet's template (``yunet5``), default detector
    mtcnn     YuNet's points on MTCNN's template (``mtcnn5``)
    mirror    ``own`` with each point averaged with the point found in the mirrored photo
    full      ``own`` with the photo at full size (no 0.75 shrink for a 40 px smallest face)
    onet      MTCNN's O-Net points in YuNet's box on MTCNN's template (``--landmarks onet``)
    avg       the mean of YuNet's and O-Net's points on the mean of their two templates

Embeddings are cached per variant in ``--cache`` (recomputed when missing).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from facenet_core.evaluation.detection import box_iou
from facenet_core.evaluation.verification import (
    kfold_report,
    lfw_image_path,
    read_pairs,
    squared_distances,
)
from facenet_core.imageio import load_image
from facenet_core.paths import cache_dir
from facenet_core.types import CHIP_SIZE, Detection
from facenet_core.vision.align import MTCNN_TEMPLATE, YUNET_TEMPLATE, face_chip, template_chip
from facenet_core.vision.detectors import YunetDetector
from facenet_core.vision.detectors.yunet_onet import YunetOnetDetector
from facenet_core.vision.embed import Embedder
from facenet_core.vision.faces import CENTRE_BOX
from facenet_core.vision.landmarks import LandmarkPredictor

MIRROR = [1, 0, 2, 4, 3]  # a point's partner in the mirrored photo


def nearest(faces: list[Detection], image: np.ndarray) -> Detection:
    cy, cx = image.shape[0] / 2.0, image.shape[1] / 2.0
    return min(faces, key=lambda d: (d.center[0] - cx) ** 2 + (d.center[1] - cy) ** 2)


def mirrored_points(detector: YunetDetector, image: np.ndarray, face: Detection) -> np.ndarray:
    """``face``'s points averaged with those found in the mirrored photo (same face by IoU)."""
    width = image.shape[1]
    flipped = detector.detect(np.ascontiguousarray(image[:, ::-1]))
    if not flipped:
        return face.landmarks
    # pixel i of the mirrored photo is pixel width - 1 - i of the photo (YuNet's coordinates
    # count pixel centres: its boxes of a face and of the mirrored face agree that way)
    boxes = np.array(
        [[width - 1 - d.box[2], d.box[1], width - 1 - d.box[0], d.box[3]] for d in flipped]
    )
    iou = box_iou(np.array([face.box]), boxes)[0]
    if iou.max() < 0.5:
        return face.landmarks
    other = flipped[int(iou.argmax())].landmarks[MIRROR].astype(np.float64)
    other[:, 0] = width - 1 - other[:, 0]
    return ((face.landmarks.astype(np.float64) + other) / 2.0).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw-dir", type=Path, required=True)
    parser.add_argument("--variants", default="own,mtcnn")
    parser.add_argument("--cache", type=Path, default=cache_dir() / "lfw-alignment")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--no-flip", dest="flip", action="store_false", help="no flip TTA")
    parser.add_argument(
        "--keep-chips", action="store_true", help="also cache the chips (900 MB a variant)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    pairs = read_pairs(args.lfw_dir / "pairs.txt")
    keys = sorted({p.left for p in pairs} | {p.right for p in pairs})
    paths = [lfw_image_path(args.lfw_dir, name, number) for name, number in keys]
    default = YunetDetector(device="cpu")
    full = YunetDetector(device="cpu", min_face_size=30)
    predictor = LandmarkPredictor()

    def fallback(image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        box = (CENTRE_BOX[0] * w, CENTRE_BOX[1] * h, CENTRE_BOX[2] * w, CENTRE_BOX[3] * h)
        return face_chip(image, predictor.detection(image, box, 0.0))

    onet = YunetOnetDetector(default)

    def variant(
        detector: YunetDetector, template: np.ndarray, mirror: bool = False, refine: str = ""
    ) -> Callable:
        def chip(path: Path) -> tuple[np.ndarray, bool]:
            image = load_image(path)
            faces = detector.detect(image)
            if not faces:
                return fallback(image), True
            face = nearest(faces, image)
            points = mirrored_points(detector, image, face) if mirror else face.landmarks
            if refine:
                refined = onet.refine(image, [face])[0].landmarks
                points = refined if refine == "onet" else (points + refined) / 2.0
            return template_chip(image, points, template), False

        return chip

    variants = {
        "own": variant(default, YUNET_TEMPLATE),
        "mtcnn": variant(default, MTCNN_TEMPLATE),
        "mirror": variant(default, YUNET_TEMPLATE, mirror=True),
        "full": variant(full, YUNET_TEMPLATE),
        "onet": variant(default, MTCNN_TEMPLATE, refine="onet"),
        "avg": variant(default, (YUNET_TEMPLATE + MTCNN_TEMPLATE) / 2.0, refine="avg"),
    }
    index = {key: i for i, key in enumerate(keys)}
    left = np.array([index[p.left] for p in pairs])
    right = np.array([index[p.right] for p in pairs])
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    args.cache.mkdir(parents=True, exist_ok=True)
    embedder = Embedder.pretrained(
        device="cpu", flip=args.flip, batch_size=64, precision=args.precision
    )
    print(f"{len(pairs)} pairs, {len(paths)} images", flush=True)
    for name in args.variants.split(","):
        cached = args.cache / f"{name}-{args.precision}{'' if args.flip else '-noflip'}.npy"
        chip_file = args.cache / f"{name}-chips.npy"
        fallbacks = 0
        if cached.is_file():
            emb = np.load(cached)
        else:
            if chip_file.is_file():
                chips = np.load(chip_file)
            else:
                chips = np.zeros((len(paths), CHIP_SIZE, CHIP_SIZE, 3), np.uint8)
                torch.set_num_threads(1)
                with ThreadPoolExecutor(args.workers) as pool:
                    for i, (chip, fell_back) in enumerate(pool.map(variants[name], paths)):
                        chips[i] = chip
                        fallbacks += fell_back
                if args.keep_chips:
                    np.save(chip_file, chips)
            torch.set_num_threads(args.workers)
            emb = embedder.embed(chips)
            np.save(cached, emb)
        report = kfold_report(squared_distances(emb[left], emb[right]), same, folds)
        print(
            f"{name:8} accuracy {100 * report.accuracy:.2f}% +- {100 * report.accuracy_sem:.2f}"
            f"   VAL@FAR=1e-3 {100 * report.val_at_far_1e3:.2f}%   fallbacks {fallbacks}"
            f"   fold-1 thresholds {report.thresholds[0]:.4f} / {report.val_thresholds[0]:.4f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
