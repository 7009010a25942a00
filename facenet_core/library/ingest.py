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
from operator import itemgetter
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
import torchvision.ops
from sqlalchemy import Dialect, Insert, Table, Update, bindparam, insert, select, update
from sqlalchemy.orm import Session

from facenet_core.library.forget import forgotten_boxes_of
from facenet_core.library.result import ScanResult
from facenet_core.library.walk import CHANGED_WHILE_READ
from facenet_core.people.rules import SAME_PLACE_IOU, carry_labels
from facenet_core.progress import CancelToken, PhaseClock, Reporter
from facenet_core.quantize import SIZES, quantize
from facenet_core.store import (
    DRAWN_BY_USER,
    Assignment,
    Embedding,
    Face,
    Library,
    Photo,
    PhotoStatus,
    next_face_id,
)
from facenet_core.store.chunks import chunks
from facenet_core.store.db import let_others_write
from facenet_core.store.models import LANDMARK_COUNT, utcnow
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


@dataclasses.dataclass
class _Found:
    """One photo's results made ready for the rows outside the write lock: each face's
    columns (no id, no photo yet), its 128- or 256-byte code and its thumbnail."""

    rows: list[dict[str, Any]]
    codes: list[bytes]
    thumbs: list[bytes]


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
        self._committed = 0.0  # when the last batch was committed (time.monotonic)

    def store(self, batch: list[tuple[int, PhotoFaces]]) -> int:
        """Embed (unless the pipeline already did) and commit one batch of photos: each photo
        with all its faces, or not at all.

        The writer's ceiling (docs/design/cluster.md): every face's columns, code and landmarks
        are made before the write lock is taken; under it, the batch's photos, their faces and
        their forgotten places are read in one query each, the new faces are numbered here
        (:func:`~facenet_core.store.next_face_id`) and go in with their embeddings in two
        ``executemany`` INSERTs, the photos' new state in one or two ``executemany`` UPDATEs;
        only a photo that already had faces (changed since its last scan) loads them as ORM
        objects, to hand their labels on. Thumbnail files are written after the commit."""
        prepared = self._prepare(batch)
        removed: list[int] = []
        thumb_files: list[tuple[int, bytes]] = []
        faces_added = failed = detected = videos = frames = 0
        ids = list(dict.fromkeys(photo_id for photo_id, _ in batch))
        let_others_write(since=self._committed)
        with self.library.write() as session:
            dialect = session.get_bind().dialect
            now = utcnow()
            # the same for every row: in the driver's types once per batch, not once per row
            common = {
                "scanned_at": _to_driver(Photo.scanned_at, now, dialect),
                "detector": self.job.detector.name,
                "detector_settings": _to_driver(
                    Photo.detector_settings, dataclasses.asdict(self.job.detector), dialect
                ),
            }
            face_common = {
                "created_at": _to_driver(Face.created_at, now, dialect),
                "assignment": Assignment.NONE.value,
                "is_ignored": False,
            }
            taken_at = Photo.taken_at.type.bind_processor(dialect) or (lambda v: v)
            photos: dict[int, Any] = {}  # id, status, path, size, mtime_ns
            old_of: dict[int, list[Face]] = {}
            forgotten_of: dict[int, list[tuple[float, float, float, float]]] = {}
            for chunk in chunks(ids):
                photos.update(
                    (row.id, row)
                    for row in session.execute(
                        select(
                            Photo.id, Photo.status, Photo.path, Photo.size, Photo.mtime_ns
                        ).where(Photo.id.in_(chunk))
                    )
                )
                for face in session.scalars(select(Face).where(Face.photo_id.in_(chunk))):
                    old_of.setdefault(face.photo_id, []).append(face)
                forgotten_of.update(forgotten_boxes_of(session, chunk))
            next_id = next_face_id(session)
            face_rows: list[dict[str, Any]] = []
            code_rows: list[dict[str, Any]] = []
            done_rows: list[dict[str, Any]] = []
            failed_rows: list[dict[str, Any]] = []
            changed: list[tuple[list[Face], list[int]]] = []
            for (photo_id, found), ready in zip(batch, prepared, strict=True):
                photo = photos.pop(photo_id, None)
                if photo is None or photo.status != PhotoStatus.PENDING:
                    continue  # gone or changed meanwhile (or twice in the batch): the next scan
                state = {"b_id": photo_id, "media_kind": str(found.media), **common}
                error = found.error
                if _changed_since_plan(photo.path, photo.size, photo.mtime_ns):
                    # what was read (faces, or a failure) may come from other bytes than the
                    # hash the plan recorded: record neither; the next scan reads it again
                    error = CHANGED_WHILE_READ
                if error is not None or ready is None:
                    failed_rows.append(
                        {**state, "status": PhotoStatus.FAILED.value, "error": error}
                    )
                    failed += 1  # faces it had before (and their labels) are kept
                    continue
                done_rows.append(
                    {
                        **state,
                        "width": found.width,
                        "height": found.height,
                        "taken_at": None if found.taken_at is None else taken_at(found.taken_at),
                        "duration_s": found.duration_s,
                        "status": PhotoStatus.DONE.value,
                        "error": None,
                    }
                )
                if found.media == "video":
                    videos += 1
                    frames += found.frames
                detected += 1
                # a face the user drew stays: no re-detection replaces or removes it, and a
                # detection in its place is the same face (not added twice); a face the user
                # forgot stays forgotten
                olds = old_of.get(photo_id, [])
                taken = forgotten_of.get(photo_id, []) + [
                    f.box for f in olds if f.detector == DRAWN_BY_USER
                ]
                first = next_id
                for det, row, code, thumb in zip(
                    found.detections, ready.rows, ready.codes, ready.thumbs, strict=True
                ):
                    if taken and _in_place_of(det.box, taken):
                        continue
                    face_rows.append({**row, **face_common, "id": next_id, "photo_id": photo_id})
                    code_rows.append(
                        {"face_id": next_id, "model_version_id": self.version_id, "vector": code}
                    )
                    if thumb:
                        thumb_files.append((next_id, thumb))
                    next_id += 1
                faces_added += next_id - first
                old_faces = [f for f in olds if f.detector != DRAWN_BY_USER]
                if old_faces:
                    changed.append((old_faces, list(range(first, next_id))))
            _update_photos(session, done_rows)
            _update_photos(session, failed_rows)
            # numbered here, so no RETURNING: SQLAlchemy runs an INSERT ... RETURNING whose rows
            # must come back in order one row at a time on SQLite
            _insert(session, Face.__table__, face_rows)
            _insert(session, Embedding.__table__, code_rows)
            if changed:
                # a photo scanned before: its old faces hand their labels to the new ones in
                # the same places, then go (with their thumbnails)
                new_ids = [i for _, new in changed for i in new]
                loaded = {
                    face.id: face
                    for chunk in chunks(new_ids)
                    for face in session.scalars(select(Face).where(Face.id.in_(chunk)))
                }
                for old_faces, new in changed:
                    new_faces = [loaded[i] for i in new]
                    removed += carry_labels(
                        session, old_faces, new_faces, _iou(old_faces, new_faces)
                    )
        self._committed = time.monotonic()
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

    def _prepare(self, batch: list[tuple[int, PhotoFaces]]) -> list[_Found | None]:
        """Each photo's face rows, codes and thumbnails, before the write lock (None for a photo
        that failed): the chips of a source that does not embed are embedded in one batch,
        every code is quantized in one call and every landmark set packed in one."""
        todo = [r for _, r in batch if r.error is None and r.embeddings is None and len(r.chips)]
        if todo and self.embedder is None:
            raise ValueError("chips without embeddings, and no embedder to embed them")
        embedded: Iterator[np.ndarray] = iter(())
        if todo and self.embedder is not None:
            arcface = [r.arcface_chips for r in todo if r.arcface_chips is not None]
            vectors = self.embedder.embed(
                np.concatenate([r.chips for r in todo]),
                np.concatenate(arcface) if len(arcface) == len(todo) else None,
            )
            sizes = np.cumsum([len(r.chips) for r in todo])[:-1]
            embedded = iter(np.split(vectors, sizes))
        per_photo: list[np.ndarray | None] = []
        for _, r in batch:
            if r.error is not None:
                per_photo.append(None)
            elif r.embeddings is not None:
                per_photo.append(np.asarray(r.embeddings))
            elif len(r.chips):
                per_photo.append(next(embedded))
            else:
                per_photo.append(np.zeros((0, EMBEDDING_DIM), np.float32))
        faces = [v for v in per_photo if v is not None and len(v)]
        codes = np.zeros((0, EMBEDDING_DIM), np.int8)
        points = np.zeros((0, LANDMARK_COUNT * 2), "<f4")
        if faces:
            codes = quantize(np.concatenate(faces))
            if codes.shape[1] not in SIZES:
                raise ValueError(f"expected 128-D or 256-D embeddings, got {codes.shape[1]}-D")
            points = np.stack(
                [
                    np.asarray(d.landmarks, np.float32).reshape(LANDMARK_COUNT * 2)
                    for (_, r), v in zip(batch, per_photo, strict=True)
                    if v is not None
                    for d in r.detections
                ]
            ).astype("<f4")
        out: list[_Found | None] = []
        at = 0
        for (_, found), found_vectors in zip(batch, per_photo, strict=True):
            if found_vectors is None:
                out.append(None)
                continue
            n = len(found.detections)
            if len(found_vectors) != n:
                raise ValueError(f"{n} faces but {len(found_vectors)} embeddings in {found.path}")
            spans: list[tuple[float, float, float] | None] = list(found.spans) or [None] * n
            out.append(
                _Found(
                    [
                        self._face_row(det, points[at + j].tobytes(), span)
                        for j, (det, span) in enumerate(zip(found.detections, spans, strict=True))
                    ],
                    [codes[at + j].tobytes() for j in range(n)],
                    _padded(found.thumbnails, n),
                )
            )
            at += n
        return out

    def _face_row(
        self, det: Detection, landmarks: bytes, span: tuple[float, float, float] | None
    ) -> dict[str, Any]:
        """A new face's columns, but its id and photo (plain floats: the Core INSERT takes no
        numpy scalars); ``span``: a video track's first and last time seen and its best frame,
        in seconds. Every column is given (the INSERT's rows must all have the same keys)."""
        x1, y1, x2, y2 = det.box
        start, end, best = map(float, span) if span is not None else (None, None, None)
        return {
            "x1": float(x1),
            "y1": float(y1),
            "x2": float(x2),
            "y2": float(y2),
            "landmarks": landmarks,
            "landmark_scheme": str(det.scheme),
            "detector": self.job.detector.name,
            "det_score": float(det.score),
            "track_start_s": start,
            "track_end_s": end,
            "frame_s": best,
        }


def _to_driver(column: Any, value: Any, dialect: Dialect) -> Any:
    """``value`` as the column's type hands it to the driver (a date as SQLite's text, a dict
    as JSON): done once for a value that every row of a batch shares."""
    process = column.type.bind_processor(dialect)
    return value if process is None or value is None else process(value)


_COMPILED: dict[tuple[str, str, tuple[str, ...]], tuple[str, Callable[[dict[str, Any]], Any]]] = {}
"""SQL and parameter order of each bulk statement, by dialect, statement and columns: compiled
once per process, not once per batch."""


def _executemany(
    session: Session,
    name: str,
    statement: Callable[[], Insert | Update],
    rows: list[dict[str, Any]],
) -> None:
    """Run the statement once per row in one ``executemany`` of the driver, the rows' values
    already in the driver's types: SQLAlchemy's own executemany converted and checked every
    value of every row, which cost as much as SQLite's work (the writer's ceiling,
    docs/design/cluster.md). ``name`` names ``statement()``; it is compiled for exactly the
    rows' keys (every row has the same)."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    key = (dialect.name, name, tuple(rows[0]))
    if key not in _COMPILED:
        compiled = statement().compile(dialect=dialect, column_keys=list(key[2]))
        order = compiled.positiontup
        assert order is not None and len(order) > 1  # SQLite's parameters are positional
        _COMPILED[key] = (str(compiled), itemgetter(*order))
    sql, values = _COMPILED[key]
    session.connection().exec_driver_sql(sql, [values(row) for row in rows])


def _insert(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT ``rows`` (every column named in each, defaults included) into ``table``."""
    _executemany(session, f"insert {table.name}", lambda: insert(table), rows)


def _update_photos(session: Session, rows: list[dict[str, Any]]) -> None:
    """UPDATE each photo ``b_id`` of ``rows`` with the row's other columns."""
    table = cast(Table, Photo.__table__)
    _executemany(
        session,
        "update photos",
        lambda: update(table).where(table.c.id == bindparam("b_id")),
        rows,
    )


def _padded(items: list[bytes], n: int) -> list[bytes]:
    """``items`` made ``n`` long (a pipeline may hand over fewer thumbnails than faces)."""
    return [*items[:n], *([b""] * (n - len(items)))]


def _in_place_of(box: Any, places: list[tuple[float, float, float, float]]) -> bool:
    """Whether a detected box is in one of ``places`` (faces the user asked to forget, or drew
    by hand)."""
    a = torch.tensor([list(map(float, box[:4]))])
    b = torch.tensor(places, dtype=torch.float32)
    return bool((torchvision.ops.box_iou(a, b) >= SAME_PLACE_IOU).any())


def _changed_since_plan(path: str, size: int, mtime_ns: int) -> bool:
    """Whether the file is no longer what the plan saw (its size and modification time)."""
    try:
        st = os.stat(path)
    except OSError:
        return True
    return (st.st_size, st.st_mtime_ns) != (size, mtime_ns)


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
    pending_faces = 0
    with single_torch_thread_executor() as writer:
        storing: Future[int] | None = None
        for found in faces(paths()):
            batch.append((ids.popleft(), found))
            pending_faces += len(found.detections)
            if pending_faces >= batch_faces or time.monotonic() - last_commit > batch_seconds:
                if storing is not None:
                    done += storing.result()
                    event()
                storing = writer.submit(ingest.store, batch)
                batch, pending_faces = [], 0
                last_commit = time.monotonic()
        if storing is not None:
            done += storing.result()
        if batch:
            done += writer.submit(ingest.store, batch).result()
    if cancel.cancelled and done < total:
        ingest.result.cancelled = True
    event()
