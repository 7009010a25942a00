"""Library commands: ``scan`` and ``status``."""

from __future__ import annotations

import argparse
import os
import sys

from sqlalchemy import select

from facenet_core.cli.common import (
    ALL_ENGINE,
    EXIT_INTERRUPTED,
    CliError,
    ProgressBar,
    add_json_option,
    add_settings_options,
    ctrl_c_cancels,
    library_path,
    open_library,
    say,
    settings_from,
    write_json,
)
from facenet_core.cli.people import RECOGNITION, recognition_line
from facenet_core.library import scan
from facenet_core.progress import CancelToken
from facenet_core.store import Photo, PhotoStatus, status_counts
from facenet_core.vision.device import resolve_device


def cmd_scan(args: argparse.Namespace) -> int:
    for root in args.paths:
        if not os.path.isdir(root):
            raise CliError(f"{root}: not a folder")
    path = library_path(args)
    created = not path.exists()
    library = open_library(args, create=True)
    if created:
        say(args, f"created a new library at {path}")
    settings = settings_from(args, library.settings())
    if settings.stored_values() != library.settings().stored_values():
        library.save_settings(library.settings().replace(**settings.stored_values()))
    bar = ProgressBar()
    cancel = CancelToken()
    result = None
    try:
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
    finally:
        bar.close()
        print(file=sys.stderr)
        library.close()
    if result is None:
        print("interrupted: run the same scan again to finish it", file=sys.stderr)
        return EXIT_INTERRUPTED
    say(
        args,
        f"{result.photos_added} added, {result.photos_unchanged} unchanged, "
        f"{result.photos_moved} moved, {result.photos_changed} changed, "
        f"{result.photos_missing} missing, {result.photos_failed} failed; "
        f"{result.faces_added} faces in {result.seconds:.1f} s",
    )
    if result.people is not None:
        say(args, recognition_line(result.people.to_json_dict()))
    if result.photos_failed:
        say(args, "failed photos and their reasons: facenet-photos status --failed")
    write_json(result.to_json_dict(), args.json)
    if result.cancelled:
        print("interrupted: run the same scan again to finish it", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    library = open_library(args)
    try:
        with library.session() as session:
            counts = status_counts(session)
            failed = (
                session.execute(
                    select(Photo.path, Photo.error)
                    .where(Photo.status == PhotoStatus.FAILED)
                    .order_by(Photo.path)
                ).all()
                if args.failed
                else []
            )
        settings = library.settings()
    finally:
        library.close()
    say(args, f"library: {library.path}")
    for key, value in counts.items():
        say(args, f"{key + ':':<14} {value}")
    say(args, f"{'device:':<14} {resolve_device(settings.device)} (setting {settings.device})")
    for path, error in failed:
        say(args, f"failed: {path}: {error}")
    write_json(counts, args.json)
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "scan",
        parents=[common],
        help="add folders of photos to the library (incremental, resumable)",
        description="Find every photo below the folders, detect, align and embed its faces, and "
        "store them. Unchanged photos are skipped, moved photos keep their faces and people, "
        "vanished photos are marked missing. New faces are then matched with the people you "
        "confirmed (sure matches assigned, likely ones suggested) or grouped with look-alikes. "
        "Ctrl-C stops cleanly; scanning again resumes. "
        "Settings options given here are saved in the library when they change what is stored.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="folders to scan")
    p.add_argument(
        "--no-recognize",
        dest="recognize",
        action="store_false",
        help="do not look for people among the new faces (run 'recognize' later)",
    )
    add_json_option(p)
    add_settings_options(p, [*ALL_ENGINE, *RECOGNITION])
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser(
        "status", parents=[common], help="what the library holds (photos, faces, people)"
    )
    add_json_option(p)
    p.add_argument("--failed", action="store_true", help="list failed photos with their reasons")
    p.set_defaults(func=cmd_status)
