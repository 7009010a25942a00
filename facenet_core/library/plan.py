"""Phase 1 of a scan: compare the files on disk with the library and write down what to do.

Unchanged files (same path, size and modification time) are skipped. Changed files are queued
again. A new path whose content hash matches a photo whose file is gone is a *move*: the row
takes the new path and keeps its faces, people and labels. Other new files get a ``pending`` row.
Photos under the roots whose files vanished are marked ``missing``, never deleted, so their labels
survive until the file comes back. The plan is committed before any face is detected.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from facenet_core.library.result import ScanResult
from facenet_core.library.walk import FoundFile, hash_file, walk_photos
from facenet_core.progress import CancelToken, PhaseClock, Reporter
from facenet_core.store import Photo, PhotoStatus, Root
from facenet_core.store.models import utcnow


def under(path: str, roots: list[Path]) -> bool:
    """Whether ``path`` lies below one of ``roots``."""
    return path.startswith(tuple(os.path.join(str(r), "") for r in roots))


def new_photo(f: FoundFile, root_id: int | None, digest: str, error: str | None) -> Photo:
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


class _Planner:
    def __init__(self, session: Session, roots: list[Path], result: ScanResult) -> None:
        self.session = session
        self.roots = roots
        self.result = result
        self.root_ids = {str(r): self._root_id(r) for r in roots}

    def _root_id(self, root: Path) -> int:
        found = self.session.scalars(select(Root).where(Root.path == str(root))).one_or_none()
        if found is None:
            found = Root(path=str(root))
            self.session.add(found)
            self.session.flush()
        return found.id

    def root_for(self, path: str) -> int | None:
        for root, rid in self.root_ids.items():
            if path.startswith(os.path.join(root, "")):
                return rid
        return None

    def set_photo(self, photo_id: int, **values: Any) -> None:
        self.session.execute(update(Photo).where(Photo.id == photo_id).values(**values))

    def unreadable(self, f: FoundFile, row: Any) -> None:
        if row is None:
            self.session.add(new_photo(f, self.root_for(f.path), "", f.error))
            self.result.photos_failed += 1
        elif row.status == PhotoStatus.DONE:
            # an unreadable file that had faces: keep the faces and labels, say what happened
            self.set_photo(row.id, status=PhotoStatus.MISSING, error=f.error)
        else:
            self.result.photos_unchanged += 1

    def known(self, f: FoundFile, row: Any) -> None:
        if row.size == f.size and row.mtime_ns == f.mtime_ns:
            if row.status == PhotoStatus.MISSING:  # the file came back
                self.set_photo(row.id, status=PhotoStatus.DONE, error=None)
            if row.status != PhotoStatus.PENDING:
                self.result.photos_unchanged += 1
            return
        digest, error = hash_file(f.path)
        self.set_photo(
            row.id,
            size=f.size,
            mtime_ns=f.mtime_ns,
            content_hash=digest,
            status=PhotoStatus.FAILED if error else PhotoStatus.PENDING,
            error=error,
        )
        self.result.photos_changed += 1

    def add_or_move(self, new_files: list[FoundFile]) -> set[int]:
        """Insert new photos as pending, or move known ones; returns the ids of moved photos."""
        moved: set[int] = set()
        if not new_files:
            return moved
        with ThreadPoolExecutor(max_workers=4) as pool:
            digests = list(pool.map(lambda f: hash_file(f.path), new_files))
        wanted = sorted({d for d, err in digests if d and err is None})
        candidates: dict[str, list[Any]] = {}
        for start in range(0, len(wanted), 500):
            for row in self.session.execute(
                select(Photo.id, Photo.path, Photo.status, Photo.error, Photo.content_hash).where(
                    Photo.content_hash.in_(wanted[start : start + 500])
                )
            ):
                candidates.setdefault(row.content_hash, []).append(row)
        for f, (digest, error) in zip(new_files, digests, strict=True):
            root_id = self.root_for(f.path)
            if error is not None:
                self.session.add(new_photo(f, root_id, "", error))
                self.result.photos_failed += 1
                continue
            moved_from = next(
                (
                    row
                    for row in candidates.get(digest, [])
                    if row.status == PhotoStatus.MISSING or not os.path.exists(row.path)
                ),
                None,
            )
            if moved_from is None:
                self.session.add(new_photo(f, root_id, digest, None))
                self.result.photos_added += 1
                continue
            candidates[digest].remove(moved_from)
            status = PhotoStatus.FAILED if moved_from.error else PhotoStatus.DONE
            if moved_from.status == PhotoStatus.PENDING:
                status = PhotoStatus.PENDING
            self.set_photo(
                moved_from.id,
                path=f.path,
                root_id=root_id,
                size=f.size,
                mtime_ns=f.mtime_ns,
                status=status,
            )
            self.result.photos_moved += 1
            moved.add(moved_from.id)
        return moved


def plan_scan(
    session: Session,
    roots: list[Path],
    result: ScanResult,
    reporter: Reporter,
    cancel: CancelToken,
) -> None:
    """Walk ``roots``, record every change in the library (committed), count it in ``result``.
    Cancelling stops the walk; nothing half-planned is committed."""
    clock = PhaseClock("scan", "walk", "photo")
    planner = _Planner(session, roots, result)
    known = {
        row.path: row
        for row in session.execute(
            select(Photo.id, Photo.path, Photo.size, Photo.mtime_ns, Photo.status)
        )
    }
    found = 0
    new_files: list[FoundFile] = []
    seen: set[str] = set()
    for f in walk_photos(roots):
        found += 1
        seen.add(f.path)
        row = known.get(f.path)
        if f.error is not None:
            planner.unreadable(f, row)
        elif row is None:
            new_files.append(f)
        else:
            planner.known(f, row)
        if found % 500 == 0:
            if cancel.cancelled:
                session.rollback()
                result.cancelled = True
                return
            reporter(clock.event(found, None, message=f"found {found} photos"))

    # vanished files under the scanned roots: keep them (and their labels) as missing
    gone = [
        row.id
        for path, row in known.items()
        if under(path, roots)
        and path not in seen
        and row.status != PhotoStatus.MISSING
        and not os.path.exists(path)
    ]
    for start in range(0, len(gone), 500):
        session.execute(
            update(Photo)
            .where(Photo.id.in_(gone[start : start + 500]))
            .values(status=PhotoStatus.MISSING)
        )
    session.commit()
    moved_ids = planner.add_or_move(new_files)
    result.photos_missing = len(set(gone) - moved_ids)
    session.commit()
    reporter(clock.event(found, found, message=f"found {found} photos"))


def pending_photos(session: Session, roots: list[Path]) -> Iterator[tuple[int, str]]:
    """``(id, path)`` of every pending photo below ``roots``, oldest first."""
    for row in session.execute(
        select(Photo.id, Photo.path).where(Photo.status == PhotoStatus.PENDING).order_by(Photo.id)
    ):
        if under(row.path, roots):
            yield row.id, row.path
