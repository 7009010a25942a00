"""Scanning folders into the library: incremental, resumable, and never losing the user's work.

``scan(library, roots, settings, reporter=..., cancel=...)`` is the long job: phase 1
(:mod:`.plan`) writes down what changed on disk, phase 2 (:mod:`.ingest`) finds, embeds and stores
the faces of every pending photo. A :class:`~facenet_core.store.ScanJob` row records each run, so
a run that died is noticed (marked ``crashed``) and the next scan resumes from the pending photos.
Bad files never stop a scan: each is recorded as ``failed`` with a reason a person understands.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from sqlalchemy import update

from facenet_core.library.ingest import BATCHED_FACES, Ingest, ingest_pending
from facenet_core.library.plan import pending_photos, plan_scan
from facenet_core.library.result import ScanResult
from facenet_core.progress import CancelToken, Reporter, ignore_progress
from facenet_core.settings import Settings
from facenet_core.store import Library, ScanJob, ScanStatus, ensure_active_model_version
from facenet_core.store.models import utcnow
from facenet_core.vision.batched import BatchedFaceFinder, uses_batched_pipeline
from facenet_core.vision.detectors import YunetDetector
from facenet_core.vision.engines import Engines, shared_engines
from facenet_core.vision.faces import FaceJob, PhotoFaces, find_faces


def scan(
    library: Library,
    roots: Sequence[Path | str],
    settings: Settings,
    *,
    engines: Engines | None = None,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> ScanResult:
    """Scan ``roots`` into ``library``; returns the counts. Cancelling stops cleanly (the result
    says ``cancelled``) and a later scan resumes. A root that is not a folder is an error raised
    before anything changes."""
    start = time.perf_counter()
    engines = engines or shared_engines()
    cancel = cancel or CancelToken()
    paths = [Path(os.path.abspath(r)) for r in roots]
    for root in paths:
        if not root.is_dir():
            raise NotADirectoryError(f"{root}: not a folder")
    result = ScanResult()
    with library.session() as session, session.begin():
        session.execute(
            update(ScanJob)
            .where(ScanJob.status == ScanStatus.RUNNING)
            .values(status=ScanStatus.CRASHED)
        )
        record = ScanJob(roots=[str(p) for p in paths], status=ScanStatus.RUNNING)
        session.add(record)
        session.flush()
        job_id = record.id
    status = ScanStatus.CANCELLED
    try:
        with library.session() as session:
            plan_scan(session, paths, result, reporter, cancel)
        if not result.cancelled:
            with library.session() as session:
                queue = list(pending_photos(session, paths))
            if queue:
                _find_faces(library, queue, settings, engines, result, reporter, cancel)
        if not result.cancelled and not cancel.cancelled:
            status = ScanStatus.DONE
    finally:
        result.seconds = time.perf_counter() - start
        result.cancelled = status != ScanStatus.DONE
        with library.session() as session, session.begin():
            job = session.get(ScanJob, job_id)
            if job is not None:
                job.status, job.finished_at, job.counts = status, utcnow(), result.counts()
    return result


def _find_faces(
    library: Library,
    queue: list[tuple[int, str]],
    settings: Settings,
    engines: Engines,
    result: ScanResult,
    reporter: Reporter,
    cancel: CancelToken,
) -> None:
    embedder = engines.embedder(settings)
    detector = engines.detector_config(settings)
    job = FaceJob(detector=detector, reduce_jpeg=True, thumbnails=True)
    with library.session() as session, session.begin():
        version = ensure_active_model_version(session, embedder.info.name, embedder.info.sha256)
        version_id = version.id
    ingest = Ingest(library, embedder, job, version_id, result)
    if uses_batched_pipeline(detector):
        # on a GPU: decode in threads, detect, align and embed in batches on the device, commit
        # in large transactions here
        yunet = engines.detector(detector)
        assert isinstance(yunet, YunetDetector)
        finder = BatchedFaceFinder(job, yunet, embedder, workers=settings.workers)
        ingest_pending(
            ingest, queue, reporter, cancel, finder, batch_faces=BATCHED_FACES, batch_seconds=2.0
        )
        return
    # HOG runs in worker processes, each with its own detector; YuNet or MTCNN threads share one,
    # and embed each photo's chips themselves (every core detects and embeds)
    shared = engines.detector(detector) if detector.threaded else None
    in_threads = embedder if detector.threaded else None

    def faces(paths: Iterator[Path]) -> Iterator[PhotoFaces]:
        return find_faces(paths, job, settings.workers, detector=shared, embedder=in_threads)

    ingest_pending(ingest, queue, reporter, cancel, faces)
