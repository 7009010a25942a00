"""Small widgets shared by the views: the error banner, page headers, cards, flat tables, the
empty-state call to action, and number and time formatting for people."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from PySide6.QtCore import QAbstractItemModel, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from app.resources import icon

W = TypeVar("W", bound=QWidget)

MARGIN = 24
"""Outer margin of every page."""


def plural(n: int, word: str, words: str | None = None) -> str:
    """``1 photo``, ``2 photos``, ``1,234 faces``."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def duration(seconds: float | None) -> str:
    """``45 s``, ``3 min 20 s``, ``1 h 05 min`` (empty when unknown)."""
    if seconds is None:
        return ""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def button(
    text: str,
    *,
    primary: bool = False,
    big: bool = False,
    danger: bool = False,
    tooltip: str = "",
    parent: QWidget | None = None,
) -> QPushButton:
    """A push button in the app's style."""
    b = QPushButton(text, parent)
    b.setProperty("primary", primary)
    b.setProperty("big", big)
    b.setProperty("danger", danger)
    b.setCursor(Qt.CursorShape.PointingHandCursor)
    if tooltip:
        b.setToolTip(tooltip)
    return b


def back_button(to: str, tooltip: str) -> QToolButton:
    """The flat "‹  ``to``" button at the top left of a page opened from another one."""
    b = QToolButton()
    b.setText(f"‹  {to}")
    b.setToolTip(tooltip)
    return b


def add_shortcuts(
    widget: QWidget, shortcuts: Iterable[tuple[str, str, Callable[[], object]]]
) -> None:
    """Give ``widget`` a keyboard shortcut for each ``(text, keys, slot)``, live only while
    the focus is inside it, so that two pages can bind the same key (Esc, Delete) each to its
    own action."""
    for text, keys, slot in shortcuts:
        action = QAction(text, widget)
        action.setShortcut(QKeySequence(keys))
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(slot)
        widget.addAction(action)


def label(text: str, name: str = "", *, wrap: bool = False) -> QLabel:
    lab = QLabel(text)
    if name:
        lab.setObjectName(name)
    lab.setWordWrap(wrap)
    return lab


def card_layout(frame: QFrame, margin: tuple[int, int] = (18, 14), spacing: int = 8) -> QVBoxLayout:
    """Make ``frame`` a card (white, rounded, ``#card`` in the stylesheet) and return its
    layout, ``margin`` (horizontal, vertical) inside."""
    frame.setObjectName("card")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(margin[0], margin[1], margin[0], margin[1])
    layout.setSpacing(spacing)
    return layout


def table(model: QAbstractItemModel, parent: QWidget | None = None) -> QTreeView:
    """A flat, sortless table over a keyed model (rows stay put when it refreshes)."""
    view = QTreeView(parent)
    view.setModel(model)
    view.setRootIsDecorated(False)
    view.setUniformRowHeights(True)
    view.setAlternatingRowColors(False)
    view.setItemsExpandable(False)
    return view


def file_table(model: QAbstractItemModel, file_width: int = 420) -> QTreeView:
    """A table of files and reasons: whole rows selected, the file column ``file_width`` wide
    (the user may drag it), the reason after it."""
    view = table(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
    view.header().resizeSection(0, file_width)
    return view


def centred(widget: QWidget, width: int) -> QHBoxLayout:
    """``widget`` at a fixed width, centred; a wrapped label keeps its full height this way
    (a layout alignment would size it from its one-line hint and clip it)."""
    widget.setFixedWidth(width)
    row = QHBoxLayout()
    row.addStretch(1)
    row.addWidget(widget)
    row.addStretch(1)
    return row


class PageHeader(QWidget):
    """A page's title, a muted subtitle under it, and its buttons on the right."""

    def __init__(self, title: str, subtitle: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        texts = QVBoxLayout()
        texts.setSpacing(2)
        self.title = label(title, "pageTitle")
        self.subtitle = label(subtitle, "pageSubtitle", wrap=True)  # long: two lines, no overlap
        texts.addWidget(self.title)
        texts.addWidget(self.subtitle)
        layout.addLayout(texts, 1)
        self.buttons = QHBoxLayout()
        self.buttons.setSpacing(8)
        layout.addLayout(self.buttons)

    def add(self, widget: W) -> W:
        self.buttons.addWidget(widget)
        return widget

    def set_subtitle(self, text: str) -> None:
        self.subtitle.setText(text)


class Banner(QFrame):
    """A non-modal message across the top of the window: one line, a close button, and for
    information messages a timeout. Errors stay until closed or replaced."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(14, 8, 8, 8)
        self.text = label("", "bannerText")
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        layout.addWidget(self.text, 1)
        self.close_button = QToolButton(self)
        self.close_button.setText("✕")
        self.close_button.setToolTip("Dismiss")
        self.close_button.clicked.connect(self.hide)
        layout.addWidget(self.close_button)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.hide)
        self.hide()

    def show_error(self, title: str, reason: str) -> None:
        """``title`` says what was being done, ``reason`` why it failed (one line)."""
        self._show("error", f"<b>{_escape(title)} failed:</b> {_escape(reason)}", 0)

    def show_info(self, text: str, msecs: int = 6000) -> None:
        self._show("info", _escape(text), msecs)

    def _show(self, kind: str, html: str, msecs: int) -> None:
        self.setProperty("kind", kind)
        self.style().unpolish(self)
        self.style().polish(self)
        self.text.setText(html)
        self.show()
        if msecs:
            self._timer.start(msecs)
        else:
            self._timer.stop()

    @property
    def message(self) -> str:
        return self.text.text()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class DropZone(QFrame):
    """The empty library's call to action: a big "Add a folder of photos" button over a dashed
    area that also takes dropped folders (the whole window takes them too)."""

    add_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("dropZone")
        self.setMinimumSize(QSize(420, 320))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(40, 36, 40, 36)
        layout.setSpacing(12)
        layout.addStretch(1)
        art = QLabel(self)
        art.setPixmap(icon("app").pixmap(QSize(88, 88)))
        art.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(art)
        title = label("Add a folder of photos", "emptyTitle")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(title)
        text = label(
            "FaceNet Photos finds the faces in your photos and groups them by person, so you "
            "can name them once and find everyone. Your photos stay where they are, and "
            "nothing leaves this computer.",
            "emptyText",
            wrap=True,
        )
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addLayout(centred(text, 480))
        layout.addSpacing(8)
        self.button = button(
            "Add a folder…",
            primary=True,
            big=True,
            tooltip="Choose a folder of photos to add (Ctrl+O)",
        )
        self.button.clicked.connect(self.add_clicked)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignHCenter)
        hint = label("or drop a folder anywhere on this window", "muted")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(hint)
        layout.addStretch(1)

    def set_hover(self, hover: bool) -> None:
        self.setProperty("hover", hover)
        self.style().unpolish(self)
        self.style().polish(self)


class EmptyState(QWidget):
    """A quiet centred message for a view with nothing to show yet."""

    def __init__(
        self, title: str, text: str, icon_name: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        if icon_name:
            art = QLabel(self)
            art.setPixmap(icon(icon_name).pixmap(QSize(56, 56)))
            art.setAlignment(Qt.AlignmentFlag.AlignCenter)
            layout.addWidget(art)
        self.title = label(title, "emptyTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.title)
        self.text = label(text, "emptyText", wrap=True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addLayout(centred(self.text, 480))
        layout.addStretch(2)
