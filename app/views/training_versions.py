"""The Training page's list of model versions: each with its before/after figures, the one in
use in bold, the ones not promoted greyed out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from app.views.training_plot import GREY
from app.views.training_result import FIGURES, figure_pair, pct_short

if TYPE_CHECKING:
    from facenet_core.training.versions import VersionRow

VERSION_ID = Qt.ItemDataRole.UserRole
IN_USE = "#1d4fb3"


def when(iso: str, *, short: bool = False) -> str:
    try:
        return dt.datetime.fromisoformat(iso).strftime(
            "%d %b %H:%M" if short else "%d %b %Y, %H:%M"
        )
    except ValueError:
        return iso


class VersionList(QTreeWidget):
    """The model versions, one row each (the version's id is the row's ``VERSION_ID`` data)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(["Model", "Made", "VAL %", "Nearest %", "Guard %"])
        self.headerItem().setToolTip(2, FIGURES[0][2])
        self.headerItem().setToolTip(3, FIGURES[1][2])
        self.headerItem().setToolTip(4, FIGURES[2][2])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        head = self.header()
        head.setStretchLastSection(False)
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, 5):
            head.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.setFixedHeight(112)

    def show_versions(self, versions: Iterable[VersionRow]) -> VersionRow | None:
        """Fill the list again, keeping the selection; the version in use (None: none)."""
        selected = {item.data(0, VERSION_ID) for item in self.selectedItems()}
        self.clear()
        active = None
        for v in versions:
            kind = "fine-tuned" if v.fine_tuned else "pretrained"
            name = f"#{v.id} {kind}"
            rejected = v.metrics is not None and v.metrics.get("promoted") is False
            if v.active:
                active = v
            tip = f"{v.version}" + (f", trained from #{v.parent_id}" if v.parent_id else "")
            tip += "; in use" if v.active else ""
            tip += "\nnot better than its parent, so never used" if rejected else ""
            cells = [name, when(v.created_at, short=True)]
            for key, _, _ in FIGURES:
                before, after = figure_pair(v.metrics, key)
                shown = before is not None or after is not None
                cells.append(f"{pct_short(before)} → {pct_short(after)}" if shown else "")
            item = QTreeWidgetItem(cells)
            item.setData(0, VERSION_ID, v.id)
            item.setToolTip(0, tip)
            item.setToolTip(1, when(v.created_at))
            if rejected:
                for col in range(len(cells)):
                    item.setForeground(col, QBrush(QColor(GREY)))
            for col in (2, 3, 4):
                item.setTextAlignment(
                    col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                )
            if v.active:
                font = item.font(0)
                font.setBold(True)
                for col in range(len(cells)):
                    item.setFont(col, font)
                    item.setForeground(col, QBrush(QColor(IN_USE)))
            self.addTopLevelItem(item)
            item.setSelected(v.id in selected)
        return active
