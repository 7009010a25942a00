"""The headless command line: ``facenet-photos COMMAND`` (or ``python -m facenet_core``).

One module per command group, each with a ``register(subparsers, common)`` function:
:mod:`.library` (scan, status), :mod:`.people` (cluster, recognize, people, faces, photos,
history, and the edits: name, merge, move, reject, confirm, ignore, unignore, hide, unhide, cover,
add-face, delete-face, undo, redo), :mod:`.evaluate` (eval-lfw, eval-robustness, eval-video,
eval-detect, eval-clusters, verify), :mod:`.privacy` (forget), :mod:`.tags` (import-tags,
export-tags, tag-photo, untag-photo),
:mod:`.training` (train, models, use-model, reembed). Settings options are generated from
:mod:`facenet_core.settings`. Only this package prints.

Start-up: the command line answers at once where no model is needed. A group module imports what
its commands run (torch and the models for ``train``), so ``main`` builds the parser with the one
group that owns the command given (:data:`COMMANDS`); ``--version``, ``--help`` and an unknown or
missing command import no group at all and list every command from its one-line summary in the
same table (a test keeps the table equal to what the groups register). Light commands (``status``,
``people``, ``faces``, the edits) import no torch: the groups import heavy modules inside the
commands that need them (``status`` only for its device line).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from facenet_core import __version__
from facenet_core.errors import UserError, explain

GROUPS = ("library", "people", "privacy", "tags", "evaluate", "training")
"""The command group modules of this package, in the order ``--help`` lists them."""

_TABLE: tuple[tuple[str, str, str], ...] = (
    ("scan", "library", "add folders of photos to the library (incremental, resumable)"),
    ("status", "library", "what the library holds (photos by state, faces, people)"),
    ("backup", "library", "a consistent copy of the library (safe while it is in use)"),
    ("cluster", "people", "group every face into people again (your edits are kept)"),
    (
        "recognize",
        "people",
        "find people for the faces added since the last time (scan does this too)",
    ),
    ("people", "people", "list the people: id, faces, name"),
    ("faces", "people", "list face ids: a person's, the unassigned, ignored or suggested ones"),
    ("photos", "people", "photos in which ALL these people appear"),
    ("history", "people", "your recent edits (newest first)"),
    ("name", "people", "name or rename a person"),
    ("merge", "people", "merge people into one (the first named of them, else the first)"),
    ("move", "people", "move faces to a person (or a new one)"),
    ("reject", "people", "not this person: take faces out of a person for good"),
    ("confirm", "people", "confirm faces where they are (suggestions or automatic ones)"),
    ("ignore", "people", "ignore faces (strangers, not faces)"),
    ("unignore", "people", "stop ignoring faces"),
    ("hide", "people", "hide a person from the people list"),
    ("unhide", "people", "show a hidden person again"),
    ("cover", "people", "choose the face shown for a person"),
    ("add-face", "people", "add a face the detector missed: a box drawn by hand (undoable)"),
    ("delete-face", "people", "delete a face drawn by hand (undoable)"),
    ("undo", "people", "undo your last edit (repeatable)"),
    ("redo", "people", "make again the edit you undid last (until a new edit)"),
    ("forget", "privacy", "forget a person, faces or the whole library for good (no undo)"),
    (
        "import-tags",
        "tags",
        "read the face names other programs wrote into photos already in the library",
    ),
    ("export-tags", "tags", "write the people named here to XMP sidecars beside the photos"),
    (
        "tag-photo",
        "tags",
        "put a person on a photo without a face box (a back, a face no detector found)",
    ),
    ("untag-photo", "tags", "take a person's photo-level tag off a photo"),
    ("eval-lfw", "evaluate", "LFW verification accuracy, 10-fold protocol (FaceNet section 4)"),
    (
        "eval-robustness",
        "evaluate",
        "VAL at FAR=1e-3 under JPEG compression and small faces, both face models "
        "(FaceNet Table 4)",
    ),
    (
        "eval-clusters",
        "evaluate",
        "people clustering quality: BCubed and pairwise F1 against labelled images",
    ),
    (
        "eval-video",
        "evaluate",
        "video verification, the paper's protocol: frame mean vs a single frame, 10-fold",
    ),
    ("eval-detect", "evaluate", "face detector recall and precision on WIDER FACE annotations"),
    ("verify", "evaluate", "are the largest faces of two photos the same person?"),
    (
        "train",
        "training",
        "fine-tune the face network on the faces you confirmed (or on a folder of people)",
    ),
    ("models", "training", "the model versions; which is active"),
    ("use-model", "training", "make another model version active (restore the previous one)"),
    (
        "reembed",
        "training",
        "embed every face lacking an embedding of the active model (resumes)",
    ),
)

COMMANDS: dict[str, str] = {name: group for name, group, _ in _TABLE}
"""Which group registers each command."""

SUMMARIES: dict[str, str] = {name: summary for name, _, summary in _TABLE}
"""Each command's one line in ``--help``, as its group registers it."""


def command_of(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (the first word that is not an option or its value)."""
    words = iter(argv)
    for word in words:
        if word in ("--library",):
            next(words, None)
        elif word.startswith("--library="):
            continue
        elif not word.startswith("-"):
            return word
    return None


def build_parser(groups: Sequence[str] | None = GROUPS) -> argparse.ArgumentParser:
    """The parser with the commands of ``groups`` (their modules imported); None: no group
    imported, every command listed by its summary only (enough for ``--help``, ``--version``
    and an unknown command's error)."""
    parser = argparse.ArgumentParser(
        prog="facenet-photos",
        description="FaceNet Photos: organise photos by the people in them, offline.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    library_help = "library database file (default: library.db in the user data folder)"
    parser.add_argument("--library", metavar="PATH", default=None, help=library_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--library", metavar="PATH", default=argparse.SUPPRESS, help=library_help)
    if groups is None:
        for name, summary in SUMMARIES.items():
            sub.add_parser(name, help=summary)
        return parser
    for name in groups:
        importlib.import_module(f"facenet_core.cli.{name}").register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    group = COMMANDS.get(command_of(words) or "")
    wants_help = any(w in ("-h", "--help") for w in words[:1])
    parser = build_parser((group,) if group and not wants_help else None)
    args = parser.parse_args(words)  # --version and --help end here, before the store loads
    from facenet_core.cli.common import EXIT_INTERRUPTED, exit_code

    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except UserError as exc:  # CliError, or a core error meant for a person: no traceback
        print(f"facenet-photos {args.command}: error: {explain(exc)}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        print(f"facenet-photos {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (``status | head -2``): end quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
