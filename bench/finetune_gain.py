"""Does fine-tuning on a user's confirmed faces help? The personal-library scenario on real faces.

    python bench/finetune_gain.py [--lfw-dir ~/datasets/lfw] [--json out.json] [--epochs N] ...
    python bench/finetune_gain.py --face-model accurate ...   # the fused model (dlib + SFace)

The LFW people with >= 10 photos (158 people, 4,324 photos) stand in for a library's named
people: half of each person's photos are "confirmed" and fine-tune the network; the other half
are the faces to recognise. Before and after fine-tuning it measures, on the other half:

- ``nearest_error``: share of faces whose nearest confirmed face is another person;
- ``val``: VAL at FAR = 1e-3 over every pair of those faces (the paper's hold-out figure);
- ``bcubed``: BCubed F1 of clustering them (average linkage on squared distances, cut at the
  calibrated verification threshold, as the app's clustering would use);
- ``lfw_unseen``: the 10-fold LFW accuracy on the official pairs whose people are NOT among the
  158 (5,274 pairs): a guard against forgetting how to tell strangers apart.

Chips are made exactly as ``eval-lfw`` makes them (the default detector, YuNet, or
``--detector``; the face nearest the centre) and cached, with the frozen trunk's activations
(split 8, plain and mirrored), in ``--cache-dir`` (outside the repository); the first run fills
the cache (detection and the trunk over 10,916 images), later runs only train and evaluate the
top of the network.
``--split-seed`` picks which half of each person's photos is confirmed (the loss, optimiser and
layers were chosen with split seed 1 on MTCNN chips; docs/design/training.md reports seeds 0 and 1).
``--face-model accurate``: the fused model. SFace is frozen: its unit vectors of every face
(ArcFace chips from the same detections, mirror-averaged: the half the fused embedder stores)
are computed once and cached; the
dlib blocks train with the triplet loss and semi-hard mining on the fused distance, and every
figure is taken on the fused embedding at the fused model's calibrated threshold.
Also reported: ``lfw_unseen_at_calibrated`` (the same pairs at the fixed calibrated threshold,
as the app uses it) and the distance scale (``mean_different_distance`` after / before).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from facenet_core import calibration
from facenet_core.evaluation.lfw import lfw_chips
from facenet_core.evaluation.verification import kfold_report, read_pairs, squared_distances
from facenet_core.metrics import accuracy_at, all_pairs, bcubed, nearest_person_accuracy, val_at_far
from facenet_core.models.registry import FACE_MODELS, FUSED, load_dlib_resnet
from facenet_core.models.sface import WEIGHT_SHA256 as SFACE_SHA256
from facenet_core.progress import Progress
from facenet_core.settings import Settings
from facenet_core.training.config import TrainConfig
from facenet_core.training.loop import (
    FeatureBank,
    Validation,
    embed_bank,
    sface_vectors,
    train,
)
from facenet_core.vision.align import ARCFACE_SIZE
from facenet_core.vision.device import resolve_device
from facenet_core.vision.engines import shared_engines

CACHE_SPLIT = 8
"""Trunk activations are cached at the input of block 8 (128 x 8 x 8; blocks 8-13 can train)."""


def lfw_people(images: Path, min_photos: int) -> dict[str, list[int]]:
    people = {}
    for folder in sorted(p for p in images.iterdir() if p.is_dir()):
        numbers = sorted(int(f.stem.rsplit("_", 1)[1]) for f in folder.glob("*.jpg"))
        if len(numbers) >= min_photos:
            people[folder.name] = numbers
    return people


def cluster(emb: np.ndarray, threshold: float) -> np.ndarray:
    """Average-linkage agglomerative clustering on squared L2 distances, cut at ``threshold``."""
    from sklearn.cluster import AgglomerativeClustering

    d = np.maximum(2.0 - 2.0 * (emb.astype(np.float64) @ emb.T.astype(np.float64)), 0.0)
    model = AgglomerativeClustering(
        n_clusters=None, metric="precomputed", linkage="average", distance_threshold=threshold
    )
    return model.fit_predict(d)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Bar:
    """A light progress line on stderr (phase, count, rate, counters)."""

    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, event: Progress) -> None:
        now = time.monotonic()
        if now - self.last < 2.0 and event.done != event.total:
            return
        self.last = now
        shown = " ".join(
            f"{k}={v:.4g}" for k, v in event.counters.items() if k not in ("step", "epoch")
        )
        say(f"  {event.task}/{event.phase} {event.done}/{event.total} {shown}")


def _save(path: Path, array: np.ndarray) -> None:
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def cached_chips(
    lfw_dir: Path,
    keys: list[tuple[str, int]],
    settings: Settings,
    cache: Path,
    arcface: bool = False,
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """The chips, with ``arcface`` the same faces' ArcFace chips (the fused model's SFace reads
    them), and a tag naming them (images and detector: every later cache is keyed by it, so
    chips of another detector never meet features of these)."""
    detector = shared_engines().detector_config(settings)
    tag = json.dumps([str(lfw_dir.resolve()), keys, dataclasses.asdict(detector)], default=str)
    digest = hashlib.sha256(tag.encode()).hexdigest()[:16]
    path = cache / f"lfw-chips-{digest}.npy"
    arcface_path = cache / f"lfw-arcface-{digest}.npy"
    if path.is_file() and (not arcface or arcface_path.is_file()):
        faces = np.load(arcface_path, mmap_mode="r") if arcface else None
        return np.load(path, mmap_mode="r"), faces, digest
    say(f"detecting and aligning {len(keys)} images (cached in {path})")
    made = np.zeros((len(keys), ARCFACE_SIZE, ARCFACE_SIZE, 3), np.uint8) if arcface else None
    chips, fallbacks, _ = lfw_chips(lfw_dir, keys, settings, reporter=Bar(), arcface=made)
    say(f"  {len(fallbacks)} images without a detected face (centre box used)")
    _save(path, chips)
    if made is not None:
        _save(arcface_path, made)
    faces = np.load(arcface_path, mmap_mode="r") if arcface else None
    return np.load(path, mmap_mode="r"), faces, digest


def cached_sface(
    arcface: np.ndarray,
    images: list[str],
    chips_tag: str,
    device: torch.device,
    cache: Path,
    reuse: Path | None,
) -> torch.Tensor:
    """SFace's mirror-averaged unit vectors (N, 128) of every face (frozen: computed once).

    ``reuse``: ``bench/fused_embedding.py``'s cache folder; the images it embedded (same
    detector, same ArcFace chips) are taken from it, the others computed, and 32 of the taken
    ones computed again to show they agree."""
    path = cache / f"lfw-sface-avg-{SFACE_SHA256[:12]}-{chips_tag}.npy"
    if path.is_file():
        return torch.from_numpy(np.load(path)).to(device)
    out = np.zeros((len(arcface), 128), np.float32)
    todo = np.arange(len(arcface))
    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    if reuse is not None:
        known = np.load(reuse / "detections.npz")["paths"]
        vectors = np.load(reuse / "embeddings.npz")["sface"]
        row = {Path(str(p)).name: i for i, p in enumerate(known)}
        taken = np.array([i for i, name in enumerate(images) if name in row], dtype=np.int64)
        out[taken] = vectors[[row[images[i]] for i in taken]]
        todo = np.setdiff1d(todo, taken)
        sample = taken[:: max(1, len(taken) // 32)][:32]
        again = sface_vectors(np.asarray(arcface[sample]), device).cpu().numpy()
        cos = (again * out[sample]).sum(axis=1)
        say(
            f"SFace: {len(taken)} faces from {reuse} (32 recomputed: cosine with the cached "
            f"{cos.min():.6f}-{cos.max():.6f})"
        )
    say(f"SFace over {len(todo)} ArcFace chips, mirror-averaged (cached in {path})")
    step = 256
    for start in range(0, len(todo), step):
        part = todo[start : start + step]
        out[part] = sface_vectors(np.asarray(arcface[part]), device).cpu().numpy()
        say(f"  sface {start + len(part)}/{len(todo)}")
    torch.set_num_threads(threads)
    _save(path, out)
    return torch.from_numpy(out).to(device)


def cached_features(
    chips: np.ndarray, chips_tag: str, device: torch.device, cache: Path
) -> FeatureBank:
    model, info = load_dlib_resnet()
    path = cache / f"lfw-trunk{CACHE_SPLIT}-{info.sha256[:12]}-{chips_tag}.npy"
    if not path.is_file():
        say(f"frozen trunk over {len(chips)} chips, plain and mirrored (cached in {path})")
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        out = np.lib.format.open_memmap(tmp, "w+", np.float32, (2, len(chips), 128, 8, 8))
        step = 512
        threads = torch.get_num_threads()
        torch.set_num_threads(os.cpu_count() or 1)  # once per cache: every core
        for start in range(0, len(chips), step):
            part = np.ascontiguousarray(chips[start : start + step])
            bank = FeatureBank.from_chips(model, part, CACHE_SPLIT, device)
            assert bank.mirrored is not None
            out[0, start : start + len(part)] = bank.plain.cpu().numpy()
            out[1, start : start + len(part)] = bank.mirrored.cpu().numpy()
            say(f"  trunk {start + len(part)}/{len(chips)}")
        torch.set_num_threads(threads)
        out.flush()
        del out
        os.replace(tmp, path)
    data = np.load(path, mmap_mode="r")
    plain = torch.from_numpy(np.array(data[0])).to(device)
    mirrored = torch.from_numpy(np.array(data[1])).to(device)
    return FeatureBank(plain, mirrored, CACHE_SPLIT)


def cached_split(
    bank8: Callable[[], FeatureBank], model: torch.nn.Module, split: int, tag: str, cache: Path
) -> FeatureBank:
    """The activations of every chip at ``split`` (the frozen blocks from 8 run once, cached)."""
    if split == CACHE_SPLIT:
        return bank8()
    path = cache / f"lfw-split{split}-{tag}.npy"
    if not path.is_file():
        say(f"frozen blocks 8-{split - 1} over every chip (cached in {path})")
        moved = bank8().advanced(model, split)  # type: ignore[arg-type]
        assert moved.mirrored is not None
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, torch.stack([moved.plain, moved.mirrored]).cpu().numpy())
        os.replace(tmp, path)
        return moved
    data = np.load(path, mmap_mode="r")
    device = next(model.parameters()).device
    plain = torch.from_numpy(np.array(data[0])).to(device)
    return FeatureBank(plain, torch.from_numpy(np.array(data[1])).to(device), split)


def measure(
    model: torch.nn.Module,
    bank: FeatureBank,
    device: torch.device,
    sets: dict[str, Any],
    threshold: float,
) -> dict[str, float]:
    emb = embed_bank(model, bank, device, flip=True)  # type: ignore[arg-type]
    held, gallery = emb[sets["held"]], emb[sets["train"]]
    nearest = nearest_person_accuracy(held, sets["held_labels"], gallery, sets["train_labels"])
    un = sets["unseen"]
    dist = squared_distances(emb[un["left"]], emb[un["right"]])
    report = kfold_report(dist, un["same"], un["folds"])
    # diagnostics: the threshold of best BCubed on the confirmed half, applied to the other half
    # (separates a changed distance scale from a worse clustering), and the distance scale
    fitted = max(
        (bcubed(cluster(gallery, t), sets["train_labels"])["f1"], t)
        for t in threshold * np.geomspace(0.5, 8.0, 13)
    )[1]
    dist_held, same_held = all_pairs(held, sets["held_labels"])
    return {
        "nearest_error": 1.0 - nearest,
        "val": val_at_far(held, sets["held_labels"]),
        "bcubed": bcubed(cluster(held, threshold), sets["held_labels"])["f1"],
        "lfw_unseen": report.accuracy,
        "lfw_unseen_sem": report.accuracy_sem,
        "lfw_unseen_at_calibrated": accuracy_at(dist, un["same"], threshold),
        "bcubed_fitted": bcubed(cluster(held, fitted), sets["held_labels"])["f1"],
        "bcubed_fitted_threshold": fitted,
        "mean_same_distance": float(dist_held[same_held].mean()),
        "mean_different_distance": float(dist_held[~same_held].mean()),
    }


def main() -> int:
    defaults = TrainConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--lfw-dir", default=str(Path.home() / "datasets" / "lfw"))
    p.add_argument("--json", metavar="FILE")
    p.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "facenet-photos" / "bench"))
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--detector",
        default=Settings().detector,
        choices=("yunet", "mtcnn", "hog"),
        help="detector making the chips (default: the app's; the earlier sweep used mtcnn)",
    )
    p.add_argument(
        "--face-model",
        default="fast",
        choices=tuple(FACE_MODELS),
        help="fast: dlib's ResNet (the earlier figures); accurate: the fused model, SFace frozen",
    )
    p.add_argument(
        "--reuse-sface",
        metavar="DIR",
        help="with --face-model accurate: take SFace's vectors of the images that "
        "bench/fused_embedding.py embedded from its cache folder (e.g. ~/cache/fused-lfw)",
    )
    p.add_argument("--min-photos", type=int, default=10)
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=defaults.epochs)
    p.add_argument("--optimiser", default=defaults.optimiser, choices=("adam", "adagrad", "sgd"))
    p.add_argument("--lr", type=float, default=defaults.learning_rate)
    p.add_argument("--top-blocks", type=int, default=defaults.top_blocks)
    p.add_argument("--faces-per-person", type=int, default=defaults.faces_per_person)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--extra", type=float, default=defaults.extra)
    p.add_argument("--fallback", default=defaults.fallback, choices=("skip", "hard", "hardest"))
    p.add_argument("--lr-drop-at", type=float, default=defaults.lr_drop_at)
    p.add_argument(
        "--margin",
        type=float,
        default=defaults.margin,
        help="in the fast model's squared distances, like the setting (the fused model's run "
        "multiplies it by its distance scale, x4.58, as the app does)",
    )
    p.add_argument("--anchor", type=float, default=defaults.anchor)
    p.add_argument("--scale", type=float, default=defaults.scale)
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: measured faster than 2 for the small top blocks)",
    )
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument(
        "--validate-every",
        type=int,
        default=15,
        help="steps between held-out validations (the curve in the JSON); each embeds all "
        "4,324 faces, as much work as ~6 training steps (default 15: every 5 epochs)",
    )
    p.add_argument("--no-validation", action="store_true", help="no curve")
    args = p.parse_args()

    started = time.perf_counter()
    cpu_started = time.process_time()
    if args.threads:
        torch.set_num_threads(args.threads)
    lfw_dir = Path(args.lfw_dir).expanduser()
    images = lfw_dir / "images" if (lfw_dir / "images").is_dir() else lfw_dir
    if not images.is_dir() or not (lfw_dir / "pairs.txt").is_file():
        say(f"{lfw_dir}: expected the full LFW (images/NAME/NAME_0001.jpg and pairs.txt)")
        return 2
    cache = Path(args.cache_dir).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    device = resolve_device(args.device)
    settings = Settings(device=str(device), detector=args.detector)

    people = lfw_people(images, args.min_photos)
    names = sorted(people)
    pairs = [
        q for q in read_pairs(lfw_dir / "pairs.txt") if not {q.left[0], q.right[0]} & set(people)
    ]
    person_keys = [(n, k) for n in names for k in people[n]]
    pair_keys = sorted({q.left for q in pairs} | {q.right for q in pairs})
    keys = person_keys + pair_keys
    say(f"{len(names)} people with >= {args.min_photos} photos ({len(person_keys)} photos);")
    say(f"{len(pairs)} LFW pairs of other people ({len(pair_keys)} images); device {device}")

    t0 = time.perf_counter()
    fused = FACE_MODELS[args.face_model] == FUSED
    chips, arcface, tag = cached_chips(lfw_dir, keys, settings, cache, arcface=fused)
    partner = None
    if arcface is not None:
        files = [f"{name}_{number:04d}.jpg" for name, number in keys]
        reuse = Path(args.reuse_sface).expanduser() if args.reuse_sface else None
        partner = cached_sface(arcface, files, tag, device, cache, reuse)

    def bank8() -> FeatureBank:
        return cached_features(chips, tag, device, cache)

    # half of each person's photos are confirmed, the other half are the faces to recognise
    labels_all = np.array([names.index(n) for n, _ in person_keys])
    train_idx, held_idx = [], []
    for person in range(len(names)):
        faces = np.flatnonzero(labels_all == person)
        order = np.random.default_rng([args.split_seed, person]).permutation(faces)
        half = len(faces) // 2
        train_idx += order[:half].tolist()
        held_idx += order[half:].tolist()
    train_idx_a, held_idx_a = np.array(sorted(train_idx)), np.array(sorted(held_idx))
    index = {key: i for i, key in enumerate(keys)}
    sets = {
        "train": train_idx_a,
        "held": held_idx_a,
        "train_labels": labels_all[train_idx_a],
        "held_labels": labels_all[held_idx_a],
        "unseen": {
            "left": np.array([index[q.left] for q in pairs]),
            "right": np.array([index[q.right] for q in pairs]),
            "same": np.array([q.same for q in pairs]),
            "folds": np.array([q.fold for q in pairs]),
        },
    }
    detector = shared_engines().detector_config(settings)
    threshold, _ = calibration.thresholds(FACE_MODELS[args.face_model], detector.alignment, True)

    config = TrainConfig(
        epochs=args.epochs,
        optimiser=args.optimiser,
        learning_rate=args.lr,
        top_blocks=None if args.top_blocks < 0 else args.top_blocks,
        faces_per_person=args.faces_per_person,
        batch_size=args.batch_size,
        extra=args.extra,
        fallback=args.fallback,
        lr_drop_at=args.lr_drop_at,
        margin=args.margin,
        anchor=args.anchor,
        scale=args.scale,
        seed=args.seed,
        validate_every=args.validate_every,
    ).in_scale_of(FACE_MODELS[args.face_model])
    split = config.split
    if split < CACHE_SPLIT:
        say(f"--top-blocks at most {14 - CACHE_SPLIT} here (the trunk is cached at block 8)")
        return 2
    model, _ = load_dlib_resnet()
    model = model.to(device)
    bank = cached_split(bank8, model, split, tag, cache).with_partner(partner)
    data_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    model_tag = "-fused" if fused else ""
    before_file = cache / f"before{model_tag}-{tag}-split{split}-seed{args.split_seed}.json"
    if before_file.is_file():
        before = json.loads(before_file.read_text())
    else:
        before = measure(model, bank, device, sets, threshold)
        before_file.write_text(json.dumps(before))
    eval_seconds = time.perf_counter() - t0
    say(f"before: {json.dumps({k: round(v, 5) for k, v in before.items()})}")

    train_bank = bank.subset(sets["train"])
    validation = None
    if not args.no_validation:
        validation = Validation(
            queries=bank.subset(sets["held"]),
            query_labels=sets["held_labels"],
            gallery=train_bank,
            gallery_labels=sets["train_labels"],
        )
    t0 = time.perf_counter()
    cpu_t0 = time.process_time()
    result = train(
        model,
        train_bank,
        sets["train_labels"],
        config,
        device=device,
        validation=validation,
        reporter=Bar(),
    )
    train_seconds = time.perf_counter() - t0
    train_cpu_seconds = time.process_time() - cpu_t0
    after = measure(model, bank, device, sets, threshold)
    say(f"after:  {json.dumps({k: round(v, 5) for k, v in after.items()})}")
    seconds = time.perf_counter() - started
    out = {
        "nearest_error_before": before["nearest_error"],
        "nearest_error_after": after["nearest_error"],
        "val_before": before["val"],
        "val_after": after["val"],
        "bcubed_before": before["bcubed"],
        "bcubed_after": after["bcubed"],
        "lfw_unseen_before": before["lfw_unseen"],
        "lfw_unseen_after": after["lfw_unseen"],
        "lfw_unseen_at_calibrated_before": before["lfw_unseen_at_calibrated"],
        "lfw_unseen_at_calibrated_after": after["lfw_unseen_at_calibrated"],
        "distance_scale": after["mean_different_distance"] / before["mean_different_distance"],
        "lfw_unseen_sem_before": before["lfw_unseen_sem"],
        "lfw_unseen_sem_after": after["lfw_unseen_sem"],
        "diagnostics_before": before,
        "diagnostics_after": after,
        "device": str(device),
        "face_model": args.face_model,
        "epochs": config.epochs,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu_started,
        "cpu_seconds_train": train_cpu_seconds,
        "seconds_data": data_seconds,
        "seconds_train": train_seconds,
        "seconds_one_evaluation": eval_seconds,
        "steps": result.steps,
        "batch_size": result.batch_size,
        "config": config.as_dict(),
        "split_seed": args.split_seed,
        "people": len(names),
        "confirmed_faces": len(train_idx_a),
        "held_out_faces": len(held_idx_a),
        "unseen_pairs": len(pairs),
        "cluster_threshold": threshold,
        "torch_threads": torch.get_num_threads(),
        "history": result.history,
        "last_step": result.last,
    }
    say(
        f"VAL@1e-3 {100 * before['val']:.2f}% -> {100 * after['val']:.2f}%   nearest error "
        f"{100 * before['nearest_error']:.2f}% -> {100 * after['nearest_error']:.2f}%   BCubed "
        f"{before['bcubed']:.4f} -> {after['bcubed']:.4f}   LFW unseen "
        f"{100 * before['lfw_unseen']:.2f}% -> {100 * after['lfw_unseen']:.2f}% (at the "
        f"calibrated threshold {100 * before['lfw_unseen_at_calibrated']:.2f}% -> "
        f"{100 * after['lfw_unseen_at_calibrated']:.2f}%)   distance scale x"
        f"{out['distance_scale']:.3f}   "
        f"{seconds:.0f} s ({result.steps} steps of {result.batch_size})"
    )
    if args.json:
        text = json.dumps(out, indent=2, default=lambda v: None if math.isnan(v) else v)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
