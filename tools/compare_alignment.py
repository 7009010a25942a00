"""Which template should YuNet's points be aligned on? Full-LFW verification with each.

    python tools/compare_alignment.py --lfw-dir ~/datasets/lfw [--workers 2]

Detects every image the pairs name once with the default YuNet detector (the face nearest the
centre; dlib's 5 points in the fixed centre box when none is found, as ``eval-lfw`` does), makes
each face's chip on YuNet's own template (``yunet5``) and on MTCNN's (``mtcnn5``), embeds both
(flip on) and prints the 10-fold figures of each. Only the alignment differs between the rows.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from facenet_core.evaluation.lfw import nearest_centre
from facenet_core.evaluation.verification import (
    kfold_report,
    lfw_image_path,
    read_pairs,
    squared_distances,
)
from facenet_core.imageio import load_image
from facenet_core.types import CHIP_SIZE
from facenet_core.vision.align import MTCNN_TEMPLATE, YUNET_TEMPLATE, face_chip, template_chip
from facenet_core.vision.detectors import DetectorConfig, make_detector
from facenet_core.vision.embed import Embedder
from facenet_core.vision.faces import CENTRE_BOX, PhotoFaces
from facenet_core.vision.landmarks import LandmarkPredictor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw-dir", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    pairs = read_pairs(args.lfw_dir / "pairs.txt")
    keys = sorted({p.left for p in pairs} | {p.right for p in pairs})
    paths = [lfw_image_path(args.lfw_dir, name, number) for name, number in keys]
    detector = make_detector(DetectorConfig(name="yunet", device="cpu"))
    predictor = LandmarkPredictor()
    templates = {
        "yunet5 (own template)": YUNET_TEMPLATE,
        "mtcnn5 (MTCNN's template)": MTCNN_TEMPLATE,
    }
    chips = {name: np.zeros((len(paths), CHIP_SIZE, CHIP_SIZE, 3), np.uint8) for name in templates}

    def work(path: Path) -> tuple[np.ndarray, ...]:
        image = load_image(path)
        faces = detector.detect(image)
        if not faces:
            h, w = image.shape[:2]
            box = (CENTRE_BOX[0] * w, CENTRE_BOX[1] * h, CENTRE_BOX[2] * w, CENTRE_BOX[3] * h)
            chip = face_chip(image, predictor.detection(image, box, 0.0))
            return tuple(chip for _ in templates)
        photo = PhotoFaces(path, width=image.shape[1], height=image.shape[0], detections=faces)
        face = faces[nearest_centre(photo)]
        return tuple(template_chip(image, face.landmarks, t) for t in templates.values())

    with ThreadPoolExecutor(args.workers) as pool:
        for i, made in enumerate(pool.map(work, paths)):
            for name, chip in zip(templates, made, strict=True):
                chips[name][i] = chip
    index = {key: i for i, key in enumerate(keys)}
    left = np.array([index[p.left] for p in pairs])
    right = np.array([index[p.right] for p in pairs])
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    embedder = Embedder.pretrained(device="cpu", flip=True, batch_size=64)
    torch.set_num_threads(args.workers)
    print(f"{len(pairs)} pairs, {len(paths)} images")
    for name in templates:
        emb = embedder.embed(chips[name])
        report = kfold_report(squared_distances(emb[left], emb[right]), same, folds)
        print(
            f"{name:28} accuracy {100 * report.accuracy:.2f}% +- {100 * report.accuracy_sem:.2f}"
            f"   VAL@FAR=1e-3 {100 * report.val_at_far_1e3:.2f}%"
        )


if __name__ == "__main__":
    main()
