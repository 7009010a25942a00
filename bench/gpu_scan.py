"""Before (MTCNN) and after (YuNet + the batched pipeline): detection, scanning and embedding
throughput on a GPU machine, one prepared run.

    python bench/gpu_scan.py [--wider DIR] [--lfw-mini DIR] [--photos 125] [--row-timeout 240]
                             [--rows ROW,ROW...] [--json FILE]

Every row runs in a fresh child process (so its peak RSS and GPU memory are its own) and prints
as soon as it is done: photos/s, faces/s, peak RSS of the process, peak GPU memory allocated by
torch. Models are loaded (and compiled) before the clock starts; a scan row first scans 8
photos into a throwaway library for that. Without CUDA the CUDA rows say so and the CPU rows
still run. Rows:

    detect-*    detection only, photos decoded beforehand (WIDER photos)
    scan-*      ``scan`` through the library API into a fresh library: plan (hashing), decode,
                detect, align, embed, thumbnails, SQLite; photos/s from the scan's own clock
    embed-*     the embedding network on 1024 real chips per call, no flip: faces/s

Targets on an H200: YuNet batched >= 500 photos/s; scan --device cuda >= 200 photos/s end to
end; embedder >= 250,000 faces/s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's package, installed or not
SHARED = ROOT.parent / "shared" / "datasets"
CPU_THREADS = os.cpu_count() or 1

# name: (what it measures, needs CUDA)
ROWS: dict[str, tuple[str, bool]] = {
    "detect-mtcnn-cpu": ("MTCNN, CPU, all threads, one photo at a time", False),
    "detect-yunet-cpu": ("YuNet, CPU, all threads, one photo at a time", False),
    "detect-mtcnn-cuda-1": ("MTCNN, CUDA, one photo at a time", True),
    "detect-mtcnn-cuda-32": ("MTCNN, CUDA, detect_batch of 32", True),
    "detect-yunet-cuda-1": ("YuNet, CUDA, one photo at a time", True),
    "detect-yunet-cuda-32": ("YuNet, CUDA, batches of 32", True),
    "detect-yunet-cuda-128": ("YuNet, CUDA, batches of 128", True),
    "scan-mtcnn-cuda-wider": ("scan --device cuda, WIDER photos, MTCNN (before)", True),
    "scan-yunet-cuda-wider": ("scan --device cuda, WIDER photos, YuNet batched (after)", True),
    "scan-mtcnn-cuda-lfw": ("scan --device cuda, lfw-mini, MTCNN (before)", True),
    "scan-yunet-cuda-lfw": ("scan --device cuda, lfw-mini, YuNet batched (after)", True),
    "scan-yunet-cpu-wider": ("scan --device cpu, WIDER photos, YuNet threads", False),
    "embed-fp32": ("embedder CUDA, batch 1024, float32", True),
    "embed-bf16": ("embedder CUDA, batch 1024, bfloat16 channels-last", True),
    "embed-autocast": ("embedder CUDA, batch 1024, float32 weights under autocast bf16", True),
    "embed-bf16-compiled": ("embedder CUDA, batch 1024, bfloat16 + torch.compile", True),
    "embed-bf16-graphs": ("embedder CUDA, batch 1024, bfloat16 + compile + CUDA graphs", True),
}


def photo_paths(folder: Path, count: int) -> list[Path]:
    photos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if count and len(photos) > count:
        photos = photos[:: len(photos) // count][:count]
    return photos


def peaks() -> dict[str, float]:
    import torch

    gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0
    return {
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mb": gpu,
    }


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


# -- rows (run in the child) ---------------------------------------------------------------------


def row_detect(name: str, paths: list[Path]) -> dict[str, Any]:
    import torch

    from facenet_core.imageio import load_image
    from facenet_core.vision.detectors import MtcnnDetector, YunetDetector

    kind, device, batch = name.split("-")[1], name.split("-")[2], 1
    if device == "cuda":
        batch = int(name.split("-")[3])
    else:
        torch.set_num_threads(CPU_THREADS)
    images = [load_image(p) for p in paths]
    detector: Any
    if kind == "mtcnn":
        detector = MtcnnDetector(device=device, fast_pyramid=True)
    else:
        detector = YunetDetector(device=device)
    detector.detect_batch(images[: max(batch, 2)])  # warm up (cuDNN picks its kernels)
    sync()
    start = time.perf_counter()
    faces = 0
    for i in range(0, len(images), batch):
        faces += sum(len(f) for f in detector.detect_batch(images[i : i + batch]))
    sync()
    seconds = time.perf_counter() - start
    return {"photos_per_s": len(images) / seconds, "faces_per_s": faces / seconds, "faces": faces}


def row_scan(name: str, paths: list[Path]) -> dict[str, Any]:
    from facenet_core.library import scan
    from facenet_core.settings import Settings
    from facenet_core.store import Library
    from facenet_core.vision.device import torch_threads

    _, detector, device, _ = name.split("-")
    settings = Settings().replace(detector=detector, device=device)
    work = Path(tempfile.mkdtemp(prefix="gpu-scan-"))
    try:
        warm, timed = work / "warm", work / "photos"
        for folder, chosen in ((warm, paths[:8]), (timed, paths)):
            folder.mkdir()
            for i, p in enumerate(chosen):
                (folder / f"{i:06d}{p.suffix.lower()}").symlink_to(p.resolve())
        with torch_threads(1):  # as the command line does
            library = Library.open(work / "warm.db", create=True)
            scan(library, [warm], settings)
            library.close()
            sync()
            library = Library.open(work / "lib.db", create=True)
            result = scan(library, [timed], settings)
            library.close()
            sync()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "photos_per_s": len(paths) / result.seconds,
        "faces_per_s": result.faces_added / result.seconds,
        "faces": result.faces_added,
        "seconds": result.seconds,
    }


def real_chips(count: int) -> Any:
    import numpy as np

    from facenet_core.imageio import load_image
    from facenet_core.vision.align import face_chip
    from facenet_core.vision.detectors import YunetDetector

    detector = YunetDetector(device="cpu")
    chips = []
    for path in sorted((SHARED / "lfw-mini" / "images").glob("*/*.jpg"))[:64]:
        image = load_image(path)
        faces = detector.detect(image)
        if faces:
            chips.append(face_chip(image, faces[0]))
    if not chips:  # no faces at hand: the speed does not depend on the pixels
        return np.random.default_rng(0).integers(0, 255, (count, 150, 150, 3), dtype=np.uint8)
    stack = np.stack(chips)
    return np.concatenate([stack] * (count // len(stack) + 1))[:count]


def row_embed(name: str, paths: list[Path]) -> dict[str, Any]:
    import torch

    from facenet_core.vision.embed import Embedder

    variant = name.removeprefix("embed-")
    chips = torch.from_numpy(real_chips(1024)).cuda().permute(0, 3, 1, 2)
    if variant == "autocast":  # the reason for bf16 weights: autocast's casts on every call
        embedder = Embedder.pretrained(device="cuda", batch_size=1024, flip=False, compile=False)
        net = embedder._net

        def run() -> Any:
            with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16):
                return net(chips.float().contiguous(memory_format=torch.channels_last))

    else:
        embedder = Embedder.pretrained(
            device="cuda",
            batch_size=1024,
            flip=False,
            precision="fp32" if variant == "fp32" else "bf16",
            compile=variant in ("bf16-compiled", "bf16-graphs"),
            cuda_graphs=variant == "bf16-graphs",
        )

        def run() -> Any:
            return embedder.embed_tensor(chips)

    start = time.perf_counter()
    out = run()  # compiles, when compiling
    sync()
    warm_s = time.perf_counter() - start
    times = []
    for _ in range(10):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    reference = Embedder.pretrained(device="cuda", batch_size=1024, flip=False, compile=False)
    exact = reference.embed_tensor(chips)
    deviation = float((out.float() - exact).abs().max())
    note = f"first call {warm_s:.1f} s; max |emb - fp32| {deviation:.1e}"
    if getattr(embedder, "compiled", True) is False and "compiled" in variant:
        note += "; COMPILE FAILED, ran eagerly"
    best = min(times)
    return {"photos_per_s": 0.0, "faces_per_s": len(chips) / best, "note": note}


def child(name: str, paths: list[Path]) -> None:
    runners: dict[str, Callable[[str, list[Path]], dict[str, Any]]] = {
        "detect": row_detect,
        "scan": row_scan,
        "embed": row_embed,
    }
    result = runners[name.split("-")[0]](name, paths)
    result.update(peaks())
    print("ROW " + json.dumps(result), flush=True)


# -- the parent ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wider", type=Path, default=Path.home() / "datasets/wider-train/images")
    parser.add_argument("--lfw-mini", type=Path, default=SHARED / "lfw-mini" / "images")
    parser.add_argument("--photos", type=int, default=125, help="WIDER photos per row")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated row names")
    parser.add_argument("--row-timeout", type=int, default=240)
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--paths", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        paths = [Path(line) for line in args.paths.read_text().splitlines() if line]
        child(args.child, paths)
        return

    import torch

    cuda = torch.cuda.is_available()
    gpu = torch.cuda.get_device_name(0) if cuda else "no CUDA device"
    wider = photo_paths(args.wider, args.photos) if args.wider.is_dir() else []
    lfw = photo_paths(args.lfw_mini, 0) if args.lfw_mini.is_dir() else []
    print(f"torch {torch.__version__}; {gpu}; {CPU_THREADS} CPU threads")
    print(f"{len(wider)} WIDER photos from {args.wider}; {len(lfw)} lfw-mini photos\n")
    header = f"{'row':<60} {'photos/s':>9} {'faces/s':>10} {'peak RSS':>9} {'peak GPU':>9}"
    print(header)
    print("-" * len(header))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        lists = {"wider": Path(tmp) / "wider.txt", "lfw": Path(tmp) / "lfw.txt"}
        lists["wider"].write_text("\n".join(map(str, wider)))
        lists["lfw"].write_text("\n".join(map(str, lfw)))
        for name in [r for r in args.rows.split(",") if r]:
            title, needs_cuda = ROWS[name]
            source = "lfw" if name.endswith("-lfw") else "wider"
            photos = lfw if source == "lfw" else wider
            skip = None
            if needs_cuda and not cuda:
                skip = "skipped: no CUDA device"
            elif not name.startswith("embed") and not photos:
                skip = f"skipped: no {source} photos"
            if skip:
                print(f"{title:<60} {skip}", flush=True)
                rows.append({"row": name, "title": title, "skipped": skip})
                continue
            cmd = [sys.executable, __file__, "--child", name, "--paths", str(lists[source])]
            try:
                env = {**os.environ, "PYTHONPATH": str(ROOT)}
                done = subprocess.run(
                    cmd, capture_output=True, text=True, timeout=args.row_timeout, cwd=ROOT, env=env
                )
            except subprocess.TimeoutExpired:
                print(f"{title:<60} timed out after {args.row_timeout} s", flush=True)
                rows.append({"row": name, "title": title, "skipped": "timed out"})
                continue
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("ROW ")]
            if done.returncode != 0 or not lines:
                reason = (done.stderr.strip().splitlines() or ["no output"])[-1][:150]
                print(f"{title:<60} failed: {reason}", flush=True)
                rows.append({"row": name, "title": title, "skipped": f"failed: {reason}"})
                continue
            data = json.loads(lines[-1][4:])
            rows.append({"row": name, "title": title, **data})
            rate = f"{data['photos_per_s']:9.1f}" if data["photos_per_s"] else f"{'':>9}"
            print(
                f"{title:<60} {rate} {data['faces_per_s']:10.0f} "
                f"{data['peak_rss_mb']:7.0f}MB {data['peak_gpu_mb']:7.0f}MB"
                + (f"  ({data['note']})" if data.get("note") else ""),
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
