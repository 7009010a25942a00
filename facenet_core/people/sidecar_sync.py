"""Keep sidecars in sync: after an edit of named people, write the sidecars of the photos it
touched again (the setting "Keep sidecars in sync", off by default).

Every public edit (:mod:`.edits`, :mod:`.drawn_edits`, :mod:`.photo_people`, undo and redo) is
wrapped in :func:`keeps_sidecars`: after the edit's transaction has committed, when the setting
is on, the photos it touched get their sidecars written as ``export-tags`` writes them
(:mod:`.exportable` decides what may be written). Only those photos: the photos of the faces the
edit changed and of the photo-level tags it added or removed, and, when the edit may have
changed a person's name or visibility (naming, merging, hiding, undo, redo), every photo of the
people it touched. A photo with nobody left to write gets its sidecar written without them only
when it has one; no empty sidecar is created. Automatic runs (clustering, recognition, scans)
are not edits and write nothing. A sidecar that cannot be written is logged and skipped: an edit
never fails because of a sidecar.

With the setting off, the cost of an edit grows by one read of the library's settings (the XMP
writer is imported only when the setting is on).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Concatenate, ParamSpec

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from facenet_core.store import Assignment, Face, Library, Photo, PhotoPerson
from facenet_core.store.chunks import chunks

if TYPE_CHECKING:
    from facenet_core.people.history import Change
    from facenet_core.tags.write import Naming

log = logging.getLogger(__name__)

P = ParamSpec("P")

WHOLE_PEOPLE = frozenset({"name", "merge", "hide", "unhide", "undo", "redo"})
"""Edits that may change how a person is written everywhere (name, hidden), so every photo of
the people they touched is written again."""
_MEMBER = (Assignment.AUTO.value, Assignment.CONFIRMED.value)


@dataclass
class SyncResult:
    """What keeping sidecars in sync did after one edit."""

    photos: int = 0
    written: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def photos_touched(library: Library, change: Change) -> set[int]:
    """The photos whose sidecars an edit may have changed (see the module's doc)."""
    photos = set(change.photos)
    with library.session() as session:
        for chunk in chunks(sorted(change.faces)):
            photos.update(session.scalars(select(Face.photo_id).where(Face.id.in_(chunk))))
        if change.kind in WHOLE_PEOPLE and change.people:
            people = sorted(change.people)
            for chunk in chunks(people):
                photos.update(
                    session.scalars(
                        select(Face.photo_id).where(
                            Face.person_id.in_(chunk), Face.assignment.in_(_MEMBER)
                        )
                    )
                )
                photos.update(
                    session.scalars(
                        select(PhotoPerson.photo_id).where(PhotoPerson.person_id.in_(chunk))
                    )
                )
    return photos


def write_photos(library: Library, photo_ids: Iterable[int], naming: Naming) -> SyncResult:
    """Write the sidecars of these photos as export would (see the module's doc)."""
    # here, not at the top: every edit imports this module, and the command line's edits start
    # faster without the XMP writer and Pillow when the library does not keep sidecars in sync
    from facenet_core.people.exportable import exportable, write_people
    from facenet_core.tags.write import sidecar_path

    ids = sorted(set(photo_ids))
    result = SyncResult(photos=len(ids))
    with library.session() as session:
        wanted = exportable(session, ids) if ids else {}
        rows = session.execute(
            select(Photo.path, Photo.width, Photo.height).where(Photo.id.in_(ids))
        ).all()
    for path_text, width, height in rows:
        photo = Path(path_text)
        each = wanted.get(path_text)
        if each is None and not sidecar_path(photo, naming).exists():
            continue  # nobody to write and no sidecar naming anybody: nothing to do
        if not photo.is_file() or not width or not height:
            continue
        outcome = write_people(photo, (width, height), each, naming)
        if outcome.written:
            result.written += 1
        elif outcome.reason != "already up to date":
            result.failed.append((path_text, outcome.reason or "not written"))
    return result


def sync_after(library: Library, change: Change) -> SyncResult | None:
    """Write the sidecars an edit touched when the library keeps them in sync; None when it
    does not (or nothing changed)."""
    if not change.changed or library.read_only is not None:
        return None
    settings = library.settings()
    if not settings.keep_sidecars_in_sync:
        return None
    naming: Naming = "xmp" if settings.sidecar_naming == "xmp" else "ext.xmp"
    result = write_photos(library, photos_touched(library, change), naming)
    for path, reason in result.failed:
        log.warning("sidecar of %s not kept in sync: %s", path, reason)
    return result


def keeps_sidecars(
    edit: Callable[Concatenate[Library, P], Change],
) -> Callable[Concatenate[Library, P], Change]:
    """Wrap an edit so that, once it has committed, the sidecars it touched are written again
    when the library keeps them in sync."""

    @functools.wraps(edit)
    def run(library: Library, /, *args: P.args, **kwargs: P.kwargs) -> Change:
        change = edit(library, *args, **kwargs)
        try:
            sync_after(library, change)
        except (OSError, SQLAlchemyError):  # an edit never fails because of a sidecar
            log.exception("keeping sidecars in sync after %r failed", change.kind)
        return change

    return run
