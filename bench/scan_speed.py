"""Scan throughput: our scan vs a face_recognition-style dlib-bin baseline, on the same folder.

    python bench/scan_speed.py FOLDER [--limit N] [--detector D] [--workers N]
                               [--face-model accurate fast] [--skip-baseline]
    python bench/scan_speed.py FOLDER --compare-tags [--rounds 3]

Baseline, per photo, in one process (as the face_recognition library does it): decode, HOG with
one upsampling, 5 landmarks, ``compute_face_descriptor`` per face. Ours: ``facenet-photos scan``
into a fresh library (decode at reduced size, detection in worker processes, batched embedding,
SQLite writes included), with the app's default settings unless told (``--detector``,
``--workers``), once per ``--face-model`` given (default: the setting's), each into its own
fresh library, so one run compares the face models with each other and with the baseline on
the same machine at the same load. Each side runs in its own process; peak memory is the
largest sum of the proportional set size (PSS: resident memory with shared pages such as
torch's libraries split between the processes that share them, so nothing is counted twice) of
that process and its children, sampled every 250 ms. Prints photos/s, faces
found, peak PSS and CPU time (user + system) for each, and each of ours' speed ratio to the
baseline, in wall time (what a user waits for; ours uses every core, the baseline one) and in CPU
time (the work done: on a machine shared with other jobs the wall-time ratio follows the
others' load, the CPU-time one much less).

``--compare-tags``: instead of the baseline, what reading face tags costs a scan: our scan with
the setting "Read face tags from photos" on and off, each into a fresh library, in the same
run, the order alternating from round to round (on/off, off/on, ...); the best time of each
and the difference in per cent.
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
import threading
import time
from pathlib import Path

BASELINE = r"""
import sys, json, time
import numpy as np, dlib
from PIL import Image, ImageOps
from facenet_core.models.files import dlib_model_path
paths = [line.strip() for line in open(sys.argv[1]) if line.strip()]
detector = dlib.get_frontal_face_detector()
sp = dlib.shape_predictor(str(dlib_model_path("shape_predictor_5_face_landmarks.dat")))
rec = dlib.face_recognition_model_v1(
    str(dlib_model_path("dlib_face_recognition_resnet_model_v1.dat")))
faces = failed = 0
start = time.perf_counter()
for p in paths:
    try:
        img = np.asarray(ImageOps.exif_transpose(Image.open(p)).convert("RGB"))
    except Exception:
        failed += 1
        continue
    for rect in detector(img, 1):
        shape = sp(img, rect)
        rec.compute_face_descriptor(img, shape)
        faces += 1
print(json.dumps({"seconds": time.perf_counter() - start, "faces": faces, "failed": failed}))
"""


def tree_rss(pid: int) -> int:
    """Proportional set size in bytes of ``pid`` and all its descendants (Linux /proc)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
            with open(f"/proc/{p}/smaps_rollup") as fh:
                for line in fh:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
    return total


def run_measured(cmd: list[str]) -> tuple[str, float, int, float]:
    """stdout, wall seconds, peak tree PSS and CPU seconds (user + system, of the command and
    the children it waited for) of a command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    stop.set()
    sampler.join()
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed with exit status {proc.returncode}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out, wall, peak, cpu


def compare_tags(folder: Path, base_cmd: list[str], work: Path, rounds: int) -> None:
    """Time our scan of ``folder`` with reading face tags on and off (see the module's doc)."""
    times: dict[str, list[float]] = {"on": [], "off": []}
    faces: dict[str, int] = {}
    for r in range(rounds):
        for mode in ("on", "off") if r % 2 == 0 else ("off", "on"):
            run = work / f"{mode}-{r}"
            run.mkdir()
            cmd = [sys.executable, "-m", "facenet_core", "--library", str(run / "lib.db")]
            cmd += ["scan", str(folder), "--json", str(run / "scan.json"), *base_cmd]
            cmd += ["--read-face-tags" if mode == "on" else "--no-read-face-tags"]
            _, seconds, _, _ = run_measured(cmd)
            faces[mode] = json.loads((run / "scan.json").read_text())["faces_added"]
            times[mode].append(seconds)
            print(f"round {r + 1} tags {mode:<3} {seconds:8.2f} s  {faces[mode]} faces", flush=True)
    best = {mode: min(t) for mode, t in times.items()}
    extra = (best["on"] - best["off"]) / best["off"] * 100
    print(f"best of {rounds}: tags on {best['on']:.2f} s, off {best['off']:.2f} s")
    print(
        f"reading face tags adds {extra:+.1f}% to the scan ({faces['on']} vs {faces['off']} faces)"
    )


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code
    from facenet_core.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--limit", type=int, default=None, help="use the first N photos")
    parser.add_argument("--detector", default=None, help="default: the app's")
    parser.add_argument("--workers", type=int, default=None, help="default: the app's")
    parser.add_argument(
        "--face-model",
        nargs="+",
        choices=("accurate", "fast"),
        default=[Settings().face_model],
        help="one scan per model given (default: the app's)",
    )
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--compare-tags",
        action="store_true",
        help="time our scan with reading face tags on and off instead (no baseline)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="--compare-tags: best of N")
    args = parser.parse_args()

    suffixes = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
    photos = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in suffixes)
    photos = photos[: args.limit] if args.limit else photos
    if not photos:
        raise SystemExit(f"{args.folder}: no photos")
    work = Path(tempfile.mkdtemp(prefix="scan-bench-"))
    rows: list[tuple[str, float, int, int, float]] = []
    try:
        # our scan reads a folder: link the chosen photos into one
        folder = work / "photos"
        folder.mkdir()
        for i, p in enumerate(photos):
            (folder / f"{i:06d}{p.suffix.lower()}").symlink_to(p.resolve())
        if args.compare_tags:
            options = [] if args.detector is None else ["--detector", args.detector]
            if args.workers is not None:
                options += ["--workers", str(args.workers)]
            compare_tags(folder, options, work, args.rounds)
            return
        for model in args.face_model:
            lib, report = work / f"lib-{model}.db", work / f"scan-{model}.json"
            cmd = [sys.executable, "-m", "facenet_core", "--library", str(lib), "scan"]
            cmd += [str(folder), "--json", str(report), "--face-model", model]
            if args.detector is not None:
                cmd += ["--detector", args.detector]
            if args.workers is not None:
                cmd += ["--workers", str(args.workers)]
            _, ours_s, ours_rss, ours_cpu = run_measured(cmd)
            ours = json.loads(report.read_text())
            name = f"ours, {model} (facenet-photos scan)"
            rows.append((name, len(photos) / ours_s, ours["faces_added"], ours_rss, ours_cpu))
        if not args.skip_baseline:
            listing = work / "paths.txt"
            listing.write_text("\n".join(str(p) for p in photos))
            cmd = [sys.executable, "-c", BASELINE, str(listing)]
            out, base_s, base_rss, base_cpu = run_measured(cmd)
            base = json.loads(out)
            name = "dlib-bin face_recognition-style"
            rows.append((name, len(photos) / base_s, base["faces"], base_rss, base_cpu))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    defaults = Settings()
    detector = args.detector or defaults.detector
    print(
        f"{len(photos)} photos from {args.folder}; {os.cpu_count()} CPU cores; detector "
        f"{detector}; load average {os.getloadavg()[0]:.1f} at the end; wall time"
    )
    print(
        f"{'pipeline':<38} {'photos/s':>9} {'seconds':>8} {'CPU s':>7} {'faces':>7} "
        f"{'peak PSS':>10}"
    )
    for name, rate, faces, rss, cpu in rows:
        print(
            f"{name:<38} {rate:>9.2f} {len(photos) / rate:>8.1f} {cpu:>7.1f} {faces:>7} "
            f"{rss / 2**20:>8.0f} MB"
        )
    if not args.skip_baseline:
        base_rate, base_cpu = rows[-1][1], rows[-1][4]
        for name, rate, _, _, cpu in rows[:-1]:
            print(
                f"speed ratio {name} / baseline: {rate / base_rate:.2f}x wall, "
                f"{base_cpu / cpu:.2f}x CPU time"
            )


if __name__ == "__main__":
    main()
