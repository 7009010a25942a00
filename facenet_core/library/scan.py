"""Scanning folders into the library: incremental, resumable, and never losing the user's work.

``scan(library, roots, settings, reporter=..., cancel=...)`` is the long job: phase 1
(:mod:`.plan`) writes down what changed on disk, phase 2 (:mod:`.ingest`) finds, embeds and stores
the faces of every pending photo, then the face names other programs wrote into those photos are
read into people (:func:`facenet_core.library.import_tags.import_tags`, when the setting is on), a
next step (:func:`facenet_core.people.jobs.recognize_new`) finds people for the new faces (the
imported names among the known people), and a last step makes the face thumbnails match the faces
(:mod:`.thumbs`). A :class:`~facenet_core.store.ScanJob` row records each run, so a run that died
is noticed (marked ``crashed``) and the next scan resumes from the pending photos. Bad files never
stop a scan: each is recorded as ``failed`` with a reason a person understands.

One scan at a time: the whole job holds the library's writer lock
(:meth:`~facenet_core.store.Library.writer`); a second scan of the same library, from this
process or another, fails at once with :class:`~facenet_core.store.LibraryBusy` or, with
``wait=True``, waits for the first to finish. Everything is checked (roots, the lock) before any
model loads.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from facenet_core.library.compute import compute_on
from facenet_core.library.import_tags import import_tags
from facenet_core.library.ingest import BATCHED_FACES, Ingest, ingest_pending
from facenet_core.library.plan import ScanRoot, pending_photos, plan_scan, under
from facenet_core.library.reembed import embedding_model, kept_face_model
from facenet_core.library.result import ScanResult
from facenet_core.library.thumbs import sync_thumbnails
from facenet_core.library.walk import media_kind
from facenet_core.models.registry import FUSED, ModelInfo, pretrained_info
from facenet_core.people.jobs import recognize_new
from facenet_core.progress import CancelToken, Progress, Reporter, ignore_progress
from facenet_core.settings import Settings
from facenet_core.store import (
    Library,
    Photo,
    PhotoStatus,
    Root,
    ScanJob,
    ScanStatus,
    ensure_active_model_version,
    get_active_model_version,
)
from facenet_core.store.models import utcnow
from facenet_core.vision.batched import BatchedFaceFinder, uses_batched_pipeline
from facenet_core.vision.detectors import YunetDetector, YunetOnetDetector
from facenet_core.vision.embed import AnyEmbedder
from facenet_core.vision.engines import Engines, shared_engines
from facenet_core.vision.faces import FaceJob, PhotoFaces, find_faces
from facenet_core.vision.video import VideoFaceFinder, VideoSampling

if TYPE_CHECKING:
    from facenet_core.vision.ray_source import Cluster

log = logging.getLogger(__name__)


def scan(
    library: Library,
    roots: Sequence[Path | str],
    settings: Settings,
    *,
    engines: Engines | None = None,
    recognize: bool = True,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
    wait: bool = False,
) -> ScanResult:
    """Scan ``roots`` into ``library``; returns the counts. Cancelling stops cleanly (the result
    says ``cancelled``) and a later scan resumes. A root that is not a folder is an error raised
    before anything changes; so is a library being scanned by another process (unless ``wait``:
    then a ``wait`` progress event says who is being waited for). ``recognize``: then find people
    for the new faces (known people by k-NN, unnamed groups otherwise; ``result.people`` says
    what it did)."""
    start = time.perf_counter()
    cancel = cancel or CancelToken()
    given = [Path(os.path.abspath(os.path.expanduser(r))) for r in roots]
    for root in given:
        if not root.is_dir():
            raise NotADirectoryError(f"{root}: not a folder")

    def waiting(message: str) -> None:
        reporter(Progress(task="scan", phase="wait", done=0, message=message))

    result = ScanResult()
    tags_since = utcnow()  # the photos this scan processes are read for face tags
    with library.writer("scan", wait=wait, on_wait=waiting), compute_on(settings) as cluster:
        scan_roots = _roots(library, given)
        with library.write() as session:
            # we hold the writer lock: a job still "running" is one whose process died
            session.execute(
                update(ScanJob)
                .where(ScanJob.status == ScanStatus.RUNNING)
                .values(status=ScanStatus.CRASHED)
            )
            record = ScanJob(roots=[r.path for r in scan_roots], status=ScanStatus.RUNNING)
            session.add(record)
            session.flush()
            job_id = record.id
        status = ScanStatus.CRASHED
        try:
            plan_scan(library, scan_roots, result, reporter, cancel)
            if not result.cancelled:
                queue = list(pending_photos(library, scan_roots))
                if queue:
                    _find_faces(
                        library, queue, settings, engines, result, reporter, cancel, cluster
                    )
            if settings.read_face_tags and not result.cancelled and not cancel.cancelled:
                result.tags = import_tags(
                    library,
                    [r.path for r in scan_roots],
                    since=tags_since,
                    settings=settings,
                    engines=engines,
                    reporter=_tags_phase(reporter),
                    cancel=cancel,
                )
            if recognize and not result.cancelled and not cancel.cancelled:
                result.people = recognize_new(
                    library, settings, reporter=_people_phase(reporter), cancel=cancel
                )
            if not result.cancelled and not cancel.cancelled:
                result.thumbnails_made, result.thumbnails_removed = sync_thumbnails(
                    library, reporter, cancel
                )
            status = (
                ScanStatus.CANCELLED if result.cancelled or cancel.cancelled else ScanStatus.DONE
            )
        except KeyboardInterrupt:
            status = ScanStatus.CANCELLED
            raise
        finally:
            result.seconds = time.perf_counter() - start
            result.cancelled = status != ScanStatus.DONE
            _finish(library, job_id, status, result, scan_roots)
    return result


def _roots(library: Library, given: list[Path]) -> list[ScanRoot]:
    """The library's root for each folder, created when new. A root is its real path: a link
    to a known root, ``..`` in the path, or (on a case-insensitive file system) another spelling
    of it all find the same root."""
    found: list[ScanRoot] = []
    with library.write() as session:
        existing = list(session.scalars(select(Root)))
        for path in given:
            real = os.path.realpath(path)
            root = next((r for r in existing if r.path == real), None)
            if root is None:
                root = next((r for r in existing if _same_folder(r.path, real)), None)
            if root is None:
                root = Root(path=real, added_path=str(path))
                session.add(root)
                session.flush()
                existing.append(root)
            if all(r.id != root.id for r in found):
                found.append(ScanRoot(root.id, root.path))
    return found


def _same_folder(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _finish(
    library: Library,
    job_id: int,
    status: ScanStatus,
    result: ScanResult,
    roots: list[ScanRoot],
) -> None:
    """Record how the run ended. Best effort: when the disk is full this write fails too, and
    the job stays "running" (the next scan marks it crashed); the first error is what counts."""
    try:
        with library.session() as session:
            pending = session.execute(
                select(Photo.path, Photo.root_id).where(Photo.status == PhotoStatus.PENDING)
            ).all()
        scope = [r.path for r in roots]
        ids = {r.id for r in roots}
        result.photos_pending = sum(1 for p in pending if under(p.path, scope) or p.root_id in ids)
        with library.write() as session:
            job = session.get(ScanJob, job_id)
            if job is not None:
                job.status, job.finished_at, job.counts = status, utcnow(), result.counts()
    except SQLAlchemyError as exc:
        log.warning("could not record the end of scan %d: %s", job_id, exc)


def _tags_phase(reporter: Reporter) -> Reporter:
    """Reading face tags as the scan's ``tags`` phase."""

    def relay(event: Progress) -> None:
        reporter(dataclasses.replace(event, task="scan", phase="tags"))

    return relay


def _people_phase(reporter: Reporter) -> Reporter:
    """Recognition's events as phases of the scan (``people: new groups``, ...)."""

    def relay(event: Progress) -> None:
        reporter(dataclasses.replace(event, task="scan", phase=f"people: {event.phase}"))

    return relay


def _find_faces(
    library: Library,
    queue: list[tuple[int, str]],
    settings: Settings,
    engines: Engines | None,
    result: ScanResult,
    reporter: Reporter,
    cancel: CancelToken,
    cluster: Cluster | None = None,
) -> None:
    engines = engines or shared_engines()
    videos = [(i, p) for i, p in queue if media_kind(p) == "video"]
    queue = [(i, p) for i, p in queue if media_kind(p) != "video"]
    with library.session() as session:
        active = get_active_model_version(session)
        # a fine-tuned active version embeds new faces too, and so does a library's other face
        # model than the setting's (its faces are compared with the new ones: switching models
        # is re-embedding's job); the setting's shipped weights otherwise
        model = embedding_model(active, settings)
        result.face_model_kept = kept_face_model(active, settings)
    if cluster is not None and queue:
        _find_faces_on(cluster, library, queue, settings, engines, model, result, reporter, cancel)
        queue = []  # the photos are done; videos are read here (not yet on a cluster)
    if not queue and not videos:
        return
    embedder = engines.embedder(settings, model)
    detector = engines.detector_config(settings)
    job = FaceJob(
        detector=detector, reduce_jpeg=True, thumbnails=True, arcface=embedder.wants_arcface
    )
    with library.write() as session:
        version = ensure_active_model_version(session, embedder.info.name, embedder.info.sha256)
        version_id = version.id
    ingest = Ingest(library, embedder, job, version_id, result)
    if queue:
        _photo_faces(ingest, queue, settings, engines, embedder, reporter, cancel)
    if videos and not cancel.cancelled:
        # after the photos, one video at a time in this thread (its frames are the parallel work
        # of the detector and the network), each committed with its tracks once read
        sampling = VideoSampling(
            settings.video_fps, settings.video_max_frames, settings.video_max_seconds
        )
        video_finder = VideoFaceFinder(
            engines.detector(detector), embedder, sampling, workers=settings.workers
        )
        ingest_pending(
            ingest,
            videos,
            reporter,
            cancel,
            lambda paths: (video_finder(p) for p in paths),
            batch_faces=1,
            phase="videos",
            unit="video",
        )


def _photo_faces(
    ingest: Ingest,
    queue: list[tuple[int, str]],
    settings: Settings,
    engines: Engines,
    embedder: AnyEmbedder,
    reporter: Reporter,
    cancel: CancelToken,
) -> None:
    job = ingest.job
    detector = job.detector
    if uses_batched_pipeline(detector):
        # on a GPU: decode in threads, detect, align and embed in batches on the device, commit
        # in large transactions here
        yunet = engines.detector(detector)
        assert isinstance(yunet, YunetDetector | YunetOnetDetector)
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


def _find_faces_on(
    cluster: Cluster,
    library: Library,
    queue: list[tuple[int, str]],
    settings: Settings,
    engines: Engines,
    model: ModelInfo | None,
    result: ScanResult,
    reporter: Reporter,
    cancel: CancelToken,
) -> None:
    """Phase 2 on a Ray cluster: its workers find and embed the faces, this process stores them
    through the same ingest as a local scan (no model loads here)."""
    from facenet_core.vision.ray_source import ClusterError

    info = model or pretrained_info(settings.face_model)
    job = FaceJob(
        detector=engines.detector_config(settings),
        reduce_jpeg=True,
        thumbnails=True,
        arcface=info.name == FUSED,
    )
    with library.write() as session:
        version_id = ensure_active_model_version(session, info.name, info.sha256).id
    source = cluster.source(settings, model, job)
    try:
        workers = source.start()
        sample = queue[0][1]
        send = settings.cluster_photos == "send"
        if not send:
            shared = source.reads_shared(sample)
            if not shared and settings.cluster_photos == "shared":
                raise ClusterError(
                    f"the cluster's workers do not read {sample} as this computer does",
                    hint="Share the photos' storage at the same path, or send the photos "
                    "(--cluster-photos send).",
                )
            send = not shared
        source.send = send
        devices = sorted({w["device"] for w in workers})
        how = "sent by this computer" if send else "read from shared storage"
        message = f"{len(workers)} Ray workers on {', '.join(devices)}, photos {how}"
        log.info("scan on %s: %s", cluster.address, message)
        reporter(
            Progress(
                task="scan", phase="faces", done=0, total=len(queue), unit="photo", message=message
            )
        )
        ingest = Ingest(library, None, job, version_id, result)
        ingest_pending(
            ingest, queue, reporter, cancel, source, batch_faces=BATCHED_FACES, batch_seconds=2.0
        )
    finally:
        source.stop()
