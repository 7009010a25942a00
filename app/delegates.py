"""Painting the grids: face thumbnails, person cards and photo tiles.

Delegates paint from the row's plain value and the shared thumbnail cache only; a thumbnail not
cached yet is drawn as a soft placeholder and asked for (it arrives within a frame or two).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QPersistentModelIndex,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QHelpEvent,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLineEdit,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
    QWidget,
)

from app.models import ItemRole, Section
from app.resources import icon
from app.thumbs import FaceRef, PhotoRef, Shape, ThumbnailLoader
from app.viewer import clock_time, track_label

Index = QModelIndex | QPersistentModelIndex

SELECTED = QColor("#dbe5f8")
SELECTED_RING = QColor("#3b6fd8")
HOVER = QColor("#eef1f5")
PLACEHOLDER = QColor("#e4e8ee")
TEXT = QColor("#1f2630")
MUTED = QColor("#6b7482")
SUGGESTION = QColor("#f59e0b")
TAG_TEXT = "tag"
TOP_CENTRE = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop


def video_face_tooltip(item: Any) -> str | None:
    """What hovering a video's face says: the video's name and when the face is seen in it
    (None for a photo's face)."""
    track = getattr(item, "track", None)
    if track is None:
        return None
    name = Path(item.photo_path).name
    return f"Seen in the video {track_label(name, track)}"


def face_ref(item: Any) -> FaceRef:
    """What the thumbnail loader needs from a face row (``FaceInfo``)."""
    return FaceRef(item.id, item.photo_path, tuple(item.box))


def _placeholder(painter: QPainter, rect: QRect, shape: Shape, missing: bool) -> None:
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(PLACEHOLDER)
    if shape == "circle":
        painter.drawEllipse(rect)
    else:
        painter.drawRoundedRect(rect, rect.width() * 0.08, rect.width() * 0.08)
    if missing:  # the photo is gone: a faint person outline instead of the face
        side = rect.width() // 3
        centre = rect.center()
        painter.setOpacity(0.35)
        icon("person").paint(
            painter, QRect(centre.x() - side // 2, centre.y() - side // 2, side, side)
        )
        painter.setOpacity(1.0)


def _thumbnail(
    painter: QPainter,
    target: QRect,
    pixmap: QPixmap | None,
    shape: Shape,
    missing: Callable[[], bool],
) -> None:
    """The thumbnail in ``target``, or the placeholder while it loads (``missing()``: its photo
    is gone, so the placeholder says so)."""
    if pixmap is None:
        _placeholder(painter, target, shape, missing())
    else:
        painter.drawPixmap(target, pixmap)


def _outline(painter: QPainter, rect: QRect, pen: QPen, shape: Shape, radius: float = 0) -> None:
    """An unfilled ring: an ellipse for a circle, else a rectangle with ``radius`` corners."""
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    if shape == "circle":
        painter.drawEllipse(rect)
    else:
        painter.drawRoundedRect(rect, radius, radius)


def _background(painter: QPainter, option: QStyleOptionViewItem, rect: QRect) -> None:
    state = option.state
    if state & QStyle.StateFlag.State_Selected:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(SELECTED)
        painter.drawRoundedRect(rect, 12, 12)
    elif state & QStyle.StateFlag.State_MouseOver:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(HOVER)
        painter.drawRoundedRect(rect, 12, 12)


def _start_cell(painter: QPainter, option: QStyleOptionViewItem, inset: int) -> QRect:
    """Begin painting a grid cell (the caller restores the painter): antialiased, with the
    selected or hovered background drawn ``inset`` pixels inside the cell; returns that rect."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    cell = option.rect.adjusted(inset, inset, -inset, -inset)
    _background(painter, option, cell)
    return cell


class FaceDelegate(QStyledItemDelegate):
    """A face thumbnail (a circle), with a dashed amber ring on suggestions, a caption
    (``caption(item)``, optional) under it, and a small "tag" pill on a face that came from a
    face tag (``origins``: face id -> the tooltip saying where from, set by the page). A video's
    face carries a play badge with the time of its frame (``video_badges``), and hovering it
    names the video and when the face is seen."""

    def __init__(
        self,
        loader: ThumbnailLoader,
        size: int = 104,
        *,
        shape: Shape = "circle",
        caption: Callable[[Any], str] | None = None,
        video_badges: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.loader = loader
        self.size = size
        self.shape = shape
        self.caption = caption
        self.video_badges = video_badges
        self.pad = 8
        self.caption_height = 20 if caption else 0
        self.origins: dict[int, str] = {}

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        side = self.size + 2 * self.pad
        return QSize(side, side + self.caption_height)

    def helpEvent(
        self,
        event: QHelpEvent,
        view: QAbstractItemView,
        option: QStyleOptionViewItem,
        index: Index,
    ) -> bool:
        """A face from a tag says where from; a video's face names the video and its time."""
        item = index.data(ItemRole)
        text = None
        if event.type() == QEvent.Type.ToolTip and item is not None:
            parts = [self.origins.get(item.id), video_face_tooltip(item)]
            text = "\n".join(p for p in parts if p) or None
        if text is None:
            return super().helpEvent(event, view, option, index)
        QToolTip.showText(event.globalPos(), text, view)
        return True

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        item = index.data(ItemRole)
        if item is None:
            return
        cell = _start_cell(painter, option, 2)
        x = option.rect.x() + (option.rect.width() - self.size) // 2
        target = QRect(x, option.rect.y() + self.pad, self.size, self.size)
        pixmap = self.loader.face(face_ref(item), self.size, self.shape)
        _thumbnail(
            painter,
            target,
            pixmap,
            self.shape,
            lambda: self.loader.face_missing(item.id, self.size, self.shape),
        )
        if self.video_badges and getattr(item, "track", None) is not None:
            at = item.frame_s if item.frame_s is not None else item.track[0]
            _video_badge(painter, target, at, centred=self.shape == "circle")
        if getattr(item, "kind", "") == "suggested":
            pen = QPen(SUGGESTION, 3, Qt.PenStyle.DashLine)
            _outline(painter, target.adjusted(1, 1, -1, -1), pen, "circle")
            _badge(painter, target, "?")
        if item.id in self.origins:
            _tag_badge(painter, target)
        if option.state & QStyle.StateFlag.State_Selected:
            ring = target.adjusted(-1, -1, 1, 1)
            _outline(painter, ring, QPen(SELECTED_RING, 3), self.shape, 10)
        if self.caption is not None:
            text = self.caption(item)
            rect = QRect(cell.x() + 4, target.bottom() + 4, cell.width() - 8, self.caption_height)
            painter.setPen(MUTED)
            metrics = QFontMetrics(option.font)
            elided = metrics.elidedText(text, Qt.TextElideMode.ElideRight, rect.width())
            painter.drawText(
                rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, elided
            )
        painter.restore()


def _tag_badge(painter: QPainter, target: QRect) -> None:
    """A small accent pill at the bottom left of ``target``: this face came from a face tag."""
    font = QFont(painter.font())
    font.setBold(True)
    font.setPixelSize(10)
    painter.setFont(font)
    width = QFontMetrics(font).horizontalAdvance(TAG_TEXT) + 12
    rect = QRectF(target.left() - 2, target.bottom() - 17, width, 18)
    painter.setPen(QPen(QColor("white"), 2))
    painter.setBrush(SELECTED_RING)
    painter.drawRoundedRect(rect, 9, 9)
    painter.setPen(QColor("white"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, TAG_TEXT)


def _badge(painter: QPainter, target: QRect, text: str) -> None:
    """A small amber pill at the top right of ``target``."""
    font = QFont(painter.font())
    font.setBold(True)
    font.setPixelSize(11)
    painter.setFont(font)
    width = max(20, QFontMetrics(font).horizontalAdvance(text) + 12)
    rect = QRectF(target.right() - width + 4, target.top() - 2, width, 20)
    path = QPainterPath()
    path.addRoundedRect(rect, 10, 10)
    painter.setPen(QPen(QColor("white"), 2))
    painter.setBrush(SUGGESTION)
    painter.drawPath(path)
    painter.setPen(QColor("white"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


class PersonDelegate(QStyledItemDelegate):
    """A person card: the cover face in a circle, the name (or "Unnamed person 12", in italics),
    the face count, and an amber badge counting the suggestions waiting for an answer. F2 or a
    double click on the name renames in place."""

    def __init__(
        self,
        loader: ThumbnailLoader,
        rename: Callable[[int, str], None],
        size: int = 120,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.loader = loader
        self.rename = rename
        self.size = size
        self.width = size + 44
        self.height = size + 70

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        return QSize(self.width, self.height)

    def _cover_rect(self, option: QStyleOptionViewItem) -> QRect:
        x = option.rect.x() + (option.rect.width() - self.size) // 2
        return QRect(x, option.rect.y() + 12, self.size, self.size)

    def name_rect(self, rect: QRect) -> QRect:
        return QRect(rect.x() + 6, rect.y() + self.size + 18, rect.width() - 12, 24)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        person = index.data(ItemRole)
        if person is None:
            return
        _start_cell(painter, option, 3)
        target = self._cover_rect(option)
        cover = person.cover_face
        pixmap = self.loader.face(face_ref(cover), self.size, "circle") if cover else None
        _thumbnail(
            painter,
            target,
            pixmap,
            "circle",
            lambda: cover is None or self.loader.face_missing(cover.id, self.size, "circle"),
        )
        if option.state & QStyle.StateFlag.State_Selected:
            _outline(painter, target.adjusted(-2, -2, 2, 2), QPen(SELECTED_RING, 3), "circle")
        if person.suggestions:
            _badge(painter, target, f"{person.suggestions:,}")
        name_rect = self.name_rect(option.rect)
        font = QFont(option.font)
        font.setPixelSize(14)
        font.setBold(bool(person.name))
        font.setItalic(not person.name)
        painter.setFont(font)
        painter.setPen(TEXT if person.name else MUTED)
        metrics = QFontMetrics(font)
        name = person.label
        painter.drawText(
            name_rect,
            Qt.AlignmentFlag.AlignCenter,
            metrics.elidedText(name, Qt.TextElideMode.ElideRight, name_rect.width()),
        )
        small = QFont(option.font)
        small.setPixelSize(12)
        painter.setFont(small)
        painter.setPen(MUTED)
        count = f"{person.faces:,} photo" + ("" if person.faces == 1 else "s")
        if person.is_hidden:
            count += " · hidden"
        painter.drawText(
            QRect(name_rect.x(), name_rect.bottom() + 1, name_rect.width(), 18),
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
            count,
        )
        painter.restore()

    # -- renaming in place -----------------------------------------------------------------------

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem, index: Index) -> QWidget:
        editor = QLineEdit(parent)
        editor.setPlaceholderText("Name")
        editor.setAlignment(Qt.AlignmentFlag.AlignCenter)
        editor.setFrame(True)
        return editor

    def setEditorData(self, editor: QWidget, index: Index) -> None:
        person = index.data(ItemRole)
        if isinstance(editor, QLineEdit) and person is not None:
            editor.setText(person.name or "")
            editor.selectAll()

    def updateEditorGeometry(
        self, editor: QWidget, option: QStyleOptionViewItem, index: Index
    ) -> None:
        editor.setGeometry(self.name_rect(option.rect).adjusted(-2, -3, 2, 3))

    def setModelData(self, editor: QWidget, model: Any, index: Index) -> None:
        person = index.data(ItemRole)
        if isinstance(editor, QLineEdit) and person is not None:
            text = editor.text().strip()
            if text != (person.name or ""):
                self.rename(person.id, text)


HEADER_HEIGHT = {0: 50, 1: 34}
"""A year's header row, and a month's (px)."""


class PhotoDelegate(QStyledItemDelegate):
    """A photo tile: a rounded square thumbnail; and the year and month headers between them
    (:class:`~app.models.Section` rows), as wide as the grid (``full_width``, set by the grid
    with the cells' size ``cell``)."""

    def __init__(
        self, loader: ThumbnailLoader, size: int = 168, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.loader = loader
        self.size = size
        self.cell: QSize | None = None
        self.full_width = 0

    def base_size(self) -> QSize:
        return QSize(self.size + 12, self.size + 12)

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        item = index.data(ItemRole)
        if isinstance(item, Section):
            return QSize(max(self.full_width, self.size), HEADER_HEIGHT.get(item.level, 34))
        return self.cell or self.base_size()

    def _paint_header(self, painter: QPainter, option: QStyleOptionViewItem, head: Section) -> None:
        font = QFont(option.font)
        font.setPixelSize(22 if head.level == 0 else 15)
        font.setBold(True)
        painter.setFont(font)
        painter.setPen(TEXT if head.level == 0 else MUTED)
        rect = option.rect.adjusted(8, 0, -8, -6)
        bottom_left = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignBottom
        painter.drawText(rect, bottom_left, head.title)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        photo = index.data(ItemRole)
        if photo is None:
            return
        if isinstance(photo, Section):
            painter.save()
            self._paint_header(painter, option, photo)
            painter.restore()
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        target = QRect(
            option.rect.x() + (option.rect.width() - self.size) // 2,
            option.rect.y() + (option.rect.height() - self.size) // 2,
            self.size,
            self.size,
        )
        pixmap = self.loader.photo(PhotoRef(photo.id, photo.path), self.size, "rounded")
        _thumbnail(
            painter,
            target,
            pixmap,
            "rounded",
            lambda: self.loader.photo_missing(photo.id, self.size, "rounded"),
        )
        if getattr(photo, "media_kind", "photo") == "video":
            _video_badge(painter, target, photo.duration_s)
        if option.state & QStyle.StateFlag.State_Selected:
            ring = target.adjusted(-2, -2, 2, 2)
            _outline(painter, ring, QPen(SELECTED_RING, 3), "rounded", 14)
        elif option.state & QStyle.StateFlag.State_MouseOver:
            hover = QPen(QColor(255, 255, 255, 180), 2)
            _outline(painter, target.adjusted(1, 1, -1, -1), hover, "rounded", 12)
        painter.restore()


def _video_badge(
    painter: QPainter, target: QRect, seconds: float | None, *, centred: bool = False
) -> None:
    """A video: a play triangle and a time (a tile's length, a face's moment) on a dark pill,
    bottom left of a tile, or centred at the bottom of a round face."""
    text = clock_time(seconds) if seconds is not None else ""
    font = QFont(painter.font())
    font.setPixelSize(12)
    font.setBold(True)
    painter.setFont(font)
    width = 30 + (QFontMetrics(font).horizontalAdvance(text) + 6 if text else 0)
    left = target.center().x() - width / 2 if centred else target.x() + 8
    pill = QRectF(left, target.bottom() - (24 if centred else 30), width, 22)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(15, 18, 22, 200))
    painter.drawRoundedRect(pill, 11, 11)
    x, y = pill.x() + 11, pill.center().y()
    painter.setBrush(QColor("#ffffff"))
    painter.drawPolygon(QPolygonF([QPointF(x, y - 6), QPointF(x, y + 6), QPointF(x + 10, y)]))
    if text:
        painter.setPen(QColor("#ffffff"))
        painter.drawText(pill.adjusted(26, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, text)
