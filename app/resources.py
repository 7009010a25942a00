"""The app's own files: its icon, the sidebar's icons and the stylesheet (all made for this app,
in the top-level ``resources/`` folder beside ``app/``).

Found the same way from a source checkout and from an install: ``resources`` is a data-only
package installed beside ``app`` (``site-packages/resources``; in a checkout or an editable
install it is the checkout's folder), so it is first looked for next to this package; should an
unusual layout put it elsewhere, the import system is asked where the ``resources`` package is.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from PySide6.QtGui import QFont, QIcon
from PySide6.QtWidgets import QApplication

MARKER = "style.qss"
"""A file that only our resources folder has (another package named ``resources`` is not ours)."""


@cache
def resources_dir() -> Path:
    """The folder of the app's icons and stylesheet: ``resources/`` beside the ``app`` package
    (checkout, editable or normal install), else the installed ``resources`` package's folder.
    Raises FileNotFoundError when neither holds them (a broken install)."""
    beside = Path(__file__).resolve().parents[1] / "resources"
    if (beside / MARKER).is_file():
        return beside
    spec = importlib.util.find_spec("resources")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / MARKER).is_file():
            return Path(location).resolve()
    raise FileNotFoundError(f"the app's resources folder is missing (looked in {beside})")


def resource(name: str) -> Path:
    """A file of the resources folder: ``icon.svg``, ``icons/people.svg``, ``style.qss``."""
    return resources_dir() / name


@cache
def icon(name: str) -> QIcon:
    """``app`` for the application icon, else one of ``resources/icons/NAME.svg``."""
    if name == "app":
        return QIcon(str(resource("icon.svg")))
    return QIcon(str(resource(f"icons/{name}.svg")))


def stylesheet() -> str:
    """The stylesheet, its ``@RES@`` pointing at the resources folder (for arrow images)."""
    text = resource("style.qss").read_text(encoding="utf-8")
    return text.replace("@RES@", resources_dir().as_posix())


def apply_style(app: QApplication) -> None:
    """The app's look: Fusion (the same everywhere), the stylesheet, a readable font size."""
    app.setStyle("Fusion")
    font = QFont(app.font())
    if font.pointSizeF() < 10:
        font.setPointSizeF(10)
    app.setFont(font)
    app.setStyleSheet(stylesheet())
    app.setWindowIcon(icon("app"))
