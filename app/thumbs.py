"""Thumbnails for the grids: one shared cache, filled off the GUI thread.

Views ask :meth:`ThumbnailLoader.face` or :meth:`ThumbnailLoader.photo` while painting. A hit in
the shared :class:`~PySide6.QtGui.QPixmapCache` is returned at once; a miss returns None (the
delegate paints a placeholder) and queues a request. Requests are served newest first (what is on
screen now, not what was scrolled past a second ago), the queue is bounded (old requests are
dropped; they come back if their item is painted again), and a request already queued or in
flight is not queued twice.

Workers run in the task runner's ``"thumbs"`` lane. Each one takes a request, makes the thumbnail
file if it is missing (``facenet_core.thumbnails.ensure_thumbnail`` /
``ensure_photo_thumbnail``), then decodes, crops, scales and masks it with Pillow (a circle or a
rounded square, antialiased) into a :class:`~PySide6.QtGui.QImage` -- all off the GUI thread,
and mostly without Python's GIL (Pillow lets go of it while it works; most Qt calls from Python
do not). The finished images go to an outbox; the GUI thread is told by one queued signal at a
time, turns them into pixmaps (a fast copy at these sizes) and emits
:attr:`ThumbnailLoader.updated` once per batch, so a scroll through 5,000 faces costs the GUI a
handful of repaints a second.
"""

from __future__ import annotations

import io
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw
from PySide6.QtCore import QObject, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QGuiApplication, QImage, QPixmap
from PySide6.QtGui import QPixmapCache as Cache

from app.tasks import TaskRunner
from facenet_core.thumbnails import ensure_photo_thumbnail, ensure_thumbnail

log = logging.getLogger(__name__)

Shape = Literal["circle", "rounded", "square"]
DRAIN_BATCH = 16
"""Thumbnails turned into pixmaps per turn of the GUI's event loop."""
UPDATE_MS = 50
"""The views repaint for new thumbnails at most this often (each repaint paints every visible
cell again)."""
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


@cache
def _mask(pixels: int, shape: Shape) -> Image.Image:
    """An antialiased alpha mask (drawn at 4x, then shrunk) for a circle or a rounded square."""
    big = pixels * 4
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    if shape == "circle":
        draw.ellipse((0, 0, big - 1, big - 1), fill=255)
    else:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=round(big * 0.08), fill=255)
    return mask.resize((pixels, pixels), Image.Resampling.LANCZOS)


def shaped(source: Path | bytes, size: int, shape: Shape, ratio: float = 1.0) -> QImage:
    """The image file (or bytes) cropped to its central square, scaled to ``size`` logical
    pixels and cut to ``shape`` with antialiased edges, as a QImage.

    Decoding, scaling and masking are Pillow's, which let go of Python's GIL while they work,
    so the GUI thread keeps running while thumbnails are made; safe in any thread."""
    pixels = max(1, round(size * ratio))
    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
        img.draft("RGB", (pixels, pixels))  # JPEG: decode at a reduced scale when it can
        rgb = img.convert("RGB")
    side = min(rgb.size)
    left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
    square = rgb.resize(
        (pixels, pixels), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side)
    )
    if shape == "square":
        out = square.convert("RGBA")
    else:
        out = square.convert("RGBA")
        out.putalpha(_mask(pixels, shape))
    data = out.tobytes()
    image = QImage(data, pixels, pixels, pixels * 4, QImage.Format.Format_RGBA8888)
    # premultiplied ARGB is what the raster painter draws without converting on every paint
    image = image.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    image.setDevicePixelRatio(ratio)
    return image


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
        max_queue: int = 96,
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
        # repaint at most every UPDATE_MS however fast thumbnails arrive
        self._update_timer = QTimer(self)
        self._update_timer.setSingleShot(True)
        self._update_timer.setInterval(UPDATE_MS)
        self._update_timer.timeout.connect(self.updated)

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
        pixmap = QPixmap()
        if Cache.find(key, pixmap) and not pixmap.isNull():
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
                    image = shaped(path, request.size, request.shape, request.ratio)
            except (OSError, ValueError) as exc:  # unreadable thumbnail: a placeholder
                log.info("could not load thumbnail %s: %s", key, exc)
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
            # a few at a time, so one turn of the event loop stays short; the rest next turn
            batch, self._outbox = self._outbox[:DRAIN_BATCH], self._outbox[DRAIN_BATCH:]
            again = bool(self._outbox)
            self._notified = again
        if again:
            self._notifier.ready.emit()
        for key, image in batch:
            if image is None:
                self._missing.add(key)
            else:
                Cache.insert(key, QPixmap.fromImage(image))
            self.decoded += 1
        if batch and not self._update_timer.isActive():
            self._update_timer.start()
