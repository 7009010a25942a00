"""The last step of a scan: face thumbnails follow their faces.

Thumbnails are a cache beside the library (``<library>.thumbnails/NNNN/ID.jpg``). A scan writes
them after each commit and removes those of faces it replaced; this step repairs whatever a crash,
a full disk or a hand in the folder left behind: a file whose face no longer exists is removed,
and a face without its file gets one made again from its photo (when the photo can be read).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from sqlalchemy import select

from facenet_core.progress import CancelToken, PhaseClock, Reporter
from facenet_core.store import Face, Library, Photo, PhotoStatus
from facenet_core.thumbnails import ensure_thumbnail, remove_thumbnails

log = logging.getLogger(__name__)

STALE_TEMP_SECONDS = 3600
"""A half-written thumbnail (``.ID.jpg.*.tmp``) older than this was left by a crash."""


def thumbnail_files(folder: Path) -> dict[int, Path]:
    """Face id -> thumbnail file, for every thumbnail in ``folder``; stale temporary files from
    interrupted writes are removed on the way."""
    found: dict[int, Path] = {}
    if not folder.is_dir():
        return found
    now = time.time()
    for sub in folder.iterdir():
        if not (sub.is_dir() and sub.name.isdigit()):
            continue
        for entry in os.scandir(sub):
            name = entry.name
            if name.startswith(".") and name.endswith(".tmp"):
                try:
                    if now - entry.stat().st_mtime > STALE_TEMP_SECONDS:
                        os.unlink(entry.path)
                except OSError:
                    pass
                continue
            stem, dot, ext = name.partition(".")
            if dot and ext == "jpg" and stem.isdigit():
                found[int(stem)] = Path(entry.path)
    return found


def sync_thumbnails(library: Library, reporter: Reporter, cancel: CancelToken) -> tuple[int, int]:
    """Remove thumbnails of faces that no longer exist and make the missing ones of faces in
    readable (``done``) photos; returns ``(made, removed)``."""
    folder = library.thumbnails_dir
    files = thumbnail_files(folder)
    with library.session() as session:
        face_ids = set(session.scalars(select(Face.id)))
    orphans = sorted(set(files) - face_ids)
    remove_thumbnails(folder, orphans)
    lacking = sorted(face_ids - set(files))
    if not lacking:
        return 0, len(orphans)
    with library.session() as session:
        rows = session.execute(
            select(Face.id, Face.x1, Face.y1, Face.x2, Face.y2, Face.frame_s, Photo.path)
            .join(Photo)
            .where(Face.id.in_(lacking) if len(lacking) < 30_000 else Face.id.is_not(None))
            .where(Photo.status == PhotoStatus.DONE)
        ).all()
    wanted = set(lacking)
    rows = [r for r in rows if r.id in wanted]
    clock = PhaseClock("scan", "thumbnails", "face")
    made = 0
    for i, row in enumerate(rows, 1):
        if cancel.cancelled:
            break
        box = (row.x1, row.y1, row.x2, row.y2)
        if ensure_thumbnail(folder, row.id, row.path, box, row.frame_s):
            made += 1
        if i % 20 == 0 or i == len(rows):
            reporter(clock.event(i, len(rows), made=made))
    if made:
        log.info("made %d missing face thumbnails again", made)
    return made, len(orphans)
