"""The thumbnail grid every page uses: a list view in icon mode over a model of plain values,
repainted when thumbnails arrive."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPoint, QSize, Qt
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from app.models import ItemRole
from app.thumbs import ThumbnailLoader


class Grid(QListView):
    """A wrapping grid of same-size cells, multi-select, scrolled by pixel.

    With ``headers`` the model may hold header rows (:class:`~app.models.Section`) between the
    cells: the delegate gives a header the whole width of the grid (``full_width``), so it sits
    on a line of its own and the cells after it start a new line; the cells' size comes from
    the delegate (``cell``) instead of a fixed grid size."""

    def __init__(
        self,
        model: QAbstractItemModel,
        delegate: QStyledItemDelegate,
        loader: ThumbnailLoader,
        parent: QWidget | None = None,
        *,
        headers: bool = False,
    ) -> None:
        super().__init__(parent)
        self.headers = headers
        self.setObjectName("grid")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(not headers)
        # lay out thousands of cells a batch per turn of the event loop, not all at once
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(300)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(32)
        self.setSpacing(2)
        self.setMouseTracking(True)
        self.setWrapping(True)
        self.setEditTriggers(QAbstractItemView.EditTrigger.EditKeyPressed)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # a model or delegate nobody owns would be deleted wherever Python drops it last: the grid
        # owns them, so they go with it, on the GUI thread
        for part in (model, delegate):
            if part.parent() is None:
                part.setParent(self)
        self.setModel(model)
        self.setItemDelegate(delegate)
        loader.updated.connect(self.viewport().update)
        model.modelReset.connect(self.spread)
        model.rowsInserted.connect(self.spread)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.spread()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.spread()

    def spread(self) -> None:
        """Spread the columns over the whole width (no ragged empty band on the right)."""
        delegate = self.itemDelegate()
        if self.flow() != QListView.Flow.LeftToRight or not self.isWrapping():
            return
        option = QStyleOptionViewItem()
        self.initViewItemOption(option)
        if self.headers:
            self._spread_cells(delegate, option)
            return
        hint = delegate.sizeHint(option, self.model().index(0, 0))
        width = self.viewport().width() - 4
        step = hint.width() + 2 * self.spacing()
        if hint.width() <= 0 or width <= 0:
            return
        columns = max(1, width // step)
        cell = QSize(width // columns - 2 * self.spacing(), hint.height())
        if self.gridSize() != cell:
            self.setGridSize(cell)

    def _spread_cells(self, delegate: Any, option: QStyleOptionViewItem) -> None:
        """Without a grid size (headers are wider than a cell): the cells share the width,
        with ``spacing`` around each, and a header takes all of it."""
        hint = delegate.base_size()
        space = self.spacing()
        width = self.viewport().width() - space - 1
        if hint.width() <= 0 or width <= 0:
            return
        columns = max(1, width // (hint.width() + space))
        cell = QSize(width // columns - space, hint.height())
        full = width - space
        if delegate.cell != cell or delegate.full_width != full:
            delegate.cell, delegate.full_width = cell, full
            self.scheduleDelayedItemsLayout()

    def menu_index(self, global_pos: QPoint) -> QModelIndex:
        """The cell under the pointer, for a context menu (invalid where there is none). A cell
        not yet selected becomes the current one, so the menu acts on what was right-clicked;
        one inside the selection leaves the selection whole, so the menu acts on all of it."""
        index = self.indexAt(self.viewport().mapFromGlobal(global_pos))
        if index.isValid() and not self.selectionModel().isSelected(index):
            self.setCurrentIndex(index)
        return index

    def selected(self) -> list[Any]:
        """The plain values of the selected cells, in grid order."""
        rows = sorted(self.selectionModel().selectedIndexes(), key=lambda i: i.row())
        return [index.data(ItemRole) for index in rows]

    def current(self) -> Any:
        index = self.currentIndex()
        return index.data(ItemRole) if index.isValid() else None
