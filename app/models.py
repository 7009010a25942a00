"""Qt item models over plain values from the core.

:class:`PagedModel` shows a long list (a person's 5,000 faces, every photo) a page at a time: the
view asks ``canFetchMore``/``fetchMore`` as it scrolls near the end, the next page is read in the
task runner, and the rows are appended when it arrives; given ``sections`` it puts a header row
(:class:`Section`: a year, a month) before each new group. :class:`ListModel` holds a short list
read in one go (the people grid). :class:`TableModel` is a table whose rows keep their identity
(a key) across refreshes: a new answer updates, inserts and removes rows in place, so the
selection, the current row and the scroll position stay where the user left them. All keep only
frozen values (``FaceInfo``, ``PersonSummary``...), so painting never touches the database.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractListModel,
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QIcon

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


@dataclass(frozen=True, slots=True)
class Section:
    """A header row between a grid's items: ``level`` 0 is the larger heading (a year), 1 the
    one under it (a month)."""

    level: int
    title: str


Sections = Callable[[Any], tuple[str, ...]]
"""An item's headings, outermost first (``("2024", "March")``); a header row is put before an
item wherever its headings differ from the previous item's."""


def _with_sections(items: Sequence[T], sections: Sections | None, before: Any = None) -> list[Any]:
    """The rows for ``items``: headers where the headings change (``before``: the item just
    above, whose headings are already shown)."""
    if sections is None:
        return list(items)
    rows: list[Any] = []
    previous = sections(before) if before is not None else ()
    for item in items:
        heads = sections(item)
        same = 0
        while same < min(len(heads), len(previous)) and heads[same] == previous[same]:
            same += 1
        rows.extend(Section(level, heads[level]) for level in range(same, len(heads)))
        rows.append(item)
        previous = heads
    return rows


def sync_rows(
    model: QAbstractItemModel,
    new_rows: Sequence[Any],
    key: Callable[[Any], Hashable],
    columns: int = 1,
) -> None:
    """Make ``model.rows`` equal ``new_rows`` by changes in place, rows known by ``key``: gone
    rows removed, kept rows moved into the new order (persistent indexes, and so the selection
    and the current row, move with them) and updated (``dataChanged``), new rows inserted. A view
    over the model keeps the user's selection and scroll position through a refresh."""
    rows: list[Any] = model.rows  # type: ignore[attr-defined]
    new = list(new_rows)
    wanted = {key(r) for r in new}
    for row in reversed(range(len(rows))):
        if key(rows[row]) not in wanted:
            model.beginRemoveRows(QModelIndex(), row, row)
            del rows[row]
            model.endRemoveRows()
    present = {key(r) for r in rows}
    order = [key(r) for r in new if key(r) in present]
    if order != [key(r) for r in rows]:
        model.layoutAboutToBeChanged.emit()
        before = [key(r) for r in rows]
        by_key = dict(zip(before, rows, strict=True))
        rows[:] = [by_key[k] for k in order]
        at = {k: i for i, k in enumerate(order)}
        for index in model.persistentIndexList():
            moved = model.index(at[before[index.row()]], index.column())
            model.changePersistentIndex(index, moved)
        model.layoutChanged.emit()
    last = max(0, columns - 1)
    for row, value in enumerate(new):
        current = rows[row] if row < len(rows) else None
        if current is not None and key(current) == key(value):
            if current != value:
                rows[row] = value
                model.dataChanged.emit(model.index(row, 0), model.index(row, last))
        else:
            model.beginInsertRows(QModelIndex(), row, row)
            rows.insert(row, value)
            model.endInsertRows()


class _Rows(Generic[T]):
    """What :class:`ListModel` and :class:`PagedModel` share: one row per value in ``rows``,
    shown by ``label``, the value itself in :data:`ItemRole` and its ``id`` in :data:`IdRole`."""

    rows: list[Any]
    label: Callable[[T], str]

    def item(self, row: int) -> Any:
        return self.rows[row]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        item = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return item.title if isinstance(item, Section) else self.label(item)
        if role == ItemRole:
            return item
        if role == IdRole:
            return getattr(item, "id", None)
        return None


class ListModel(_Rows[T], QAbstractListModel):
    """A short list of plain values; ``label`` gives each one's text."""

    def __init__(
        self,
        label: Callable[[T], str] = str,
        parent: QObject | None = None,
        *,
        editable: bool = False,
    ) -> None:
        QAbstractListModel.__init__(self, parent)
        self.rows = []
        self.label = label
        self.editable = editable

    @property
    def items(self) -> list[T]:
        return self.rows

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = super().flags(index)
        if self.editable and index.isValid():
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def set_items(self, items: Sequence[T]) -> None:
        """Show ``items``; rows with an ``id`` keep their place in the view (the selection and
        the scroll position stay), see :func:`sync_rows`."""
        sync_rows(self, items, lambda item: getattr(item, "id", id(item)))

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)


class PagedModel(_Rows[T], QAbstractListModel):
    """Rows read a page at a time through the runner's read lane.

    ``fetch(offset, limit)`` runs in a worker and returns a page (``items``, ``total``,
    ``offset``). :meth:`reset` starts over (a new query, or after an edit); a page that arrives
    for an older query is dropped. ``items`` are the values read so far, ``rows`` what the view
    shows: the same, with a :class:`Section` header before each group when ``sections`` is
    given (``total`` counts items, never headers)."""

    loaded = Signal()  # a page arrived (tests and the page's counters listen)

    def __init__(
        self,
        runner: TaskRunner,
        *,
        page_size: int = 240,
        label: Callable[[T], str] = str,
        sections: Sections | None = None,
        parent: QObject | None = None,
    ) -> None:
        QAbstractListModel.__init__(self, parent)
        self.runner = runner
        self.page_size = page_size
        self.label = label
        self.sections = sections
        self.items: list[T] = []
        self.rows = []
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
        self.rows = []
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
            before = self.items[-1] if self.items else None
            rows = _with_sections(new, self.sections, before)
            first = len(self.rows)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self.items.extend(new)
            self.rows.extend(rows)
            self.endInsertRows()
        self.loaded.emit()

    def _replace(self, generation: int, page: PageLike[T]) -> None:
        if generation != self._generation:
            return
        self._fetching = False
        self.beginResetModel()
        self.items = list(page.items)
        self.rows = _with_sections(self.items, self.sections)
        self.total = page.total
        self.endResetModel()
        self.loaded.emit()

    # -- Qt --------------------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def flags(self, index: Index) -> Qt.ItemFlag:
        if index.isValid() and isinstance(self.data(index, ItemRole), Section):
            return Qt.ItemFlag.NoItemFlags  # a header: never selected, never current
        return super().flags(index)

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

    def remove_ids(self, ids: set[int]) -> None:
        """Take rows out at once (an edit moved them away); the total shrinks with them, and a
        header left with nothing under it goes too."""
        gone = {i for i, item in enumerate(self.items) if getattr(item, "id", None) in ids}
        if not gone:
            return
        self.items = [item for i, item in enumerate(self.items) if i not in gone]
        keep = _with_sections(self.items, self.sections)
        # ``keep`` is ``rows`` less some rows: walk both, removing what is not kept
        j = 0
        doomed = []
        for row, value in enumerate(self.rows):
            if j < len(keep) and (keep[j] is value or keep[j] == value):
                j += 1
            else:
                doomed.append(row)
        for row in reversed(doomed):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self.rows[row]
            self.endRemoveRows()
        self.total = max(len(self.items), self.total - len(gone))


@dataclass(frozen=True, slots=True)
class Column(Generic[T]):
    """A column of a :class:`TableModel`: its title, each row's text, and optionally its
    alignment, tooltip and icon."""

    title: str
    text: Callable[[T], str]
    align: Qt.AlignmentFlag | None = None
    tooltip: Callable[[T], str] | None = None
    icon: Callable[[T], QIcon] | None = None


class TableModel(QAbstractTableModel, Generic[T]):
    """Rows of plain values in columns, each row known by ``key(value)``. :meth:`set_rows`
    changes only what changed: rows that stay are updated in place (``dataChanged``), new ones
    inserted, gone ones removed, so views keep the selection, the current row and the scroll
    position through a refresh (a rebuilt list drops them, and any item a caller still holds)."""

    def __init__(
        self,
        columns: Sequence[Column[T]],
        key: Callable[[T], Hashable],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.columns = list(columns)
        self.key = key
        self.rows: list[T] = []

    def set_rows(self, rows: Sequence[T]) -> None:
        sync_rows(self, rows, self.key, len(self.columns))

    def item(self, row: int) -> T:
        return self.rows[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            column = self.columns[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return column.title
            if role == Qt.ItemDataRole.TextAlignmentRole and column.align is not None:
                return column.align
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        value = self.rows[index.row()]
        column = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(value)
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip is not None:
            return column.tooltip(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and column.align is not None:
            return column.align
        if role == Qt.ItemDataRole.DecorationRole and column.icon is not None:
            return column.icon(value)
        if role == ItemRole:
            return value
        if role == IdRole:
            return self.key(value)
        return None
