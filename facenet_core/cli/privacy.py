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

from facenet_core.cli.common import CliError, library_path, open_library, say
from facenet_core.library.forget import (
    ForgetPlan,
    ForgetReport,
    forget_faces,
    forget_library,
    forget_person,
    plan_forget_person,
)
from facenet_core.people import queries
from facenet_core.people.errors import PeopleError
from facenet_core.store import LibraryError


def describe_plan(plan: ForgetPlan) -> str:
    """What forgetting a person removes, in the words the confirmation shows."""
    who = plan.name or f"person {plan.person_id}"
    lines = [
        f"Forget {who} for good: {plan.faces} faces ({plan.confirmed_faces} confirmed by you) in"
        f" {plan.photos} photos, their face codes, thumbnails and name, and {plan.edits} edits"
        " of your history that touched them.",
        "Their faces are remembered only as forgotten places, so a rescan does not bring them"
        " back. This cannot be undone.",
    ]
    if plan.models:
        lines.append(
            "Fine-tuned model versions that may have been trained on them:"
            f" {', '.join(plan.models)}"
            " (they stay; restore a version that did not see them, or train again)."
        )
    if plan.backups:
        lines.append(f"The library's {plan.backups} backups are cleaned of them too.")
    return "\n".join(lines)


def describe_report(report: ForgetReport) -> str:
    """What forgetting did, in one or a few lines."""
    who = f"{report.person_name!r}" if report.person_name else None
    head = f"forgot {who}: " if who else "forgot "
    parts = [f"{report.faces} faces", f"{report.edits} edits of the history"]
    if report.checkpoint_removed:
        parts.append("the unfinished training run (it held their faces)")
    if report.backups_scrubbed or report.backups_removed:
        parts.append(
            f"{report.backups_scrubbed} backups cleaned"
            + (f", {report.backups_removed} removed" if report.backups_removed else "")
        )
    lines = [head + ", ".join(parts)]
    if report.models_marked:
        active = " (the active one among them)" if report.active_model_marked else ""
        lines.append(
            "note: these fine-tuned model versions may have been trained on them"
            f"{active}: {', '.join(report.models_marked)}; 'use-model' restores one that was"
            " not, or 'train' trains again without them"
        )
    return "\n".join(lines)


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
        _confirm(
            args,
            f"Remove the library {target} with its thumbnails, models, training checkpoints"
            " and backups? Your photos are not touched. This cannot be undone.",
        )
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
            _confirm(
                args,
                f"Forget {len(args.face)} faces for good (codes, thumbnails, history)?"
                " This cannot be undone.",
            )
            try:
                report = forget_faces(library, args.face)
            except LookupError as exc:
                raise CliError(str(exc).strip("'\"")) from exc
    finally:
        library.close()
    say(args, describe_report(report))
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "forget",
        help="forget a person, faces or the whole library for good (no undo)",
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
