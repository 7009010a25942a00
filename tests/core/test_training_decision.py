"""The promotion decision as data: one check per rule with the figures it compared, and the
``train`` command's words for each check (the app's words are tested in the GUI tests)."""

from __future__ import annotations

import math
import subprocess
import sys

from facenet_core.cli.training import check_words, decision_lines
from facenet_core.training.decision import GUARD_MAX_DROP, Check, Decision, decide

BEFORE = {"val": 0.90, "nearest": 0.95}


def test_a_better_model_passes_every_check_with_its_figures() -> None:
    decision = decide(BEFORE, {"val": 0.93, "nearest": 0.95}, 0.990, 0.986)  # guard -0.4 pp
    assert decision.promoted and not decision.failed
    assert [c.name for c in decision.checks] == ["val", "nearest", "guard"]
    assert decision.check("val") == Check("val", True, 0.90, 0.93, "improved")
    assert decision.check("nearest") == Check("nearest", True, 0.95, 0.95, "kept")
    assert decision.check("guard") == Check("guard", True, 0.990, 0.986, "within", GUARD_MAX_DROP)


def test_each_failed_rule_is_its_own_failed_check() -> None:
    guard = decide(BEFORE, {"val": 0.93, "nearest": 0.95}, 0.990, 0.984)  # -0.6 pp
    assert not guard.promoted and [c.name for c in guard.failed] == ["guard"]
    assert guard.check("guard").outcome == "dropped"
    val = decide(BEFORE, {"val": 0.90, "nearest": 0.96}, None, None)
    assert [(c.name, c.outcome) for c in val.failed] == [("val", "not_improved")]
    assert val.check("guard") == Check("guard", True, None, None, "unchecked", GUARD_MAX_DROP)
    nearest = decide(BEFORE, {"val": 0.95, "nearest": 0.94}, None, None)
    assert [(c.name, c.outcome) for c in nearest.failed] == [("nearest", "dropped")]
    perfect = decide({"val": 1.0, "nearest": 1.0}, {"val": 1.0, "nearest": 1.0}, None, None)
    assert [(c.name, c.outcome) for c in perfect.failed] == [("val", "already_perfect")]
    unmeasured = decide({"val": math.nan, "nearest": 1.0}, {"val": 0.5, "nearest": 1.0}, None, None)
    assert [(c.name, c.outcome) for c in unmeasured.failed] == [("val", "unmeasured")]


def test_a_decision_round_trips_through_the_stored_metrics() -> None:
    decision = decide({"val": math.nan, "nearest": 0.9}, {"val": 0.5, "nearest": 0.8}, 0.9, 0.9)
    stored = decision.to_json_dict()
    assert stored["checks"][0]["before"] is None  # JSON has no NaN
    back = Decision.from_json_dict(stored)
    assert back is not None and back.promoted == decision.promoted
    assert [(c.name, c.passed, c.outcome) for c in back.checks] == [
        (c.name, c.passed, c.outcome) for c in decision.checks
    ]
    assert Decision.from_json_dict({"promoted": True}) is None  # recorded before checks were


def test_the_command_words_every_check_and_marks_the_failed_ones() -> None:
    decision = decide(BEFORE, {"val": 0.93, "nearest": 0.94}, 0.990, 0.984)
    lines = decision_lines(decision)
    assert len(lines) == 3
    assert lines[0] == "VAL at FAR=1e-3 on held-out faces rose 90.00% -> 93.00%"
    assert lines[1] == "FAILED: nearest-person accuracy dropped (95.00% -> 94.00%)"
    assert lines[2].startswith("FAILED: the guard dropped by more than 0.5 pp (99.00% -> 98.40%)")
    assert check_words(Check("guard", True, None, None, "unchecked")) == "no guard set was checked"


def test_the_decision_module_loads_without_torch() -> None:
    """The app imports it on the GUI thread: it must stay free of torch."""
    code = "import sys, facenet_core.training.decision; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
