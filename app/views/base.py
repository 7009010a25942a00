"""The base of every page: reload when shown after something it shows has changed."""

from __future__ import annotations

from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget

from app.actions import PeopleActions
from app.context import AppContext
from app.widgets import MARGIN


class View(QWidget):
    """A page of the main window. ``topics``: the changes (see :data:`app.context.TOPICS`)
    after which it reloads; it reloads at once when visible, else when next shown."""

    title = ""
    icon_name = ""
    topics: frozenset[str] = frozenset()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.dirty = True
        self.loads = 0  # answers shown so far (tests wait on it)
        ctx.changed.connect(self._on_changed)
        self.page = QVBoxLayout(self)
        self.page.setContentsMargins(MARGIN, MARGIN - 4, MARGIN, MARGIN - 8)
        self.page.setSpacing(14)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self.dirty:
            self.reload()

    def _on_changed(self, topics: frozenset[str]) -> None:
        if topics & self.topics:
            self.dirty = True
            if self.isVisible():
                self.reload()

    def reload(self) -> None:
        """Ask the runner for what the page shows; subclasses call ``super().reload()``."""
        self.dirty = False

    def loaded(self) -> None:
        """Subclasses call this once they show a fresh answer."""
        self.loads += 1


class PeoplePart(QWidget):
    """A part of the People page (the grid of people, one person's page): the app's context,
    the edits every page shares (``edits``), and a margin-less column to fill (``column``)."""

    def __init__(
        self, ctx: AppContext, actions: PeopleActions, spacing: int, parent: QWidget | None
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.edits = actions
        self.column = QVBoxLayout(self)
        self.column.setContentsMargins(0, 0, 0, 0)
        self.column.setSpacing(spacing)
