"""Start the desktop app on a library (default: the user's data folder)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="facenet-photos-gui", description="FaceNet Photos")
    parser.add_argument("--library", type=Path, default=None, help="library database file")
    args, qt_args = parser.parse_known_args(argv)

    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from facenet_core.store import default_library_path, open_library

    library = args.library or default_library_path()
    open_library(library)  # creates or upgrades the library before the window shows it
    qapp = QApplication([sys.argv[0], *qt_args])
    qapp.setApplicationName("FaceNet Photos")
    window = MainWindow(library)
    window.show()
    return qapp.exec()
