"""The person picker: type to find a person (or to name a new one), Enter to choose.

It filters a list of people already read from the library (plain values), so typing never
waits for the database. The first row is always "New person: <typed text>" when something is
typed that no one is called exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.data import PersonCard, people_cards
from app.resources import icon


@dataclass(frozen=True, slots=True)
class Choice:
    """The picker's answer: an existing person, or a new person's name."""

    person_id: int | None
    name: str


class PersonPicker(QDialog):
    """``PersonPicker(people, title=...)``: ``people`` are values with ``id``, ``name`` and
    ``faces``. After ``exec()``, :attr:`choice` holds the answer (None when cancelled)."""

    def __init__(
        self,
        people: Sequence[Any],
        *,
        title: str = "Who is this?",
        exclude: set[int] | None = None,
        allow_new: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumSize(QSize(380, 440))
        self.people = [p for p in people if not exclude or p.id not in exclude]
        self.allow_new = allow_new
        self.choice: Choice | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 12)
        layout.setSpacing(10)
        heading = QLabel(title)
        heading.setObjectName("sectionTitle")
        layout.addWidget(heading)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Type a name…")
        self.search.setClearButtonEnabled(True)
        layout.addWidget(self.search)
        self.list = QListWidget()
        self.list.setIconSize(QSize(18, 18))
        layout.addWidget(self.list, 1)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._accept_current)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.search.textChanged.connect(self._filter)
        self.list.itemActivated.connect(lambda _item: self._accept_current())
        self._filter("")
        self.search.setFocus()

    def _filter(self, text: str) -> None:
        needle = text.strip().casefold()
        self.list.clear()
        exact = False
        named = [p for p in self.people if p.name]
        unnamed = [p for p in self.people if not p.name]
        hits = [p for p in named if needle in p.name.casefold()] if needle else named
        hits.sort(key=lambda p: (not p.name.casefold().startswith(needle), p.name.casefold()))
        if needle and self.allow_new:
            exact = any(p.name.casefold() == needle for p in hits)
            if not exact:
                item = QListWidgetItem(icon("person"), f"New person: {text.strip()}")
                item.setData(Qt.ItemDataRole.UserRole, Choice(None, text.strip()))
                self.list.addItem(item)
        for person in hits:
            item = QListWidgetItem(icon("people"), f"{person.name}   ({person.faces:,})")
            item.setData(Qt.ItemDataRole.UserRole, Choice(person.id, person.name))
            self.list.addItem(item)
        if not needle:
            for person in unnamed[:50]:
                label = f"{person.label}   ({person.faces:,})"
                item = QListWidgetItem(icon("person"), label)
                item.setData(Qt.ItemDataRole.UserRole, Choice(person.id, ""))
                self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Up) and self.search.hasFocus():
            self.list.keyPressEvent(event)  # arrows move in the list while typing
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._accept_current()
            return
        super().keyPressEvent(event)

    def _accept_current(self) -> None:
        item = self.list.currentItem()
        if item is None:
            return
        self.choice = item.data(Qt.ItemDataRole.UserRole)
        self.accept()

    def choose(self, text: str) -> Choice | None:
        """Type ``text`` and take the first row (keyboard use, and tests)."""
        self.search.setText(text)
        self._accept_current()
        return self.choice


def pick_person(
    parent: QWidget,
    ctx: AppContext,
    title: str,
    then: Callable[[Choice], None],
    *,
    exclude: set[int] | None = None,
) -> None:
    """Read the people (off the GUI thread), then ask who with the picker; ``then(choice)``."""
    library = ctx.library

    def ask(people: list[PersonCard]) -> None:
        picker = PersonPicker(people, title=title, exclude=exclude, parent=parent)
        if picker.exec() and picker.choice is not None:
            then(picker.choice)

    ctx.runner.query(
        lambda: people_cards(library, include_hidden=True), ask, key="picker-people", owner=parent
    )
