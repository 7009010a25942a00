"""Face tag commands: ``import-tags`` (names other software wrote, read into people),
``export-tags`` (the people named here, written to XMP sidecars), and ``tag-photo`` /
``untag-photo`` (a person on a photo without a face box)."""

from __future__ import annotations

import argparse
import os
import sys

from sqlalchemy import select

from facenet_core.cli.commands import add_command
from facenet_core.cli.common import (
    EXIT_INTERRUPTED,
    CliError,
    ProgressBar,
    add_json_option,
    add_settings_options,
    ctrl_c_cancels,
    library_errors,
    open_library,
    person_arg,
    run_edit,
    say,
    write_json,
)
from facenet_core.library.embed_tags import INSTALL_HINT, find_exiftool
from facenet_core.library.export_tags import ExportResult, export_tags, set_never_export
from facenet_core.library.import_tags import ImportResult, import_tags
from facenet_core.people.errors import PeopleError
from facenet_core.people.photo_people import tag_photo, untag_photo
from facenet_core.people.queries import person_label, resolve_person
from facenet_core.progress import CancelToken
from facenet_core.store import Library, Person, Photo
from facenet_core.tags.write import Naming

MAX_LISTED = 20


def summary(r: ExportResult) -> list[str]:
    """The export's counts, and each photo that could not be written with its reason."""
    lines = [
        f"{r.sidecars_written} sidecars written ({r.faces_written} named faces), "
        f"{r.sidecars_unchanged} already up to date, {len(r.failed)} not written, "
        f"of {r.photos} photos with named people"
    ]
    if r.dry_run:
        lines[0] = (
            f"dry run, nothing written: {r.sidecars_new} sidecars to create and "
            f"{r.sidecars_changed} to change ({r.faces_written} named faces), "
            f"{r.sidecars_unchanged} already up to date, {len(r.failed)} could not be written, "
            f"of {r.photos} photos with named people"
        )
    if r.never_written:
        lines.append("never written, as asked: " + ", ".join(r.never_written))
    if r.embedded:
        lines.append(
            f"{r.embedded} photos written into through ExifTool (each original kept once as "
            "IMG.jpg_original beside it)"
        )
    if r.unknown_people:
        lines.append("no named faces for: " + ", ".join(r.unknown_people))
    for path, reason in r.failed[:MAX_LISTED]:
        lines.append(f"  {path}: {reason}")
    if len(r.failed) > MAX_LISTED:
        lines.append(f"  ... and {len(r.failed) - MAX_LISTED} more (see --json)")
    return lines


def import_summary(r: ImportResult) -> list[str]:
    """The import's counts, and each photo whose metadata could not be read with its reason."""
    lines = [
        f"{r.names_found} names and {r.regions_found} face regions read from "
        f"{r.photos_with_tags} of {r.photos_read} photos",
        f"{r.faces_named} faces named ({r.people_created} new people), {r.faces_matched} regions "
        f"matched to detected faces, {r.faces_created} faces made from regions, {r.faces_kept} "
        f"left as you decided them, {r.regions_without_face} regions left without a face, "
        f"{r.names_unplaced} names not placed on a face ({r.photos_tagged} put on their photo "
        f"without a face box), {r.disagreements} disagreements between formats",
    ]
    if r.unreadable:
        lines.append(f"{len(r.unreadable)} photos whose metadata could not be read:")
        for path, reason in r.unreadable[:MAX_LISTED]:
            lines.append(f"  {path}: {reason}")
        if len(r.unreadable) > MAX_LISTED:
            lines.append(f"  ... and {len(r.unreadable) - MAX_LISTED} more (see --json)")
    return lines


def _interrupted(
    args: argparse.Namespace, result: ImportResult | ExportResult, lines: list[str], advice: str
) -> bool:
    """Say ``lines`` and write ``result`` as JSON (a stopped run's too: what it did is kept);
    True when the run was stopped, after telling on stderr what to do (``advice``)."""
    for line in lines:
        say(args, line)
    write_json(result.to_json_dict(), args.json)
    if result.cancelled:
        print(f"interrupted: {advice}", file=sys.stderr)
    return result.cancelled


def cmd_import_tags(args: argparse.Namespace) -> int:
    """Read face regions and person names from the photos' metadata (XMP in the file or a sidecar:
    MWG, IPTC and Microsoft Photo regions, PersonInImage, People keywords; Google Takeout JSON;
    Picasa .picasa.ini), match the regions to the faces the scan found (a region no face matches
    becomes a face), and give each named face to the person of that name (created when there is
    none), confirmed. A name without a box goes to a photo's only face. Faces you confirmed,
    ignored or rejected for that person are never changed. Each step is an ordinary edit: undo
    takes it back. PATH: only photos below these folders."""
    library = open_library(args)
    bar = ProgressBar()
    cancel = CancelToken()
    with (
        library_errors(library, bar),
        library.writer("import-tags"),
        ctrl_c_cancels(cancel, "after the current photo"),
    ):
        result = import_tags(
            library, args.paths, settings=library.settings(), reporter=bar, cancel=cancel
        )
    if _interrupted(args, result, import_summary(result), "nothing was changed; run it again"):
        return EXIT_INTERRUPTED
    return 0


def cmd_export_tags(args: argparse.Namespace) -> int:
    """Write each photo's named faces to its XMP sidecar (IMG.jpg.xmp, or IMG.xmp with --naming
    xmp) as MWG and Microsoft Photo regions, PersonInImage and People keywords, which digiKam,
    Lightroom and ExifTool read; people on a photo without a face box (see tag-photo) as
    PersonInImage. Only named people's faces are written (not suggestions, not ignored faces,
    not hidden people, not the people on the --never list). An existing sidecar keeps
    everything else it holds and is backed up as .xmp.bak; photos are never modified, except
    with --embed. --keep-sidecars-in-sync: from now on, every edit of named people writes the
    sidecars of the photos it touched again (saved in the library). PERSON names choose the
    photos written (each still gets all its named faces). Exit status 1 when some photo could
    not be written (each is listed with its reason)."""
    if args.never or args.allow:
        return _never_export(args)
    if args.embed and find_exiftool() is None:
        raise CliError(
            "--embed writes into photos through ExifTool, which is not installed: nothing was "
            "written",
            hint=INSTALL_HINT,
        )
    sync = args.keep_sidecars_in_sync
    library = open_library(args, write=sync is not None)
    saved = library.settings()
    if sync is not None and sync != saved.keep_sidecars_in_sync:
        library.save_settings(saved.replace(keep_sidecars_in_sync=sync))
        say(args, f"sidecars {'kept' if sync else 'no longer kept'} in sync after every edit")
    naming: Naming = "xmp" if (args.naming or saved.sidecar_naming) == "xmp" else "ext.xmp"
    bar = ProgressBar()
    cancel = CancelToken()
    with library_errors(library, bar), ctrl_c_cancels(cancel, "after the current photo"):
        result = export_tags(
            library,
            args.people or None,
            naming=naming,
            embed=args.embed,
            dry_run=args.dry_run,
            reporter=bar,
            cancel=cancel,
        )
    if _interrupted(args, result, summary(result), "run the same export again to finish it"):
        return EXIT_INTERRUPTED
    return 1 if result.failed else 0


def _never_export(args: argparse.Namespace) -> int:
    """``export-tags --never PERSON`` / ``--allow PERSON``: the list of people never written."""
    library = open_library(args)
    try:
        with library.session() as session:
            try:
                never = [resolve_person(session, p) for p in args.never or ()]
                allow = [resolve_person(session, p) for p in args.allow or ()]
            except PeopleError as exc:
                raise CliError(str(exc)) from exc
        if never:
            set_never_export(library, never, True)
        current = set_never_export(library, allow, False)
        with library.session() as session:
            names = [
                person_label(pid, session.get(Person, pid).name)  # type: ignore[union-attr]
                for pid in sorted(current)
            ]
    finally:
        library.close()
    say(args, "never written to photos: " + (", ".join(names) if names else "nobody"))
    return 0


def _photo_id(library: Library, text: str) -> int:
    """A photo given by its id or its path (as the library stores it, or relative to here)."""
    with library.session() as session:
        if text.strip().isdigit() and session.get(Photo, int(text)) is not None:
            return int(text)
        real = os.path.realpath(text)
        found = session.scalar(select(Photo.id).where(Photo.path.in_([text, real])))
    if found is None:
        raise CliError(f"no photo {text!r} in the library (give its path or its id)")
    return found


def cmd_tag_photo(args: argparse.Namespace) -> int:
    """Put a person on a photo without a face box (a back, a face no detector found). The photo
    then counts among the person's photos (and 'photos A B'), and export-tags writes the person
    as PersonInImage. An ordinary edit: undo takes it back."""
    return run_edit(
        args,
        lambda lib: tag_photo(lib, _photo_id(lib, args.photo), person_arg(lib, args.person)),
    )


def cmd_untag_photo(args: argparse.Namespace) -> int:
    """Take a person's photo-level tag off a photo (see tag-photo). An ordinary edit: undo takes
    it back."""
    return run_edit(
        args,
        lambda lib: untag_photo(lib, _photo_id(lib, args.photo), person_arg(lib, args.person)),
    )


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = add_command(sub, common, "import-tags", cmd_import_tags)
    p.add_argument("paths", nargs="*", metavar="PATH", help="folders to read (default: all)")
    add_json_option(p)

    p = add_command(sub, common, "export-tags", cmd_export_tags)
    p.add_argument("people", nargs="*", metavar="PERSON", help="people whose photos to write")
    p.add_argument(
        "--naming",
        choices=("ext.xmp", "xmp"),
        default=None,
        help="sidecar name: IMG.jpg.xmp (digiKam, Immich) or IMG.xmp (Lightroom); default: "
        "the library's setting (IMG.jpg.xmp unless changed)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="say which sidecars would be created and changed, and write nothing",
    )
    p.add_argument(
        "--embed",
        action="store_true",
        help="also write the people into the photos themselves, through ExifTool (which must "
        "be installed); ExifTool keeps each original once as IMG.jpg_original",
    )
    add_settings_options(p, ["keep_sidecars_in_sync"])
    p.add_argument(
        "--never",
        nargs="+",
        metavar="PERSON",
        help="never write these people to photos (kept in the library; exports nothing now)",
    )
    p.add_argument("--allow", nargs="+", metavar="PERSON", help="take people off the --never list")
    add_json_option(p)

    for name, func in (("tag-photo", cmd_tag_photo), ("untag-photo", cmd_untag_photo)):
        p = add_command(sub, common, name, func)
        p.add_argument("photo", metavar="PHOTO", help="the photo's path or id")
        p.add_argument("person", metavar="PERSON", help="the person's name or id")
