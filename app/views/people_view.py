"""The People page: a grid of person cards (named people first, then unnamed groups by size),
search, rename in place (F2), merge, hide; on double click, one person's page
(:mod:`app.views.person_page`). Every edit can be undone (Ctrl+Z); forgetting a person
(:mod:`app.forget`) is not an edit and cannot be."""

from __future__ import annotations

from PySide6.QtCore import QObject, QSortFilterProxyModel, Signal
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QLineEdit,
    QMenu,
    QStackedWidget,
    QWidget,
)

from app.actions import PeopleActions
from app.context import AppContext
from app.data import (
    PeopleCount,
    PeopleList,
    PersonCard,
    people_grid,
)
from app.delegates import PersonDelegate
from app.forget import forget_person_flow
from app.grid import Grid
from app.jobs import recluster_job
from app.models import ItemRole, ListModel
from app.views.base import PeoplePart, View
from app.views.person_page import PersonPage
from app.widgets import EmptyState, PageHeader, add_shortcuts, button, plural


def describe_people(
    count: PeopleCount, min_faces: int, *, with_hidden: bool = False
) -> tuple[str, str]:
    """The one count of people in words: who is listed (``"34 people (12 named)"``, and the
    hidden ones when they are shown too), and what is left out (``"30 small groups (under 3
    faces), 5 hidden"``; "" when nothing is). The People page and the status bar both say it."""
    listed = f"{plural(count.shown, 'person', 'people')} ({count.named:,} named)"
    if with_hidden and count.hidden:
        listed += f" and {count.hidden:,} hidden"
    left_out = []
    if count.small:
        small = plural(count.small, "small group")
        left_out.append(f"{small} (under {plural(min_faces, 'face')})")
    if count.hidden and not with_hidden:
        left_out.append(f"{count.hidden:,} hidden")
    return listed, ", ".join(left_out)


class PeopleFilter(QSortFilterProxyModel):
    """Keeps the cards whose name contains the search text (any case)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.needle = ""

    def set_needle(self, text: str) -> None:
        self.needle = text.strip().casefold()
        self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent) -> bool:  # type: ignore[no-untyped-def]
        if not self.needle:
            return True
        card = self.sourceModel().index(row, 0, parent).data(ItemRole)
        return card is not None and self.needle in card.label.casefold()


class PeopleGrid(PeoplePart):
    """The grid of people."""

    open_person = Signal(int)
    shown = Signal()  # a fresh list is on screen

    def __init__(
        self, ctx: AppContext, actions: PeopleActions, parent: QWidget | None = None
    ) -> None:
        super().__init__(ctx, actions, 12, parent)
        layout = self.column
        self.header = PageHeader("People", "")
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search people")
        self.search.setClearButtonEnabled(True)
        self.search.setFixedWidth(190)
        self.search.setToolTip("Show the people whose name contains this (Ctrl+F)")
        self.header.add(self.search)
        self.hidden_box = QCheckBox("Show hidden")
        self.hidden_box.setToolTip("Also show the people you hid")
        self.header.add(self.hidden_box)
        self.merge_button = self.header.add(
            button("Merge", tooltip="Merge the selected people into one (Ctrl+M)")
        )
        self.hide_button = self.header.add(
            button("Hide", tooltip="Hide the selected people from this grid (Ctrl+H)")
        )
        self.regroup_button = self.header.add(
            button(
                "Group again",
                tooltip="Group every face into people again; names, confirmations and "
                "\u201cnot this person\u201d are kept",
            )
        )
        layout.addWidget(self.header)
        self.stack = QStackedWidget()
        self.empty = EmptyState(
            "No people yet",
            "Add a folder of photos in the Library page. Faces are grouped into people as "
            "they are found; name a group once and the app finds that person everywhere.",
            "people",
        )
        self.stack.addWidget(self.empty)
        self.model: ListModel[PersonCard] = ListModel(lambda c: c.label, self, editable=True)
        self.proxy = PeopleFilter(self)
        self.proxy.setSourceModel(self.model)
        self.delegate = PersonDelegate(ctx.thumbs, self._rename)
        self.grid = Grid(self.proxy, self.delegate, ctx.thumbs)
        self.grid.setSpacing(6)
        self.grid.setToolTip("")
        self.stack.addWidget(self.grid)
        layout.addWidget(self.stack, 1)

        self.search.textChanged.connect(self.proxy.set_needle)
        self.hidden_box.toggled.connect(lambda _: self.reload())
        self.merge_button.clicked.connect(self.merge_selected)
        self.hide_button.clicked.connect(self.hide_selected)
        self.regroup_button.clicked.connect(self.regroup)
        self.grid.activated.connect(self._open_index)
        self.grid.doubleClicked.connect(self._open_index)
        self.grid.selectionModel().selectionChanged.connect(self._update_buttons)
        add_shortcuts(
            self,
            [
                ("Merge", "Ctrl+M", self.merge_selected),
                ("Hide", "Ctrl+H", self.hide_selected),
                ("Search", "Ctrl+F", self.search.setFocus),
            ],
        )
        self._update_buttons()

    # -- data ------------------------------------------------------------------------------------

    def reload(self) -> None:
        library = self.ctx.library
        include_hidden = self.hidden_box.isChecked()
        min_faces = self.ctx.settings.min_cluster_faces

        def read() -> PeopleList:
            return people_grid(library, include_hidden=include_hidden, min_faces=min_faces)

        self.ctx.runner.query(read, self.show_people, key="people-grid", owner=self)

    def show_people(self, answer: PeopleList) -> None:
        people = answer.cards
        self.count = answer.count
        self.model.set_items(people)  # in place: the selection and the scroll position stay
        listed, left_out = describe_people(
            answer.count,
            self.ctx.settings.min_cluster_faces,
            with_hidden=self.hidden_box.isChecked(),
        )
        self.header.set_subtitle(listed + (f" · not shown: {left_out}" if left_out else ""))
        self.stack.setCurrentIndex(1 if people else 0)
        self._update_buttons()
        self.shown.emit()

    def _update_buttons(self, *_: object) -> None:
        chosen = self.grid.selected()
        self.merge_button.setEnabled(len(chosen) >= 2)
        self.hide_button.setEnabled(bool(chosen))
        if chosen and all(c.is_hidden for c in chosen):
            self.hide_button.setText("Show")
        else:
            self.hide_button.setText("Hide")

    # -- edits -----------------------------------------------------------------------------------

    def regroup(self) -> None:
        def done(report: object) -> None:
            self.ctx.notify("people", "faces", "photos")

        self.ctx.runner.run(
            recluster_job(self.ctx.library),
            title="Grouping faces into people",
            on_done=done,
            owner=self,
        )

    def _rename(self, person_id: int, name: str) -> None:
        if name:
            self.edits.name(person_id, name)

    def merge_selected(self) -> None:
        chosen = self.grid.selected()
        if len(chosen) >= 2:
            self.edits.merge([c.id for c in chosen])

    def hide_selected(self) -> None:
        chosen = self.grid.selected()
        hide = not all(c.is_hidden for c in chosen)
        for card in chosen:
            self.edits.hide(card.id, hide)

    def _open_index(self, index) -> None:  # type: ignore[no-untyped-def]
        card = index.data(ItemRole)
        if card is not None:
            self.open_person.emit(card.id)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        index = self.grid.menu_index(event.globalPos())
        if not index.isValid():
            return
        menu = QMenu(self)
        menu.addAction("Open", lambda: self._open_index(index))
        menu.addAction("Rename…\tF2", lambda: self.grid.edit(index))
        if len(self.grid.selected()) >= 2:
            menu.addAction("Merge\tCtrl+M", self.merge_selected)
        menu.addAction(self.hide_button.text(), self.hide_selected)
        if len(self.grid.selected()) == 1:
            menu.addSeparator()
            menu.addAction("Forget This Person…", self.forget_selected)
        menu.exec(event.globalPos())

    def forget_selected(self) -> None:
        """Forget the one selected person for good (asks first, saying what goes)."""
        chosen = self.grid.selected()
        if len(chosen) == 1:
            forget_person_flow(self, self.ctx, chosen[0].id)


class PeopleView(View):
    title = "People"
    icon_name = "people"
    topics = frozenset({"people", "faces", "settings"})

    def __init__(
        self, ctx: AppContext, actions: PeopleActions, parent: QWidget | None = None
    ) -> None:
        super().__init__(ctx, parent)
        self.edits = actions
        self.stack = QStackedWidget()
        self.people = PeopleGrid(ctx, actions)
        self.person = PersonPage(ctx, actions)
        self.stack.addWidget(self.people)
        self.stack.addWidget(self.person)
        self.page.addWidget(self.stack)
        self.people.open_person.connect(self.open_person)
        self.people.shown.connect(self.loaded)
        self.person.back.connect(self.show_grid)

    def reload(self) -> None:
        super().reload()
        self.people.reload()
        if self.stack.currentWidget() is self.person:
            self.person.refresh()

    def open_person(self, person_id: int) -> None:
        self.stack.setCurrentWidget(self.person)
        self.person.open(person_id)
        self.person.grid.setFocus()

    def show_grid(self) -> None:
        self.stack.setCurrentWidget(self.people)
        self.people.grid.setFocus()
