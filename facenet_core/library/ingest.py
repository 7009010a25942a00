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
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision.ops

from facenet_core.library.forget import forgotten_boxes
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
from facenet_core.types import EMBEDDING_DIM
from facenet_core.vision.embed import Embedder
from facenet_core.vision.faces import FaceJob, PhotoFaces, single_torch_thread_executor

BATCH_FACES = 64
"""Faces embedded and committed together (a batch also closes after a second)."""
BATCHED_FACES = 256
"""Faces committed together when the batched GPU pipeline embeds them (or after 2 seconds).
Storing costs per face, not per commit, so small transactions keep up with the device just as
well, and a user's edit waiting for the write lock waits for one short batch: on the 2-core dev
machine under load, a batch held the lock 0.9 s for 256 faces, 2.7 s for 1,024 and 10.5 s for
4,096 (``docs/benchmarks/2026-12-07-edits-during-jobs.md``)."""


def _iou(old: list[Face], new: list[Face]) -> np.ndarray:
    a = torch.tensor([f.box for f in old], dtype=torch.float64).reshape(-1, 4)
    b = torch.tensor([f.box for f in new], dtype=torch.float64).reshape(-1, 4)
    return np.nan_to_num(torchvision.ops.box_iou(a, b).numpy(), nan=0.0)


class Ingest:
    """Stores batches of found faces for one scan."""

    def __init__(
        self,
        library: Library,
        embedder: Embedder,
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
        chips = [
            r.chips for _, r in batch if r.error is None and r.embeddings is None and len(r.chips)
        ]
        embeddings = (
            self.embedder.embed(np.concatenate(chips))
            if chips
            else np.zeros((0, EMBEDDING_DIM), np.float32)
        )
        thumbs: list[tuple[Face, bytes]] = []
        removed: list[int] = []
        faces_added = failed = detected = videos = frames = 0
        offset = 0
        settings = dataclasses.asdict(self.job.detector)
        if not chips:  # embedded by the pipeline: no pause of our own since the last batch
            let_others_write()
        with self.library.write() as session:
            for photo_id, found in batch:
                n = len(found.detections) if found.error is None else 0
                photo = session.get(Photo, photo_id)
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
                new_faces = []
                taken = forgotten_boxes(session, photo.id) + drawn
                kept_thumbs = []
                spans: list[tuple[float, float, float] | None] = list(found.spans) or [None] * n
                for det, vec, thumb, span in zip(
                    found.detections, vectors, _padded(found.thumbnails, n), spans, strict=True
                ):
                    if taken and _in_place_of(det.box, taken):
                        continue  # a face the user forgot (it stays forgotten) or drew
                    kept_thumbs.append(thumb)
                    face = Face(
                        photo=photo,
                        x1=det.box[0],
                        y1=det.box[1],
                        x2=det.box[2],
                        y2=det.box[3],
                        landmarks=pack_landmarks(det.landmarks.tolist()),
                        landmark_scheme=det.scheme,
                        detector=self.job.detector.name,
                        det_score=det.score,
                    )
                    if span is not None:  # a video's track: when it is seen
                        face.track_start_s, face.track_end_s, face.frame_s = span
                    face.embeddings.append(
                        Embedding(model_version_id=self.version_id, vector=to_bytes(vec))
                    )
                    new_faces.append(face)
                session.add_all(new_faces)
                if old_faces:
                    iou = _iou(old_faces, new_faces)
                    removed += carry_labels(session, old_faces, new_faces, iou)
                faces_added += len(new_faces)
                detected += 1
                thumbs.extend((f, t) for f, t in zip(new_faces, kept_thumbs, strict=True) if t)
            session.flush()
            thumb_files = [(f.id, data) for f, data in thumbs]
        # counted once committed, so a crash or cancel never over-reports
        self.result.faces_added += faces_added
        self.result.faces_removed += len(removed)
        self.result.photos_failed += failed
        self.result.photos_detected += detected
        self.result.videos_detected += videos
        self.result.video_frames += frames
        remove_thumbnails(self.library.thumbnails_dir, removed)
        for face_id, data in thumb_files:
            write_thumbnail(self.library.thumbnails_dir, face_id, data)
        return len(batch)


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
