"""People clustering: speed and memory at scale, and quality against other clusterers.

    python bench/cluster_speed.py [--sizes 10000,100000,1000000] [--lfw-dir ~/datasets/lfw]
                                  [--cache ~/cache/lfw_embeddings.npz] [--json FILE]
                                  [--face-model accurate|fast]

Quality (``--lfw-dir``): every LFW person with at least ``--min-photos`` (5) images: the face
nearest each image's centre, embedded by the default pipeline (YuNet, O-Net points, mirror
averaging) with ``--face-model`` (default: the setting's) and stored as the library stores it
(128 or 256 bytes), decoded again. The clustering threshold is the setting's scaled to the
model's distances as the app scales it (:func:`facenet_core.people.labels.for_model`), and the
comparison grids are scaled by the same factor. The embeddings are computed once and cached
in ``--cache`` (outside the repository); a few minutes on 2 cores. On the same embeddings:

- ours: :func:`facenet_core.people.cluster.cluster_faces` at the default threshold;
- dlib's ``chinese_whispers_clustering`` at its customary 0.6 (Euclidean, i.e. 0.36 squared)
  and at its best threshold on this very data (an oracle: the most it could do);
- scikit-learn's ``AgglomerativeClustering`` (average linkage on the full squared distance
  matrix, no graph, no constraints) at our threshold and at its own best (oracle).

Each is scored with BCubed and pairwise F1 (``facenet_core.evaluation.clusters``).

Speed (``--sizes``): synthetic libraries made from the real embeddings: identities are real LFW
faces moved by Gaussian noise (so identities sit where real faces do, ~0.5 apart in squared
distance on average and no closer than real people are), each identity's faces are its centre
plus Gaussian noise of the per-component spread measured within real LFW people. Identity sizes
follow a Zipf law (a few people with thousands of faces, most with a handful), faces are put in
photos of 1-4 faces (never one identity twice in a photo), and 1% of faces are "confirmed" for
their identity. Each size runs in a fresh process: wall and CPU time of ``cluster_faces`` (kNN
graph and agglomeration separately), peak resident memory of that process (``ru_maxrss``,
including the embeddings themselves; the synthetic data is made once, saved beside the cache
and loaded by the measuring process), and BCubed F1 against the synthetic identities.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from facenet_core.calibration import distance_scale  # noqa: E402
from facenet_core.evaluation.cluster_metrics import (  # noqa: E402
    bcubed_scores,
    noise_as_singletons,
    pairwise_scores,
)
from facenet_core.models.registry import FACE_MODELS  # noqa: E402
from facenet_core.people.cluster import ClusterInput, cluster_faces  # noqa: E402
from facenet_core.settings import Settings  # noqa: E402

DEFAULT_CACHE = Path("~/cache/lfw_embeddings.npz").expanduser()


# -- real embeddings --------------------------------------------------------------------------


def lfw_people(lfw_dir: Path, min_photos: int) -> tuple[list[Path], list[str]]:
    images = lfw_dir / "images" if (lfw_dir / "images").is_dir() else lfw_dir
    paths: list[Path] = []
    people: list[str] = []
    for person in sorted(p for p in images.iterdir() if p.is_dir()):
        files = sorted(person.glob("*.jpg"))
        if len(files) >= min_photos:
            paths += files
            people += [person.name] * len(files)
    return paths, people


def load_embeddings(
    lfw_dir: Path, min_photos: int, cache: Path, face_model: str
) -> tuple[np.ndarray, np.ndarray]:
    """(embeddings, person names) of LFW people with >= ``min_photos`` images, cached (a cache
    made by another face model is computed again)."""
    paths, people = lfw_people(lfw_dir, min_photos)
    rel = [str(p.relative_to(p.parents[1])) for p in paths]
    if cache.is_file():
        data = np.load(cache)
        cached_model = str(data["face_model"]) if "face_model" in data else "fast"
        if list(data["paths"]) == rel and cached_model == face_model:
            return data["embeddings"], data["people"]
        print(f"{cache}: made from other images; computing again", file=sys.stderr)
    from facenet_core.evaluation.clusters import embed_centre_faces
    from facenet_core.vision.device import torch_threads

    settings = Settings(device="cpu", face_model=face_model)
    print(f"embedding {len(paths)} images (once; cached in {cache})", file=sys.stderr)
    start = time.perf_counter()
    last = [0.0]

    def report(event: Any) -> None:
        if event.elapsed - last[0] > 30:
            last[0] = event.elapsed
            print(f"  {event.done}/{event.total} images", file=sys.stderr)

    with torch_threads(1):
        emb, fallbacks = embed_centre_faces(paths, settings, reporter=report)
    print(
        f"  done in {time.perf_counter() - start:.0f} s; {fallbacks} images without a detected "
        "face used the centre box",
        file=sys.stderr,
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        cache,
        embeddings=emb,
        people=np.asarray(people),
        paths=np.asarray(rel),
        fallbacks=fallbacks,
        face_model=face_model,
    )
    return emb, np.asarray(people)


# -- quality ----------------------------------------------------------------------------------


def score(truth: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    b = bcubed_scores(truth, labels)
    p = pairwise_scores(truth, labels)
    return {
        "bcubed_f1": b.f1,
        "bcubed_precision": b.precision,
        "bcubed_recall": b.recall,
        "pairwise_f1": p.f1,
        "clusters": len(np.unique(noise_as_singletons(labels))),
    }


def chinese_whispers(x: np.ndarray, squared_threshold: float) -> np.ndarray:
    import dlib

    vectors = [dlib.vector(row.astype(np.float64).tolist()) for row in x]
    labels = dlib.chinese_whispers_clustering(vectors, float(np.sqrt(squared_threshold)))
    return np.asarray(labels, dtype=np.int64) + 1  # 0 means "no cluster" to our scores


def sklearn_average(x: np.ndarray, squared_threshold: float) -> np.ndarray:
    from sklearn.cluster import AgglomerativeClustering

    d = np.maximum(2.0 - 2.0 * (x @ x.T), 0.0).astype(np.float64)
    model = AgglomerativeClustering(
        n_clusters=None,
        metric="precomputed",
        linkage="average",
        distance_threshold=squared_threshold,
    )
    return model.fit_predict(d).astype(np.int64) + 1  # 0 means "no cluster" to our scores


def quality(
    x: np.ndarray, truth: np.ndarray, threshold: float, scale: float = 1.0
) -> dict[str, Any]:
    """Ours at ``threshold`` against the others; ``scale`` stretches the threshold grids (which
    are in the fast model's squared distances) to the model's distances."""
    out: dict[str, Any] = {"faces": len(x), "true_people": len(np.unique(truth))}
    start = time.perf_counter()
    ours = cluster_faces(ClusterInput.unconstrained(x), threshold)
    out["ours"] = {"threshold": threshold, **score(truth, ours)}
    out["ours"]["seconds"] = time.perf_counter() - start
    out["ours_min_size_1"] = {
        "threshold": threshold,
        **score(truth, cluster_faces(ClusterInput.unconstrained(x), threshold, min_size=1)),
    }
    grid = np.round(np.arange(0.08, 0.205, 0.01) * scale, 4)
    cw = {float(t): score(truth, chinese_whispers(x, t)) for t in [*grid, 0.36]}
    out["chinese_whispers_0.6"] = {"threshold": 0.36, **cw[0.36]}
    best = max(cw, key=lambda t: cw[t]["bcubed_f1"])
    out["chinese_whispers_best"] = {"threshold": best, **cw[best]}
    sk = {float(t): score(truth, sklearn_average(x, t)) for t in grid}
    out["sklearn_average_ours_threshold"] = {
        "threshold": threshold,
        **score(truth, sklearn_average(x, threshold)),
    }
    best = max(sk, key=lambda t: sk[t]["bcubed_f1"])
    out["sklearn_average_best"] = {"threshold": best, **sk[best]}
    out["chinese_whispers_grid"] = cw
    out["sklearn_average_grid"] = sk
    return out


# -- speed ------------------------------------------------------------------------------------


def synthetic(
    real: np.ndarray, truth: np.ndarray, n: int, seed: int = 0
) -> tuple[ClusterInput, np.ndarray]:
    """A synthetic library of ``n`` faces built around the real embeddings (see the docstring),
    and each face's identity."""
    rng = np.random.default_rng(seed)
    names, inv = np.unique(truth, return_inverse=True)
    centres = np.zeros((len(names), real.shape[1]))
    np.add.at(centres, inv, real)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    within = float(np.sqrt(np.mean((real - centres[inv]) ** 2)))  # per-component spread
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(int(min(5000, rng.zipf(1.8))))
    sizes[-1] -= sum(sizes) - n
    ids = np.repeat(np.arange(len(sizes)), sizes)
    base = real[rng.integers(0, len(real), len(sizes))]
    ident = base + rng.normal(scale=2.0 * within, size=base.shape)
    ident /= np.linalg.norm(ident, axis=1, keepdims=True)
    x = np.empty((n, real.shape[1]), dtype=np.float32)
    for s in range(0, n, 1 << 16):
        block = ident[ids[s : s + (1 << 16)]]
        block = block + rng.normal(scale=within, size=block.shape)
        x[s : s + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    order = rng.permutation(n)
    x, ids = x[order], ids[order]
    # photos of 1-4 faces, never one identity twice in a photo (a face that would repeat one
    # starts the next photo)
    photos = np.empty(n, dtype=np.int64)
    photo, members, want = 0, set(), 1 + rng.integers(0, 4)
    for i, ident in enumerate(ids.tolist()):
        if len(members) >= want or ident in members:
            photo, members, want = photo + 1, set(), 1 + rng.integers(0, 4)
        members.add(ident)
        photos[i] = photo
    fixed = np.where(rng.random(n) < 0.01, ids + 1, -1).astype(np.int64)
    return ClusterInput(x, photos, fixed, {}), ids


def synthetic_file(n: int, cache: Path) -> Path:
    """The synthetic library of ``n`` faces, made once and kept beside the cache."""
    path = cache.with_name(f"synthetic_{n}.npz")
    if not path.is_file():
        data = np.load(cache)
        inp, ids = synthetic(data["embeddings"], data["people"], n)
        np.savez(path, x=inp.embeddings, photos=inp.photo_ids, fixed=inp.fixed, ids=ids)
    return path


def peak_rss_mib() -> float:
    """This process's peak resident memory. Linux's ``VmHWM`` (reset by ``exec``); elsewhere
    ``ru_maxrss``, which on Linux would carry the parent's peak over an ``exec``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(path: Path, threshold: float) -> None:
    """One size, in a fresh process (numpy, faiss and the people code only): one JSON line."""
    data = np.load(path)
    inp = ClusterInput(data["x"], data["photos"], data["fixed"], {})
    ids = data["ids"]
    n = len(ids)
    rss_data = peak_rss_mib()
    from facenet_core.people import cluster as cluster_module
    from facenet_core.people.knn import knn_graph

    timings: dict[str, float] = {}
    original = cluster_module.knn_graph

    def timed_knn(*args: Any, **kwargs: Any) -> Any:
        t, c = time.perf_counter(), time.process_time()
        out = knn_graph(*args, **kwargs)
        timings["knn_s"] = time.perf_counter() - t
        timings["knn_cpu_s"] = time.process_time() - c
        return out

    cluster_module.knn_graph = timed_knn
    start, cpu = time.perf_counter(), time.process_time()
    labels = cluster_faces(inp, threshold)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    cluster_module.knn_graph = original
    print(f"clustered in {total:.1f} s ({cpu:.1f} s CPU)", file=sys.stderr, flush=True)
    b3 = bcubed_scores(ids, labels)
    print(
        json.dumps(
            {
                "faces": n,
                "seconds": total,
                "cpu_seconds": cpu,
                "knn_seconds": timings.get("knn_s"),
                "knn_cpu_seconds": timings.get("knn_cpu_s"),
                "merge_seconds": total - timings.get("knn_s", 0.0),
                "peak_rss_mib": peak_rss_mib(),
                "rss_after_loading_mib": rss_data,
                "clusters": len(np.unique(labels[labels != 0])),
                "unclustered": int((labels == 0).sum()),
                "identities": len(np.unique(ids)),
                "bcubed_f1_synthetic": b3.f1,
                "load_average_1min": os.getloadavg()[0],
            }
        )
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated face counts")
    ap.add_argument("--lfw-dir", type=Path, default=Path("~/datasets/lfw").expanduser())
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--min-photos", type=int, default=5)
    ap.add_argument("--threshold", type=float, default=None, help="default: the setting's")
    ap.add_argument("--no-quality", action="store_true", help="speed only")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--face-model",
        choices=sorted(FACE_MODELS),
        default=None,
        help="embedding model (default: the setting's); the threshold follows its scale",
    )
    ap.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    face_model = args.face_model or Settings().face_model
    scale = distance_scale(FACE_MODELS[face_model]).factor
    threshold = (
        args.threshold if args.threshold is not None else Settings().cluster_threshold * scale
    )
    if args.child is not None:
        child(args.child, threshold)
        return 0
    x, truth = load_embeddings(args.lfw_dir, args.min_photos, args.cache, face_model)
    report: dict[str, Any] = {"threshold": threshold, "face_model": face_model, "scale": scale}
    if not args.no_quality:
        q = quality(x, truth, threshold, scale)
        report["quality"] = q
        print(
            f"LFW people with >= {args.min_photos} photos: {q['faces']} faces, "
            f"{q['true_people']} people"
        )
        for key in (
            "ours",
            "ours_min_size_1",
            "chinese_whispers_0.6",
            "chinese_whispers_best",
            "sklearn_average_ours_threshold",
            "sklearn_average_best",
        ):
            r = q[key]
            print(
                f"  {key:32s} t={r['threshold']:.3f}  BCubed F1 {r['bcubed_f1']:.4f} "
                f"(P {r['bcubed_precision']:.4f} R {r['bcubed_recall']:.4f})  "
                f"pairwise F1 {r['pairwise_f1']:.4f}  clusters {r['clusters']}"
            )
    speed = []
    for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
        cmd = [sys.executable, __file__, "--child", str(synthetic_file(n, args.cache))]
        cmd += ["--threshold", str(threshold)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            raise SystemExit(f"the {n}-face run failed")
        row = json.loads(out.stdout.strip().splitlines()[-1])
        speed.append(row)
        print(
            f"  {n:>9,d} faces: {row['seconds']:7.1f} s wall, {row['cpu_seconds']:.1f} s CPU "
            f"(kNN {row['knn_seconds']:.1f} s, merging {row['merge_seconds']:.1f} s), "
            f"peak RSS {row['peak_rss_mib']:.0f} MiB ({row['rss_after_loading_mib']:.0f} MiB "
            f"after loading), load average {row['load_average_1min']:.1f}, "
            f"{row['clusters']:,d} clusters, BCubed F1 {row['bcubed_f1_synthetic']:.4f}"
        )
    report["speed"] = speed
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
