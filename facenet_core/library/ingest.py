"""Phase 2 of a scan: find, embed and store the faces of every pending photo.

Every pending photo is decoded, detected and aligned in parallel by a *face source*
(:func:`facenet_core.vision.faces.find_faces` on a CPU, whose chips are embedded here in
batches; or the batched GPU pipeline of :mod:`facenet_core.vision.batched`, which embeds them
itself); each batch of
photos is committed with all their faces, embeddings and ``done`` status in one transaction. A
crash or Ctrl-C at any moment therefore leaves each photo either done with all its faces or still
pending, and the next scan finishes the job with no duplicates. Thumbnails are written after the
commit (they are a cache, made again when missing).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision.ops
from sqlalchemy import insert, select
from sqlalchemy.orm import selectinload

from facenet_core.library.forget import forgotten_boxes_of
from facenet_core.library.result import ScanResult
from facenet_core.library.walk import CHANGED_WHILE_READ
from facenet_core.people.rules import SAME_PLACE_IOU, carry_labels
from facenet_core.progress import CancelToken, PhaseClock, Reporter
from facenet_core.quantize import to_bytes
from facenet_core.store import (
    DRAWN_BY_USER,
    Embedding,
    Face,
    Library,
    Photo,
    PhotoStatus,
    pack_landmarks,
)
from facenet_core.store.db import let_others_write
from facenet_core.store.models import utcnow
from facenet_core.thumbnails import remove_thumbnails, write_thumbnail
from facenet_core.types import EMBEDDING_DIM, Detection
from facenet_core.vision.embed import AnyEmbedder
from facenet_core.vision.faces import FaceJob, PhotoFaces, single_torch_thread_executor

BATCH_FACES = 64
"""Faces embedded and committed together (a batch also closes after a second)."""
BATCHED_FACES = 256
"""Faces committed together when the batched GPU pipeline embeds them (or after 2 seconds).
Storing costs per face, not per commit, so small transactions keep up with the device just as
well, and a user's edit waiting for the write lock waits for one short batch: on the 2-core dev
machine under load, a batch held the lock 0.9 s for 256 faces, 2.7 s for 1,024 and 10.5 s for
4,096 (``docs/benchmarks/2026-12-07-edits-during-jobs.md``)."""

THUMBNAIL_THREADS = 8
"""Threads writing a batch's face thumbnails after its commit."""


def _iou(old: list[Face], new: list[Face]) -> np.ndarray:
    a = torch.tensor([f.box for f in old], dtype=torch.float64).reshape(-1, 4)
    b = torch.tensor([f.box for f in new], dtype=torch.float64).reshape(-1, 4)
    return np.nan_to_num(torchvision.ops.box_iou(a, b).numpy(), nan=0.0)


class Ingest:
    """Stores batches of found faces for one scan. ``embedder``: embeds the chips of a face
    source that does not (None: every photo comes embedded, as from a Ray cluster)."""

    def __init__(
        self,
        library: Library,
        embedder: AnyEmbedder | None,
        job: FaceJob,
        version_id: int,
        result: ScanResult,
    ) -> None:
        self.library = library
        self.embedder = embedder
        self.job = job
        self.version_id = version_id
        self.result = result

    def store(self, batch: list[tuple[int, PhotoFaces]]) -> int:
        """Embed (unless the pipeline already did) and commit one batch of photos: each photo
        with all its faces, or not at all."""
        todo = [r for _, r in batch if r.error is None and r.embeddings is None and len(r.chips)]
        chips = [r.chips for r in todo]
        arcface = [r.arcface_chips for r in todo if r.arcface_chips is not None]
        if chips and self.embedder is None:
            raise ValueError("chips without embeddings, and no embedder to embed them")
        embeddings = (
            self.embedder.embed(
                np.concatenate(chips),
                np.concatenate(arcface) if len(arcface) == len(todo) else None,
            )
            if chips and self.embedder is not None
            else np.zeros((0, EMBEDDING_DIM), np.float32)
        )
        thumbs: list[tuple[Face, bytes]] = []
        new_rows: list[dict[str, Any]] = []  # faces of photos seen for the first time
        new_codes: list[bytes] = []
        new_thumbs: list[bytes] = []
        removed: list[int] = []
        faces_added = failed = detected = videos = frames = 0
        offset = 0
        settings = dataclasses.asdict(self.job.detector)
        if not chips:  # embedded by the pipeline: no pause of our own since the last batch
            let_others_write()
        with self.library.write() as session:
            # the batch's photos, their faces and forgotten places in three queries, so that no
            # query runs (and flushes) photo by photo: the new rows go in at one flush, in
            # multi-row INSERTs (the writer's ceiling: docs/design/cluster.md)
            ids = [photo_id for photo_id, _ in batch]
            photos = {
                p.id: p
                for p in session.scalars(
                    select(Photo).where(Photo.id.in_(ids)).options(selectinload(Photo.faces))
                )
            }
            forgotten_of = forgotten_boxes_of(session, ids)
            for photo_id, found in batch:
                n = len(found.detections) if found.error is None else 0
                photo = photos.get(photo_id)
                if photo is None or photo.status != PhotoStatus.PENDING:
                    offset += n  # gone or changed meanwhile: leave it to the next scan
                    continue
                photo.scanned_at = utcnow()
                photo.detector = self.job.detector.name
                photo.detector_settings = settings
                photo.media_kind = found.media
                if _changed_since_plan(photo):
                    # what was read (faces, or a failure) may come from other bytes than the
                    # hash the plan recorded: record neither; the next scan reads it again
                    offset += n
                    found = dataclasses.replace(found, error=CHANGED_WHILE_READ)
                if found.error is not None:
                    photo.status, photo.error = PhotoStatus.FAILED, found.error
                    failed += 1  # faces it had before (and their labels) are kept
                    continue
                n = len(found.detections)
                if found.embeddings is not None:
                    vectors = found.embeddings
                else:
                    vectors = embeddings[offset : offset + n]
                    offset += n
                # a face the user drew stays: no re-detection replaces or removes it, and a
                # detection in its place is the same face (not added twice)
                drawn = [f.box for f in photo.faces if f.detector == DRAWN_BY_USER]
                old_faces = [f for f in photo.faces if f.detector != DRAWN_BY_USER]
                photo.width, photo.height = found.width, found.height
                photo.taken_at = found.taken_at
                photo.duration_s = found.duration_s
                photo.status, photo.error = PhotoStatus.DONE, None
                if found.media == "video":
                    videos += 1
                    frames += found.frames
                taken = forgotten_of.get(photo.id, []) + drawn
                spans: list[tuple[float, float, float] | None] = list(found.spans) or [None] * n
                kept = [
                    (det, vec, thumb, span)
                    for det, vec, thumb, span in zip(
                        found.detections, vectors, _padded(found.thumbnails, n), spans, strict=True
                    )
                    # a face the user forgot (it stays forgotten) or drew (not added twice)
                    if not (taken and _in_place_of(det.box, taken))
                ]
                detected += 1
                faces_added += len(kept)
                if not old_faces:
                    # a photo seen for the first time: its rows go in with the batch's, below
                    for det, vec, thumb, span in kept:
                        new_rows.append(self._face_row(photo.id, det, span))
                        new_codes.append(to_bytes(vec))
                        new_thumbs.append(thumb)
                    continue
                new_faces = []
                for det, vec, _, span in kept:
                    face = Face(photo=photo, **self._face_row(None, det, span))
                    face.embeddings.append(
                        Embedding(model_version_id=self.version_id, vector=to_bytes(vec))
                    )
                    new_faces.append(face)
                session.add_all(new_faces)
                iou = _iou(old_faces, new_faces)
                removed += carry_labels(session, old_faces, new_faces, iou)
                thumbs.extend((f, t) for f, (_, _, t, _) in zip(new_faces, kept, strict=True) if t)
            session.flush()
            thumb_files = [(f.id, data) for f, data in thumbs]
            if new_rows:
                # one multi-row INSERT of the new faces (their ids back in order), one of their
                # embeddings: the ORM's unit of work cost about twice as much per face
                # (docs/benchmarks/2026-12-07-cluster-scan.md)
                face_ids = session.scalars(
                    insert(Face).returning(Face.id, sort_by_parameter_order=True), new_rows
                ).all()
                session.execute(
                    insert(Embedding),
                    [
                        {"face_id": i, "model_version_id": self.version_id, "vector": code}
                        for i, code in zip(face_ids, new_codes, strict=True)
                    ],
                )
                thumb_files += [(i, t) for i, t in zip(face_ids, new_thumbs, strict=True) if t]
        # counted once committed, so a crash or cancel never over-reports
        self.result.faces_added += faces_added
        self.result.faces_removed += len(removed)
        self.result.photos_failed += failed
        self.result.photos_detected += detected
        self.result.videos_detected += videos
        self.result.video_frames += frames
        remove_thumbnails(self.library.thumbnails_dir, removed)
        folder = self.library.thumbnails_dir
        # a file each: the time goes in the file system's calls, which overlap in threads
        with ThreadPoolExecutor(THUMBNAIL_THREADS) as pool:
            list(pool.map(lambda item: write_thumbnail(folder, *item), thumb_files))
        return len(batch)

    def _face_row(
        self,
        photo_id: int | None,
        det: Detection,
        span: tuple[float, float, float] | None = None,
    ) -> dict[str, Any]:
        """A new face's columns (plain floats: the Core INSERT takes no numpy scalars); ``span``:
        a video track's first and last time seen and its best frame, in seconds."""
        row: dict[str, Any] = {
            "x1": float(det.box[0]),
            "y1": float(det.box[1]),
            "x2": float(det.box[2]),
            "y2": float(det.box[3]),
            "landmarks": pack_landmarks(det.landmarks.tolist()),
            "landmark_scheme": det.scheme,
            "detector": self.job.detector.name,
            "det_score": float(det.score),
        }
        if photo_id is not None:
            row["photo_id"] = photo_id
        if span is not None:
            row["track_start_s"], row["track_end_s"], row["frame_s"] = map(float, span)
        return row


def _padded(items: list[bytes], n: int) -> list[bytes]:
    """``items`` made ``n`` long (a pipeline may hand over fewer thumbnails than faces)."""
    return [*items[:n], *([b""] * (n - len(items)))]


def _in_place_of(box: Any, places: list[tuple[float, float, float, float]]) -> bool:
    """Whether a detected box is in one of ``places`` (faces the user asked to forget, or drew
    by hand)."""
    a = torch.tensor([list(map(float, box[:4]))])
    b = torch.tensor(places, dtype=torch.float32)
    return bool((torchvision.ops.box_iou(a, b) >= SAME_PLACE_IOU).any())


def _changed_since_plan(photo: Photo) -> bool:
    """Whether the file is no longer what the plan saw (size and modification time)."""
    try:
        st = os.stat(photo.path)
    except OSError:
        return True
    return (st.st_size, st.st_mtime_ns) != (photo.size, photo.mtime_ns)


FaceSource = Callable[[Iterator[Path]], Iterator[PhotoFaces]]
"""Photos in, their faces out in the same order: :func:`~facenet_core.vision.faces.find_faces`
(chips, embedded here) or the batched GPU pipeline (:mod:`facenet_core.vision.batched`,
embeddings included)."""


def ingest_pending(
    ingest: Ingest,
    queue: list[tuple[int, str]],
    reporter: Reporter,
    cancel: CancelToken,
    faces: FaceSource,
    *,
    batch_faces: int | None = None,
    batch_seconds: float = 1.0,
    phase: str = "faces",
    unit: str = "photo",
) -> None:
    """Find, embed and store the faces of the queued ``(photo id, path)`` pairs, committing a
    batch of photos once ``batch_faces`` faces (default :data:`BATCH_FACES`, read when called)
    or ``batch_seconds`` have gathered. Progress events are ``phase`` events counting ``unit``
    (videos: ``phase="videos"``, ``unit="video"``, with the frames read so far)."""
    batch_faces = BATCH_FACES if batch_faces is None else batch_faces
    total = len(queue)
    clock = PhaseClock("scan", phase, unit)
    if not total:
        return
    ids: deque[int] = deque()  # results come back in input order
    done = 0
    batch: list[tuple[int, PhotoFaces]] = []
    last_commit = time.monotonic()

    def paths() -> Iterator[Path]:
        for photo_id, path in queue:
            if cancel.cancelled:
                return
            ids.append(photo_id)
            yield Path(path)

    def event() -> None:
        r = ingest.result
        if unit == "video":  # and the frames read so far
            progress = clock.event(
                done, total, faces=r.faces_added, failed=r.photos_failed, frames=r.video_frames
            )
        else:
            progress = clock.event(done, total, faces=r.faces_added, failed=r.photos_failed)
        reporter(progress)

    # Embedding and storing run in a thread of their own, one batch at a time, while detection
    # goes on in the face source's threads (each with one torch thread, like this one).
    with single_torch_thread_executor() as writer:
        storing: Future[int] | None = None
        for found in faces(paths()):
            batch.append((ids.popleft(), found))
            pending_faces = sum(len(r.detections) for _, r in batch)
            if pending_faces >= batch_faces or time.monotonic() - last_commit > batch_seconds:
                if storing is not None:
                    done += storing.result()
                    event()
                storing = writer.submit(ingest.store, batch)
                batch = []
                last_commit = time.monotonic()
        if storing is not None:
            done += storing.result()
        if batch:
            done += writer.submit(ingest.store, batch).result()
    if cancel.cancelled and done < total:
        ingest.result.cancelled = True
    event()
