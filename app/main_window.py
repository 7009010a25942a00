"""The main window. For now a placeholder that shows where the library lives; the library,
people and training views arrive with their issues."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QVBoxLayout, QWidget

from facenet_core import __version__


class MainWindow(QMainWindow):
    def __init__(self, library: Path) -> None:
        super().__init__()
        self.library = library
        self.setWindowTitle("FaceNet Photos")
        self.resize(960, 640)

        central = QWidget(self)
        layout = QVBoxLayout(central)
        title = QLabel("<h1>FaceNet Photos</h1>", central)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.library_label = QLabel(f"Library: {library}", central)
        self.library_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.library_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        hint = QLabel(
            "Photo import, people and training views are on their way.\n"
            "Meanwhile the command line works: facenet-photos --help",
            central,
        )
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addStretch(1)
        for widget in (title, self.library_label, hint):
            layout.addWidget(widget)
        layout.addStretch(2)
        self.setCentralWidget(central)

        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        self.menuBar().addMenu("&File").addAction(quit_action)
        self.statusBar().showMessage(f"FaceNet Photos {__version__}")
