"""Library commands: ``scan``, ``status`` and ``backup``.

``scan`` needs torch and the detectors: it imports them when it runs; ``status`` imports torch only
for its device line; ``backup`` never.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from facenet_core.cli.commands import add_command
from facenet_core.cli.common import (
    ALL_ENGINE,
    CLUSTER,
    EXIT_BUSY,
    EXIT_INTERRUPTED,
    VIDEO,
    CliError,
    ProgressBar,
    add_json_option,
    add_settings_options,
    ctrl_c_cancels,
    library_errors,
    library_path,
    open_library,
    say,
    settings_from,
    write_json,
)
from facenet_core.cli.people import RECOGNITION, people_line, recognition_line
from facenet_core.cli.tags import import_summary
from facenet_core.library.result import ScanResult
from facenet_core.people.queries import people_count
from facenet_core.progress import CancelToken
from facenet_core.store import (
    Face,
    FolderProblem,
    Photo,
    PhotoStatus,
    ScanJob,
    describe_sqlite_error,
    status_counts,
)
from facenet_core.store.library import describe_owner


def _check_folder(path: str) -> None:
    if not os.path.isdir(path):
        raise CliError(f"{path}: not a folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise CliError(f"{path}: permission denied: the folder cannot be read")


def cmd_scan(args: argparse.Namespace) -> int:
    for root in args.paths:  # everything is checked before the library is touched
        _check_folder(root)
    path = library_path(args)
    created = not os.path.lexists(path)
    library = open_library(args, create=True)
    from facenet_core.library.scan import scan  # torch and the detectors: seconds to import

    bar = ProgressBar()
    cancel = CancelToken()
    result = None
    with library_errors(library, bar, busy_also=", or add --wait"):
        try:

            def waiting(message: str) -> None:
                print(message, file=sys.stderr)

            with library.writer("scan", wait=args.wait, on_wait=waiting):
                if created:
                    say(args, f"created a new library at {library.path}")
                saved = library.settings()
                settings = settings_from(args, saved)
                if settings.stored_values() != saved.stored_values():
                    library.save_settings(saved.replace(**settings.stored_values()))
                with ctrl_c_cancels(cancel):
                    result = scan(
                        library,
                        args.paths,
                        settings,
                        recognize=args.recognize,
                        reporter=bar,
                        cancel=cancel,
                    )
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: every committed batch is kept, the next scan resumes
    if result is None:
        print("interrupted: run the same scan again to finish it", file=sys.stderr)
        return EXIT_INTERRUPTED
    for line in summary(result):
        say(args, line)
    tags = result.tags
    if tags is not None and (tags.photos_with_tags or tags.unreadable):
        for line in import_summary(tags):
            say(args, "face tags: " + line if not line.startswith(" ") else line)
    if result.people is not None:
        say(args, recognition_line(result.people.to_json_dict()))
    write_json(result.to_json_dict(), args.json)
    if result.cancelled:
        print("interrupted: run the same scan again to finish it", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def summary(r: ScanResult) -> list[str]:
    """The scan's counts for a person: what was found, what went wrong, what was stored."""
    lines = [
        f"{r.photos_found} photos found: {r.photos_added} new, {r.photos_changed} changed, "
        f"{r.photos_moved} moved, {r.photos_unchanged} unchanged, "
        f"{r.photos_resumed} resumed from an earlier scan"
    ]
    problems = [
        f"{n} {what}"
        for n, what in (
            (r.photos_failed, "failed"),
            (r.photos_unavailable, "unavailable (cannot be read now)"),
            (r.photos_missing, "missing (file gone, faces kept)"),
            (r.folders_unreadable, "unreadable folders"),
        )
        if n
    ]
    if problems:
        lines.append("; ".join(problems))
    stored = (
        f"{r.faces_added} faces stored from {r.photos_detected} photos"
        + (f" ({r.faces_removed} old faces replaced)" if r.faces_removed else "")
        + f" in {r.seconds:.1f} s"
    )
    if r.photos_pending:
        stored += f"; {r.photos_pending} photos still pending"
    lines.append(stored)
    if r.photos_failed or r.photos_unavailable or r.folders_unreadable:
        lines.append("what could not be read, and why: facenet-photos status --failed")
    note = r.face_model_note()
    if note:
        lines.append(note)
    return lines


def cmd_status(args: argparse.Namespace) -> int:
    """Photos by state (done, pending, failed, missing, unavailable), faces, people, and whether a
    scan is running. Works on a read-only library, and while a scan runs."""
    library = open_library(args, write=False)
    problems: list[dict[str, str]] = []
    try:
        with library.session() as session:
            counts = status_counts(session)
            last = session.scalars(select(ScanJob).order_by(ScanJob.id.desc()).limit(1)).first()
            last_scan = (
                None
                if last is None
                else {
                    "status": last.status,
                    "started_at": last.started_at.isoformat(),
                    "finished_at": last.finished_at.isoformat() if last.finished_at else None,
                }
            )
            if args.failed:
                for what, status in (
                    ("failed", PhotoStatus.FAILED),
                    ("unavailable", PhotoStatus.UNAVAILABLE),
                ):
                    for row in session.execute(
                        select(Photo.path, Photo.error)
                        .where(Photo.status == status)
                        .order_by(Photo.path)
                    ):
                        problems.append({"what": what, "path": row.path, "reason": row.error or ""})
                for folder in session.scalars(select(FolderProblem).order_by(FolderProblem.path)):
                    problems.append(
                        {"what": "unreadable folder", "path": folder.path, "reason": folder.error}
                    )
        settings = library.settings()
        with library.session() as session:  # the People page's count, with its settings
            people = people_count(session, min_faces=settings.min_cluster_faces)
        owner = library.writer_owner()
    except SQLAlchemyError as exc:
        raise CliError(describe_sqlite_error(exc, library.path)) from exc
    finally:
        library.close()
    shown = str(library.path)
    if library.read_only:
        shown += f" (read-only: {library.read_only})"
    say(args, f"{'library:':<14} {shown}")
    states = ", ".join(
        f"{counts[s.value]} {s.value}"
        for s in (
            PhotoStatus.DONE,
            PhotoStatus.PENDING,
            PhotoStatus.FAILED,
            PhotoStatus.MISSING,
            PhotoStatus.UNAVAILABLE,
        )
    )
    say(args, f"{'photos:':<14} {counts['photos']} ({states})")
    say(args, f"{'faces:':<14} {counts['faces']}")
    say(args, f"{'people:':<14} {people_line(people)}")
    if counts["unreadable_folders"]:
        say(args, f"{'unreadable:':<14} {counts['unreadable_folders']} folders")
    say(args, f"{'model:':<14} {counts['model_version'] or 'none yet'}")
    if owner is not None:
        say(args, f"{'scan:':<14} the library {describe_owner(owner)}")
    elif last_scan is not None:
        say(args, f"{'last scan:':<14} {last_scan['status']}, started {last_scan['started_at']}")
    from facenet_core.vision.device import resolve_device  # the one line that needs torch

    say(args, f"{'device:':<14} {resolve_device(settings.device)} (setting {settings.device})")
    if counts["pending"] and owner is None:
        say(args, "pending photos are finished by scanning their folder again")
    for problem in problems:
        say(args, f"{problem['what']}: {problem['path']}: {problem['reason']}")
    data: dict[str, Any] = {
        "library": str(library.path),
        "read_only": library.read_only,
        **counts,
        "scanning": owner,
        "last_scan": last_scan,
    }
    if args.failed:
        data["problems"] = problems
    write_json(data, args.json)
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """Copy the library database with SQLite's backup API: consistent even while a scan or the app
    is writing. DEST is a new file, or a folder to put a dated copy in. Face thumbnails are not
    copied (they are made again from the photos)."""
    library = open_library(args, write=False)
    with library_errors(library):
        dest = library.backup(args.dest, overwrite=args.force)
        with library.session() as session:
            photos = session.scalar(select(func.count()).select_from(Photo)) or 0
            faces = session.scalar(select(func.count()).select_from(Face)) or 0
    size = dest.stat().st_size
    say(args, f"backed up {library.path} to {dest}")
    say(args, f"{size:,} bytes: {photos} photos, {faces} faces")
    write_json(
        {
            "library": str(library.path),
            "backup": str(dest),
            "bytes": size,
            "photos": photos,
            "faces": faces,
        },
        args.json,
    )
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = add_command(
        sub,
        common,
        "scan",
        cmd_scan,
        description="Find every photo below the folders, detect, align and embed its faces, and "
        "store them. Unchanged photos are skipped, moved photos keep their faces and people, "
        "vanished photos are marked missing and unreadable ones unavailable. New faces are then "
        "matched with the people you confirmed (sure matches assigned, likely ones suggested) or "
        "grouped with look-alikes. Ctrl-C stops cleanly; scanning again resumes. One scan at a "
        f"time: a second scan of the same library ends at once with exit status {EXIT_BUSY} (or "
        "waits, with --wait). Settings options given here are saved in the library when they "
        "change what is stored.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="folders to scan")
    p.add_argument(
        "--no-recognize",
        dest="recognize",
        action="store_false",
        help="do not look for people among the new faces (run 'recognize' later)",
    )
    p.add_argument(
        "--wait",
        action="store_true",
        help="if another scan of this library is running, wait for it to finish instead of "
        "stopping at once",
    )
    add_json_option(p)
    add_settings_options(p, [*ALL_ENGINE, *RECOGNITION, "read_face_tags", *CLUSTER, *VIDEO])

    p = add_command(sub, common, "status", cmd_status)
    add_json_option(p)
    p.add_argument(
        "--failed",
        action="store_true",
        help="list failed and unavailable photos and unreadable folders, with their reasons",
    )

    p = add_command(sub, common, "backup", cmd_backup)
    p.add_argument("dest", metavar="DEST", help="file or folder to write the copy to")
    p.add_argument("--force", action="store_true", help="overwrite DEST if it exists")
    add_json_option(p)
