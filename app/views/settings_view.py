"""The Settings page, generated from the one settings registry (``facenet_core.settings``):
one card per group, one row per setting (its title, the right control for its kind, its help).
Changes are saved into the library as they are made. At the bottom, "This library": where it
is, and removing it with all it created (the main window does that, :mod:`app.forget`)."""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.views.base import View
from app.widgets import PageHeader, button, label
from facenet_core.settings import SETTINGS, Settings, SettingsError, SettingSpec

DEVICES = ("auto", "cpu", "cuda", "mps")
PLACES = ("here", "local:2", "auto")  # where to compute; any Ray address may be typed
AUTOMATIC = "Automatic"


class LogSpinBox(QDoubleSpinBox):
    """A spin box for a positive value spanning decades (a learning rate): shown as ``1e-05``,
    typed in any float notation, each step a quarter of a decade."""

    def __init__(self) -> None:
        super().__init__()
        self.setDecimals(12)  # keeps small values exactly; the text shows 3 significant digits

    def textFromValue(self, value: float) -> str:
        return f"{value:.3g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        try:
            float(text)
        except ValueError:
            return QValidator.State.Intermediate, text, pos
        return QValidator.State.Acceptable, text, pos

    def stepBy(self, steps: int) -> None:
        value = self.value() * 10 ** (steps / 4)
        self.setValue(min(max(value, self.minimum()), self.maximum()))


def make_control(spec: SettingSpec) -> QWidget:
    """The control for one setting: checkbox, combo box or spin box with its range."""
    control: QWidget
    if spec.kind == "bool":
        control = QCheckBox(spec.title)
    elif spec.kind in ("choice", "device", "address"):
        combo = QComboBox()
        if spec.kind == "address":
            combo.setEditable(True)
            combo.addItems(list(PLACES))
        else:
            combo.addItems(list(spec.choices if spec.kind == "choice" else DEVICES))
        control = combo
    elif spec.kind == "int":
        spin = QSpinBox()
        low = int(spec.minimum) if spec.minimum is not None else -(2**31) + 1
        high = int(spec.maximum) if spec.maximum is not None else 2**31 - 1
        if spec.optional:
            low -= 1  # the value below the range means "automatic"
            spin.setSpecialValueText(AUTOMATIC)
        spin.setRange(low, high)
        spin.setAccelerated(True)
        control = spin
    elif spec.minimum and spec.maximum and spec.minimum > 0 and spec.maximum / spec.minimum >= 1e4:
        log = LogSpinBox()
        log.setRange(spec.minimum, spec.maximum)
        control = log
    else:
        dspin = QDoubleSpinBox()
        dspin.setDecimals(3)
        low_f = spec.minimum if spec.minimum is not None else -1e9
        high_f = spec.maximum if spec.maximum is not None else 1e9
        if spec.optional:
            low_f -= 1
            dspin.setSpecialValueText(AUTOMATIC)
        dspin.setRange(low_f, high_f)
        # a step of about a fiftieth of the range, rounded to a power of ten
        dspin.setSingleStep(10 ** math.floor(math.log10(max(high_f - low_f, 1e-6) / 50)))
        control = dspin
    control.setToolTip(f"{spec.help}\nAllowed: {spec.describe_range()}")
    control.setObjectName(f"setting_{spec.key}")
    return control


def set_control(control: QWidget, spec: SettingSpec, value: Any) -> None:
    if isinstance(control, QCheckBox):
        control.setChecked(bool(value))
    elif isinstance(control, QComboBox):
        if control.findText(str(value)) < 0:
            control.addItem(str(value))  # e.g. cuda:1
        control.setCurrentText(str(value))
    elif isinstance(control, QSpinBox):
        control.setValue(control.minimum() if value is None else int(value))
    elif isinstance(control, QDoubleSpinBox):
        control.setValue(control.minimum() if value is None else float(value))


def control_value(control: QWidget, spec: SettingSpec) -> Any:
    if isinstance(control, QCheckBox):
        return control.isChecked()
    if isinstance(control, QComboBox):
        return control.currentText()
    if isinstance(control, QSpinBox | QDoubleSpinBox):
        if spec.optional and control.value() == control.minimum():
            return None
        return control.value()
    raise TypeError(f"no value for {spec.key}")


class SettingsView(View):
    title = "Settings"
    icon_name = "settings"
    topics = frozenset({"settings"})
    remove_requested = Signal()  # "Remove This Library…": the main window asks and removes

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.header = PageHeader(
            "Settings",
            "Saved in this library. Detection settings apply to photos scanned from now on.",
        )
        self.defaults_button = self.header.add(
            button("Restore defaults", tooltip="Put every setting back to its default")
        )
        self.page.addWidget(self.header)
        self.scroll_area = scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        inner = QWidget()
        inner.setObjectName("content")
        column = QVBoxLayout(inner)
        column.setContentsMargins(0, 0, 8, 0)
        column.setSpacing(16)
        self.controls: dict[str, QWidget] = {}
        groups: dict[str, list[SettingSpec]] = {}
        for spec in SETTINGS:
            groups.setdefault(spec.group, []).append(spec)
        for group, specs in groups.items():
            column.addWidget(self._group_card(group, specs))
        column.addWidget(self._library_card())
        column.addStretch(1)
        scroll.setWidget(inner)
        self.page.addWidget(scroll, 1)
        self.current = Settings()
        self._loading = False
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(250)
        self._save_timer.timeout.connect(self.save)
        self.defaults_button.clicked.connect(self.restore_defaults)

    def _group_card(self, group: str, specs: list[SettingSpec]) -> QFrame:
        card = QFrame()
        card.setObjectName("card")
        layout = QVBoxLayout(card)
        layout.setContentsMargins(20, 16, 20, 18)
        layout.setSpacing(10)
        layout.addWidget(label(group, "sectionTitle"))
        grid = QGridLayout()
        grid.setHorizontalSpacing(18)
        grid.setVerticalSpacing(4)
        grid.setColumnStretch(1, 1)
        grid.setColumnMinimumWidth(0, 190)
        row = 0
        for spec in specs:
            control = make_control(spec)
            self.controls[spec.key] = control
            help_text = spec.help[:1].upper() + spec.help[1:]
            if spec.stored:
                help_text += " (applies to photos scanned from now on)"
            helper = label(help_text, "muted", wrap=True)
            if isinstance(control, QCheckBox):
                grid.addWidget(control, row, 0, 1, 2)
            else:
                title = label(spec.title)
                title.setToolTip(spec.help)
                title.setBuddy(control)
                grid.addWidget(title, row, 0, Qt.AlignmentFlag.AlignVCenter)
                holder = QHBoxLayout()
                control.setMinimumWidth(160)
                holder.addWidget(control)
                holder.addStretch(1)
                grid.addLayout(holder, row, 1)
            grid.addWidget(helper, row + 1, 0, 1, 2)
            grid.setRowMinimumHeight(row + 2, 8)
            row += 3
            self._watch(control)
        layout.addLayout(grid)
        return card

    def _library_card(self) -> QFrame:
        """Where the library is, and the way to remove it (last: it is the destructive one)."""
        card = QFrame()
        card.setObjectName("card")
        layout = QVBoxLayout(card)
        layout.setContentsMargins(20, 16, 20, 18)
        layout.setSpacing(10)
        layout.addWidget(label("This library", "sectionTitle"))
        path = label(str(self.ctx.library.path), wrap=True)
        path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(path)
        row = QHBoxLayout()
        row.addWidget(
            label(
                "Removing the library deletes it with everything it created beside it (face"
                " codes, thumbnails, names, models, backups). Your photos are not touched.",
                "muted",
                wrap=True,
            ),
            1,
        )
        self.remove_button = button(
            "Remove This Library…",
            danger=True,
            tooltip="Delete this library and all it created, never the photos (asks first)",
        )
        self.remove_button.clicked.connect(self.remove_requested)
        row.addWidget(self.remove_button, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(row)
        return card

    def _watch(self, control: QWidget) -> None:
        if isinstance(control, QCheckBox):
            control.toggled.connect(self._changed)
        elif isinstance(control, QComboBox):
            control.currentTextChanged.connect(self._changed)
        elif isinstance(control, QSpinBox | QDoubleSpinBox):
            control.valueChanged.connect(self._changed)

    # -- loading and saving ----------------------------------------------------------------------

    def reload(self) -> None:
        super().reload()
        self.ctx.runner.query(
            self.ctx.library.settings, self.show_settings, key="settings", owner=self
        )

    def show_settings(self, settings: Settings) -> None:
        self.current = settings
        self.ctx.settings = settings
        self._loading = True
        try:
            for spec in SETTINGS:
                set_control(self.controls[spec.key], spec, getattr(settings, spec.key))
        finally:
            self._loading = False
        self.loaded()

    def _changed(self, *_: object) -> None:
        if not self._loading:
            self._save_timer.start()

    def values(self) -> Settings:
        """The settings as the controls show them (checked by the registry)."""
        changes = {spec.key: control_value(self.controls[spec.key], spec) for spec in SETTINGS}
        return self.current.replace(**changes)

    def save(self) -> None:
        self._save_timer.stop()
        try:
            settings = self.values()
        except SettingsError as exc:
            self.ctx.runner.failed.emit("Saving the settings", str(exc))
            return
        if settings == self.current:
            return
        self.current = settings
        self.ctx.settings = settings
        library = self.ctx.library

        def write() -> Settings:
            library.save_settings(settings)
            return settings

        self.ctx.runner.edit(
            write, lambda _: self.ctx.say("Settings saved"), title="Saving the settings"
        )

    def restore_defaults(self) -> None:
        self._loading = True
        try:
            defaults = Settings()
            for spec in SETTINGS:
                set_control(self.controls[spec.key], spec, getattr(defaults, spec.key))
        finally:
            self._loading = False
        self.save()
