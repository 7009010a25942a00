"""What every command shares: one-line errors, ``--json FILE``, the settings options generated
from the registry, the library option, and the progress bar that renders core progress events."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from facenet_core.paths import default_library_path
from facenet_core.progress import Progress
from facenet_core.settings import SETTINGS, SPECS, Settings, SettingsError, SettingSpec
from facenet_core.store import Library, LibraryError

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A failure to report as one line, without a traceback."""


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
        metavar = {"int": "N", "float": "X", "device": "DEVICE"}.get(spec.kind)
        group.add_argument(
            spec.flag,
            dest=spec.key,
            type=lambda text, spec=spec: _parse(spec, text),
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
EMBEDDING = ["flip", "batch_size", "precision", "device"]
ALL_ENGINE = [*DETECTION, *EMBEDDING, "workers"]


def settings_from(args: argparse.Namespace, base: Settings | None = None) -> Settings:
    """``base`` (default: the defaults) with every settings option given on the command line."""
    changes = {key: getattr(args, key) for key in SPECS if getattr(args, key, None) is not None}
    try:
        return (base or Settings()).replace(**changes)
    except SettingsError as exc:
        raise CliError(str(exc)) from exc


# -- the library ----------------------------------------------------------------------------


def library_path(args: argparse.Namespace) -> Path:
    return Path(args.library) if args.library else default_library_path()


def open_library(args: argparse.Namespace, *, create: bool = False) -> Library:
    try:
        return Library.open(library_path(args), create=create)
    except LibraryError as exc:
        raise CliError(str(exc)) from exc


# -- progress -------------------------------------------------------------------------------


class ProgressBar:
    """Renders core :class:`Progress` events on stderr: a bar per phase with rate and time left
    (tqdm), or a counter while the total is unknown."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar: tqdm[Any] | None = None
        self._phase: tuple[str, str] | None = None

    def __call__(self, event: Progress) -> None:
        if not self.enabled:
            return
        phase = (event.task, event.phase)
        if event.total is None:
            print(f"\r{event.message or f'{event.done} {event.unit}s'}", end="", file=sys.stderr)
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
        self._bar.n = event.done
        if event.counters:
            shown = {
                k: (int(v) if float(v).is_integer() else round(v, 4))
                for k, v in event.counters.items()
            }
            self._bar.set_postfix(shown, refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._phase is None and self.enabled:
            pass
        self._phase = None
