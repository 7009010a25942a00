"""The command table: every command, the group module that registers it and its one-line
summary, written once. ``main`` reads it to import only the group that owns the command given
(start-up speed) and to list every command in ``--help`` without importing any group; the groups
register their commands through :func:`add_command`, which takes the summary from here. A light
module: it imports nothing but argparse, so ``--version`` and ``--help`` stay instant."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from typing import Any

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
    ("eval-lfw", "evaluate", "LFW verification accuracy, 10-fold protocol (FaceNet section 4)"),
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


def add_command(
    sub: argparse._SubParsersAction,
    common: argparse.ArgumentParser,
    name: str,
    func: Callable[[argparse.Namespace], int],
    description: str | None = None,
    **defaults: Any,
) -> argparse.ArgumentParser:
    """Register the command ``name``, run by ``func`` (``defaults``: more values it is given),
    with the options every command shares. Its one-line help comes from the command table
    (:data:`SUMMARIES`), the one place it is written, so ``--help`` reads the
    same whether the group module was imported or not; its description is ``func``'s docstring
    (as click does) unless ``description`` is given (text computed at run time)."""
    p = sub.add_parser(
        name,
        parents=[common],
        help=SUMMARIES[name],
        description=description or inspect.getdoc(func),
    )
    p.set_defaults(func=func, **defaults)
    return p
