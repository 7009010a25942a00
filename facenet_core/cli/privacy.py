"""``forget``: remove a person, single faces, or a whole library for good (no undo).

``forget PERSON`` and ``forget --face ID ...`` delete the faces' codes, thumbnails, names and
edit history so that their bytes do not stay in the library file, and remember only where the
faces were so a rescan does not bring them back; ``forget --library [PATH]`` removes the library
(the one of the global ``--library``, the given one, or the default one) with everything it
created, never the photos. Each asks for confirmation first (``--yes`` for scripts).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from facenet_core.cli import SUMMARIES
from facenet_core.cli.common import CliError, library_path, open_library, say
from facenet_core.library.forget import (
    describe_faces,
    describe_library_removal,
    describe_plan,
    describe_report,
    forget_faces,
    forget_library,
    forget_person,
    plan_forget_person,
)
from facenet_core.people import queries
from facenet_core.people.errors import PeopleError
from facenet_core.store import LibraryError

CLI_RESTORE = "'use-model' restores one that was not, or 'train' trains again without them"
"""How a CLI user gets a model that never saw what was forgotten (see :func:`describe_report`)."""


def _confirm(args: argparse.Namespace, text: str) -> None:
    print(text, file=sys.stderr)
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise CliError("nothing was forgotten: add --yes to confirm (it cannot be undone)")
    answer = input("Type 'yes' to go on: ")
    if answer.strip().lower() != "yes":
        raise CliError("nothing was forgotten")


def cmd_forget(args: argparse.Namespace) -> int:
    if args.forget_library is not None:
        if args.person or args.face:
            raise CliError("--library forgets the whole library: give no person or face with it")
        target = Path(args.forget_library) if args.forget_library else library_path(args)
        _confirm(args, describe_library_removal(target))
        try:
            removed = forget_library(target)
        except LibraryError as exc:
            raise CliError(str(exc)) from exc
        say(args, f"removed the library {target} ({len(removed)} files and folders)")
        return 0
    if bool(args.person) == bool(args.face):
        raise CliError("give a person, or --face with face ids (or --library)")
    library = open_library(args)
    try:
        if args.person:
            with library.session() as session:
                try:
                    person_id = queries.resolve_person(session, args.person)
                except PeopleError as exc:
                    raise CliError(str(exc)) from exc
            _confirm(args, describe_plan(plan_forget_person(library, person_id)))
            report = forget_person(library, person_id)
        else:
            _confirm(args, describe_faces(len(args.face)))
            try:
                report = forget_faces(library, args.face)
            except LookupError as exc:
                raise CliError(str(exc).strip("'\"")) from exc
    finally:
        library.close()
    say(args, describe_report(report, how_to_restore=CLI_RESTORE))
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "forget",
        help=SUMMARIES["forget"],
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    p.add_argument("person", nargs="?", help="the person's id or name")
    p.add_argument("--face", type=int, nargs="+", metavar="ID", help="forget these faces")
    p.add_argument(
        "--library",
        dest="forget_library",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="remove the library (this one, or PATH) with all it created; photos are kept",
    )
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_forget)
