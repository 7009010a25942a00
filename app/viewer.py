"""The photo viewer: one photo, fitted to the window, with its faces boxed and labelled.

The photo is decoded off the GUI thread (an upright preview from the core, decoded into a
:class:`~PySide6.QtGui.QImage` in the worker). Boxes are in the photo's displayed-orientation
pixels, mapped through the preview's scale. Clicking a box emits :attr:`PhotoCanvas.face_clicked`
(the page opens the person picker for it); hovering shows who it is. Dragging a box where there
is no face draws one by hand (a face the detector missed): :attr:`PhotoCanvas.box_drawn` gives it
in photo pixels, and the page asks who it is and adds it (``PeopleActions.draw_face``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, QUrl, Signal
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QFont,
    QFontMetrics,
    QImage,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from facenet_core.errors import UserError

BOX = QColor("#ffd166")
BOX_NAMED = QColor("#4ade80")
BOX_HOVER = QColor("#ffffff")
BOX_DRAWING = QColor("#7dd3fc")
MIN_DRAG_PX = 12.0
"""A drag shorter than this (screen pixels, either side) is a click, not a drawn box."""


@dataclass(frozen=True, slots=True)
class BoxedFace:
    """A face as the viewer draws it: its box in photo pixels and its label."""

    id: int
    box: tuple[float, float, float, float]
    label: str
    person_id: int | None
    kind: str  # none / auto / suggested / confirmed


def clock_time(seconds: float) -> str:
    """Seconds as a video player shows them: ``0:07``, ``1:05``, ``1:02:03``."""
    whole = int(seconds)  # as players show it: 0:59 until the minute is whole
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def track_span(track: tuple[float, float]) -> str:
    """When a video's face is seen: ``0:03–0:05``, or ``0:03`` when that is one second."""
    start, end = track
    if clock_time(start) == clock_time(end):
        return clock_time(start)
    return f"{clock_time(start)}–{clock_time(end)}"


def track_label(label: str, track: tuple[float, float] | None) -> str:
    """A face's label, with the time it is seen when it is a video's face (a track)."""
    if track is None:
        return label
    return f"{label} · {track_span(track)}"


def open_in_system_player(path: str) -> bool:
    """Open a file in the program the system gives its kind (a video: the video player).
    Playing a video is left to that program; False when none would take it."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(path))


class FrameCache:
    """The last few video frames shown (GUI thread): going back to a face seen a moment ago
    shows its frame at once, without seeking and decoding the video again."""

    def __init__(self, size: int = 16) -> None:
        self.size = size
        self.images: OrderedDict[tuple[str, float | None], QImage] = OrderedDict()

    def get(self, key: tuple[str, float | None]) -> QImage | None:
        image = self.images.get(key)
        if image is not None:
            self.images.move_to_end(key)
        return image

    def put(self, key: tuple[str, float | None], image: QImage) -> None:
        self.images[key] = image
        self.images.move_to_end(key)
        while len(self.images) > self.size:
            self.images.popitem(last=False)


def decode_preview(data: bytes) -> QImage:
    """JPEG bytes -> QImage (in a worker: QImage, unlike QPixmap, is safe off the GUI thread)."""
    image = QImage.fromData(data)
    if image.isNull():
        raise UserError("the photo could not be decoded")
    return image


class PhotoCanvas(QWidget):
    """Paints the photo letterboxed in the widget, with labelled face boxes on top."""

    face_clicked = Signal(int)  # face id
    box_drawn = Signal(tuple)  # (x1, y1, x2, y2) in photo pixels: a face drawn by hand

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(QSize(320, 240))
        self.pixmap: QPixmap | None = None
        self.photo_size = (0, 0)  # displayed-orientation pixels of the photo
        self.faces: list[BoxedFace] = []
        self.hover: int | None = None
        self.message = "Loading…"
        self.drawing_enabled = True  # off for a video's frame: a face is drawn on a photo
        self.drag_from: QPointF | None = None  # where a drawn box started (widget pixels)
        self.drag_to: QPointF | None = None

    def set_photo(self, image: QImage | None, photo_size: tuple[int, int]) -> None:
        self.pixmap = QPixmap.fromImage(image) if image is not None else None
        w, h = photo_size
        if (not w or not h) and image is not None:
            w, h = image.width(), image.height()
        self.photo_size = (w, h)
        self.message = "" if image is not None else "This photo cannot be shown"
        self.update()

    def set_faces(self, faces: Sequence[BoxedFace]) -> None:
        self.faces = list(faces)
        self.update()

    def clear(self, message: str = "Loading…") -> None:
        self.pixmap = None
        self.faces = []
        self.message = message
        self.update()

    # -- geometry --------------------------------------------------------------------------------

    def photo_rect(self) -> QRectF:
        """Where the photo is drawn: fitted into the widget, centred."""
        w, h = self.photo_size
        if not w or not h:
            return QRectF()
        scale = min(self.width() / w, self.height() / h)
        dw, dh = w * scale, h * scale
        return QRectF((self.width() - dw) / 2, (self.height() - dh) / 2, dw, dh)

    def box_rect(self, face: BoxedFace) -> QRectF:
        area = self.photo_rect()
        w, _ = self.photo_size
        scale = area.width() / w if w else 0
        x1, y1, x2, y2 = face.box
        return QRectF(
            area.x() + x1 * scale, area.y() + y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale
        )

    def to_photo(self, rect: QRectF) -> tuple[float, float, float, float]:
        """A widget rectangle in photo pixels, clipped to the photo."""
        area = self.photo_rect()
        w, h = self.photo_size
        scale = area.width() / w if w else 1.0
        x1 = min(max((rect.left() - area.x()) / scale, 0.0), float(w))
        y1 = min(max((rect.top() - area.y()) / scale, 0.0), float(h))
        x2 = min(max((rect.right() - area.x()) / scale, 0.0), float(w))
        y2 = min(max((rect.bottom() - area.y()) / scale, 0.0), float(h))
        return (x1, y1, x2, y2)

    def drawing_rect(self) -> QRectF | None:
        """The box being drawn (widget pixels), or None."""
        if self.drag_from is None or self.drag_to is None:
            return None
        return QRectF(self.drag_from, self.drag_to).normalized()

    def face_at(self, point: QPointF) -> BoxedFace | None:
        for face in sorted(self.faces, key=lambda f: f.box[2] - f.box[0]):  # smallest first
            if self.box_rect(face).adjusted(-4, -4, 4, 4).contains(point):
                return face
        return None

    # -- events ----------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        point = event.position()
        if (
            event.button() == Qt.MouseButton.LeftButton
            and self.drawing_enabled
            and self.pixmap is not None
            and self.face_at(point) is None
            and self.photo_rect().contains(point)
        ):
            self.drag_from, self.drag_to = point, point

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self.drag_from is not None:
            self.drag_to = event.position()
            self.update()
            return
        face = self.face_at(event.position())
        hover = face.id if face else None
        if hover != self.hover:
            self.hover = hover
            self.setCursor(
                Qt.CursorShape.PointingHandCursor if face else Qt.CursorShape.ArrowCursor
            )
            self.setToolTip(f"{face.label} — click to name or change" if face else "")
            self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self.drag_from is not None:
            self.drag_to = event.position()
            rect = self.drawing_rect()
            self.drag_from = self.drag_to = None
            self.update()
            if rect is not None and min(rect.width(), rect.height()) >= MIN_DRAG_PX:
                self.box_drawn.emit(self.to_photo(rect))
            return
        face = self.face_at(event.position())
        if face is not None and event.button() == Qt.MouseButton.LeftButton:
            self.face_clicked.emit(face.id)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.fillRect(self.rect(), QColor("#16191d"))
        if self.pixmap is None:
            painter.setPen(QColor("#c4cad3"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.message)
            return
        area = self.photo_rect()
        painter.drawPixmap(area, self.pixmap, QRectF(self.pixmap.rect()))
        font = QFont(self.font())
        font.setPixelSize(12)
        font.setBold(True)
        painter.setFont(font)
        metrics = QFontMetrics(font)
        for face in self.faces:
            rect = self.box_rect(face)
            named = face.person_id is not None and face.kind in ("auto", "confirmed")
            colour = BOX_HOVER if face.id == self.hover else (BOX_NAMED if named else BOX)
            painter.setPen(QPen(QColor(0, 0, 0, 110), 4))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(rect, 6, 6)
            pen = QPen(
                colour,
                2,
                Qt.PenStyle.DashLine if face.kind == "suggested" else Qt.PenStyle.SolidLine,
            )
            painter.setPen(pen)
            painter.drawRoundedRect(rect, 6, 6)
            text = face.label + ("?" if face.kind == "suggested" else "")
            width = metrics.horizontalAdvance(text) + 14
            tag = QRectF(rect.x(), rect.bottom() + 5, width, 22)
            if tag.bottom() > self.height() - 2:
                tag.moveBottom(rect.top() - 5)
            path = QPainterPath()
            path.addRoundedRect(tag, 11, 11)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(20, 24, 30, 200))
            painter.drawPath(path)
            painter.setPen(colour)
            painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, text)
        drawing = self.drawing_rect()
        if drawing is not None:
            painter.setPen(QPen(BOX_DRAWING, 2, Qt.PenStyle.DashLine))
            painter.setBrush(QColor(125, 211, 252, 40))
            painter.drawRoundedRect(drawing, 6, 6)
        painter.end()
