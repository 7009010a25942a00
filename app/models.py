"""Qt item models over plain values from the core.

:class:`PagedModel` shows a long list (a person's 5,000 faces) a page at a time: the view asks
``canFetchMore``/``fetchMore`` as it scrolls near the end, the next page is read in the task
runner, and the rows are appended when it arrives. :class:`ListModel` holds a short list read in
one go (the people grid). Both keep only frozen values (``FaceInfo``, ``PersonSummary``...), so
painting never touches the database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)

from app.tasks import TaskRunner

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
ItemRole = Qt.ItemDataRole.UserRole + 1
"""The row's plain value."""
IdRole = Qt.ItemDataRole.UserRole + 2

Index = QModelIndex | QPersistentModelIndex


class PageLike(Protocol[T_co]):
    """A page of rows (``facenet_core.people.queries.Page``)."""

    @property
    def items(self) -> Sequence[T_co]: ...

    @property
    def total(self) -> int: ...

    @property
    def offset(self) -> int: ...


class ListModel(QAbstractListModel, Generic[T]):
    """A short list of plain values; ``label`` gives each one's text."""

    def __init__(
        self,
        label: Callable[[T], str] = str,
        parent: QObject | None = None,
        *,
        editable: bool = False,
    ) -> None:
        super().__init__(parent)
        self.items: list[T] = []
        self.label = label
        self.editable = editable

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = super().flags(index)
        if self.editable and index.isValid():
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def set_items(self, items: Sequence[T]) -> None:
        self.beginResetModel()
        self.items = list(items)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.items)

    def item(self, row: int) -> T:
        return self.items[row]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.items):
            return None
        item = self.items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.label(item)
        if role == ItemRole:
            return item
        if role == IdRole:
            return getattr(item, "id", None)
        return None

    def row_of(self, item_id: int) -> int:
        for row, item in enumerate(self.items):
            if getattr(item, "id", None) == item_id:
                return row
        return -1


class PagedModel(QAbstractListModel, Generic[T]):
    """Rows read a page at a time through the runner's read lane.

    ``fetch(offset, limit)`` runs in a worker and returns a page (``items``, ``total``,
    ``offset``). :meth:`reset` starts over (a new query, or after an edit); a page that arrives
    for an older query is dropped."""

    loaded = Signal()  # a page arrived (tests and the page's counters listen)

    def __init__(
        self,
        runner: TaskRunner,
        *,
        page_size: int = 240,
        label: Callable[[T], str] = str,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.page_size = page_size
        self.label = label
        self.items: list[T] = []
        self.total = 0
        self.fetch: Callable[[int, int], PageLike[T]] | None = None
        self._generation = 0
        self._fetching = False
        self._key = f"paged-{id(self)}"

    # -- the query -------------------------------------------------------------------------------

    def reset(self, fetch: Callable[[int, int], PageLike[T]] | None) -> None:
        """Show the rows of ``fetch`` (None: nothing), starting with the first page."""
        self._generation += 1
        self.beginResetModel()
        self.items = []
        self.total = 0
        self.fetch = fetch
        self._fetching = False
        self.endResetModel()
        if fetch is not None:
            self._request(0, max(self.page_size, 1))

    def refresh(self) -> None:
        """Read again what is shown (after an edit), as many rows as are loaded now."""
        fetch = self.fetch
        if fetch is None:
            return
        self._generation += 1
        want = max(len(self.items), self.page_size)
        self._fetching = True
        generation = self._generation
        self.runner.query(
            lambda: fetch(0, want),
            lambda page: self._replace(generation, page),
            key=self._key,
            owner=self,
        )

    def _request(self, offset: int, limit: int) -> None:
        fetch = self.fetch
        assert fetch is not None
        self._fetching = True
        generation = self._generation
        self.runner.query(
            lambda: fetch(offset, limit),
            lambda page: self._append(generation, page),
            key=self._key,
            owner=self,
        )

    def _append(self, generation: int, page: PageLike[T]) -> None:
        if generation != self._generation:
            return
        self._fetching = False
        self.total = page.total
        new = list(page.items)
        if page.offset != len(self.items):
            new = new[len(self.items) - page.offset :] if page.offset < len(self.items) else []
        if new:
            first = len(self.items)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            self.items.extend(new)
            self.endInsertRows()
        self.loaded.emit()

    def _replace(self, generation: int, page: PageLike[T]) -> None:
        if generation != self._generation:
            return
        self._fetching = False
        self.beginResetModel()
        self.items = list(page.items)
        self.total = page.total
        self.endResetModel()
        self.loaded.emit()

    # -- Qt --------------------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.items)

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        return (
            not parent.isValid()
            and self.fetch is not None
            and not self._fetching
            and len(self.items) < self.total
        )

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if self.canFetchMore(parent):
            self._request(len(self.items), self.page_size)

    @property
    def fetching(self) -> bool:
        return self._fetching

    def item(self, row: int) -> T:
        return self.items[row]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.items):
            return None
        item = self.items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self.label(item)
        if role == ItemRole:
            return item
        if role == IdRole:
            return getattr(item, "id", None)
        return None

    def remove_ids(self, ids: set[int]) -> None:
        """Take rows out at once (an edit moved them away); the total shrinks with them."""
        rows = [r for r, item in enumerate(self.items) if getattr(item, "id", None) in ids]
        for row in reversed(rows):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self.items[row]
            self.endRemoveRows()
        self.total = max(len(self.items), self.total - len(rows))
