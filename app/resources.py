"""The app's own files: its icon, the sidebar's icons and the stylesheet (all made for this app,
in ``app/resources``)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtGui import QFont, QIcon
from PySide6.QtWidgets import QApplication

RESOURCES = Path(__file__).resolve().parent / "resources"


def resource(name: str) -> Path:
    return RESOURCES / name


@cache
def icon(name: str) -> QIcon:
    """``app`` for the application icon, else one of ``resources/icons/NAME.svg``."""
    if name == "app":
        return QIcon(str(resource("icon.svg")))
    return QIcon(str(resource(f"icons/{name}.svg")))


def stylesheet() -> str:
    """The stylesheet, its ``@RES@`` pointing at the resources folder (for arrow images)."""
    text = resource("style.qss").read_text(encoding="utf-8")
    return text.replace("@RES@", RESOURCES.as_posix())


def apply_style(app: QApplication) -> None:
    """The app's look: Fusion (the same everywhere), the stylesheet, a readable font size."""
    app.setStyle("Fusion")
    font = QFont(app.font())
    if font.pointSizeF() < 10:
        font.setPointSizeF(10)
    app.setFont(font)
    app.setStyleSheet(stylesheet())
    app.setWindowIcon(icon("app"))
