"""Start the desktop app on a library (default: the user's data folder)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def default_library() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("facenet-photos")) / "library.db"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="facenet-photos-gui", description="FaceNet Photos")
    parser.add_argument("--library", type=Path, default=None, help="library database file")
    args, qt_args = parser.parse_known_args(argv)

    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    library = args.library or default_library()
    library.parent.mkdir(parents=True, exist_ok=True)
    qapp = QApplication([sys.argv[0], *qt_args])
    qapp.setApplicationName("FaceNet Photos")
    window = MainWindow(library)
    window.show()
    return qapp.exec()
