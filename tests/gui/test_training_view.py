"""The Training page through its real widgets and the real task runner, on a library of real
faces (lfw-mini: 4 people x 8 confirmed faces, 2 people x 3): what is missing to train, training
started with the button (live plot, figures before and after as stored with the model version),
Cancel and Resume from the checkpoint, and "Restore previous model" keeping every confirmed
face. The training itself is tiny (top block only, 2 passes; more for the cancel test), injected
through ``TrainingView.options`` as the app's own hook."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from app.jobs import TrainingOptions
from app.views.training_result import check_detail, check_words, figure_pair, pct, pct_short, why
from app.views.training_view import TrainingView
from facenet_core.cli.training import decision_lines
from facenet_core.evaluation.guard import GuardSetError
from facenet_core.library import scan
from facenet_core.store import (
    Assignment,
    Face,
    Library,
    ModelVersion,
    Person,
    get_active_model_version,
)
from facenet_core.training import decision, finetune
from facenet_core.training.finetune import checkpoint_path
from facenet_core.training.measure import GuardSet
from tests.gui.conftest import show_main_window, shut_down
from tests.helpers import FAST_CPU_SETTINGS as SETTINGS
from tests.helpers import TINY_TRAINING as TINY
from tests.helpers import central_face, confirm_owners, lfw_people, small_guard

REPO = Path(__file__).resolve().parents[2]
TRAINED, NEGATIVE = 4, 2  # people with 8 confirmed faces; people with 3 (negatives only)


@pytest.mark.parametrize(
    ("before", "after", "guard"),
    [
        ({"val": 0.90, "nearest": 0.95}, {"val": 0.93, "nearest": 0.95}, (0.990, 0.986)),
        ({"val": 0.90, "nearest": 0.95}, {"val": 0.93, "nearest": 0.95}, (0.990, 0.984)),
        ({"val": 0.90, "nearest": 0.95}, {"val": 0.90, "nearest": 0.96}, (None, None)),
        ({"val": 0.90, "nearest": 0.95}, {"val": 0.95, "nearest": 0.94}, (0.9, 0.9)),
        ({"val": 1.0, "nearest": 1.0}, {"val": 1.0, "nearest": 1.0}, (0.97, 0.97)),
        ({"val": math.nan, "nearest": 1.0}, {"val": 0.5, "nearest": 1.0}, (None, None)),
        ({"val": 0.5, "nearest": 0.9}, {"val": 0.4, "nearest": 0.8}, (0.99, 0.90)),
    ],
)
def test_the_page_and_the_command_word_the_same_checks(before, after, guard) -> None:
    """Both front ends only word the core's checks: a check that failed reads as failed on the
    page and in the ``train`` command, one that passed in neither, each with its figures."""
    decided = decision.decide(before, after, *guard)
    page = [check_words(c) for c in decided.checks]
    command = decision_lines(decided)
    assert len(page) == len(command) == 3
    failure = (
        "does not recognise",
        "nothing to improve",
        "could not be measured",
        "fewer faces",
        "worse at telling strangers apart",
    )
    for check, words, line in zip(decided.checks, page, command, strict=True):
        assert any(f in words for f in failure) == (not check.passed), (check, words)
        assert line.startswith("FAILED:") == (not check.passed), (check, line)
        if check.outcome in ("improved", "not_improved", "kept", "dropped", "within"):
            assert pct(check.before) in words and pct(check.after) in words
            assert f"{100 * check.before:.2f}%" in line and f"{100 * check.after:.2f}%" in line
    assert decided.promoted == all(c.passed for c in decided.checks)
    assert why(decided.checks) == "Why: " + "; ".join(page) + "."
    if guard[0] is None:
        assert "not checked" in page[2] and "no guard set" in command[2]


def test_why_training_cannot_start_is_a_pure_function_without_qt() -> None:
    """``start_blockers`` takes plain values; importing it loads neither Qt nor torch."""
    code = textwrap.dedent(
        """
        import sys
        from app.jobs import TrainingState
        from app.views.training_rules import start_blockers
        assert "PySide6" not in sys.modules and "torch" not in sys.modules, "Qt or torch"

        def state(**changes):
            base = dict(counts={"Ann": 9}, ready=("Ann",), negatives=(), shortfall=None,
                        versions=(), epochs=60, checkpoint_saved=None, guard=None, busy=None)
            return TrainingState(**{**base, **changes})

        class Active:
            active = True

        ok = state(versions=(Active(),))
        print(start_blockers(ok, other_job=None, running=False, switching=False))
        print(start_blockers(None, other_job=None, running=False, switching=False))
        print(start_blockers(state(shortfall="confirm 8 more", busy="a scan (pid 7)"),
                             other_job="Scanning", running=False, switching=True))
        print(start_blockers(ok, other_job=None, running=True, switching=False))

        class Fused:
            active = True
            version = "fused-dlib-sface-v1@b7fab8002277"

        print(start_blockers(state(versions=(Fused(),)), other_job=None, running=False,
                             switching=False))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert out.returncode == 0, out.stderr
    ready, unread, blocked, running, fused = out.stdout.strip().split("\n")
    assert ready == "None"
    assert unread == repr(("Reading the library…",))
    assert blocked == repr(
        (
            "Not enough confirmed faces yet (see above).",
            "No model yet: add a folder of photos first.",
            "The library is busy: a scan (pid 7). Start when it has finished.",
            "Wait for “Scanning” to finish.",
            "Switching the model…",
        )
    )
    assert running == repr(("Fine-tuning is running.",))
    assert fused == "None"  # the accurate (fused) model is fine-tuned like the fast one


@pytest.fixture(scope="module")
def source_library(lfw_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scanned library whose central face of each photo is confirmed as its person."""
    people = lfw_people(lfw_mini)
    names = sorted(people)[: TRAINED + NEGATIVE]
    root = tmp_path_factory.mktemp("photos")
    for i, name in enumerate(names):
        for path in people[name][: 8 if i < TRAINED else 3]:
            shutil.copy(path, root / path.name)
    path = tmp_path_factory.mktemp("lib") / "library.db"
    with Library.open(path, create=True) as lib:
        lib.save_settings(SETTINGS)
        scan(lib, [root], SETTINGS)
        confirm_owners(lib, names, pick=central_face)
    return path


@pytest.fixture(scope="module")
def guard(lfw_mini: Path) -> GuardSet:
    return small_guard(lfw_mini)


def open_window(qtbot, path: Path, options: TrainingOptions):  # type: ignore[no-untyped-def]
    library = Library.open(path)
    window = show_main_window(qtbot, library)
    view = window.training_view
    view.options = options
    window.show_view("Training")
    qtbot.waitUntil(lambda: view.state is not None and not view.dirty, timeout=30_000)
    loads = view.loads
    view.reload()  # with the options in place (the checkpoint's folder)
    qtbot.waitUntil(lambda: view.loads > loads, timeout=30_000)
    return window, library, view


@pytest.fixture
def library_copy(source_library: Path, tmp_path: Path) -> Path:
    path = tmp_path / "library.db"
    shutil.copy(source_library, path)
    return path


@pytest.fixture
def options(tmp_path: Path, guard: GuardSet) -> TrainingOptions:
    return TrainingOptions(
        config=lambda _settings: TINY,
        guard=lambda *_: guard,
        models_dir=tmp_path / "models",
        work_dir=tmp_path / "work",
    )


def confirmed_faces(library: Library) -> dict[int, int | None]:
    with library.session() as s:
        rows = s.scalars(select(Face).where(Face.assignment == Assignment.CONFIRMED))
        return {f.id: f.person_id for f in rows}


def active_version(library: Library) -> int:
    with library.session() as s:
        active = get_active_model_version(s)
        assert active is not None
        return active.id


def stored_metrics(library: Library, version_id: int) -> dict:
    with library.session() as s:
        row = s.get(ModelVersion, version_id)
        assert row is not None and row.metrics is not None
        return dict(row.metrics)


def version_item(view: TrainingView, version_id: int):  # type: ignore[no-untyped-def]
    items = [view.versions.topLevelItem(i) for i in range(view.versions.topLevelItemCount())]
    return next((it for it in items if it.text(0).startswith(f"#{version_id} ")), None)


def assert_figures_match_the_stored_version(qtbot, view: TrainingView, library: Library) -> None:  # type: ignore[no-untyped-def]
    """The before/after figures on screen are the ones stored with the new model version."""
    result = view.result
    assert result is not None and result.new_version_id is not None
    metrics = stored_metrics(library, result.new_version_id)
    assert metrics["promoted"] == result.promoted
    shown = {}
    for key, (before_label, after_label) in view.result_panel.figures.items():
        before, after = figure_pair(metrics, key)
        assert before_label.text() == pct(before), key
        assert after_label.text() == pct(after), key
        shown[key] = (before_label.text(), after_label.text())
    # a check that tells "before" from "after": at least one figure moved
    assert any(b != a for b, a in shown.values()), shown
    assert metrics["before"]["val"] == result.before["val"]
    assert result.guard_after is not None and metrics["guard_after"] == result.guard_after
    # the list of models shows the same figures for the new version
    qtbot.waitUntil(lambda: version_item(view, result.new_version_id) is not None, timeout=30_000)
    row = version_item(view, result.new_version_id)
    val = metrics["before"]["val"], metrics["after"]["val"]
    assert row.text(2) == f"{pct_short(val[0])} → {pct_short(val[1])}"
    # the reasons: the decision's checks, stored with the version, in words on the page and
    # with their exact figures in the tooltip
    assert result.decision is not None
    assert metrics["checks"] == [c.to_json_dict() for c in result.decision.checks]
    assert view.result_panel.reasons.text() == why(result.decision.checks)
    assert view.result_panel.reasons.toolTip().split("\n") == [
        check_detail(c) for c in result.decision.checks
    ]


@pytest.mark.slow
def test_too_few_confirmed_faces_says_what_is_missing(qtbot, library_copy, options) -> None:
    with Library.open(library_copy) as lib, lib.write() as s:
        named = select(Person).where(Person.name.is_not(None)).order_by(Person.name)
        people = s.scalars(named).all()
        for face in s.scalars(select(Face).where(Face.person_id.in_([p.id for p in people[2:]]))):
            face.assignment = Assignment.AUTO  # two people with 8 confirmed faces remain
    window, library, view = open_window(qtbot, library_copy, options)
    try:
        assert view.state is not None and view.state.shortfall
        assert not view.start_button.isEnabled()
        assert "Not enough confirmed faces" in view.start_button.toolTip()
        text = view.shortfall_text.text()
        assert view.shortfall_text.isVisible() and text.startswith("Not enough yet.")
        assert "at least 3 people with at least 8 confirmed faces" in text
        assert "Confirm 8 more faces" in text, view.state.counts  # one more person: 8 faces
        assert "16 confirmed faces of 2 people" in view.counts_text.text()
    finally:
        shut_down(window, library, qtbot)


@pytest.mark.slow
def test_training_shows_live_figures_and_restoring_keeps_every_confirmed_face(
    qtbot, library_copy, options, monkeypatch
) -> None:
    # the held-out figures of 4 well-known people are often perfect already, so a tiny run
    # cannot be "better": the decision is forced here to exercise what follows a promotion
    monkeypatch.setattr(
        finetune, "decide", lambda *a: decision.Decision(True, decision.decide(*a).checks)
    )
    options.config = lambda _settings: replace(TINY, learning_rate=3e-3)  # the figures move
    window, library, view = open_window(qtbot, library_copy, options)
    try:
        assert view.state is not None and view.state.shortfall is None
        assert view.state.ready and len(view.state.ready) == TRAINED
        assert len(view.state.negatives) == NEGATIVE
        assert view.epochs.value() == SETTINGS.epochs  # the registry's setting
        assert view.start_button.isEnabled()
        confirmed = confirmed_faces(library)
        old = active_version(library)
        topics: list[frozenset[str]] = []
        window.ctx.changed.connect(topics.append)
        view.epochs.setValue(2)
        view.start_button.click()
        assert view.task is not None and view.cancel_button.isVisible()
        assert not view.start_button.isEnabled() and not view.use_button.isEnabled()
        qtbot.waitUntil(lambda: view.result is not None, timeout=600_000)
        result = view.result
        assert result is not None and result.promoted
        # the plot got every step's loss and every validation (before training, each pass)
        steps = int(result.training["steps"])
        assert view.plot.loss.points == steps >= 2
        assert list(view.plot.loss.x[:steps]) == [float(i) for i in range(1, steps + 1)]
        assert view.plot.val.points == view.plot.nearest.points >= 3
        assert view.plot.val.x[0] == 0.0
        assert_figures_match_the_stored_version(qtbot, view, library)
        assert "now in use" in view.result_panel.verdict.text()
        assert view.result_panel.restore_button.isVisible()
        assert active_version(library) == result.new_version_id
        assert any("people" in t for t in topics)  # the People page reloads
        qtbot.waitUntil(lambda: view.state is not None and view.state.active is not None)
        qtbot.waitUntil(
            lambda: (
                view.state is not None
                and view.state.active is not None
                and view.state.active.id == result.new_version_id
            ),
            timeout=30_000,
        )
        assert f"#{result.new_version_id}" in view.active_text.text()

        # restore the previous model with the button: active again, every confirmation kept
        topics.clear()
        view.result_panel.restore_button.click()
        assert view.switch_task is not None
        qtbot.waitUntil(lambda: view.switch_task is None, timeout=300_000)
        assert not view.error_text.isVisible(), view.error_text.text()
        assert active_version(library) == old
        assert confirmed_faces(library) == confirmed
        assert any("people" in t for t in topics)
        qtbot.waitUntil(
            lambda: (
                view.state is not None
                and view.state.active is not None
                and view.state.active.id == old
            ),
            timeout=30_000,
        )
        # "Use this model" brings the fine-tuned one back
        item = version_item(view, result.new_version_id)
        view.versions.setCurrentItem(item)
        assert view.use_button.isEnabled()
        view.use_button.click()
        qtbot.waitUntil(lambda: view.switch_task is None, timeout=300_000)
        assert active_version(library) == result.new_version_id
        assert confirmed_faces(library) == confirmed
    finally:
        shut_down(window, library, qtbot)


@pytest.mark.slow
def test_cancel_saves_a_checkpoint_and_start_resumes(
    qtbot, library_copy, options, stall_meter, record_property
) -> None:
    window, library, view = open_window(qtbot, library_copy, options)
    try:
        view.epochs.setValue(60)
        stall_meter.start()
        view.start_button.click()
        qtbot.waitUntil(lambda: view.last_step >= 5, timeout=600_000)
        view.cancel_button.click()
        qtbot.waitUntil(lambda: view.task is None, timeout=120_000)
        assert view.result is None
        stopped = view.stopped_at
        assert stopped is not None and stopped >= 5
        assert checkpoint_path(library, options.work_dir).is_file()
        assert "progress is saved" in view.phase_text.text()
        qtbot.waitUntil(lambda: view.start_button.text() == "Resume fine-tuning", timeout=30_000)
        assert f"at step {int(stopped):,}" in view.note.text()
        before = view.plot.loss.points
        assert before == int(stopped)

        view.start_button.click()
        qtbot.waitUntil(lambda: view.result is not None, timeout=600_000)
        result = view.result
        assert result is not None
        assert result.training["resumed_from"] == int(stopped) == view.resumed_from
        assert f"resumed from step {int(stopped):,}" in view.phase_text.text()
        # one continuous curve: the first run's steps, then the resumed run's
        steps = int(result.training["steps"])
        assert view.plot.loss.points == steps > stopped
        assert list(view.plot.loss.x[:steps]) == [float(i) for i in range(1, steps + 1)]
        stall_meter.stop()
        busy, worst = stall_meter.worst_busy_ms, stall_meter.worst_ms
        record_property("gui_worst_busy_during_training_ms", round(busy, 1))
        print(
            f"\nGUI event loop during two training runs ({steps} steps plotted): its own work "
            f"between two ticks at most {busy:.1f} ms; worst wall-clock stall {worst:.1f} ms"
        )
        assert busy < 500, f"the GUI thread worked {busy:.0f} ms without a break while training"
        assert not checkpoint_path(library, options.work_dir).is_file()
        assert_figures_match_the_stored_version(qtbot, view, library)
        qtbot.waitUntil(lambda: view.start_button.text() == "Start fine-tuning", timeout=30_000)
    finally:
        shut_down(window, library, qtbot)


@pytest.mark.slow
def test_a_failure_says_what_went_wrong_and_what_to_do(qtbot, library_copy, options) -> None:
    def broken_guard(*_args: object) -> None:
        raise GuardSetError("/nowhere: not an LFW-style folder (no images/NAME/...)")

    options.guard = broken_guard
    window, library, view = open_window(qtbot, library_copy, options)
    try:
        old = active_version(library)
        view.start_button.click()
        qtbot.waitUntil(lambda: view.task is None, timeout=120_000)
        assert view.result is None and view.error_text.isVisible()
        text = view.error_text.text()
        assert "not an LFW-style folder" in text and "FACENET_GUARD_DIR" in text
        assert window.banner.isVisible() and "Fine-tuning failed" in window.banner.message
        assert active_version(library) == old
        assert view.start_button.isEnabled()  # nothing is left half done: start again
    finally:
        shut_down(window, library, qtbot)
