"""Per-face embedding time: our PyTorch ResNet vs dlib-bin's compute_face_descriptor, same run.

    python bench/embed_speed.py [--faces 64] [--repeats 3] [--threads N]

Chips are real LFW faces from ../shared/datasets/lfw-mini when present (random pixels
otherwise: the speed does not depend on the content). Prints a table with ratios; on CUDA (when
present) also fp32, bf16 weights and bf16 autocast at several batch sizes and bf16's largest
deviation; and, on the device at hand, how many cast kernels one forward pass launches under
autocast and with bf16 weights.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from facenet_core.models.files import dlib_model_path
from facenet_core.vision.embed import Embedder

LFW_MINI = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "lfw-mini"


def load_chips(n: int) -> tuple[np.ndarray, str]:
    paths = sorted((LFW_MINI / "images").glob("*/*.jpg"))
    if not paths:
        rng = np.random.default_rng(0)
        return rng.integers(0, 255, (n, 150, 150, 3), dtype=np.uint8), "random pixels"
    from facenet_core.vision.faces import FaceJob, find_faces

    chips = []
    for photo in find_faces(paths[: n * 2], FaceJob(centre_fallback=True), workers=0):
        chips.append(photo.chips[0])
        if len(chips) == n:
            break
    return np.stack(chips), "real LFW chips"


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def ours_ms(chips: np.ndarray, batch: int, device: str, repeats: int, flip: bool) -> float:
    embedder = Embedder.pretrained(device=device, batch_size=batch, flip=flip)
    embedder.embed(chips[:batch])  # warm up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return 1000 * best_time(lambda: embedder.embed(chips), repeats) / len(chips)


def dlib_ms(chips: np.ndarray, repeats: int) -> float:
    import dlib

    rec = dlib.face_recognition_model_v1(
        str(dlib_model_path("dlib_face_recognition_resnet_model_v1.dat"))
    )
    subset = chips[:16]
    rec.compute_face_descriptor(subset[0])

    def run() -> None:
        for chip in subset:
            rec.compute_face_descriptor(chip)

    return 1000 * best_time(run, repeats) / len(subset)


def cast_kernels(chips: np.ndarray, device: str) -> None:
    """Why bf16 weights and not autocast: the cast kernels one forward pass launches."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    exact = Embedder.pretrained(device=device, flip=False, compile=False)
    low = Embedder.pretrained(device=device, flip=False, precision="bf16", compile=False)
    x = torch.from_numpy(chips[:16]).to(device).permute(0, 3, 1, 2)

    def autocast() -> None:
        with torch.autocast(device, torch.bfloat16):
            exact._net(x.float().contiguous(memory_format=torch.channels_last))

    def weights() -> None:
        low._net(x.to(torch.bfloat16).contiguous(memory_format=torch.channels_last))

    print(f"\ncast kernels per forward pass on {device} (16 chips):")
    with torch.inference_mode():
        for name, run in (("autocast on float32 weights", autocast), ("bfloat16 weights", weights)):
            run()
            with profile(activities=activities) as prof:
                run()
            casts = sum(e.count for e in prof.key_averages() if e.key == "aten::_to_copy")
            print(f"  {name:<30} {casts:>4}")


def cuda_table(chips: np.ndarray) -> None:
    x_all = torch.from_numpy(chips).cuda().permute(0, 3, 1, 2)
    print("\nCUDA: faces/s by batch size (flip off; compiled rows: bench/gpu_scan.py)")
    print(f"{'batch':>6} {'fp32':>10} {'bf16':>10} {'autocast':>10}")
    exact = Embedder.pretrained(device="cuda", flip=False, compile=False, batch_size=1024)
    low = Embedder.pretrained(
        device="cuda", flip=False, compile=False, batch_size=1024, precision="bf16"
    )

    def timed(run) -> float:
        run()
        torch.cuda.synchronize()
        return best_time(lambda: (run(), torch.cuda.synchronize()), 5)

    for batch in (32, 128, 512, 1024):
        x = x_all.repeat((batch + len(x_all) - 1) // len(x_all), 1, 1, 1)[:batch]
        x32 = x.float().contiguous(memory_format=torch.channels_last)

        def autocast() -> None:
            with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16):
                exact._net(x32)  # noqa: B023

        rates = [
            batch / timed(lambda: exact.embed_tensor(x)),  # noqa: B023
            batch / timed(lambda: low.embed_tensor(x)),  # noqa: B023
            batch / timed(autocast),
        ]
        print(f"{batch:>6} {rates[0]:>10.0f} {rates[1]:>10.0f} {rates[2]:>10.0f}")
    difference = float((low.embed_tensor(x_all) - exact.embed_tensor(x_all)).abs().max())
    print(f"bf16 vs fp32: largest |difference| {difference:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    chips, kind = load_chips(args.faces)
    print(f"{len(chips)} {kind}; torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    reference = dlib_ms(chips, args.repeats)
    print(f"\n{'implementation':<34} {'ms/face':>8} {'speed-up':>9}")
    print(f"{'dlib-bin compute_face_descriptor':<34} {reference:>8.2f} {1.0:>8.1f}x")
    for batch in (1, 32):
        for flip in (False, True):
            ms = ours_ms(chips, batch, "cpu", args.repeats, flip)
            name = f"ours CPU batch {batch}" + (" +flip" if flip else "")
            print(f"{name:<34} {ms:>8.2f} {reference / ms:>8.1f}x")
    cast_kernels(chips, "cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        cuda_table(chips)
    else:
        print("\n(no CUDA device: GPU rows skipped)")


if __name__ == "__main__":
    main()
