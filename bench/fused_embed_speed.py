"""Embedding time per face, fast model against the accurate (fused) one, on the same faces.

    PYTHONPATH=. python bench/fused_embed_speed.py [--faces 64] [--threads 2] [--repeats 3]

Faces: the first ``--faces`` images of the cache of ``bench/fused_embedding.py detect`` (YuNet
boxes, O-Net points), their chips made once; then each embedder (CPU, mirror-averaged, the
``auto`` precision, batch 32) embeds them ``--repeats`` times, the best time kept. Only the
networks are timed (detection and alignment are the same for both models, apart from the
ArcFace warp, timed separately).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.fused_embedding import cached_face

CACHE = Path.home() / "cache" / "fused-lfw"


def main() -> None:
    import torch

    from facenet_core.models.registry import fused_info
    from facenet_core.settings import Settings
    from facenet_core.vision.align import arcface_chip, face_chip
    from facenet_core.vision.embed import Embedder, FusedEmbedder
    from facenet_core.vision.engines import embed_precision

    parser = argparse.ArgumentParser()
    parser.add_argument("--faces", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    found = np.load(CACHE / "detections.npz")
    chips, faces = [], []
    warp = 0.0
    for i in range(args.faces):
        image, face = cached_face(found, i)
        chips.append(face_chip(image, face))
        t0 = time.perf_counter()
        faces.append(arcface_chip(image, face))
        warp += time.perf_counter() - t0
    chip, arcface = np.stack(chips), np.stack(faces)
    precision = embed_precision(Settings().precision, torch.device("cpu"))
    fast = Embedder.pretrained(device="cpu", batch_size=32, flip=True, precision=precision)
    fused = FusedEmbedder(fused_info(), device="cpu", batch_size=32, precision=precision)
    for name, run in (
        ("fast", lambda: fast.embed(chip)),
        ("accurate", lambda: fused.embed(chip, arcface)),
    ):
        run()  # warm-up
        best = min(_timed(run) for _ in range(args.repeats))
        print(
            f"{name:9s} {1000 * best / len(chip):6.1f} ms a face"
            f" ({precision}, {args.threads} threads)"
        )
    print(f"ArcFace warp {1000 * warp / len(chip):.2f} ms a face")


def _timed(run: object) -> float:
    start = time.perf_counter()
    run()  # type: ignore[operator]
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
