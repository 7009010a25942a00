"""Thumbnails for the grids: one shared cache, filled off the GUI thread.

Views ask :meth:`ThumbnailLoader.face` or :meth:`ThumbnailLoader.photo` while painting. A hit in
the shared :class:`~PySide6.QtGui.QPixmapCache` is returned at once; a miss returns None (the
delegate paints a placeholder) and queues a request. Requests are served newest first (what is on
screen now, not what was scrolled past a second ago), the queue is bounded (old requests are
dropped; they come back if their item is painted again), and a request already queued or in
flight is not queued twice.

Workers run in the task runner's ``"thumbs"`` lane. Each one takes a request, makes the thumbnail
file if it is missing (``facenet_core.thumbnails.ensure_thumbnail`` /
``ensure_photo_thumbnail``), decodes it into a :class:`~PySide6.QtGui.QImage` and shapes it
(square crop, scaled, a circle or a rounded square, antialiased) -- all off the GUI thread. The
finished images go to an outbox; the GUI thread is told by one queued signal at a time, turns
them into pixmaps (a fast copy at these sizes) and emits :attr:`ThumbnailLoader.updated` once
per batch, so a scroll through 5,000 faces costs the GUI a handful of repaints a second.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PySide6.QtCore import QObject, QRectF, Qt, Signal, Slot
from PySide6.QtGui import QBrush, QGuiApplication, QImage, QPainter, QPainterPath, QPixmap
from PySide6.QtGui import QPixmapCache as Cache

from app.tasks import TaskRunner
from facenet_core.thumbnails import ensure_photo_thumbnail, ensure_thumbnail

log = logging.getLogger(__name__)

Shape = Literal["circle", "rounded", "square"]
CACHE_LIMIT_KB = 256 * 1024
"""The shared pixmap cache's size: about 5,000 face thumbnails at 112 px, least used dropped."""


@dataclass(frozen=True, slots=True)
class FaceRef:
    """What is needed to show a face: its id, and its photo and box to remake a lost file."""

    face_id: int
    photo_path: str
    box: tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class PhotoRef:
    id: int
    path: str


@dataclass(frozen=True, slots=True)
class _Request:
    key: str
    make: Callable[[], Path | None]
    size: int
    shape: Shape
    ratio: float


def shaped(image: QImage, size: int, shape: Shape, ratio: float = 1.0) -> QImage:
    """``image`` cropped to its central square, scaled to ``size`` logical pixels and cut to
    ``shape`` with antialiased edges; safe in any thread (QImage, not QPixmap)."""
    pixels = max(1, round(size * ratio))
    side = min(image.width(), image.height())
    square = image.copy((image.width() - side) // 2, (image.height() - side) // 2, side, side)
    scaled = square.scaled(
        pixels,
        pixels,
        Qt.AspectRatioMode.IgnoreAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )
    if shape == "square":
        out = scaled.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    else:
        out = QImage(pixels, pixels, QImage.Format.Format_ARGB32_Premultiplied)
        out.fill(Qt.GlobalColor.transparent)
        painter = QPainter(out)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QBrush(scaled))
        path = QPainterPath()
        rect = QRectF(0, 0, pixels, pixels)
        if shape == "circle":
            path.addEllipse(rect)
        else:
            radius = pixels * 0.08
            path.addRoundedRect(rect, radius, radius)
        painter.drawPath(path)
        painter.end()
    out.setDevicePixelRatio(ratio)
    return out


class _Notifier(QObject):
    ready = Signal()


class ThumbnailLoader(QObject):
    """The shared face and photo thumbnail cache (see the module's description)."""

    updated = Signal()  # some thumbnails became available; repaint what is visible

    def __init__(
        self,
        runner: TaskRunner,
        thumbnails_dir: Path,
        *,
        workers: int = 2,
        max_queue: int = 300,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if Cache.cacheLimit() < CACHE_LIMIT_KB:
            Cache.setCacheLimit(CACHE_LIMIT_KB)
        self.runner = runner
        self.folder = thumbnails_dir
        self.workers = workers
        self.max_queue = max_queue
        self._lock = threading.Lock()
        self._queue: OrderedDict[str, _Request] = OrderedDict()
        self._in_flight: set[str] = set()
        self._outbox: list[tuple[str, QImage | None]] = []
        self._notified = False
        self._running = 0
        self._missing: set[str] = set()
        self.decoded = 0  # thumbnails delivered so far (benchmarks read it)
        self._notifier = _Notifier(self)
        self._notifier.ready.connect(self._drain, Qt.ConnectionType.QueuedConnection)

    # -- asking ----------------------------------------------------------------------------------

    @staticmethod
    def _ratio() -> float:
        screen = QGuiApplication.primaryScreen()
        return screen.devicePixelRatio() if screen is not None else 1.0

    def face(self, ref: FaceRef, size: int, shape: Shape = "circle") -> QPixmap | None:
        """The face's thumbnail at ``size`` px if cached, else None (and it is on its way)."""
        key = f"f{ref.face_id}:{size}:{shape}"
        folder = self.folder

        def make() -> Path | None:
            return ensure_thumbnail(folder, ref.face_id, ref.photo_path, ref.box)

        return self._get(key, make, size, shape)

    def photo(self, ref: PhotoRef, size: int, shape: Shape = "rounded") -> QPixmap | None:
        """The photo's square thumbnail at ``size`` px if cached, else None (on its way)."""
        key = f"p{ref.id}:{size}:{shape}"
        folder = self.folder

        def make() -> Path | None:
            return ensure_photo_thumbnail(folder, ref.id, ref.path)

        return self._get(key, make, size, shape)

    def is_missing(self, key_prefix: str) -> bool:
        """Whether a thumbnail could not be made (its photo is gone): paint a placeholder."""
        return key_prefix in self._missing

    def face_missing(self, face_id: int, size: int, shape: Shape = "circle") -> bool:
        return f"f{face_id}:{size}:{shape}" in self._missing

    def photo_missing(self, photo_id: int, size: int, shape: Shape = "rounded") -> bool:
        return f"p{photo_id}:{size}:{shape}" in self._missing

    def pending(self) -> int:
        """Requests queued or in flight (tests and benchmarks wait for 0)."""
        with self._lock:
            return len(self._queue) + len(self._in_flight) + len(self._outbox)

    def forget_missing(self) -> None:
        """Try the thumbnails that could not be made again (after a rescan)."""
        self._missing.clear()

    def _get(
        self, key: str, make: Callable[[], Path | None], size: int, shape: Shape
    ) -> QPixmap | None:
        pixmap = Cache.find(key)
        if pixmap is not None and not pixmap.isNull():
            return pixmap
        if key in self._missing:
            return None
        with self._lock:
            if key in self._in_flight:
                return None
            if key in self._queue:
                self._queue.move_to_end(key)  # asked again: it is on screen, serve it sooner
            else:
                self._queue[key] = _Request(key, make, size, shape, self._ratio())
                while len(self._queue) > self.max_queue:
                    self._queue.popitem(last=False)  # scrolled past long ago
            start = self._running < self.workers
            if start:
                self._running += 1
        if start:
            self.runner.thumbs(self._work)
        return None

    # -- workers (pool threads) ------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._running -= 1
                    return
                key, request = self._queue.popitem(last=True)
                self._in_flight.add(key)
            image: QImage | None = None
            try:
                path = request.make()
                if path is not None:
                    loaded = QImage(str(path))
                    if not loaded.isNull():
                        image = shaped(loaded, request.size, request.shape, request.ratio)
            except Exception:  # a thumbnail must never take the app down
                log.exception("could not load thumbnail %s", key)
            with self._lock:
                self._in_flight.discard(key)
                self._outbox.append((key, image))
                notify = not self._notified
                self._notified = True
            if notify:
                self._notifier.ready.emit()

    # -- GUI thread ------------------------------------------------------------------------------

    @Slot()
    def _drain(self) -> None:
        with self._lock:
            batch, self._outbox = self._outbox, []
            self._notified = False
        for key, image in batch:
            if image is None:
                self._missing.add(key)
            else:
                Cache.insert(key, QPixmap.fromImage(image))
            self.decoded += 1
        if batch:
            self.updated.emit()
