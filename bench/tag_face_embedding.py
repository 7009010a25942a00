"""How close is a face made from a tag region to the same face found by the detector?

    python bench/tag_face_embedding.py [--every 60] [--count 15] [--grow 0.1] [--predictor-only]

For lfw-mini photos (every Nth): the detector's (YuNet) largest face is aligned on its own
landmarks and embedded; the same face is then taken as a tag region would give it, the
detector's box grown by ``--grow`` of its size on every side (digiKam-style loose regions), its
landmarks found by dlib's 5-point predictor in that box (as :mod:`facenet_core.library.tag_faces`
does), aligned and embedded. Prints the squared distance between the two embeddings (the
project's same-person threshold is about 0.18).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facenet_core.imageio import load_image
from facenet_core.library.tag_faces import TagFaceMaker
from facenet_core.settings import Settings
from facenet_core.vision.align import face_chip
from facenet_core.vision.detectors import YunetDetector
from facenet_core.vision.embed import Embedder
from facenet_core.vision.landmarks import LandmarkPredictor

LFW_MINI = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "lfw-mini" / "images"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--every", type=int, default=60)
    parser.add_argument("--count", type=int, default=15)
    parser.add_argument("--grow", type=float, default=0.1)
    parser.add_argument("--predictor-only", action="store_true")
    args = parser.parse_args()
    paths = sorted(LFW_MINI.glob("*/*.jpg"))[:: args.every][: args.count]
    detector = YunetDetector(0.5, device="cpu", max_side=None, min_face_size=30)
    embedder = Embedder.pretrained(device="cpu", flip=False)
    predictor = LandmarkPredictor()
    maker = TagFaceMaker(None, Settings(device="cpu", flip=False))  # type: ignore[arg-type]
    distances = []
    for path in paths:
        image = load_image(path)
        faces = detector.detect(image)
        if not faces:
            continue
        face = max(faces, key=lambda d: d.width * d.height)
        x1, y1, x2, y2 = face.box
        gx, gy = args.grow * (x2 - x1), args.grow * (y2 - y1)
        h, w = image.shape[:2]
        region = (max(0.0, x1 - gx), max(0.0, y1 - gy), min(w, x2 + gx), min(h, y2 + gy))
        if args.predictor_only:
            tagged = predictor.detection(image, region, 1.0)
        else:
            tagged = maker.detection(image, region)
        a, b = embedder.embed(np.stack([face_chip(image, face), face_chip(image, tagged)]))
        distances.append(float(np.sum((a - b) ** 2)))
    print(
        f"{len(distances)} faces: squared distance detector chip vs tag-region chip: "
        f"median {np.median(distances):.3f}, max {max(distances):.3f}"
    )


if __name__ == "__main__":
    main()
