"""Thumbnails for the grids: one shared cache, filled off the GUI thread.

Views ask :meth:`ThumbnailLoader.face` or :meth:`ThumbnailLoader.photo` while painting. A hit in
the shared :class:`~PySide6.QtGui.QPixmapCache` is returned at once; a miss returns None (the
delegate paints a placeholder) and queues a request. Requests are served newest first (what is on
screen now, not what was scrolled past a second ago), the queue is bounded (old requests are
dropped; they come back if their item is painted again), and a request already queued or in
flight is not queued twice.

Workers run in the task runner's ``"thumbs"`` lane and hold only the plain :class:`_Queue`, never
the loader (a Qt object must never be dropped off the GUI thread). Each one takes a request,
makes the thumbnail file if it is missing (``facenet_core.thumbnails.ensure_thumbnail`` /
``ensure_photo_thumbnail``), then decodes, crops, scales and masks it with Pillow (a circle or a
rounded square, antialiased) into a :class:`~PySide6.QtGui.QImage` -- all off the GUI thread,
and mostly without Python's GIL (Pillow lets go of it while it works; most Qt calls from Python
do not). The finished images go to an outbox and the worker reports through the runner's plain
channel; the GUI thread, woken by the runner, turns them into pixmaps (a fast copy at these
sizes) and emits :attr:`ThumbnailLoader.updated` once per batch, so a scroll through 5,000 faces
costs the GUI a handful of repaints a second.
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
from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtGui import QGuiApplication, QImage, QPixmap
from PySide6.QtGui import QPixmapCache as Cache

from app.tasks import TaskRunner
from facenet_core.progress import CancelToken, Progress, Reporter
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


class _Queue:
    """The requests, the ones in flight and the finished images: plain Python, shared by the
    GUI thread (which asks) and the workers (which serve), under one lock. The workers hold
    this, never the loader (a Qt object they must not outlive)."""

    def __init__(self, max_queue: int) -> None:
        self.max_queue = max_queue
        self.lock = threading.Lock()
        self.requests: OrderedDict[str, _Request] = OrderedDict()
        self.in_flight: set[str] = set()
        self.outbox: list[tuple[str, QImage | None]] = []
        self.running = 0

    def work(self, reporter: Reporter, cancel: CancelToken) -> None:
        """A worker (a pool thread): serve requests, newest first, until none is left; report
        once whenever the outbox goes from empty to not empty."""
        while True:
            with self.lock:
                if not self.requests or cancel.cancelled:
                    self.running -= 1
                    return
                key, request = self.requests.popitem(last=True)
                self.in_flight.add(key)
            image: QImage | None = None
            try:
                path = request.make()
                if path is not None:
                    image = shaped(path, request.size, request.shape, request.ratio)
            except (OSError, ValueError) as exc:  # unreadable thumbnail: a placeholder
                log.info("could not load thumbnail %s: %s", key, exc)
            except Exception:  # a thumbnail must never take the app down
                log.exception("could not load thumbnail %s", key)
            with self.lock:
                self.in_flight.discard(key)
                self.outbox.append((key, image))
            reporter(READY)


READY = Progress("thumbs", "ready", 0, unit="thumbnail")
"""What a thumbnail worker reports: some thumbnails are in the outbox."""


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
        self._q = _Queue(max_queue)
        self._missing: set[str] = set()
        self._draining = False
        self.decoded = 0  # thumbnails delivered so far (benchmarks read it)
        # repaint at most every UPDATE_MS however fast thumbnails arrive
        self._update_timer = QTimer(self)
        self._update_timer.setSingleShot(True)
        self._update_timer.setInterval(UPDATE_MS)
        self._update_timer.timeout.connect(self.updated)

    @property
    def max_queue(self) -> int:
        return self._q.max_queue

    # -- asking ----------------------------------------------------------------------------------

    def _cached(self, key: str) -> str:
        """``key`` in the process-wide pixmap cache: face and photo ids are one library's own,
        so it names the library's thumbnail folder too (another library opened in the same
        session must never be shown this one's faces)."""
        return f"{self.folder}|{key}"

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

    def face_missing(self, face_id: int, size: int, shape: Shape = "circle") -> bool:
        """Whether the face's thumbnail could not be made (its photo is gone): a placeholder."""
        return f"f{face_id}:{size}:{shape}" in self._missing

    def photo_missing(self, photo_id: int, size: int, shape: Shape = "rounded") -> bool:
        return f"p{photo_id}:{size}:{shape}" in self._missing

    def pending(self) -> int:
        """Requests queued or in flight (tests and benchmarks wait for 0)."""
        q = self._q
        with q.lock:
            return len(q.requests) + len(q.in_flight) + len(q.outbox)

    def queued(self) -> list[str]:
        """The keys waiting for a worker, oldest first (tests)."""
        with self._q.lock:
            return list(self._q.requests)

    def forget_missing(self) -> None:
        """Try the thumbnails that could not be made again: the window calls this when a scan
        ends (a photo that was gone may be back, or found again after a move)."""
        if self._missing:
            self._missing.clear()
            self.updated.emit()  # repaint: the placeholders ask again

    def _get(
        self, key: str, make: Callable[[], Path | None], size: int, shape: Shape
    ) -> QPixmap | None:
        pixmap = QPixmap()
        if Cache.find(self._cached(key), pixmap) and not pixmap.isNull():
            return pixmap
        if key in self._missing:
            return None
        q = self._q
        with q.lock:
            if key in q.in_flight:
                return None
            if key in q.requests:
                q.requests.move_to_end(key)  # asked again: it is on screen, serve it sooner
            else:
                q.requests[key] = _Request(key, make, size, shape, self._ratio())
                while len(q.requests) > q.max_queue:
                    q.requests.popitem(last=False)  # scrolled past long ago
            start = q.running < self.workers
            if start:
                q.running += 1
        if start:
            task = self.runner.thumbs(q.work)
            task.progress.connect(self._drain)
            task.ended.connect(self._drain)
        return None

    # -- GUI thread ------------------------------------------------------------------------------

    @Slot()
    def _drain(self, *_: object) -> None:
        q = self._q
        with q.lock:
            # a few at a time, so one turn of the event loop stays short; the rest next turn
            batch, q.outbox = q.outbox[:DRAIN_BATCH], q.outbox[DRAIN_BATCH:]
            again = bool(q.outbox)
        if again and not self._draining:
            self._draining = True
            QTimer.singleShot(0, self, self._drain_more)
        for key, image in batch:
            if image is None:
                self._missing.add(key)
            else:
                Cache.insert(self._cached(key), QPixmap.fromImage(image))
            self.decoded += 1
        if batch and not self._update_timer.isActive():
            self._update_timer.start()

    @Slot()
    def _drain_more(self) -> None:
        self._draining = False
        self._drain()
