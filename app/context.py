"""What every view shares: the open library, the task runner, the thumbnail cache, the undo
history and one "something changed" signal."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.tasks import TaskRunner
from app.thumbs import ThumbnailLoader
from facenet_core.settings import Settings
from facenet_core.store import Library

TOPICS = frozenset({"roots", "photos", "faces", "people", "settings", "history"})
"""What can change: views reload what they show when one of their topics changes."""


class AppContext(QObject):
    """The open library and the services around it; one per main window."""

    changed = Signal(frozenset)  # topics, a subset of TOPICS
    status = Signal(str)  # a short message for the status bar

    def __init__(self, library: Library, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.library = library
        self.runner = TaskRunner(self)
        self.thumbs = ThumbnailLoader(self.runner, library.thumbnails_dir, parent=self)
        self.settings: Settings = Settings()

    def notify(self, *topics: str) -> None:
        """Tell every view that these topics changed (they reload when shown)."""
        unknown = set(topics) - TOPICS
        if unknown:
            raise ValueError(f"unknown topics: {sorted(unknown)}")
        self.changed.emit(frozenset(topics))

    def say(self, message: str) -> None:
        self.status.emit(message)
