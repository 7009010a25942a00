"""The settings registry: one declaration feeding the CLI, docs/cli.md and the library."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from facenet_core.cli import build_parser
from facenet_core.settings import SETTINGS, SPECS, Settings, SettingsError, markdown_table
from facenet_core.store import Library

REPO = Path(__file__).resolve().parents[2]


def test_every_setting_is_fully_declared() -> None:
    assert SETTINGS, "the registry is empty"
    for spec in SETTINGS:
        assert spec.title and spec.help and spec.group, spec.key
        assert spec.check(spec.default) == spec.default or spec.default is None, spec.key
        if spec.kind == "choice":
            assert spec.default in spec.choices
        if spec.kind in ("int", "float") and spec.default is not None:
            assert spec.minimum is not None and spec.maximum is not None, spec.key
            assert spec.minimum <= spec.default <= spec.maximum


def test_values_are_checked() -> None:
    s = Settings()
    assert s.replace(min_face_size=20).min_face_size == 20
    assert s.replace(device="cuda:1").device == "cuda:1"
    for bad in (
        {"min_face_size": 3},
        {"detector": "magic"},
        {"device": "gpu0"},
        {"flip": "yes"},
        {"batch_size": 2.5},
        {"no_such_setting": 1},
    ):
        with pytest.raises(SettingsError):
            s.replace(**bad)
    with pytest.raises(SettingsError):
        Settings(upsample=9)


def _options(parser: argparse.ArgumentParser, command: str) -> dict[str, argparse.Action]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        opt: action for action in sub.choices[command]._actions for opt in action.option_strings
    }


def test_cli_options_come_from_the_registry() -> None:
    parser = build_parser()
    options = _options(parser, "scan")
    for spec in SETTINGS:  # scan takes every setting that shapes detection and embedding
        if spec.group in ("Detection", "Embedding", "Performance"):
            assert spec.flag in options, spec.flag
            action = options[spec.flag]
            assert action.dest == spec.key
            if spec.choices:
                assert tuple(action.choices or ()) == spec.choices
    args = parser.parse_args(["scan", "x", "--min-face-size", "30", "--no-flip"])
    assert (args.min_face_size, args.flip, args.detector) == (30, False, None)
    with pytest.raises(SystemExit):
        parser.parse_args(["scan", "x", "--min-face-size", "3"])


def test_cli_docs_option_table_is_the_registry() -> None:
    cli_doc = (REPO / "docs" / "cli.md").read_text()
    table = markdown_table()
    assert table in cli_doc, "regenerate the table in docs/cli.md: python -c 'from "
    "facenet_core.settings import markdown_table; print(markdown_table())'"
    # every setting documented exactly once
    for spec in SETTINGS:
        assert len(re.findall(rf"\| `{re.escape(spec.flag)}`", cli_doc)) == 1, spec.flag


def test_library_keeps_its_settings(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    with Library.open(path, create=True) as library:
        assert library.settings() == Settings()
        changed = Settings().replace(detector="hog", min_face_size=60, workers=2)
        library.save_settings(changed)
    with Library.open(path) as library:
        assert library.settings() == changed
        library.save_settings(Settings())  # back to the defaults: nothing stored
        assert library.settings() == Settings()
    assert set(SPECS) == set(Settings().as_dict())
    assert Settings().stored_values().keys() == {s.key for s in SETTINGS if s.stored}
