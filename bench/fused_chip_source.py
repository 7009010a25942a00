"""Does SFace lose anything when its ArcFace chip is warped from today's 150 x 150 chip instead
of from the photo? lfw-mini's fold 1 (the first 600 pairs of LFW), the cached faces of
``bench/fused_embedding.py detect`` (YuNet boxes, O-Net points).

    PYTHONPATH=. python bench/fused_chip_source.py [--threads 1]

For each image of fold 1: SFace (RGB, mirror-averaged) on the ArcFace chip made from the photo
(cached, ``embeddings.npz``) and on the one warped from the dlib chip (computed here); the
fused embedding of each; fold-1 accuracy at the calibrated fused threshold and at the best
threshold on fold 1 itself, and the cosine between the two SFace descriptors.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.fused_embedding import cached_face

CACHE = Path.home() / "cache" / "fused-lfw"


def _accuracy(d: np.ndarray, same: np.ndarray, threshold: float) -> float:
    return float(np.mean((d < threshold) == same))


def main() -> None:
    import torch

    from facenet_core.models.sface import load_sface, sface_embeddings
    from facenet_core.vision.align import (
        ARCFACE_SIZE,
        ARCFACE_TEMPLATE,
        MTCNN_TEMPLATE,
        face_chip,
        template_chip,
    )

    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    found = np.load(CACHE / "detections.npz")
    cached = np.load(CACHE / "embeddings.npz")
    folds, left, right, same = found["folds"], found["left"], found["right"], found["same"]
    in_fold = folds == 0
    images = np.unique(np.concatenate([left[in_fold], right[in_fold]]))
    sface = load_sface().fused_for_inference()
    derived = np.zeros((len(found["paths"]), 128), np.float32)
    start = time.perf_counter()
    for k, i in enumerate(images):
        image, face = cached_face(found, i)
        chip = face_chip(image, face)
        arc = template_chip(chip, MTCNN_TEMPLATE, ARCFACE_TEMPLATE, ARCFACE_SIZE)
        with torch.inference_mode():
            x = torch.from_numpy(arc[None]).permute(0, 3, 1, 2).float()
            derived[i] = sface_embeddings(sface, x).numpy()[0]
        if (k + 1) % 200 == 0:
            print(f"{k + 1}/{len(images)} {time.perf_counter() - start:.0f} s", flush=True)
    dlib, direct = cached["dlib"], cached["sface"]

    def fused(s: np.ndarray) -> np.ndarray:
        v = np.concatenate([dlib, s], axis=1)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    cos = np.sum(derived[images] * direct[images], axis=1)
    print(
        f"{len(images)} images; cosine(direct, derived SFace): mean {cos.mean():.4f}"
        f" min {cos.min():.4f}"
    )
    for name, s in (("direct", direct), ("derived", derived)):
        for what, v in (("sface", s), ("fused", fused(s))):
            d = np.sum((v[left[in_fold]] - v[right[in_fold]]) ** 2, axis=1)
            sm = same[in_fold]
            ts = np.unique(d)
            best = max(ts, key=lambda t: _accuracy(d, sm, t + 1e-9))
            line = f"{name:8s} {what:6s} best-on-fold {_accuracy(d, sm, best + 1e-9):.4f}"
            if what == "fused":
                line += f"  at calibrated 0.7743: {_accuracy(d, sm, 0.7743):.4f}"
            print(line)


if __name__ == "__main__":
    main()
