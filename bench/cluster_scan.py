"""The scan on a Ray cluster against the local scan, on the same photos, in one run.

    python bench/cluster_scan.py [FOLDER] [--photos N] [--writer-photos M] [--writer-only]
        [--profile FILE] [--json FILE]

FOLDER: photos to scan (default: lfw-mini from ../shared/datasets), ``N`` of them copied into a
temporary folder. Four measurements:

1. **Photos/s** of the faces phase (detect, align, embed, store; models already loaded) of a
   local scan with one worker thread, and of ``scan --cluster local:1`` and ``local:2`` (a local
   Ray instance with one and two one-thread workers), each into a fresh library; the whole
   scan's seconds too (walk, plan, start-up, thumbnails).
2. **The cluster path's own cost per photo**, apart from the models: an actor that returns the
   photos' faces already computed, called as the scan calls its workers (batches of
   ``BATCH_PHOTOS``, the photo's bytes sent or its path), against a local scan's compute time
   per photo.
3. **The writer's ceiling**: ``ingest_pending`` fed pre-computed faces (with embeddings and
   thumbnails, as the cluster returns them) for ``M`` pending photos, so that the figure is the
   writer's (SQLite transactions, face rows, thumbnails), not the models'; once with the photos'
   own faces and once with every photo holding eight (a group photo).

``--writer-only`` measures the writer's ceiling alone (the faces still computed once by the
models, on this computer); ``--profile FILE`` writes a cProfile of the writer's runs to FILE
(``python -m pstats FILE``).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import pickle
import pstats
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from facenet_core.library import scan as run_scan  # noqa: E402
from facenet_core.library.ingest import BATCHED_FACES, Ingest, ingest_pending  # noqa: E402
from facenet_core.library.plan import pending_photos, plan_scan  # noqa: E402
from facenet_core.library.result import ScanResult  # noqa: E402
from facenet_core.library.scan import _roots  # noqa: E402
from facenet_core.models.registry import dlib_resnet_info  # noqa: E402
from facenet_core.progress import CancelToken, Progress, ignore_progress  # noqa: E402
from facenet_core.settings import Settings  # noqa: E402
from facenet_core.store import Library, ensure_active_model_version  # noqa: E402
from facenet_core.types import CHIP_SIZE  # noqa: E402
from facenet_core.vision.engines import Engines  # noqa: E402
from facenet_core.vision.faces import FaceJob, PhotoFaces, find_faces  # noqa: E402
from facenet_core.vision.ray_source import BATCH_PHOTOS  # noqa: E402

LFW_MINI = REPO.parent / "shared" / "datasets" / "lfw-mini" / "images"


def copy_photos(source: Path, count: int, folder: Path) -> list[Path]:
    images = sorted(p for p in source.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    images = images[:: max(1, len(images) // count)][:count]
    folder.mkdir(parents=True)
    out = []
    for i, src in enumerate(images):
        dst = folder / f"{i:05d}{src.suffix.lower()}"
        shutil.copy(src, dst)
        out.append(dst)
    return out


def timed_scan(folder: Path, library: Path, settings: Settings) -> dict[str, float]:
    """One scan into a fresh library: its faces phase's photos/s and the whole scan's seconds."""
    events: list[Progress] = []
    with Library.open(library, create=True) as lib:
        result = run_scan(lib, [folder], settings, recognize=False, reporter=events.append)
    faces = [e for e in events if e.phase == "faces" and e.done]
    last = faces[-1]
    return {
        "photos": last.done,
        "faces": result.faces_added,
        "faces_phase_s": round(last.elapsed, 2),
        "photos_per_s": round(last.done / last.elapsed, 2),
        "scan_s": round(result.seconds, 2),
    }


def precomputed(paths: list[Path], settings: Settings) -> tuple[dict[str, PhotoFaces], float]:
    """Every photo's faces as a worker returns them (embedded, no chips); the seconds per photo
    of that compute on one thread."""
    engines = Engines()
    embedder = engines.embedder(settings)
    config = engines.detector_config(settings)
    job = FaceJob(detector=config, reduce_jpeg=True, thumbnails=True)
    detector = engines.detector(config)
    empty = np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8)
    list(find_faces(paths[:4], job, 1, detector=detector, embedder=embedder))  # warm up
    start = time.perf_counter()
    found = list(find_faces(paths, job, 1, detector=detector, embedder=embedder))
    per_photo = (time.perf_counter() - start) / len(paths)
    return {
        str(p): dataclasses.replace(r, chips=empty) for p, r in zip(paths, found, strict=True)
    }, per_photo


class Echo:
    """A Ray actor that returns the faces already computed: what is left of a worker's call is
    the cluster path's own cost (serialisation, transfer, scheduling)."""

    def __init__(self, faces: dict[str, PhotoFaces]) -> None:
        self.faces = faces

    def faces_of(self, items: list[tuple[str, bytes | None]]) -> list[PhotoFaces]:
        return [self.faces[path] for path, _ in items]


def cluster_overhead(faces: dict[str, PhotoFaces], paths: list[Path]) -> dict[str, float]:
    import ray

    ray.init(num_cpus=1, num_gpus=0, include_dashboard=False, log_to_driver=False)
    try:
        echo = ray.remote(Echo).options(num_cpus=1).remote(faces)
        out: dict[str, float] = {}
        for mode in ("shared", "send"):
            batches = [paths[i : i + BATCH_PHOTOS] for i in range(0, len(paths), BATCH_PHOTOS)]
            for _ in range(2):  # the first pass warms up
                start = time.perf_counter()
                sent = 0
                for batch in batches:
                    items = [(str(p), p.read_bytes() if mode == "send" else None) for p in batch]
                    sent += sum(len(d or b"") for _, d in items)
                    ray.get(echo.faces_of.remote(items))
                seconds = time.perf_counter() - start
            out[f"{mode}_ms_per_photo"] = round(1000 * seconds / len(paths), 3)
            out[f"{mode}_bytes_sent_per_photo"] = round(sent / len(paths))
        returned = sum(len(pickle.dumps(f)) for f in faces.values()) / len(faces)
        out["bytes_returned_per_photo"] = round(returned)
        return out
    finally:
        ray.shutdown()


def group_photo(found: PhotoFaces, k: int) -> PhotoFaces:
    """``found`` with ``k`` faces (its first face repeated beside itself), for the writer's
    rate on photos of many faces."""
    if found.error is not None or not found.detections:
        return found
    det = found.detections[0]
    emb = found.embeddings
    assert emb is not None
    dets = []
    for i in range(k):
        shift = np.array([i * 3.0, 0.0], np.float32)
        box = (det.box[0] + 3 * i, det.box[1], det.box[2] + 3 * i, det.box[3])
        dets.append(dataclasses.replace(det, box=box, landmarks=det.landmarks + shift))
    thumbs = [found.thumbnails[0]] * k if found.thumbnails else []
    return dataclasses.replace(
        found, detections=dets, embeddings=np.repeat(emb[:1], k, 0), thumbnails=thumbs
    )


def profile_store(ingest: Ingest, profiles: list[cProfile.Profile]) -> None:
    """Profile each of ``ingest``'s batches in the thread that stores it (cProfile sees one
    thread only), into ``profiles``."""
    store = ingest.store

    def profiled(batch: list[tuple[int, PhotoFaces]]) -> int:
        profile = cProfile.Profile()
        profiles.append(profile)
        profile.enable()
        try:
            return store(batch)
        finally:
            profile.disable()

    ingest.store = profiled  # type: ignore[method-assign]


def writer_ceiling(
    faces: dict[str, PhotoFaces],
    originals: list[Path],
    count: int,
    work: Path,
    k: int | None,
    profiles: list[cProfile.Profile] | None = None,
) -> dict[str, float]:
    """Faces/s of the writer alone: ``count`` pending photos (copies of the originals, each
    made distinct by a few bytes after its end, as a hard link would be one photo), their faces
    pre-computed."""
    folder = work / f"writer-{k or 'own'}"
    folder.mkdir()
    source_of: dict[str, PhotoFaces] = {}
    for i in range(count):
        original = originals[i % len(originals)]
        link = folder / f"{i:06d}{original.suffix}"
        link.write_bytes(original.read_bytes() + f"copy {i}".encode())
        found = faces[str(original)]
        source_of[str(link)] = group_photo(found, k) if k else found
    with (
        Library.open(work / f"writer-{k or 'own'}.db", create=True) as lib,
        lib.writer("bench"),
    ):
        roots = _roots(lib, [folder])
        result = ScanResult()
        plan_scan(lib, roots, result, ignore_progress, CancelToken())
        queue = list(pending_photos(lib, roots))
        info = dlib_resnet_info()
        with lib.write() as session:
            version_id = ensure_active_model_version(session, info.name, info.sha256).id
        config = Engines().detector_config(Settings(device="cpu"))
        job = FaceJob(detector=config, reduce_jpeg=True, thumbnails=True)
        ingest = Ingest(lib, None, job, version_id, result)

        def source(paths: Iterator[Path]) -> Iterator[PhotoFaces]:
            for path in paths:
                yield dataclasses.replace(source_of[str(path)], path=path)

        if profiles is not None:
            profile_store(ingest, profiles)
            profile = cProfile.Profile()
            profiles.append(profile)
            profile.enable()
        start, cpu = time.perf_counter(), time.process_time()
        ingest_pending(
            ingest,
            queue,
            ignore_progress,
            CancelToken(),
            source,
            batch_faces=BATCHED_FACES,
            batch_seconds=2.0,
        )
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu
        if profiles is not None:
            profile.disable()
    return {
        "photos": len(queue),
        "faces": result.faces_added,
        "seconds": round(seconds, 2),
        "faces_per_s": round(result.faces_added / seconds),
        "photos_per_s": round(len(queue) / seconds),
        # the writer's own work, apart from waiting for a core on a busy machine
        "cpu_s": round(cpu, 2),
        "faces_per_cpu_s": round(result.faces_added / cpu),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=LFW_MINI)
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--writer-photos", type=int, default=5000)
    parser.add_argument("--writer-only", action="store_true", help="only the writer's ceiling")
    parser.add_argument("--profile", type=Path, help="a cProfile of the writer's runs")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    profiles: list[cProfile.Profile] | None = [] if args.profile else None
    settings = Settings(device="cpu", workers=1)
    report: dict[str, object] = {"photos": args.photos}
    with tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp:
        work = Path(tmp)
        paths = copy_photos(args.folder, args.photos, work / "photos")
        if not args.writer_only:
            report["local"] = timed_scan(work / "photos", work / "local.db", settings)
            print("local scan, 1 thread:", report["local"], flush=True)
            for n in (1, 2):
                cluster = settings.replace(cluster=f"local:{n}")
                report[f"cluster_{n}"] = timed_scan(work / "photos", work / f"c{n}.db", cluster)
                print(f"cluster local:{n}:", report[f"cluster_{n}"], flush=True)
        faces, per_photo = precomputed(paths, settings)
        if not args.writer_only:
            overhead = cluster_overhead(faces, paths)
            overhead["local_compute_ms_per_photo"] = round(1000 * per_photo, 2)
            for mode in ("shared", "send"):
                share = overhead[f"{mode}_ms_per_photo"] / overhead["local_compute_ms_per_photo"]
                overhead[f"{mode}_share_of_local"] = round(share, 4)
            report["overhead"] = overhead
            print("cluster path's own cost:", overhead, flush=True)
        for k in (None, 8):
            key = f"writer_{k or 'own'}_faces"
            report[key] = writer_ceiling(faces, paths, args.writer_photos, work, k, profiles)
            print(f"writer, {k or 'their own'} faces per photo:", report[key], flush=True)
    if profiles:
        pstats.Stats(*profiles).dump_stats(args.profile)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
