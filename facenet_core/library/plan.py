"""Phase 1 of a scan: compare the files on disk with the library and write down what to do.

The folders are walked and new or changed files hashed with no transaction open (readers and
the app's own small writes never wait for a long walk); then every decision is written in one
short transaction, so a plan is either recorded whole or not at all (a cancel or a crash before
it leaves the library as it was).

- Unchanged files (same real path, size and modification time) are skipped; a file whose time
  changed but whose bytes did not (``touch``) only has its stat updated: nothing is detected
  again.
- Changed files are queued again (their faces' labels carry over, see :mod:`.ingest`).
- A new path whose content hash matches a photo whose file is *truly gone* (its folder can be
  read and the name is not there) is a *move*: the row takes the new path and keeps its faces,
  people and labels. A photo that merely cannot be read is never taken for moved.
- Known photos whose files vanished are marked ``missing``, never deleted, so their labels
  survive until the file comes back; photos whose file or folder cannot be read (permission
  denied) are ``unavailable`` and keep everything. A pending or failed photo whose file is gone
  has nothing to keep and is forgotten.
- Folders that cannot be read are recorded (:class:`~facenet_core.store.FolderProblem`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from facenet_core.library.result import ScanResult
from facenet_core.library.walk import (
    PERMISSION_FILE,
    FoundFile,
    UnreadableFolder,
    hash_file,
    is_access_error,
    is_transient,
    media_kind,
    walk_photos,
)
from facenet_core.progress import CancelToken, PhaseClock, Reporter
from facenet_core.store import Face, FolderProblem, Library, Photo, PhotoStatus, Root
from facenet_core.store.models import utcnow

KEEP = (PhotoStatus.DONE, PhotoStatus.MISSING, PhotoStatus.UNAVAILABLE)
"""States of a photo whose faces were found: worth keeping when its file goes away."""


@dataclass(frozen=True)
class ScanRoot:
    id: int
    path: str  # real path


def under(path: str, folders: Sequence[str]) -> bool:
    """Whether ``path`` lies below one of ``folders``."""
    return path.startswith(tuple(os.path.join(f, "") for f in folders))


@dataclass
class Known:
    id: int
    path: str
    size: int
    mtime_ns: int
    status: str
    error: str | None
    content_hash: str
    root_id: int | None
    has_faces: bool


def file_state(path: str, root: str | None = None) -> str:
    """``"exists"``, ``"gone"`` (the name is not there, and the nearest existing folder above it
    can be read, so we are sure), or ``"unknown"`` (a folder on the way cannot be read, or the
    photo's root folder itself is not there: a drive not plugged in)."""
    if root is not None and not os.path.isdir(root):
        return "unknown"
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        parent = os.path.dirname(path)
        while parent and not os.path.isdir(parent):
            up = os.path.dirname(parent)
            if up == parent:
                break
            parent = up
        return "gone" if os.access(parent, os.R_OK | os.X_OK) else "unknown"
    except OSError:
        return "unknown"
    return "exists"


@dataclass
class _Plan:
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    deletes: list[int] = field(default_factory=list)
    status: dict[int, str] = field(default_factory=dict)  # decided state of known rows

    def update(self, row: Known, **values: Any) -> None:
        self.updates.setdefault(row.id, {"id": row.id}).update(values)
        if "status" in values:
            self.status[row.id] = values["status"]

    def state(self, row: Known) -> str:
        return self.status.get(row.id, row.status)


class _Planner:
    def __init__(
        self, known: dict[str, Known], roots: list[ScanRoot], root_paths: dict[int, str]
    ) -> None:
        self.known = known
        self.roots = roots
        self.root_paths = root_paths
        self.plan = _Plan()
        self.counts = ScanResult()
        self.seen: set[str] = set()
        self.to_hash_changed: list[tuple[FoundFile, Known]] = []
        self.to_hash_new: list[FoundFile] = []
        self.folders: list[UnreadableFolder] = []
        self._by_stat: dict[tuple[int, int], list[Known]] | None = None

    def same_inode(self, f: FoundFile) -> Known | None:
        """The known photo that is this very file under another name (a hard link), if any.
        Which name of a hard-linked file a walk meets first depends on where it starts; the one
        the library already knows wins."""
        if f.file_id is None:
            return None
        if self._by_stat is None:
            self._by_stat = {}
            for row in self.known.values():
                self._by_stat.setdefault((row.size, row.mtime_ns), []).append(row)
        for row in self._by_stat.get((f.size, f.mtime_ns), []):
            try:
                st = os.stat(row.path)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == f.file_id:
                return row
        return None

    def root_for(self, path: str) -> int | None:
        best: ScanRoot | None = None
        for root in self.roots:
            if (path == root.path or under(path, [root.path])) and (
                best is None or len(root.path) > len(best.path)
            ):
                best = root
        return best.id if best else (self.roots[0].id if self.roots else None)

    # -- decisions -----------------------------------------------------------------------------

    def failed_row(self, f: FoundFile, reason: str) -> None:
        self.plan.inserts.append(
            {
                "path": f.path,
                "root_id": self.root_for(f.path),
                "size": f.size,
                "mtime_ns": f.mtime_ns,
                "content_hash": "",
                "status": PhotoStatus.FAILED.value,
                "media_kind": media_kind(f.path),
                "error": reason,
                "scanned_at": utcnow(),
            }
        )
        self.counts.photos_failed += 1

    def cannot_read(self, row: Known, reason: str) -> None:
        """A known photo whose file or folder cannot be read now."""
        if row.status in KEEP:
            self.plan.update(row, status=PhotoStatus.UNAVAILABLE.value, error=reason)
            self.counts.photos_unavailable += 1
        else:  # pending or failed: nothing found yet, so nothing to keep; say why
            self.plan.update(row, status=PhotoStatus.FAILED.value, error=reason)
            self.counts.photos_failed += 1

    def found(self, f: FoundFile) -> None:
        row = self.known.get(f.path)
        if row is None:
            row = self.same_inode(f)
            if row is not None:
                f = dataclasses.replace(f, path=row.path)
        self.seen.add(f.path)
        self.counts.photos_found += 1
        if f.error is not None:
            if row is None:
                self.failed_row(f, f.error)
            elif f.access:
                self.cannot_read(row, f.error)
            elif row.status in KEEP:  # the photo became a broken link or a loop: it is gone
                self.plan.update(row, status=PhotoStatus.MISSING.value, error=f.error)
                self.counts.photos_missing += row.status != PhotoStatus.MISSING
            else:
                self.plan.update(row, status=PhotoStatus.FAILED.value, error=f.error)
                self.counts.photos_failed += 1
            return
        if row is None:
            self.to_hash_new.append(f)
            return
        same_stat = row.size == f.size and row.mtime_ns == f.mtime_ns
        if not same_stat or (row.status == PhotoStatus.FAILED and is_transient(row.error)):
            self.to_hash_changed.append((f, row))
        elif row.status == PhotoStatus.PENDING:
            self.counts.photos_resumed += 1
        else:
            if row.status in (PhotoStatus.MISSING, PhotoStatus.UNAVAILABLE):  # it came back
                self.plan.update(row, status=PhotoStatus.DONE.value, error=None)
            self.counts.photos_unchanged += 1

    def unreadable_folder(self, folder: UnreadableFolder) -> None:
        self.folders.append(folder)

    def not_seen(self, root_ids: set[int], scope: list[str]) -> None:
        """Known photos below the scanned roots that the walk did not reach."""
        blocked = [f.path for f in self.folders]
        for path, row in self.known.items():
            if path in self.seen or not (under(path, scope) or row.root_id in root_ids):
                continue
            if under(path, blocked):
                reason = next(f.error for f in self.folders if under(path, [f.path]))
                self.cannot_read(row, reason)
                continue
            state = file_state(path)
            if state == "unknown":
                self.cannot_read(row, PERMISSION_FILE)
            elif row.status in KEEP:
                if state == "gone" and row.status != PhotoStatus.MISSING:
                    self.plan.update(row, status=PhotoStatus.MISSING.value)
                    self.counts.photos_missing += 1
                # "exists": reached another way (a link now, a hard link): keep it as it is
            elif not row.has_faces:  # pending or failed, gone or now an alias: forget it
                self.plan.deletes.append(row.id)

    def hashed_changed(self, f: FoundFile, row: Known, digest: str, error: str | None) -> None:
        if error is not None:
            if f.access or is_access_error(error):
                self.cannot_read(row, error)
            else:
                self.plan.update(row, status=PhotoStatus.FAILED.value, error=error)
                self.counts.photos_failed += 1
            return
        stat = {"size": f.size, "mtime_ns": f.mtime_ns}
        if digest == row.content_hash:  # touched, not changed: only the stat is new
            if row.status in (PhotoStatus.MISSING, PhotoStatus.UNAVAILABLE):
                self.plan.update(row, **stat, status=PhotoStatus.DONE.value, error=None)
            elif row.status == PhotoStatus.FAILED and is_transient(row.error):
                self.plan.update(row, **stat, status=PhotoStatus.PENDING.value, error=None)
            else:
                self.plan.update(row, **stat)
            if row.status == PhotoStatus.PENDING:
                self.counts.photos_resumed += 1
            else:
                self.counts.photos_unchanged += 1
            return
        self.plan.update(
            row, **stat, content_hash=digest, status=PhotoStatus.PENDING.value, error=None
        )
        self.counts.photos_changed += 1

    def hashed_new(self, new: list[tuple[FoundFile, str, str | None]]) -> None:
        wanted = {digest for _, digest, error in new if error is None}
        candidates: dict[str, list[Known]] = {}
        for row in self.known.values():
            if row.content_hash in wanted and row.path not in self.seen:
                candidates.setdefault(row.content_hash, []).append(row)
        for f, digest, error in new:
            if error is not None:
                self.failed_row(f, error)
                continue
            source = self._moved_from(candidates.get(digest, []))
            if source is None:
                self.plan.inserts.append(
                    {
                        "path": f.path,
                        "root_id": self.root_for(f.path),
                        "size": f.size,
                        "mtime_ns": f.mtime_ns,
                        "content_hash": digest,
                        "status": PhotoStatus.PENDING.value,
                        "media_kind": media_kind(f.path),
                    }
                )
                self.counts.photos_added += 1
                continue
            candidates[digest].remove(source)
            if self.plan.state(source) == PhotoStatus.MISSING and source.status != (
                PhotoStatus.MISSING
            ):
                self.counts.photos_missing -= 1  # it did not vanish: it moved
            self.plan.update(
                source,
                path=f.path,
                root_id=self.root_for(f.path),
                size=f.size,
                mtime_ns=f.mtime_ns,
                status=PhotoStatus.DONE.value,
                error=None,
            )
            self.counts.photos_moved += 1

    def _moved_from(self, rows: list[Known]) -> Known | None:
        """The known photo with this content whose file is truly gone (never one that merely
        cannot be read), or None."""
        for row in sorted(rows, key=lambda r: r.id):
            if self.plan.state(row) not in (PhotoStatus.DONE, PhotoStatus.MISSING):
                continue
            if row.id in self.plan.deletes:
                continue
            root = self.root_paths.get(row.root_id) if row.root_id is not None else None
            if file_state(row.path, root) == "gone":
                return row
        return None


def _load_known(session: Session) -> dict[str, Known]:
    with_faces = set(session.scalars(select(Face.photo_id).distinct()))
    return {
        row.path: Known(
            row.id,
            row.path,
            row.size,
            row.mtime_ns,
            row.status,
            row.error,
            row.content_hash,
            row.root_id,
            row.id in with_faces,
        )
        for row in session.execute(
            select(
                Photo.id,
                Photo.path,
                Photo.size,
                Photo.mtime_ns,
                Photo.status,
                Photo.error,
                Photo.content_hash,
                Photo.root_id,
            )
        )
    }


def _hash_all(
    files: list[FoundFile], reporter: Reporter, cancel: CancelToken
) -> list[tuple[str, str | None]] | None:
    """sha256 of each file (in threads: reading overlaps), or None when cancelled."""
    clock = PhaseClock("scan", "read", "file")
    results: list[tuple[str, str | None]] = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for i, out in enumerate(pool.map(lambda f: hash_file(f.path), files), 1):
            results.append(out)
            if i % 200 == 0:
                if cancel.cancelled:
                    pool.shutdown(cancel_futures=True)
                    return None
                reporter(clock.event(i, None, message=f"reading new and changed files: {i}"))
    return results


def plan_scan(
    library: Library,
    roots: list[ScanRoot],
    result: ScanResult,
    reporter: Reporter,
    cancel: CancelToken,
) -> None:
    """Walk ``roots``, record every change in the library (one committed transaction), count it
    in ``result``. Cancelling stops the walk or the reading; nothing is then written."""
    clock = PhaseClock("scan", "walk", "photo")
    with library.session() as session:
        known = _load_known(session)
        root_paths = {r.id: r.path for r in session.scalars(select(Root))}
    planner = _Planner(known, roots, root_paths)
    for item in walk_photos([r.path for r in roots], exclude=library.own_paths()):
        if isinstance(item, UnreadableFolder):
            planner.unreadable_folder(item)
            continue
        planner.found(item)
        found = planner.counts.photos_found
        if found % 500 == 0:
            if cancel.cancelled:
                result.cancelled = True
                return
            reporter(clock.event(found, None, message=f"looking for photos: {found} so far"))
    scope = [r.path for r in roots]
    planner.not_seen({r.id for r in roots}, scope)

    changed = planner.to_hash_changed
    new = planner.to_hash_new
    digests = _hash_all([f for f, _ in changed] + new, reporter, cancel)
    if digests is None or cancel.cancelled:
        result.cancelled = True
        return
    for (f, row), (digest, error) in zip(changed, digests[: len(changed)], strict=True):
        planner.hashed_changed(f, row, digest, error)
    planner.hashed_new([(f, d, e) for f, (d, e) in zip(new, digests[len(changed) :], strict=True)])
    _write(library, planner, roots)
    counts = planner.counts
    for name in (
        "photos_found",
        "photos_added",
        "photos_unchanged",
        "photos_moved",
        "photos_changed",
        "photos_resumed",
        "photos_failed",
        "photos_missing",
        "photos_unavailable",
    ):
        setattr(result, name, getattr(result, name) + getattr(counts, name))
    result.folders_unreadable = len(planner.folders)
    found = counts.photos_found
    # after the commit: "found N photos" means the plan is in the library
    reporter(clock.event(found, None, message=f"found {found} photos"))


def _write(library: Library, planner: _Planner, roots: list[ScanRoot]) -> None:
    plan = planner.plan
    with library.write() as session:
        for start in range(0, len(plan.deletes), 500):
            ids = plan.deletes[start : start + 500]
            session.execute(delete(Photo).where(Photo.id.in_(ids)))
        if plan.updates:
            by_keys: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for values in plan.updates.values():
                by_keys.setdefault(tuple(sorted(values)), []).append(values)
            for batch in by_keys.values():
                session.execute(update(Photo), batch)
        if plan.inserts:
            by_keys = {}
            for values in plan.inserts:
                by_keys.setdefault(tuple(sorted(values)), []).append(values)
            for batch in by_keys.values():
                session.execute(insert(Photo), batch)
        # the folders these roots could not read: exactly the ones found this time
        scope = [r.path for r in roots]
        old = [
            p.id
            for p in session.scalars(select(FolderProblem))
            if p.path in scope or under(p.path, scope) or p.root_id in {r.id for r in roots}
        ]
        if old:
            session.execute(delete(FolderProblem).where(FolderProblem.id.in_(old)))
        for folder in {f.path: f for f in planner.folders}.values():
            session.add(
                FolderProblem(
                    path=folder.path, root_id=planner.root_for(folder.path), error=folder.error
                )
            )


def pending_photos(library: Library, roots: list[ScanRoot]) -> Iterator[tuple[int, str]]:
    """``(id, path)`` of every pending photo of the scanned roots, oldest first."""
    scope = [r.path for r in roots]
    ids = {r.id for r in roots}
    with library.session() as session:
        rows = session.execute(
            select(Photo.id, Photo.path, Photo.root_id)
            .where(Photo.status == PhotoStatus.PENDING)
            .order_by(Photo.id)
        ).all()
    for row in rows:
        if under(row.path, scope) or row.root_id in ids:
            yield row.id, row.path
