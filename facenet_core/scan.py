"""Scanning folders into the library: incremental, resumable, and never losing the user's work.

A scan has two phases.

1. **Plan** (fast, in this process): walk the roots; compare every supported file with the
   library by path, size and modification time. Unchanged files are skipped. Changed files are
   queued again. A new path whose content hash matches a photo whose file is gone is a *move*:
   the row takes the new path and keeps its faces, people and labels. Other new files get a
   ``pending`` row. Photos under the roots whose files vanished are marked ``missing``, never
   deleted, so their labels survive until the file comes back. The plan is committed before any
   face is detected.
2. **Faces** (worker processes + batched embedding here): every ``pending`` photo is decoded,
   detected, aligned and embedded; each photo's faces, embeddings and its ``done`` status are
   committed in one transaction. A crash or Ctrl-C at any moment therefore leaves each photo
   either done with all its faces or still pending, and the next scan finishes the job with no
   duplicates.

Bad files never stop a scan: each is recorded as ``failed`` with a reason a person understands.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from facenet_core.embed import Embedder
from facenet_core.models.files import sha256_file
from facenet_core.pipeline import FaceJob, PhotoFaces, find_faces
from facenet_core.quantize import to_bytes
from facenet_core.store import (
    Assignment,
    Embedding,
    Face,
    FaceRejection,
    Photo,
    PhotoStatus,
    Root,
    ScanJob,
    ScanStatus,
    ensure_active_model_version,
    pack_landmarks,
)
from facenet_core.store.models import utcnow
from facenet_core.thumbnails import write_thumbnail

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".heic", ".heif"}
)


@dataclass
class FoundFile:
    path: str
    size: int = 0
    mtime_ns: int = 0
    error: str | None = None


@dataclass
class ScanStats:
    photos_added: int = 0
    photos_unchanged: int = 0
    photos_moved: int = 0
    photos_changed: int = 0
    photos_failed: int = 0
    photos_missing: int = 0
    faces_added: int = 0
    seconds: float = 0.0
    cancelled: bool = False

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ScanProgress:
    """A progress event: ``phase`` is ``"walk"`` or ``"faces"``; ``total`` may be unknown."""

    phase: str
    done: int
    total: int | None
    faces: int
    elapsed: float
    stats: ScanStats = field(repr=False, default_factory=ScanStats)


def _stat_error(exc: OSError, path: str) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop: the link points back to itself"
    if isinstance(exc, FileNotFoundError) and os.path.islink(path):
        return "broken symbolic link: its target does not exist"
    if isinstance(exc, PermissionError):
        return "permission denied: the file cannot be read"
    return f"cannot read the file ({exc.strerror or exc})"


_BAD_NAME = "the file name is not valid UTF-8 text; rename the file to scan it"


def _is_text(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept by Python as lone surrogates
        return False
    return True


def walk_photos(roots: Iterable[Path]) -> Iterator[FoundFile]:
    """Every file with a supported image suffix below ``roots``, following symbolic links to
    folders once (loops are cut), with a reason for each file that cannot be examined."""
    seen_dirs: set[tuple[int, int]] = set()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            try:
                st = os.stat(dirpath)
            except OSError:
                dirnames[:] = []
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen_dirs:
                dirnames[:] = []
                continue
            seen_dirs.add(key)
            dirnames.sort()
            for name in sorted(filenames):
                if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
                    continue
                path = os.path.join(dirpath, name)
                if not _is_text(path):
                    # a name in a legacy encoding cannot be stored (SQLite text is UTF-8): record
                    # it under a readable, escaped spelling instead of failing the whole scan
                    shown = os.fsencode(path).decode("utf-8", "backslashreplace")
                    yield FoundFile(os.path.abspath(shown), error=_BAD_NAME)
                    continue
                try:
                    st = os.stat(path)
                except OSError as exc:
                    yield FoundFile(os.path.abspath(path), error=_stat_error(exc, path))
                    continue
                if not os.path.isfile(path):
                    continue
                yield FoundFile(os.path.abspath(path), st.st_size, st.st_mtime_ns)


def _hash(path: str) -> tuple[str, str | None]:
    try:
        return sha256_file(Path(path)), None
    except PermissionError:
        return "", "permission denied: the file cannot be read"
    except OSError as exc:
        return "", f"cannot read the file ({exc.strerror or exc})"


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class Scanner:
    """Scans folders into a library. ``run`` yields :class:`ScanProgress` events; the final
    counts are in ``stats``. Set ``cancel`` (or interrupt) to stop cleanly; a later scan resumes."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        embedder: Embedder,
        job: FaceJob,
        *,
        thumbnails_dir: Path | None = None,
        workers: int | None = None,
        batch_faces: int = 64,
        commit_every: float = 2.0,
    ) -> None:
        self.sessions = sessions
        self.embedder = embedder
        self.job = job
        self.thumbnails_dir = thumbnails_dir
        self.workers = workers
        self.batch_faces = batch_faces
        self.commit_every = commit_every
        self.cancel = threading.Event()
        self.stats = ScanStats()
        self._start = 0.0

    # -- phase 1 -------------------------------------------------------------------------------

    def _plan(self, roots: list[Path]) -> Iterator[ScanProgress]:
        found = 0
        new_files: list[FoundFile] = []
        seen: set[str] = set()
        with self.sessions() as session:
            known = {
                row.path: row
                for row in session.execute(
                    select(Photo.id, Photo.path, Photo.size, Photo.mtime_ns, Photo.status)
                )
            }
            root_ids = {str(r): self._root_id(session, r) for r in roots}
            for f in walk_photos(roots):
                found += 1
                seen.add(f.path)
                row = known.get(f.path)
                if f.error is not None:
                    self._record_unreadable(session, f, row, root_ids)
                elif row is None:
                    new_files.append(f)
                elif row.size == f.size and row.mtime_ns == f.mtime_ns:
                    if row.status == PhotoStatus.MISSING:  # the file came back
                        session.execute(
                            update(Photo)
                            .where(Photo.id == row.id)
                            .values(status=PhotoStatus.DONE, error=None)
                        )
                    if row.status != PhotoStatus.PENDING:
                        self.stats.photos_unchanged += 1
                else:
                    digest, error = _hash(f.path)
                    session.execute(
                        update(Photo)
                        .where(Photo.id == row.id)
                        .values(
                            size=f.size,
                            mtime_ns=f.mtime_ns,
                            content_hash=digest,
                            status=PhotoStatus.FAILED if error else PhotoStatus.PENDING,
                            error=error,
                        )
                    )
                    self.stats.photos_changed += 1
                if found % 500 == 0:
                    yield self._progress("walk", found, None)

            # vanished files under the scanned roots: keep them (and their labels) as missing
            prefixes = tuple(os.path.join(str(r), "") for r in roots)
            gone = [
                row.id
                for path, row in known.items()
                if path.startswith(prefixes)
                and path not in seen
                and row.status != PhotoStatus.MISSING
                and not os.path.exists(path)
            ]
            for chunk in range(0, len(gone), 500):
                session.execute(
                    update(Photo)
                    .where(Photo.id.in_(gone[chunk : chunk + 500]))
                    .values(status=PhotoStatus.MISSING)
                )
            session.commit()

            moved_ids = self._add_or_move(session, new_files, root_ids)
            self.stats.photos_missing = len(set(gone) - moved_ids)
            session.commit()
        yield self._progress("walk", found, found)

    def _root_id(self, session: Session, root: Path) -> int:
        existing = session.scalars(select(Root).where(Root.path == str(root))).one_or_none()
        if existing is None:
            existing = Root(path=str(root))
            session.add(existing)
            session.flush()
        return existing.id

    @staticmethod
    def _root_for(path: str, root_ids: dict[str, int]) -> int | None:
        for root, rid in root_ids.items():
            if path.startswith(os.path.join(root, "")):
                return rid
        return None

    def _record_unreadable(
        self, session: Session, f: FoundFile, row: Any, root_ids: dict[str, int]
    ) -> None:
        if row is None:
            session.add(_new_photo(f, self._root_for(f.path, root_ids), "", f.error))
            self.stats.photos_failed += 1
        elif row.status == PhotoStatus.DONE:
            # an unreadable file that had faces: keep the faces and labels, say what happened
            session.execute(
                update(Photo)
                .where(Photo.id == row.id)
                .values(status=PhotoStatus.MISSING, error=f.error)
            )
        else:
            self.stats.photos_unchanged += 1

    def _add_or_move(
        self, session: Session, new_files: list[FoundFile], root_ids: dict[str, int]
    ) -> set[int]:
        """Insert new photos as pending, or move known ones; returns the ids of moved photos."""
        moved: set[int] = set()
        if not new_files:
            return moved
        with ThreadPoolExecutor(max_workers=4) as pool:
            digests = list(pool.map(lambda f: _hash(f.path), new_files))
        wanted = {d for d, err in digests if d and err is None}
        candidates: dict[str, list[Any]] = {}
        for chunk in _chunks(sorted(wanted), 500):
            for row in session.execute(
                select(Photo.id, Photo.path, Photo.status, Photo.error, Photo.content_hash).where(
                    Photo.content_hash.in_(chunk)
                )
            ):
                candidates.setdefault(row.content_hash, []).append(row)
        for f, (digest, error) in zip(new_files, digests, strict=True):
            root_id = self._root_for(f.path, root_ids)
            if error is not None:
                session.add(_new_photo(f, root_id, "", error))
                self.stats.photos_failed += 1
                continue
            moved_from = next(
                (
                    row
                    for row in candidates.get(digest, [])
                    if row.status == PhotoStatus.MISSING or not os.path.exists(row.path)
                ),
                None,
            )
            if moved_from is not None:
                candidates[digest].remove(moved_from)
                status = PhotoStatus.FAILED if moved_from.error else PhotoStatus.DONE
                if moved_from.status == PhotoStatus.PENDING:
                    status = PhotoStatus.PENDING
                session.execute(
                    update(Photo)
                    .where(Photo.id == moved_from.id)
                    .values(
                        path=f.path,
                        root_id=root_id,
                        size=f.size,
                        mtime_ns=f.mtime_ns,
                        status=status,
                    )
                )
                self.stats.photos_moved += 1
                moved.add(moved_from.id)
            else:
                session.add(_new_photo(f, root_id, digest, None))
                self.stats.photos_added += 1
        return moved

    # -- phase 2 -------------------------------------------------------------------------------

    def _faces(self, roots: list[Path]) -> Iterator[ScanProgress]:
        prefixes = tuple(os.path.join(str(r), "") for r in roots)
        with self.sessions() as session:
            version = ensure_active_model_version(
                session, self.embedder.info.name, self.embedder.info.sha256
            )
            session.commit()
            version_id = version.id
            queue = [
                (row.id, row.path)
                for row in session.execute(
                    select(Photo.id, Photo.path)
                    .where(Photo.status == PhotoStatus.PENDING)
                    .order_by(Photo.id)
                )
                if row.path.startswith(prefixes)
            ]
        total = len(queue)
        if not total:
            return
        ids = {path: pid for pid, path in queue}
        done = 0
        batch: list[tuple[int, PhotoFaces]] = []
        last_commit = time.monotonic()

        def paths() -> Iterator[Path]:
            for _, path in queue:
                if self.cancel.is_set():
                    return
                yield Path(path)

        for result in find_faces(paths(), self.job, self.workers):
            batch.append((ids[str(result.path)], result))
            pending_faces = sum(len(r.detections) for _, r in batch)
            if pending_faces >= self.batch_faces or time.monotonic() - last_commit > 1.0:
                done += self._store(batch, version_id)
                batch = []
                last_commit = time.monotonic()
                yield self._progress("faces", done, total)
        if batch:
            done += self._store(batch, version_id)
        if self.cancel.is_set() and done < total:
            self.stats.cancelled = True
        yield self._progress("faces", done, total)

    def _store(self, batch: list[tuple[int, PhotoFaces]], version_id: int) -> int:
        """Embed and commit one batch of photos: each photo with all its faces, or not at all."""
        chips = [r.chips for _, r in batch if r.error is None and len(r.chips)]
        embeddings = (
            self.embedder.embed(np.concatenate(chips)) if chips else np.zeros((0, 128), np.float32)
        )
        thumbs: list[tuple[Face, bytes]] = []
        offset = 0
        with self.sessions() as session, session.begin():
            for photo_id, result in batch:
                photo = session.get(Photo, photo_id)
                if photo is None:
                    continue
                photo.scanned_at = utcnow()
                photo.detector = self.job.detector.name
                photo.detector_settings = asdict(self.job.detector)
                if result.error is not None:
                    photo.status = PhotoStatus.FAILED
                    photo.error = result.error
                    self.stats.photos_failed += 1  # faces it had before (and labels) are kept
                    continue
                n = len(result.detections)
                vectors = embeddings[offset : offset + n]
                offset += n
                old_faces = list(photo.faces)
                photo.width, photo.height, photo.taken_at = (
                    result.width,
                    result.height,
                    result.taken_at,
                )
                photo.status, photo.error = PhotoStatus.DONE, None
                new_faces = []
                for det, vec in zip(result.detections, vectors, strict=True):
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
                    face.embeddings.append(
                        Embedding(model_version_id=version_id, vector=to_bytes(vec))
                    )
                    new_faces.append(face)
                session.add_all(new_faces)
                if old_faces:
                    _carry_labels(session, old_faces, new_faces)
                self.stats.faces_added += n
                thumbs.extend(zip(new_faces, result.thumbnails, strict=False))
            session.flush()
            thumb_files = [(f.id, data) for f, data in thumbs]
        self._write_thumbnails(thumb_files)
        return len(batch)

    def _write_thumbnails(self, items: list[tuple[int, bytes]]) -> None:
        if self.thumbnails_dir is None:
            return
        for face_id, data in items:
            write_thumbnail(self.thumbnails_dir, face_id, data)

    # -- driver --------------------------------------------------------------------------------

    def _progress(self, phase: str, done: int, total: int | None) -> ScanProgress:
        self.stats.seconds = time.perf_counter() - self._start
        return ScanProgress(
            phase, done, total, self.stats.faces_added, self.stats.seconds, self.stats
        )

    def run(self, roots: Sequence[Path | str]) -> Iterator[ScanProgress]:
        """Scan ``roots``; yields progress events. Interrupting the iteration is safe."""
        self._start = time.perf_counter()
        paths = [Path(os.path.abspath(r)) for r in roots]
        for root in paths:
            if not root.is_dir():
                raise NotADirectoryError(f"{root}: not a folder")
        with self.sessions() as session, session.begin():
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
            yield from self._plan(paths)
            yield from self._faces(paths)
            if not self.stats.cancelled:
                status = ScanStatus.DONE
        finally:
            self.stats.seconds = time.perf_counter() - self._start
            self.stats.cancelled = status != ScanStatus.DONE
            with self.sessions() as session, session.begin():
                record = session.get(ScanJob, job_id)
                if record is not None:
                    record.status = status
                    record.finished_at = utcnow()
                    record.counts = {
                        k: v for k, v in asdict(self.stats).items() if isinstance(v, int)
                    }


def _new_photo(f: FoundFile, root_id: int | None, digest: str, error: str | None) -> Photo:
    """A new photo row: ``pending`` for the faces phase, or ``failed`` with its reason."""
    return Photo(
        path=f.path,
        root_id=root_id,
        size=f.size,
        mtime_ns=f.mtime_ns,
        content_hash=digest,
        status=PhotoStatus.FAILED if error else PhotoStatus.PENDING,
        error=error,
        scanned_at=utcnow() if error else None,
    )


def _carry_labels(session: Session, old_faces: list[Face], new_faces: list[Face]) -> None:
    """A changed photo was detected again: hand each old face's person and the user's word
    (confirmation, rejections, ignore) to the new face in the same place, then drop the old."""
    taken: set[int] = set()
    for old in old_faces:
        best, best_iou = None, 0.5
        for i, new in enumerate(new_faces):
            overlap = _iou(old.box, new.box)
            if i not in taken and overlap >= best_iou:
                best, best_iou = i, overlap
        if best is not None:
            taken.add(best)
            new = new_faces[best]
            new.person_id = old.person_id
            new.assignment = old.assignment
            new.assignment_confidence = old.assignment_confidence
            new.is_ignored = old.is_ignored
            for rejection in old.rejections:
                new.rejections.append(FaceRejection(person_id=rejection.person_id))
        elif old.assignment == Assignment.CONFIRMED:
            log.warning(
                "photo %s changed and the confirmed face %s is no longer found in it",
                old.photo.path if old.photo else "?",
                old.id,
            )
        session.delete(old)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
