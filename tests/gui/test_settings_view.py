"""The Settings page is generated from the settings registry and saves into the library."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QSpinBox

from facenet_core.settings import SETTINGS, Settings
from facenet_core.store import Library
from tests.gui.conftest import window_fixture

KINDS = {
    "bool": QCheckBox,
    "choice": QComboBox,
    "device": QComboBox,
    "address": QComboBox,
    "int": QSpinBox,
}


@pytest.fixture
def window(qtbot, tmp_path: Path):
    library = Library.open(tmp_path / "library.db", create=True)
    yield from window_fixture(qtbot, library, None)


def test_every_setting_gets_the_right_control(window, qtbot) -> None:
    view = window.show_view("Settings")
    qtbot.waitUntil(lambda: view.loads > 0)
    assert set(view.controls) == {spec.key for spec in SETTINGS}
    defaults = Settings()
    for spec in SETTINGS:
        control = view.controls[spec.key]
        assert isinstance(control, KINDS.get(spec.kind, QDoubleSpinBox)), spec.key
        assert spec.help in control.toolTip()
        if isinstance(control, QComboBox):
            assert str(getattr(defaults, spec.key)) == control.currentText()
            if spec.kind == "choice":
                assert [control.itemText(i) for i in range(control.count())] == list(spec.choices)
        if isinstance(control, QSpinBox) and spec.minimum is not None:
            low = int(spec.minimum) - (1 if spec.optional else 0)
            assert (control.minimum(), control.maximum()) == (low, int(spec.maximum))
    assert view.values() == defaults  # the controls show the defaults of a new library


def test_a_change_is_saved_into_the_library(window, qtbot) -> None:
    view = window.show_view("Settings")
    qtbot.waitUntil(lambda: view.loads > 0)
    view.controls["min_face_size"].setValue(60)
    view.controls["flip"].setChecked(False)
    view.controls["device"].setCurrentText("cpu")
    workers = view.controls["workers"]
    workers.setValue(workers.minimum())  # "Automatic"
    assert workers.text() == "Automatic"
    library = window.library
    qtbot.waitUntil(lambda: library.settings().min_face_size == 60, timeout=5000)
    qtbot.waitUntil(lambda: library.settings().device == "cpu", timeout=5000)
    view.controls["cluster"].setCurrentText("local:2")  # "Compute on": a Ray instance here
    qtbot.waitUntil(lambda: library.settings().cluster == "local:2", timeout=5000)
    saved = library.settings()
    assert (saved.flip, saved.workers) == (False, None)
    view.defaults_button.click()
    qtbot.waitUntil(lambda: library.settings() == Settings(), timeout=5000)
    assert view.controls["min_face_size"].value() == Settings().min_face_size


def test_a_learning_rate_keeps_its_small_value_and_steps_by_decades(window, qtbot) -> None:
    view = window.show_view("Settings")
    qtbot.waitUntil(lambda: view.loads > 0)
    rate = view.controls["learning_rate"]
    assert rate.value() == pytest.approx(1e-5) and rate.text() == "1e-05"
    rate.stepBy(4)  # four quarter-decade steps: ten times larger
    assert rate.value() == pytest.approx(1e-4)
    rate.lineEdit().setText("3e-6")
    rate.interpretText()
    assert rate.value() == pytest.approx(3e-6)
    qtbot.waitUntil(lambda: window.library.settings().learning_rate == pytest.approx(3e-6))
