"""Detection speed of each detector on the same photos, decode excluded.

    python bench/detect_speed.py FOLDER [--limit 100] [--threads 2]

Photos are decoded once up front; each detector then runs over all of them in this process
(one photo at a time; on CUDA, MTCNN also in batches of photos). Prints photos/s and the median
seconds per photo.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from facenet_core.imageio import load_image
from facenet_core.vision.detectors import DetectorConfig, make_detector


def time_each(detect, images: list[np.ndarray]) -> tuple[float, float, int]:
    detect(images[0])  # warm up
    times, faces = [], 0
    for image in images:
        start = time.perf_counter()
        faces += len(detect(image))
        times.append(time.perf_counter() - start)
    return len(images) / sum(times), statistics.median(times), faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    paths = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    paths = paths[:: max(1, len(paths) // args.limit)][: args.limit]
    images = [load_image(p) for p in paths]
    megapixels = np.mean([im.shape[0] * im.shape[1] for im in images]) / 1e6
    print(f"{len(images)} photos ({megapixels:.2f} MP mean) from {args.folder}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads\n")
    print(f"{'detector':<28} {'photos/s':>9} {'median s':>9} {'faces':>6}")
    configs = [
        ("hog (1 upsampling)", DetectorConfig(name="hog", upsample=1)),
        ("hog (no upsampling)", DetectorConfig(name="hog", upsample=0)),
        ("mtcnn cpu", DetectorConfig(name="mtcnn", device="cpu")),
    ]
    for name, config in configs:
        detector = make_detector(config)
        rate, median, faces = time_each(detector.detect, images)
        print(f"{name:<28} {rate:>9.2f} {median:>9.3f} {faces:>6}")
    if torch.cuda.is_available():
        from facenet_core.vision.detectors.mtcnn import MtcnnDetector

        gpu = MtcnnDetector(device="cuda")
        rate, median, faces = time_each(gpu.detect, images)
        print(f"{'mtcnn cuda':<28} {rate:>9.2f} {median:>9.3f} {faces:>6}")
        for batch in (8, 32):
            gpu.detect_batch(images[:batch])
            torch.cuda.synchronize()
            start = time.perf_counter()
            faces = 0
            for i in range(0, len(images), batch):
                faces += sum(len(f) for f in gpu.detect_batch(images[i : i + batch]))
            torch.cuda.synchronize()
            rate = len(images) / (time.perf_counter() - start)
            print(f"{f'mtcnn cuda, batch {batch}':<28} {rate:>9.2f} {'':>9} {faces:>6}")
    else:
        print("(no CUDA device: GPU rows skipped)")


if __name__ == "__main__":
    main()
