"""What every command shares: one-line errors, ``--json FILE``, the settings options generated
from the registry, the library option, and the progress bar that renders core progress events."""

from __future__ import annotations

import argparse
import functools
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from facenet_core.errors import UserError
from facenet_core.paths import default_library_path
from facenet_core.progress import CancelToken, Progress
from facenet_core.settings import SETTINGS, SPECS, Settings, SettingsError, SettingSpec
from facenet_core.store import Library, LibraryBusy, LibraryError, describe_sqlite_error

if TYPE_CHECKING:
    from facenet_core.people.history import Change

EXIT_FAILED = 1
EXIT_BUSY = 75
"""The library is being changed by another process (sysexits' EX_TEMPFAIL: try again later)."""
EXIT_INTERRUPTED = 130


class CliError(UserError):
    """A failure to report as one line, without a traceback, and the exit status to end with.
    Printed as every user error is (:func:`facenet_core.errors.explain`): the message, then the
    hint, its own or that of the core error it was raised from."""

    def __init__(self, message: str, code: int = EXIT_FAILED, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


def exit_code(exc: UserError) -> int:
    """The exit status for a user error: its own (:class:`CliError`), 75 for a busy library,
    else 1."""
    if isinstance(exc, CliError):
        return exc.code
    return EXIT_BUSY if isinstance(exc, LibraryBusy) else EXIT_FAILED


# -- output ---------------------------------------------------------------------------------


def add_json_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--json",
        metavar="FILE",
        nargs="?",
        const="-",
        help="also write the results as JSON to FILE ('-' or no FILE: stdout, and the human "
        "text goes to stderr)",
    )


def human(args: argparse.Namespace) -> TextIO:
    """Where human text goes: stdout, or stderr when stdout carries the JSON."""
    return sys.stderr if getattr(args, "json", None) == "-" else sys.stdout


def say(args: argparse.Namespace, text: str) -> None:
    print(text, file=human(args))


def write_json(data: dict[str, Any] | list[Any], target: str | None) -> None:
    if target is None:
        return
    text = json.dumps(data, indent=2)
    if target == "-":
        print(text)
    else:
        try:
            Path(target).write_text(text + "\n")
        except OSError as exc:
            raise CliError(f"{target}: cannot write the JSON ({exc.strerror})") from exc


# -- settings -------------------------------------------------------------------------------


def _parse(spec: SettingSpec, text: str) -> Any:
    try:
        if spec.kind == "int":
            value: Any = int(text)
        elif spec.kind == "float":
            value = float(text)
        else:
            value = text
        return spec.check(value)
    except (ValueError, SettingsError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_settings_options(p: argparse.ArgumentParser, keys: list[str]) -> None:
    """Options for the settings ``keys``, generated from the registry; an option left out keeps
    the value from the library (or the default)."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for spec in SETTINGS:
        if spec.key not in keys:
            continue
        group = groups.get(spec.group)
        if group is None:
            group = groups[spec.group] = p.add_argument_group(spec.group.lower())
        default = spec.default
        shown = "automatic" if default is None else default
        help_text = f"{spec.help} (default {shown})".replace("%", "%%")
        if spec.kind == "bool":
            group.add_argument(
                spec.flag,
                dest=spec.key,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
            continue
        metavar = {"int": "N", "float": "X", "device": "DEVICE", "address": "ADDRESS"}.get(
            spec.kind
        )
        group.add_argument(
            spec.flag,
            dest=spec.key,
            type=functools.partial(_parse, spec),
            default=None,
            choices=spec.choices or None,
            metavar=metavar,
            help=help_text,
        )


DETECTION = [
    "detector",
    "min_face_size",
    "landmarks",
    "exact_pyramid",
    "upsample",
    "detect_max_side",
]
EMBEDDING = ["face_model", "flip", "batch_size", "precision", "device"]
ALL_ENGINE = [*DETECTION, *EMBEDDING, "workers"]
CLUSTER = ["cluster", "cluster_photos"]
VIDEO = ["video_fps", "video_max_frames", "video_max_seconds"]
CLUSTERING = ["cluster_threshold", "cluster_min_face_px", "cluster_min_score"]


def settings_from(args: argparse.Namespace, base: Settings | None = None) -> Settings:
    """``base`` (default: the defaults) with every settings option given on the command line."""
    changes = {key: getattr(args, key) for key in SPECS if getattr(args, key, None) is not None}
    try:
        return (base or Settings()).replace(**changes)
    except SettingsError as exc:
        raise CliError(str(exc)) from exc


# -- the library ----------------------------------------------------------------------------


def busy_error(exc: LibraryBusy, also: str = "") -> CliError:
    """The one-line error for a library another job is writing (exit status 75): its message
    and hint, ``also`` adding what only the command line offers (", or add --wait")."""
    hint = f"{exc.hint.rstrip('.')}{also}." if also else exc.hint
    return CliError(str(exc), EXIT_BUSY, hint=hint)


def library_path(args: argparse.Namespace) -> Path:
    return Path(args.library) if args.library else default_library_path()


def open_library(args: argparse.Namespace, *, create: bool = False, write: bool = True) -> Library:
    """The library of ``--library`` (or the default one). ``create``: make it when missing (its
    folder too, for the default location only: a mistyped folder is an error, not a new one).
    ``write``: the command changes the library (a read-only one is refused with the reason);
    reading commands pass False and get a read-only library when that is all this process may
    have."""
    try:
        library = Library.open(
            library_path(args), create=create, create_folder=not args.library, write=write
        )
    except LibraryError as exc:
        raise CliError(str(exc)) from exc
    note = library.privacy_note()
    if note:
        print(f"note: {note}", file=sys.stderr)
    return library


@contextmanager
def library_errors(
    library: Library, bar: ProgressBar | None = None, *, busy_also: str = ""
) -> Iterator[None]:
    """What a command working on ``library`` may meet, as one-line errors: another writer (exit
    status 75; ``busy_also`` adds what only this command offers), a library that cannot be used,
    an SQLite error in a person's words. Closes ``bar`` and then the library however the block
    ends, so the error line is not drawn over a half bar."""
    try:
        yield
    except LibraryBusy as exc:
        raise busy_error(exc, busy_also) from None
    except LibraryError as exc:
        raise CliError(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise CliError(describe_sqlite_error(exc, library.path)) from exc
    finally:
        if bar is not None:
            bar.close()
        library.close()


# -- progress -------------------------------------------------------------------------------


class ProgressBar:
    """Renders core :class:`Progress` events on stderr: a bar per phase with rate and time left
    (tqdm), or a counter while the total is unknown."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar: tqdm[Any] | None = None
        self._phase: tuple[str, str] | None = None
        self._line_open = False  # a message was printed without its newline

    def __call__(self, event: Progress) -> None:
        if not self.enabled:
            return
        phase = (event.task, event.phase)
        if event.total is None:
            if self._bar is not None:
                self.close()
            print(f"\r{event.message or f'{event.done} {event.unit}s'}", end="", file=sys.stderr)
            self._line_open = True
            return
        if self._phase != phase or self._bar is None:
            self.close()
            self._phase = phase
            self._bar = tqdm(
                total=event.total,
                desc=event.phase,
                unit=event.unit,
                dynamic_ncols=True,
                file=sys.stderr,
            )
            # the rate is work done over the phase's own time, not over the moment since this
            # bar appeared (which made the first line claim thousands of photos per second)
            self._bar.start_t = time.time() - event.elapsed
        self._bar.n = event.done
        if event.counters:
            shown = {
                k: (int(v) if float(v).is_integer() else float(f"{v:.4g}"))
                for k, v in event.counters.items()
            }
            self._bar.set_postfix(shown, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._line_open:
            print(file=sys.stderr)
            self._line_open = False
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._phase = None


# -- Ctrl-C -----------------------------------------------------------------------------------


@contextmanager
def ctrl_c_cancels(cancel: CancelToken, how: str = "after the current photos") -> Iterator[None]:
    """The first Ctrl-C asks the job to stop cleanly (``how`` tells the user how: after the
    batch in hand, so the summary counts what was committed; saving a checkpoint...); a second
    one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()
        print(f"\nstopping {how} (Ctrl-C again to stop now)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# -- edits ----------------------------------------------------------------------------------------


def person_arg(library: Library, text: str) -> int:
    """The person a command-line word names (an id or a name), or a one-line error."""
    from facenet_core.people.errors import PeopleError
    from facenet_core.people.queries import resolve_person

    with library.session() as session:
        try:
            return resolve_person(session, text)
        except PeopleError as exc:
            raise CliError(str(exc)) from exc


def run_edit(args: argparse.Namespace, action: Callable[[Library], Change]) -> int:
    """Run one edit on the library and say what changed."""
    from facenet_core.people.errors import PeopleError

    library = open_library(args)
    try:
        change = action(library)
    except PeopleError as exc:
        raise CliError(str(exc)) from exc
    finally:
        library.close()
    say(args, change.summary if change.changed else "nothing to change")
    return 0
