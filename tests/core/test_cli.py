"""The command line end to end, on real LFW faces."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facenet_core.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facenet_core", *args],
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_eval_lfw_fold1_reaches_98_percent(lfw_mini: Path, tmp_path: Path) -> None:
    """lfw-mini is fold 1 of LFW; it is scored at the shipped thresholds, calibrated on folds
    2-10, so no threshold is fitted on the pairs scored here."""
    out = tmp_path / "lfw.json"
    proc = run_cli(
        "eval-lfw",
        "--lfw-dir",
        str(lfw_mini / "images"),
        "--pairs",
        str(lfw_mini / "pairs_fold1.txt"),
        "--json",
        str(out),
        "--device",
        "cpu",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    for key in (
        "accuracy",
        "accuracy_sem",
        "val_at_far_1e3",
        "thresholds",
        "quantized_accuracy",
        "fallbacks",
        "n_pairs",
        "images_per_s",
    ):
        assert key in result
    assert result["n_pairs"] == 600
    assert result["accuracy"] >= 0.98
    assert abs(result["quantized_accuracy"] - result["accuracy"]) <= 0.005
    assert 0.9 <= result["val_at_far_1e3"] <= 1.0
    assert result["fallbacks"] <= 10
    assert result["images_per_s"] > 0
    assert "accuracy:" in proc.stdout


def test_verify_same_and_different_people(lfw_mini: Path, capsys) -> None:
    images = lfw_mini / "images"
    a = images / "Angelina_Jolie" / "Angelina_Jolie_0001.jpg"
    b = images / "Angelina_Jolie" / "Angelina_Jolie_0002.jpg"
    c = images / "Bill_Gates" / "Bill_Gates_0001.jpg"
    if not all(p.is_file() for p in (a, b, c)):
        pytest.skip("the example people are not in lfw-mini")
    assert main(["verify", str(a), str(b), "--json", "--device", "cpu"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert set(same) == {"distance", "threshold", "same"}
    assert same["same"] is True and same["distance"] < same["threshold"]
    assert main(["verify", str(a), str(c), "--json", "--device", "cpu"]) == 0
    different = json.loads(capsys.readouterr().out)
    assert different["same"] is False and different["distance"] > different["threshold"]
    assert main(["verify", str(a), str(c), "--device", "cpu"]) == 0
    assert "different people" in capsys.readouterr().out


def test_verify_errors_name_the_file_without_traceback(lfw_images, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(blank)
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    for bad, words in ((blank, "no face found"), (text, "not an image"), (tmp_path / "x.jpg", "")):
        proc = run_cli("verify", str(lfw_images[0]), str(bad), "--device", "cpu")
        assert proc.returncode != 0
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert str(bad) in lines[0] and words in lines[0]
        assert "Traceback" not in proc.stderr


def test_eval_lfw_missing_pairs_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["eval-lfw", "--lfw-dir", str(tmp_path)]) == 1
    assert "pairs file not found" in capsys.readouterr().err


def test_the_command_table_is_what_the_groups_register() -> None:
    """``main`` builds only the group owning the command (start-up speed): its table must
    name every command exactly once, with the group that registers it."""
    import argparse

    from facenet_core.cli import COMMANDS, GROUPS, build_parser, command_of

    registered: dict[str, str] = {}
    for group in GROUPS:
        parser = build_parser((group,))
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        for name in sub.choices:
            registered[name] = group
    assert registered == COMMANDS
    assert command_of(["--library", "x.db", "-v", "scan", "photos"]) == "scan"
    assert command_of(["--library=x.db", "people", "--json", "-"]) == "people"
    assert command_of(["-v"]) is None


def test_a_people_command_starts_without_torch(tmp_path: Path) -> None:
    """Listing people needs no neural network: the command line loads only its own group."""
    code = (
        "import sys; from facenet_core.cli import main; "
        f"main(['--library', {str(tmp_path / 'l.db')!r}, 'people']); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.stdout.strip().splitlines()[-1] == "False", out.stderr
