"""Registering a command: :func:`add_command`, which every group module uses, so that a command's
one-line summary is written once, in the command table (:data:`facenet_core.cli.SUMMARIES`)
that ``--help`` also lists without importing any group."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from typing import Any

from facenet_core.cli import SUMMARIES


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
    (:data:`facenet_core.cli.SUMMARIES`), the one place it is written, so ``--help`` reads the
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
