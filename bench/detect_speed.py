"""Detection speed of each detector on the same photos, decode excluded.

    python bench/detect_speed.py FOLDER [--limit 100] [--threads 1] [--detectors yunet,mtcnn,hog]

Photos are decoded once up front. The detectors take turns on each photo (photo 1 with every
detector, then photo 2...), so that on a machine shared with other work a busy minute slows them
all alike and the ratios stay fair. Prints photos/s, the median seconds per photo, the faces
found and each detector's median time relative to the first one's. On CUDA (when present)
YuNet and MTCNN also run in batches of photos.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from facenet_core.imageio import load_image
from facenet_core.vision.detectors import DetectorConfig, MtcnnDetector, make_detector
from facenet_core.vision.detectors.yunet import YunetDetector

CONFIGS = {
    "yunet": ("yunet cpu", DetectorConfig(name="yunet", device="cpu")),
    "mtcnn": ("mtcnn cpu", DetectorConfig(name="mtcnn", device="cpu")),
    "hog": ("hog (1 upsampling)", DetectorConfig(name="hog", upsample=1)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--detectors", default="yunet,mtcnn,hog")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    paths = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    paths = paths[:: max(1, len(paths) // args.limit)][: args.limit]
    images = [load_image(p) for p in paths]
    megapixels = np.mean([im.shape[0] * im.shape[1] for im in images]) / 1e6
    print(f"{len(images)} photos ({megapixels:.2f} MP mean) from {args.folder}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads\n")
    chosen = [CONFIGS[name] for name in args.detectors.split(",")]
    detectors = [(title, make_detector(config)) for title, config in chosen]
    for _, detector in detectors:
        detector.detect(images[0])  # warm up
    times: dict[str, list[float]] = {title: [] for title, _ in detectors}
    faces = dict.fromkeys(times, 0)
    for image in images:
        for title, detector in detectors:
            start = time.perf_counter()
            faces[title] += len(detector.detect(image))
            times[title].append(time.perf_counter() - start)
    first = statistics.median(times[detectors[0][0]])
    print(f"{'detector':<28} {'photos/s':>9} {'median s':>9} {'faces':>6} {'vs first':>9}")
    for title, spent in times.items():
        median = statistics.median(spent)
        rate = len(spent) / sum(spent)
        print(f"{title:<28} {rate:>9.2f} {median:>9.3f} {faces[title]:>6} {median / first:>8.2f}x")
    if not torch.cuda.is_available():
        print("(no CUDA device: GPU rows skipped)")
        return
    batched: list[tuple[str, MtcnnDetector | YunetDetector]] = [
        ("mtcnn cuda", MtcnnDetector(device="cuda", fast_pyramid=True)),
        ("yunet cuda", YunetDetector(device="cuda")),
    ]
    for name, gpu in batched:
        for batch in (1, 32, 128):
            gpu.detect_batch(images[:batch])
            torch.cuda.synchronize()
            start = time.perf_counter()
            found = 0
            for i in range(0, len(images), batch):
                found += sum(len(f) for f in gpu.detect_batch(images[i : i + batch]))
            torch.cuda.synchronize()
            rate = len(images) / (time.perf_counter() - start)
            print(f"{f'{name}, batch {batch}':<28} {rate:>9.2f} {'':>9} {found:>6}")


if __name__ == "__main__":
    main()
