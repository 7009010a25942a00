"""The command line answers at once where no model is needed: ``--version``, ``--help``, ``status``,
``people``, ``faces`` and the edits import no torch (seconds to import); ``status`` imports it
only for its device line. Checked with ``python -X importtime``, which lists every module a run
imported."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.people_helpers import small_library

CHECKOUT = Path(__file__).resolve().parents[2]
HEAVY = {"torch", "torchvision", "cv2", "dlib"}


def imported(*words: str) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """The modules ``python -m facenet_core WORDS`` imported, and the run."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "facenet_core", *words],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in run.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "facenet_core" in modules, run.stderr[-2000:]
    return modules, run


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("startup")
    small = small_library(folder)
    small.lib.close()
    return folder / "library.db"


@pytest.mark.parametrize(
    "words",
    [
        ["--version"],
        ["--help"],
        ["people"],
        ["faces"],
        ["faces", "--suggested"],
        ["name", "2", "Bob"],
        ["undo"],
        ["history"],
    ],
    ids=lambda w: " ".join(w),
)
def test_a_command_that_needs_no_model_imports_no_torch(library: Path, words: list[str]) -> None:
    modules, run = imported("--library", str(library), *words)
    assert run.returncode == 0, run.stderr[-2000:]
    assert not HEAVY & modules, f"{' '.join(words)} imported {sorted(HEAVY & modules)}"


def test_version_and_help_load_neither_a_command_group_nor_the_store() -> None:
    modules, run = imported("--version")
    assert run.returncode == 0 and run.stdout.startswith("facenet-photos ")
    assert not {m for m in modules if m.startswith(("facenet_core.cli.", "facenet_core.store"))}
    assert "sqlalchemy" not in modules and "alembic" not in modules


def test_status_imports_torch_for_its_device_line_only(library: Path) -> None:
    modules, run = imported("--library", str(library), "status")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "device:" in run.stdout
    # the device line resolves the device with torch; no model, detector or scan code loads
    assert "facenet_core.vision.device" in modules
    assert not {"cv2", "dlib", "torchvision"} & modules
    assert "facenet_core.library.scan" not in modules
    assert not {m for m in modules if m.startswith("facenet_core.vision.detectors")}


def test_the_top_level_help_from_the_summaries_is_the_help_the_groups_register() -> None:
    """``--help`` lists every command from the table without importing any group: the table's
    names, order and one-line summaries are exactly what the groups register."""
    from facenet_core.cli import SUMMARIES, build_parser

    full = build_parser()
    assert build_parser(None).format_help() == full.format_help()
    sub = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    assert {a.dest: a.help for a in sub._choices_actions} == SUMMARIES


def test_the_recorded_schema_head_is_alembics_head() -> None:
    """A library at :data:`SCHEMA_HEAD` opens without loading Alembic; the constant must name
    the newest migration (a new revision updates it)."""
    from alembic.script import ScriptDirectory

    from facenet_core.store.db import SCHEMA_HEAD, alembic_config

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == SCHEMA_HEAD


def test_reading_commands_load_neither_alembic_nor_faiss(library: Path) -> None:
    for words in (["people"], ["faces"], ["name", "2", "Ada Lovelace"], ["undo"]):
        modules, run = imported("--library", str(library), *words)
        assert run.returncode == 0, run.stderr[-2000:]
        assert not {"alembic", "faiss"} & modules, words
