"""People commands: ``cluster``, ``recognize``, ``people``, ``faces``, ``photos``, ``history``,
and the edits ``name``, ``merge``, ``move``, ``reject``, ``confirm``, ``ignore``, ``unignore``,
``hide``, ``unhide``, ``cover``, ``undo`` and ``redo``.

A person is given by its id or by its name (any case); a face by its id (``faces`` lists them).
A bad id or an unknown name is a one-line error (exit status 1) and changes nothing.

``cluster`` and ``recognize`` import the clustering and k-NN code (faiss) when they run; the lists
and the edits start without it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from facenet_core.cli.commands import add_command
from facenet_core.cli.common import (
    CLUSTERING,
    EMBEDDING,
    EXIT_INTERRUPTED,
    CliError,
    ProgressBar,
    add_json_option,
    add_settings_options,
    ctrl_c_cancels,
    open_library,
    person_arg,
    run_edit,
    say,
    settings_from,
    write_json,
)
from facenet_core.people import edits, history_trace, queries
from facenet_core.people.edits import Change
from facenet_core.people.errors import PeopleError
from facenet_core.progress import CancelToken
from facenet_core.settings import Settings
from facenet_core.store import Library

T = TypeVar("T")

RECOGNITION = ["suggest_confidence", "auto_confidence", *CLUSTERING]


def _face_ids(texts: Sequence[str]) -> list[int]:
    ids = []
    for text in texts:
        if not text.strip().isdigit():
            raise CliError(f"not a face id: {text!r} (face ids are whole numbers; see 'faces')")
        ids.append(int(text))
    return ids


# -- automatic runs -------------------------------------------------------------------------------


def _automatic(
    args: argparse.Namespace,
    run: Callable[[Library, Settings, ProgressBar, CancelToken], T],
) -> T:
    """Run an automatic job (re-clustering, recognition) on the library with the saved settings
    (and this command's options), a progress bar, and Ctrl-C stopping it after the step in
    hand, before anything is written."""
    library = open_library(args)
    settings = settings_from(args, library.settings())
    bar, cancel = ProgressBar(), CancelToken()
    try:
        with ctrl_c_cancels(cancel, "after the step in hand; nothing will be changed"):
            return run(library, settings, bar, cancel)
    finally:
        bar.close()
        library.close()


def cmd_cluster(args: argparse.Namespace) -> int:
    """Cluster all faces again: confirmed faces never move, rejected faces never go back, named
    people keep their names and faces, unnamed people keep their ids where their groups stay.
    Ctrl-C stops without changing anything."""
    from facenet_core.people.jobs import recluster

    report = _automatic(
        args,
        lambda library, settings, bar, cancel: recluster(
            library, settings, reporter=bar, cancel=cancel
        ),
    )
    if report.cancelled:
        print("interrupted: nothing was changed", file=sys.stderr)
        return EXIT_INTERRUPTED
    say(
        args,
        f"{report.people} people ({report.named_people} named); {report.assigned_faces} faces"
        f" assigned, {report.unassigned_faces} unassigned; {report.moved} faces moved,"
        f" {report.created} people added, {report.deleted} removed in {report.seconds:.1f} s",
    )
    write_json(report.to_json_dict(), args.json)
    return 0


def cmd_recognize(args: argparse.Namespace) -> int:
    """Match new faces against the faces you confirmed: sure matches are assigned, likely ones
    suggested for you to confirm; the others join the nearest unnamed group or form new ones."""
    from facenet_core.people.jobs import recognize_new

    report = _automatic(
        args,
        lambda library, settings, bar, cancel: recognize_new(
            library, settings, everything=args.all, reporter=bar, cancel=cancel
        ),
    )
    if report.cancelled:
        print("interrupted: nothing was changed", file=sys.stderr)
        return EXIT_INTERRUPTED
    say(args, recognition_line(report.to_json_dict()))
    write_json(report.to_json_dict(), args.json)
    return 0


def recognition_line(r: dict[str, Any]) -> str:
    """One line about a recognition run (also printed after a scan)."""
    if not r["faces"]:
        return "people: no new faces to recognise"
    return (
        f"people: of {r['faces']} new faces, {r['assigned']} given to known people,"
        f" {r['suggested']} suggested, {r['joined']} joined unnamed groups,"
        f" {r['grouped']} formed {r['new_people']} new groups, {r['unassigned']} left alone"
    )


def people_line(count: queries.PeopleCount) -> str:
    """The one count of people in words (the app's People page says the same)."""
    line = f"{count.shown} ({count.named} named)"
    left_out = []
    if count.small:
        left_out.append(f"{count.small} small groups")
    if count.hidden:
        left_out.append(f"{count.hidden} hidden")
    if left_out:
        line += "; not listed: " + ", ".join(left_out)
    return line


# -- looking --------------------------------------------------------------------------------------


def cmd_people(args: argparse.Namespace) -> int:
    library = open_library(args)
    settings = settings_from(args, library.settings())
    try:
        with library.session() as session:
            people = queries.list_people(
                session, include_hidden=args.all, min_faces=settings.min_cluster_faces
            )
    finally:
        library.close()
    for p in people:
        extra = []
        if p.suggestions:
            extra.append(f"{p.suggestions} suggested")
        if p.is_hidden:
            extra.append("hidden")
        more = f"  ({', '.join(extra)})" if extra else ""
        say(args, f"{p.id:>7}  {p.faces:>6} faces  {p.label}{more}")
    if not people:
        say(args, "no people yet: scan some photos, then run 'cluster'")
    write_json(
        [
            {
                "id": p.id,
                "name": p.name,
                "faces": p.faces,
                "confirmed": p.confirmed,
                "suggestions": p.suggestions,
                "hidden": p.is_hidden,
            }
            for p in people
        ],
        args.json,
    )
    return 0


def cmd_faces(args: argparse.Namespace) -> int:
    library = open_library(args)
    try:
        with library.session() as session:
            try:
                if args.person is not None:
                    pid = queries.resolve_person(session, args.person)
                    kinds = ["confirmed", "auto"] + (["suggested"] if args.suggested else [])
                    page = queries.person_faces(
                        session, pid, kinds=kinds, offset=args.offset, limit=args.limit
                    )
                elif args.suggested:
                    page = queries.suggested_faces(session, offset=args.offset, limit=args.limit)
                elif args.ignored:
                    page = queries.ignored_faces(session, offset=args.offset, limit=args.limit)
                else:
                    page = queries.unassigned_faces(session, offset=args.offset, limit=args.limit)
            except PeopleError as exc:
                raise CliError(str(exc)) from exc
    finally:
        library.close()
    for f in page.items:
        conf = f" {f.confidence:.2f}" if f.confidence is not None else ""
        who = f" person {f.person_id}" if f.person_id is not None else ""
        say(args, f"{f.id:>8}  {f.kind}{conf}{who}  {f.photo_path}")
    say(args, f"{len(page.items)} of {page.total} faces (from {page.offset})")
    write_json(
        {
            "total": page.total,
            "offset": page.offset,
            "faces": [
                {
                    "id": f.id,
                    "photo": f.photo_path,
                    "person": f.person_id,
                    "kind": f.kind,
                    "confidence": f.confidence,
                    "box": list(f.box),
                }
                for f in page.items
            ],
        },
        args.json,
    )
    return 0


def cmd_photos(args: argparse.Namespace) -> int:
    library = open_library(args)
    try:
        ids = [person_arg(library, text) for text in args.people]
        with library.session() as session:
            page = queries.photos_with_people(session, ids, offset=args.offset, limit=args.limit)
    finally:
        library.close()
    for photo in page.items:
        say(args, photo.path)
    say(args, f"{len(page.items)} of {page.total} photos with all of them")
    write_json({"total": page.total, "photos": [p.path for p in page.items]}, args.json)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    library = open_library(args)
    try:
        with library.session() as session:
            history = history_trace.edit_history(session)
    finally:
        library.close()
    for h in history:
        say(args, f"{h.created_at:%Y-%m-%d %H:%M}  {h.summary}")
    if not history:
        say(args, "no edits to undo")
    return 0


# -- edits ----------------------------------------------------------------------------------------


def cmd_name(args: argparse.Namespace) -> int:
    return run_edit(
        args, lambda lib: edits.name_person(lib, person_arg(lib, args.person), " ".join(args.name))
    )


def cmd_merge(args: argparse.Namespace) -> int:
    return run_edit(
        args, lambda lib: edits.merge_people(lib, [person_arg(lib, t) for t in args.people])
    )


def cmd_move(args: argparse.Namespace) -> int:
    faces = _face_ids(args.faces)
    if args.new == (args.to is not None):
        raise CliError("say where the faces go: --to PERSON or --new")
    return run_edit(
        args,
        lambda lib: edits.move_faces(lib, faces, None if args.new else person_arg(lib, args.to)),
    )


def cmd_reject(args: argparse.Namespace) -> int:
    faces = _face_ids(args.faces)
    return run_edit(args, lambda lib: edits.remove_faces(lib, faces, person_arg(lib, args.from_)))


def cmd_confirm(args: argparse.Namespace) -> int:
    if args.person is None and not args.faces:
        raise CliError("give FACE_IDs, or --person PERSON to confirm all of its suggestions")
    faces = _face_ids(args.faces) if args.faces else None

    def action(lib: Library) -> Change:
        if faces is None:
            return edits.confirm_suggestions(lib, person_id=person_arg(lib, args.person))
        if args.person is not None:
            return edits.confirm_suggestions(lib, faces, person_id=person_arg(lib, args.person))
        return edits.confirm_faces(lib, faces)

    return run_edit(args, action)


def cmd_ignore(args: argparse.Namespace) -> int:
    faces = _face_ids(args.faces)
    return run_edit(args, lambda lib: edits.ignore_faces(lib, faces, ignored=not args.undo_mark))


def cmd_hide(args: argparse.Namespace) -> int:
    return run_edit(
        args, lambda lib: edits.hide_person(lib, person_arg(lib, args.person), hidden=args.hidden)
    )


def cmd_cover(args: argparse.Namespace) -> int:
    (face,) = _face_ids([args.face])
    return run_edit(args, lambda lib: edits.set_cover(lib, person_arg(lib, args.person), face))


def cmd_undo(args: argparse.Namespace) -> int:
    return run_edit(args, edits.undo)


def cmd_redo(args: argparse.Namespace) -> int:
    return run_edit(args, edits.redo)


# -- registration ---------------------------------------------------------------------------------


def cmd_add_face(args: argparse.Namespace) -> int:
    """Align, embed and store the face in the box X1 Y1 X2 Y2 (pixels of the photo as shown,
    upright) of PHOTO (its path or id), marked as drawn by you: a rescan keeps it. With --person
    it is given to that person (an id or a name; a new name makes a new person) in the same
    edit."""
    # torch loads here: the box is aligned and embedded before the face is stored
    from facenet_core.library.drawn import draw_face, photo_id_of

    library = open_library(args)
    try:
        settings = settings_from(args, library.settings())
        photo_id = photo_id_of(library, args.photo)
        person_id: int | None = None
        name: str | None = None
        if args.person is not None:
            with library.session() as session:
                try:
                    person_id = queries.resolve_person(session, args.person)
                except PeopleError:
                    if args.person.strip().isdigit() or not args.person.strip():
                        raise
                    name = args.person  # nobody has this name: a new person
        box = (args.x1, args.y1, args.x2, args.y2)
        change = draw_face(library, photo_id, box, settings, person_id=person_id, name=name)
    except PeopleError as exc:
        raise CliError(str(exc)) from exc
    finally:
        library.close()
    say(args, change.summary)
    return 0


def cmd_delete_face(args: argparse.Namespace) -> int:
    from facenet_core.library.drawn import delete_face

    (face_id,) = _face_ids([args.face])
    return run_edit(args, lambda library: delete_face(library, face_id))


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    person_help = "a person's id, or name (any case)"

    p = add_command(sub, common, "cluster", cmd_cluster)
    add_json_option(p)
    add_settings_options(p, CLUSTERING)

    p = add_command(sub, common, "recognize", cmd_recognize)
    p.add_argument(
        "--all", action="store_true", help="look at every unassigned face, not only new ones"
    )
    add_json_option(p)
    add_settings_options(p, RECOGNITION)

    p = add_command(sub, common, "people", cmd_people)
    p.add_argument("--all", action="store_true", help="hidden people too")
    add_json_option(p)
    add_settings_options(p, ["min_cluster_faces"])

    p = add_command(sub, common, "faces", cmd_faces)
    p.add_argument("person", nargs="?", metavar="PERSON", help=person_help)
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--suggested", action="store_true", help="suggestions (of PERSON, or everyone's)"
    )
    which.add_argument("--ignored", action="store_true", help="faces marked ignored")
    p.add_argument("--offset", type=int, default=0, metavar="N")
    p.add_argument("--limit", type=int, default=100, metavar="N")
    add_json_option(p)

    p = add_command(sub, common, "photos", cmd_photos)
    p.add_argument("people", nargs="+", metavar="PERSON", help=person_help)
    p.add_argument("--offset", type=int, default=0, metavar="N")
    p.add_argument("--limit", type=int, default=100, metavar="N")
    add_json_option(p)

    add_command(sub, common, "history", cmd_history)

    p = add_command(sub, common, "name", cmd_name)
    p.add_argument("person", metavar="PERSON", help=person_help)
    p.add_argument("name", nargs="+", metavar="NAME")

    p = add_command(sub, common, "merge", cmd_merge)
    p.add_argument("people", nargs="+", metavar="PERSON", help=person_help)

    p = add_command(sub, common, "move", cmd_move)
    p.add_argument("faces", nargs="+", metavar="FACE_ID")
    p.add_argument("--to", metavar="PERSON", help=person_help)
    p.add_argument("--new", action="store_true", help="to a new, unnamed person")

    p = add_command(sub, common, "reject", cmd_reject)
    p.add_argument("faces", nargs="+", metavar="FACE_ID")
    p.add_argument("--from", dest="from_", required=True, metavar="PERSON", help=person_help)

    p = add_command(sub, common, "confirm", cmd_confirm)
    p.add_argument("faces", nargs="*", metavar="FACE_ID")
    p.add_argument(
        "--person", metavar="PERSON", help="whose suggestions (all of them, if no FACE_ID)"
    )

    p = add_command(sub, common, "ignore", cmd_ignore, undo_mark=False)
    p.add_argument("faces", nargs="+", metavar="FACE_ID")
    p = add_command(sub, common, "unignore", cmd_ignore, undo_mark=True)
    p.add_argument("faces", nargs="+", metavar="FACE_ID")

    p = add_command(sub, common, "hide", cmd_hide, hidden=True)
    p.add_argument("person", metavar="PERSON", help=person_help)
    p = add_command(sub, common, "unhide", cmd_hide, hidden=False)
    p.add_argument("person", metavar="PERSON", help=person_help)

    p = add_command(sub, common, "cover", cmd_cover)
    p.add_argument("person", metavar="PERSON", help=person_help)
    p.add_argument("face", metavar="FACE_ID")

    p = add_command(sub, common, "add-face", cmd_add_face)
    p.add_argument("photo", metavar="PHOTO", help="a photo's path or id")
    for corner in ("x1", "y1", "x2", "y2"):
        p.add_argument(corner, type=float, metavar=corner.upper())
    p.add_argument("--person", metavar="PERSON", help=f"{person_help}; a new name: a new person")
    add_settings_options(p, EMBEDDING)

    p = add_command(sub, common, "delete-face", cmd_delete_face)
    p.add_argument("face", metavar="FACE_ID")

    add_command(sub, common, "undo", cmd_undo)
    add_command(sub, common, "redo", cmd_redo)
