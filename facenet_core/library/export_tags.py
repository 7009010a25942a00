"""Write the people named in the library to XMP sidecars beside the photos (``export-tags``).

Only named people's faces are written: a face the user ignored, a suggestion not yet answered,
faces of unnamed people, of people the user hid, and of people the user marked "never write to
photos" (:func:`set_never_export`; a forgotten person no longer exists at all) are not.
People on a photo without a face box (:mod:`facenet_core.people.photo_people`) are written as
``PersonInImage`` and keywords, under the same rules.
Choosing people chooses *photos* (those showing one of them);
each photo's sidecar then gets every named face it holds, since a sidecar's people parts are
replaced as a whole (:mod:`facenet_core.tags.write`). Originals are never modified, except with
``embed`` (``--embed``), through ExifTool (:mod:`.embed_tags`). Each photo's
problem (a folder that cannot be written, a sidecar another program keeps changing, an unreadable
one) is recorded with its reason, and the job goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from facenet_core.library.embed_tags import ExifToolMissing, embed_people, find_exiftool
from facenet_core.people.exportable import (
    NEVER_EXPORT,
    PhotoPeople,
    exportable,
    never_export_ids,
    orientation_of,
    write_people,
)
from facenet_core.people.queries import person_label
from facenet_core.progress import CancelToken, PhaseClock, Reporter, ignore_progress
from facenet_core.store import (
    Library,
    LibrarySetting,
    Person,
)
from facenet_core.store.models import utcnow
from facenet_core.tags.model import name_key
from facenet_core.tags.rdf import XmpError
from facenet_core.tags.write import Naming, prepare, sidecar_path


@dataclass
class ExportResult:
    """What an export did (``dry_run``: would do): sidecars written (``sidecars_new`` of them
    where there was none, the others rewritten with the old one kept as ``.bak``) or already up
    to date, the named faces written and the ``people`` (names) they show, the people left out
    because they are on the "never write" list (``never_written``, labels), photos written into
    (``embedded``, ``--embed``), and each photo that could not be written with its reason."""

    photos: int = 0
    sidecars_written: int = 0
    sidecars_new: int = 0
    sidecars_unchanged: int = 0
    faces_written: int = 0
    people: list[str] = field(default_factory=list)
    never_written: list[str] = field(default_factory=list)
    embedded: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    unknown_people: list[str] = field(default_factory=list)
    dry_run: bool = False
    cancelled: bool = False

    @property
    def sidecars_changed(self) -> int:
        """Sidecars rewritten (they existed before)."""
        return self.sidecars_written - self.sidecars_new

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failed"] = [{"photo": p, "reason": r} for p, r in self.failed]
        return data


def set_never_export(library: Library, person_ids: Sequence[int], never: bool = True) -> set[int]:
    """Add these people to (or, ``never=False``, take them off) the list of people never
    written to photos; returns the list as it is now."""
    with library.write() as session:
        row = session.get(LibrarySetting, NEVER_EXPORT)
        current = never_export_ids(session)
        current = current | set(person_ids) if never else current - set(person_ids)
        # people who no longer exist (merged away, forgotten) leave the list
        existing = set(session.scalars(select(Person.id).where(Person.id.in_(current))))
        value = sorted(existing)
        if row is None:
            session.add(LibrarySetting(key=NEVER_EXPORT, value=value))
        else:
            row.value, row.updated_at = value, utcnow()
    return set(value)


def _never_written(library: Library) -> list[str]:
    """The labels of the people on the "never write" list."""
    with library.session() as session:
        never = never_export_ids(session)
        rows = session.execute(select(Person.id, Person.name).where(Person.id.in_(never))).all()
    return sorted((person_label(pid, name) for pid, name in rows), key=str.casefold)


def _one_photo(
    path: Path, size: tuple[int, int], each: PhotoPeople, naming: Naming, dry_run: bool
) -> tuple[str, int, str | None]:
    """Write (or, ``dry_run``, only read and merge) one photo's sidecar: what happened to it
    (``new``, ``changed``, ``unchanged`` or ``failed``), the faces written, and a failure's
    reason."""
    if dry_run:
        try:
            draft = prepare(path, size, orientation_of(path), each.faces, each.without_box, naming)
        except XmpError as exc:
            return "failed", 0, f"{sidecar_path(path, naming).name} left as it is: {exc}"
        except OSError as exc:
            name = sidecar_path(path, naming).name
            return "failed", 0, f"cannot read {name}: {exc.strerror or exc}"
        if draft.old == draft.new:
            return "unchanged", 0, None
        return ("new" if draft.old is None else "changed"), draft.faces_written, None
    outcome = write_people(path, size, each, naming)
    if outcome.written:
        return ("new" if outcome.backup is None else "changed"), outcome.faces_written, None
    if outcome.reason == "already up to date":
        return "unchanged", 0, None
    return "failed", 0, outcome.reason or "not written"


def export_tags(
    library: Library,
    people: Sequence[str] | None = None,
    *,
    naming: Naming = "ext.xmp",
    embed: bool = False,
    dry_run: bool = False,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> ExportResult:
    """Write sidecars for the photos of ``people`` (names; None: every named person); with
    ``embed``, also into the photos themselves through ExifTool (:mod:`.embed_tags`;
    :class:`~.embed_tags.ExifToolMissing` before anything is written when it is not installed).
    Cancelled, it stops after the current photo and returns what it wrote, marked ``cancelled``.

    ``dry_run``: write nothing, but read and merge each sidecar exactly as writing would (the
    writer's own :func:`~facenet_core.tags.write.prepare`), so the counts are what the same
    export then does (the app's preview), unless another program changes a sidecar meanwhile.
    """
    exiftool = find_exiftool() if embed and not dry_run else None
    if embed and not dry_run and exiftool is None:
        raise ExifToolMissing("--embed writes into photos through ExifTool, which is not installed")
    result = ExportResult(dry_run=dry_run, never_written=_never_written(library))
    wanted = None if people is None else {name_key(n) for n in people}
    with library.session() as session:
        photos = exportable(session)
    names_seen = {n for each in photos.values() for n in each.names}
    if wanted is not None:
        result.unknown_people = sorted(n for n in people or () if name_key(n) not in names_seen)
        photos = {p: each for p, each in photos.items() if each.names & wanted}
    names: dict[str, str] = {}
    clock = PhaseClock("export-tags", "plan" if dry_run else "sidecars", unit="photo")
    total = len(photos)
    for done, (path_text, each) in enumerate(sorted(photos.items()), start=1):
        if cancel is not None and cancel.cancelled:
            result.cancelled = True
            break
        path = Path(path_text)
        result.photos += 1
        width, height = each.size
        reason: str | None
        if not path.is_file():
            kind, count, reason = "failed", 0, "photo not found"
        elif not width or not height:
            kind, count, reason = "failed", 0, "size unknown (scan the photo again)"
        else:
            kind, count, reason = _one_photo(path, (width, height), each, naming, dry_run)
        if reason is not None:
            result.failed.append((path_text, reason))
        elif kind == "unchanged":
            result.sidecars_unchanged += 1
        else:
            result.sidecars_written += 1
            result.sidecars_new += int(kind == "new")
            result.faces_written += count
            for name in [f.name for f in each.faces] + list(each.without_box):
                names.setdefault(name_key(name), name)
        if exiftool is not None and reason is None and width and height:
            into = embed_people(
                path, (width, height), orientation_of(path), each.faces, each.without_box, exiftool
            )
            if into.written:
                result.embedded += 1
            else:
                result.failed.append((path_text, into.reason or "not embedded"))
        reporter(clock.event(done, total, written=result.sidecars_written))
    result.people = sorted(names.values(), key=str.casefold)
    return result
