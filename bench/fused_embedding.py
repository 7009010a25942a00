"""The fused embedding on the full LFW: dlib's ResNet, SFace, and ways of joining them.

    python bench/fused_embedding.py detect --lfw-dir ~/datasets/lfw --pairs ~/datasets/lfw/pairs.txt
    python bench/fused_embedding.py embed  --lfw-dir ~/datasets/lfw --pairs ~/datasets/lfw/pairs.txt
    python bench/fused_embedding.py score  [--json out.json]

Three stages, each cached in ``~/cache/fused-lfw/`` (never in the repository), so that trying
another way of fusing re-runs neither detection nor the networks:

1. ``detect``: the default detector (YuNet boxes, O-Net points, centre-box fallback, exactly as
   ``eval-lfw`` finds its faces) on every image the pairs name; the chosen face's five points,
   their scheme and whether it was the fallback.
2. ``embed``: today's chip and dlib-ResNet embedding, and the ArcFace-template chip and SFace
   embedding (RGB), both mirror-averaged, float32.
3. ``score``: the LFW protocol (10 folds, thresholds chosen on the other 9) on each option:
   dlib alone, SFace alone, the weighted concatenation at several SFace weights, and 128-D
   projections of the concatenation fitted on the 9 training folds' images only (PCA, and
   PCA with whitening); accuracy, its standard error, VAL@FAR=1e-3, errors, bytes per face, and
   the same after int8 quantisation.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

CACHE = Path.home() / "cache" / "fused-lfw"


def _pairs(pairs_file: Path) -> tuple[list[tuple[str, int]], dict[str, np.ndarray]]:
    from facenet_core.evaluation.verification import read_pairs

    pairs = read_pairs(pairs_file)
    keys = sorted({p.left for p in pairs} | {p.right for p in pairs})
    index = {key: i for i, key in enumerate(keys)}
    arrays = {
        "left": np.array([index[p.left] for p in pairs], dtype=np.int64),
        "right": np.array([index[p.right] for p in pairs], dtype=np.int64),
        "same": np.array([p.same for p in pairs], dtype=bool),
        "folds": np.array([p.fold for p in pairs], dtype=np.int64),
    }
    return keys, arrays


def detect(lfw_dir: Path, pairs_file: Path, workers: int) -> None:
    """Stage 1: the face (box, five points, scheme) of every image, as ``eval-lfw`` picks it."""
    from facenet_core.evaluation.lfw import nearest_centre
    from facenet_core.evaluation.verification import lfw_image_path
    from facenet_core.settings import Settings
    from facenet_core.vision.engines import shared_engines
    from facenet_core.vision.faces import FaceJob, find_faces

    keys, arrays = _pairs(pairs_file)
    settings = Settings()
    engines = shared_engines()
    config = engines.detector_config(settings)
    job = FaceJob(detector=config, centre_fallback=True)
    shared = engines.detector(config) if config.threaded else None
    paths = [lfw_image_path(lfw_dir, name, num) for name, num in keys]
    n = len(paths)
    landmarks = np.zeros((n, 5, 2), np.float64)
    boxes = np.zeros((n, 4), np.float64)
    schemes: list[str] = []
    fallback = np.zeros(n, bool)
    start = time.perf_counter()
    for i, photo in enumerate(find_faces(paths, job, workers, detector=shared)):
        if photo.error is not None:
            raise RuntimeError(f"{photo.path}: {photo.error}")
        face = photo.detections[nearest_centre(photo)]
        landmarks[i] = face.landmarks
        boxes[i] = face.box
        schemes.append(face.scheme)
        fallback[i] = photo.fallback
        if (i + 1) % 500 == 0:
            print(f"{i + 1}/{n} images, {time.perf_counter() - start:.0f} s", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(
        CACHE / "detections.npz",
        paths=np.array([str(p) for p in paths]),
        landmarks=landmarks,
        boxes=boxes,
        schemes=np.array(schemes),
        fallback=fallback,
        detector=np.array(f"{config.name}/{config.landmarks}"),
        **arrays,
    )
    print(f"{n} images, {int(fallback.sum())} fallbacks, {time.perf_counter() - start:.0f} s")


def embed(batch: int, threads: int) -> None:
    """Stage 2: today's chip and embedding, the ArcFace chip and SFace's (RGB), mirror-averaged."""
    import torch

    from facenet_core.imageio import load_image
    from facenet_core.models.sface import load_sface, sface_embeddings
    from facenet_core.types import Detection
    from facenet_core.vision.align import arcface_chip, face_chip
    from facenet_core.vision.embed import Embedder

    torch.set_num_threads(threads)
    found = np.load(CACHE / "detections.npz")
    paths, landmarks, boxes, schemes = (
        found["paths"],
        found["landmarks"],
        found["boxes"],
        found["schemes"],
    )
    n = len(paths)
    dlib_net = Embedder.pretrained(device="cpu", batch_size=batch, flip=True)
    sface = load_sface()
    dlib_emb = np.zeros((n, 128), np.float32)
    sface_emb = np.zeros((n, 128), np.float32)
    start = time.perf_counter()
    timing = {"dlib": 0.0, "sface": 0.0}
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        chips, faces = [], []
        for i in range(lo, hi):
            image = load_image(paths[i])
            box = (float(boxes[i][0]), float(boxes[i][1]), float(boxes[i][2]), float(boxes[i][3]))
            face = Detection(box, 1.0, landmarks[i].astype(np.float32), str(schemes[i]))  # type: ignore[arg-type]
            chips.append(face_chip(image, face))
            faces.append(arcface_chip(image, face))
        t0 = time.perf_counter()
        dlib_emb[lo:hi] = dlib_net.embed(np.stack(chips))
        t1 = time.perf_counter()
        with torch.inference_mode():
            x = torch.from_numpy(np.stack(faces)).permute(0, 3, 1, 2).float()
            sface_emb[lo:hi] = sface_embeddings(sface, x, flip=True).numpy()
        t2 = time.perf_counter()
        timing["dlib"] += t1 - t0
        timing["sface"] += t2 - t1
        if (hi // batch) % 20 == 0 or hi == n:
            print(f"{hi}/{n} faces, {time.perf_counter() - start:.0f} s", flush=True)
    np.savez(CACHE / "embeddings.npz", dlib=dlib_emb, sface=sface_emb)
    per_face = {k: 1000 * v / n for k, v in timing.items()}
    print(
        f"{threads} torch thread(s), batch {batch}, mirror-averaged: dlib {per_face['dlib']:.1f} "
        f"ms/face, SFace {per_face['sface']:.1f} ms/face (machine shared with other jobs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stage", choices=("detect", "embed", "score"))
    parser.add_argument("--lfw-dir", type=Path, default=Path.home() / "datasets" / "lfw")
    parser.add_argument("--pairs", type=Path, default=Path.home() / "datasets/lfw/pairs.txt")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.stage == "detect":
        detect(args.lfw_dir.expanduser(), args.pairs.expanduser(), args.workers)
    elif args.stage == "embed":
        embed(args.batch, args.threads)
    else:
        raise SystemExit(f"stage {args.stage} not written yet")
    _ = json


if __name__ == "__main__":
    main()
