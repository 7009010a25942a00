"""The fused embedding on the full LFW: dlib's ResNet, SFace, and ways of joining them.

    PYTHONPATH=. python bench/fused_embedding.py detect [--lfw-dir ~/datasets/lfw --pairs P]
    PYTHONPATH=. python bench/fused_embedding.py embed [--part K --parts N]   # N processes
    PYTHONPATH=. python bench/fused_embedding.py score [--json out.json]
    PYTHONPATH=. python bench/fused_embedding.py logistic [--samples 100000]
    PYTHONPATH=. python bench/fused_embedding.py cluster [--truth lfw-mini/clusters.txt]

(``PYTHONPATH=.``: the worktree's ``facenet_core``, not the installed one.) Three stages, each
cached in ``~/cache/fused-lfw/`` (never in the repository), so that trying
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
   the same after int8 quantisation; SFace's weight also chosen per fold on the other nine.

Two more use the cache: ``logistic`` fits the recognition rule's logistic (midpoint, width) on
same- and different-person pairs of the embedded images, and ``cluster`` clusters lfw-mini's
truth faces with the project's clustering at a sweep of thresholds (BCubed F1, groups).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from facenet_core.types import Detection

CACHE = Path.home() / "cache" / "fused-lfw"


def cached_face(found: Any, i: int) -> tuple[np.ndarray, Detection]:
    """Image ``i`` of ``detect``'s cache (``found``: ``detections.npz`` loaded) and the face
    chosen in it, as the other fused-model benchmarks read them."""
    from facenet_core.imageio import load_image
    from facenet_core.types import Detection

    b = found["boxes"][i]
    face = Detection(
        (float(b[0]), float(b[1]), float(b[2]), float(b[3])),
        1.0,
        found["landmarks"][i].astype(np.float32),
        str(found["schemes"][i]),  # type: ignore[arg-type]
    )
    return load_image(found["paths"][i]), face


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
        **arrays,  # type: ignore[arg-type]
    )
    print(f"{n} images, {int(fallback.sum())} fallbacks, {time.perf_counter() - start:.0f} s")


CHUNK = 256


def embed(batch: int, threads: int, part: int, parts: int) -> None:
    """Stage 2: today's chip and embedding, the ArcFace chip and SFace's (RGB), mirror-averaged,
    in chunks of :data:`CHUNK` faces each saved as it is done (``part`` of ``parts``: the
    chunks this process takes; a chunk already on disk is skipped, so a stopped run resumes).
    When every chunk is there, they are joined into ``embeddings.npz``."""
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
    chunks = CACHE / "chunks"
    chunks.mkdir(exist_ok=True)
    dlib_net = Embedder.pretrained(device="cpu", batch_size=batch, flip=True)
    sface = load_sface().fused_for_inference().to(memory_format=torch.channels_last)
    start = time.perf_counter()
    timing = {"dlib": 0.0, "sface": 0.0}
    done = 0
    for number, lo in enumerate(range(0, n, CHUNK)):
        target = chunks / f"{lo:05d}.npz"
        if number % parts != part or target.is_file():
            continue
        hi = min(n, lo + CHUNK)
        chips, faces = [], []
        for i in range(lo, hi):
            image = load_image(paths[i])
            box = (float(boxes[i][0]), float(boxes[i][1]), float(boxes[i][2]), float(boxes[i][3]))
            scheme = str(schemes[i])
            face = Detection(box, 1.0, landmarks[i].astype(np.float32), scheme)  # type: ignore[arg-type]
            chips.append(face_chip(image, face))
            faces.append(arcface_chip(image, face))
        t0 = time.perf_counter()
        dlib_emb = dlib_net.embed(np.stack(chips))
        t1 = time.perf_counter()
        with torch.inference_mode():
            x = torch.from_numpy(np.stack(faces)).permute(0, 3, 1, 2).float()
            parts_out = [
                sface_embeddings(sface, b.contiguous(memory_format=torch.channels_last))
                for b in x.split(batch)
            ]
            sface_emb = torch.cat(parts_out).numpy()
        t2 = time.perf_counter()
        timing["dlib"] += t1 - t0
        timing["sface"] += t2 - t1
        done += hi - lo
        np.savez(target.with_suffix(".tmp.npz"), dlib=dlib_emb, sface=sface_emb)
        target.with_suffix(".tmp.npz").rename(target)
        print(f"part {part}: faces {lo}-{hi}, {time.perf_counter() - start:.0f} s", flush=True)
    if done:
        per_face = {k: 1000 * v / done for k, v in timing.items()}
        print(
            f"{threads} torch thread(s), batch {batch}, mirror-averaged: dlib "
            f"{per_face['dlib']:.1f} ms/face, SFace {per_face['sface']:.1f} ms/face "
            "(machine shared with other jobs)"
        )
    files = [chunks / f"{lo:05d}.npz" for lo in range(0, n, CHUNK)]
    if all(f.is_file() for f in files):
        loaded = [np.load(f) for f in files]
        np.savez(
            CACHE / "embeddings.npz",
            dlib=np.concatenate([c["dlib"] for c in loaded]),
            sface=np.concatenate([c["sface"] for c in loaded]),
        )
        print(f"all {n} faces: {CACHE / 'embeddings.npz'}")


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def concatenated(dlib: np.ndarray, sface: np.ndarray, weight: float) -> np.ndarray:
    """Both unit vectors side by side, SFace's scaled by ``weight``, normalised again: squared
    distances become ``(d_dlib + weight^2 d_sface) / (1 + weight^2)``."""
    return _normalise(np.hstack([dlib, weight * sface]))


def fit_projection(train: np.ndarray, dim: int, whiten: bool) -> tuple[np.ndarray, np.ndarray]:
    """PCA of ``train`` rows to ``dim`` components (``whiten``: each scaled to unit variance):
    the mean and the ``(D, dim)`` matrix."""
    mean = train.mean(axis=0)
    _, sv, vt = np.linalg.svd(train - mean, full_matrices=False)
    basis = vt[:dim].T
    if whiten:
        basis = basis / (sv[:dim] / np.sqrt(len(train) - 1))
    return mean, basis


def int8_round_trip(emb: np.ndarray, scale: float) -> np.ndarray:
    """``facenet_core.quantize``'s scheme at another fixed scale (256 there): one signed byte
    per component, ``clip(round(x * scale))``, decoded and normalised."""
    codes = np.clip(np.rint(emb * scale), -128, 127)
    return _normalise(codes.astype(np.float32) / scale)


def score_option(
    fold_embeddings: list[np.ndarray],
    arrays: dict[str, np.ndarray],
    quantized: bool,
    scale: float = 256.0,
) -> dict[str, float]:
    """The LFW protocol where each fold may have its own embeddings (a projection fitted
    without that fold): thresholds on the other nine folds' pairs, figures on this one."""
    from facenet_core.metrics import (
        accuracy_at,
        best_threshold,
        far_threshold,
        squared_distances,
        val_far,
    )
    from facenet_core.quantize import dequantize, quantize

    left, right, same, folds = arrays["left"], arrays["right"], arrays["same"], arrays["folds"]
    accs, vals, errors = [], [], 0
    for k, emb in zip(np.unique(folds), fold_embeddings, strict=True):
        if quantized:
            emb = dequantize(quantize(emb)) if scale == 256.0 else int8_round_trip(emb, scale)
        dist = squared_distances(emb[left], emb[right])
        test, train = folds == k, folds != k
        thr = best_threshold(dist[train], same[train])
        vthr = far_threshold(dist[train], same[train], 1e-3)
        acc = accuracy_at(dist[test], same[test], thr)
        accs.append(acc)
        vals.append(val_far(dist[test], same[test], vthr)[0])
        errors += round((1 - acc) * int(test.sum()))
    fold_accuracy = np.array(accs)
    return {
        "accuracy": float(fold_accuracy.mean()),
        "std": float(fold_accuracy.std(ddof=1)),
        "sem": float(fold_accuracy.std(ddof=1) / np.sqrt(len(fold_accuracy))),
        "val_at_far_1e3": float(np.mean(vals)),
        "errors": errors,
    }


def nested_weight(
    dlib: np.ndarray, sface: np.ndarray, arrays: dict[str, np.ndarray], weights: tuple[float, ...]
) -> tuple[dict[str, float], list[float]]:
    """The concatenation with SFace's weight chosen per fold on the other nine folds (best
    accuracy there, at their best threshold), scored on the fold: an estimate in which no
    choice saw the pairs it is scored on."""
    from facenet_core.metrics import accuracy_at, best_threshold, squared_distances

    left, right, same, folds = arrays["left"], arrays["right"], arrays["same"], arrays["folds"]
    dists = {}
    for w in weights:
        emb = concatenated(dlib, sface, w)
        dists[w] = squared_distances(emb[left], emb[right])
    chosen, per_fold = [], []
    for k in np.unique(folds):
        train = folds != k

        def train_accuracy(w: float, train: np.ndarray = train) -> float:
            d = dists[w][train]
            return accuracy_at(d, same[train], best_threshold(d, same[train]))

        best = max(weights, key=train_accuracy)
        chosen.append(best)
        per_fold.append(concatenated(dlib, sface, best))
    return score_option(per_fold, arrays, quantized=False), chosen


def score(json_path: Path | None) -> None:
    """Stage 3: every option, float and int8-quantised."""
    found = np.load(CACHE / "detections.npz")
    arrays = {k: found[k] for k in ("left", "right", "same", "folds")}
    emb = np.load(CACHE / "embeddings.npz")
    dlib, sface = emb["dlib"], emb["sface"]
    folds = np.unique(arrays["folds"])
    # the images of each fold's pairs (LFW's ten folds share no person)
    members = []
    for k in folds:
        chosen = arrays["folds"] == k
        members.append(np.unique(np.concatenate([arrays["left"][chosen], arrays["right"][chosen]])))
    options: list[tuple[str, int, list[np.ndarray]]] = [
        ("dlib ResNet alone", 128, [dlib] * len(folds)),
        ("SFace alone (RGB)", 128, [sface] * len(folds)),
    ]
    for weight in (0.5, 0.7, 1.0, 1.4):
        fused = concatenated(dlib, sface, weight)
        options.append((f"concatenated, SFace weight {weight}", 256, [fused] * len(folds)))
    for weight in (0.7, 1.0):
        fused = concatenated(dlib, sface, weight)
        for whiten in (False, True):
            per_fold = []
            for i in range(len(folds)):
                train = np.concatenate([members[j] for j in range(len(folds)) if j != i])
                mean, basis = fit_projection(fused[train], 128, whiten)
                per_fold.append(_normalise((fused - mean) @ basis))
            name = (
                f"{'whitened ' if whiten else ''}PCA to 128-D of the weight-{weight} concatenation"
            )
            options.append((name, 128, per_fold))
    rows = []
    print(
        "| embedding | bytes/face | accuracy ± SEM (std) | VAL@FAR=1e-3 | errors "
        "| int8 accuracy | int8 VAL | int8 errors | int8 x512 accuracy | largest component |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, dim, per_fold in options:
        f = score_option(per_fold, arrays, quantized=False)
        q = score_option(per_fold, arrays, quantized=True)
        q512 = score_option(per_fold, arrays, quantized=True, scale=512.0)
        largest = float(max(np.abs(e).max() for e in per_fold))
        rows.append(
            {
                "option": name,
                "bytes": dim,
                "float": f,
                "int8": q,
                "int8_scale512": q512,
                "max_abs": largest,
            }
        )
        print(
            f"| {name} | {dim} | {100 * f['accuracy']:.2f}% ± {100 * f['sem']:.2f} "
            f"({100 * f['std']:.2f}) | {100 * f['val_at_far_1e3']:.2f}% | {f['errors']} | "
            f"{100 * q['accuracy']:.2f}% | {100 * q['val_at_far_1e3']:.2f}% | {q['errors']} | "
            f"{100 * q512['accuracy']:.2f}% | {largest:.3f} |"
        )
    weights = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.4)
    nested, chosen = nested_weight(dlib, sface, arrays, weights)
    print(
        f"\nconcatenation, SFace weight chosen on the other nine folds among {weights}: "
        f"{100 * nested['accuracy']:.2f}% ± {100 * nested['sem']:.2f}, VAL "
        f"{100 * nested['val_at_far_1e3']:.2f}%, {nested['errors']} errors; weights chosen "
        f"{chosen}"
    )
    if json_path is not None:
        rows.append({"option": "nested weight", "float": nested, "chosen": chosen})
        json_path.write_text(json.dumps(rows, indent=1))


def logistic_fit(dist: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood ``P(same | d) = 1 / (1 + exp((d - centre) / scale))`` (Newton's
    method on ``a + b d``): the recognition rule's two constants (``people/recognize.py``)."""
    x = np.stack([np.ones_like(dist), dist], axis=1)
    y = same.astype(np.float64)
    beta = np.array([0.0, 0.0])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ beta, -60, 60)))
        gradient = x.T @ (y - p)
        hessian = (x * (p * (1 - p))[:, None]).T @ x
        step = np.linalg.solve(hessian + 1e-9 * np.eye(2), gradient)
        beta += step
        if np.abs(step).max() < 1e-10:
            break
    a, b = beta
    return float(-a / b), float(-1.0 / b)


def logistic(samples: int, seed: int) -> None:
    """The recognition rule's logistic (midpoint, width) for dlib and the fused embedding, fitted
    as for ``recognize.py`` on ``samples`` same-person and ``samples`` different-person pairs of
    the embedded LFW images."""
    from facenet_core.metrics import squared_distances

    found = np.load(CACHE / "detections.npz")
    people = np.array([Path(str(p)).parent.name for p in found["paths"]])
    emb = np.load(CACHE / "embeddings.npz")
    rng = np.random.default_rng(seed)
    _, label = np.unique(people, return_inverse=True)
    groups = [np.flatnonzero(label == k) for k in range(label.max() + 1)]
    several = [g for g in groups if len(g) >= 2]
    weights = np.array([len(g) * (len(g) - 1) for g in several], dtype=np.float64)
    chosen = rng.choice(len(several), samples, p=weights / weights.sum())
    same_pairs = np.array([rng.choice(several[c], 2, replace=False) for c in chosen])
    a = rng.integers(0, len(people), 3 * samples)
    b = rng.integers(0, len(people), 3 * samples)
    keep = label[a] != label[b]
    diff_pairs = np.stack([a[keep], b[keep]], axis=1)[:samples]
    pairs = np.concatenate([same_pairs, diff_pairs])
    same = np.concatenate([np.ones(samples, bool), np.zeros(len(diff_pairs), bool)])
    for name, vectors in (
        ("dlib ResNet", emb["dlib"]),
        ("SFace", emb["sface"]),
        ("fused (weight 1.0)", concatenated(emb["dlib"], emb["sface"], 1.0)),
    ):
        dist = squared_distances(vectors[pairs[:, 0]], vectors[pairs[:, 1]])
        centre, scale = logistic_fit(dist, same)
        print(f"{name}: CENTRE {centre:.4f}, SCALE {scale:.4f}")


def cluster(truth_file: Path, thresholds_dlib: str, thresholds_fused: str) -> None:
    """lfw-mini's clustering truth (one face per image, the one nearest the centre, as
    ``eval-lfw`` picks it): the project's clustering (``people.cluster.cluster_faces``) of dlib's
    and the fused embeddings at a sweep of thresholds, BCubed F1 and the number of groups."""
    import torch

    from facenet_core.evaluation.cluster_metrics import bcubed_scores
    from facenet_core.evaluation.clusters import read_truth
    from facenet_core.evaluation.lfw import nearest_centre
    from facenet_core.models.sface import load_sface, sface_embeddings
    from facenet_core.people.cluster import ClusterInput, cluster_faces
    from facenet_core.settings import Settings
    from facenet_core.vision.align import arcface_chips
    from facenet_core.vision.embed import Embedder
    from facenet_core.vision.engines import shared_engines
    from facenet_core.vision.faces import FaceJob, find_faces

    torch.set_num_threads(1)
    truth = read_truth(truth_file)
    root = truth_file.parent / "images"
    paths = [root / rel for rel, _ in truth]
    cached = CACHE / f"cluster-{truth_file.parent.name}.npz"
    if not cached.is_file():
        from facenet_core.imageio import load_image

        engines = shared_engines()
        config = engines.detector_config(Settings())
        job = FaceJob(detector=config, centre_fallback=True)
        dlib_net = Embedder.pretrained(device="cpu", batch_size=32, flip=True)
        sface = load_sface().fused_for_inference()
        dlib_rows, sface_rows = [], []
        for photo in find_faces(paths, job, 2, detector=engines.detector(config)):
            i = nearest_centre(photo)
            dlib_rows.append(dlib_net.embed(photo.chips[i : i + 1])[0])
            face = arcface_chips(load_image(photo.path), [photo.detections[i]])
            with torch.inference_mode():
                x = torch.from_numpy(face).permute(0, 3, 1, 2).float()
                sface_rows.append(sface_embeddings(sface, x).numpy()[0])
        np.savez(cached, dlib=np.stack(dlib_rows), sface=np.stack(sface_rows))
    emb = np.load(cached)
    names = [name for _, name in truth]
    n = len(names)
    options = (
        ("dlib ResNet", emb["dlib"], thresholds_dlib),
        ("fused, weight 1.0", concatenated(emb["dlib"], emb["sface"], 1.0), thresholds_fused),
    )
    for label, vectors, sweep in options:
        for threshold in (float(t) for t in sweep.split(",")):
            inp = ClusterInput(
                vectors.astype(np.float32), np.arange(n, dtype=np.int64), -np.ones(n, np.int64)
            )
            pred = cluster_faces(inp, threshold, exact_knn=True)
            scores = bcubed_scores(names, pred)
            groups = len(set(pred[pred != 0].tolist())) + int((pred == 0).sum())
            print(
                f"{label}: threshold {threshold:.3f}: BCubed F1 {scores.f1:.4f} "
                f"(P {scores.precision:.4f}, R {scores.recall:.4f}), {groups} groups "
                f"({len(set(names))} people)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("stage", choices=("detect", "embed", "score", "logistic", "cluster"))
    parser.add_argument(
        "--truth", type=Path, default=Path("../shared/datasets/lfw-mini/clusters.txt")
    )
    parser.add_argument("--dlib-thresholds", default="0.10,0.125,0.15,0.175,0.20")
    parser.add_argument("--fused-thresholds", default="0.50,0.55,0.60,0.65,0.70,0.75,0.80")
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lfw-dir", type=Path, default=Path.home() / "datasets" / "lfw")
    parser.add_argument("--pairs", type=Path, default=Path.home() / "datasets/lfw/pairs.txt")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--part", type=int, default=0, help="embed: this process's share")
    parser.add_argument("--parts", type=int, default=1, help="embed: processes sharing")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.stage == "detect":
        detect(args.lfw_dir.expanduser(), args.pairs.expanduser(), args.workers)
    elif args.stage == "embed":
        embed(args.batch, args.threads, args.part, args.parts)
    elif args.stage == "cluster":
        cluster(args.truth, args.dlib_thresholds, args.fused_thresholds)
    elif args.stage == "logistic":
        logistic(args.samples, args.seed)
    else:
        score(args.json)


if __name__ == "__main__":
    main()
