"""The Unassigned and Ignored pages: faces that belong to nobody (name them, group them into a
new person, or ignore strangers) and faces the user ignored (restore them). Both grids' context
menus also forget the selected faces for good (:mod:`app.forget`)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QMenu, QStackedWidget, QWidget

from app.actions import PeopleActions
from app.context import AppContext
from app.data import FaceInfo, Page, ignored_page, unassigned_page
from app.delegates import FaceDelegate
from app.forget import forget_faces_flow
from app.grid import Grid
from app.models import PagedModel
from app.picker import Choice, pick_person
from app.views.base import View
from app.widgets import EmptyState, PageHeader, add_shortcuts, button, plural


class FacesView(View):
    """A paged grid of faces with the page's own buttons."""

    topics = frozenset({"faces", "people"})
    empty_title = ""
    empty_text = ""

    def __init__(
        self, ctx: AppContext, actions: PeopleActions, parent: QWidget | None = None
    ) -> None:
        super().__init__(ctx, parent)
        self.edits = actions
        self.header = PageHeader(self.title, "")
        self.page.addWidget(self.header)
        self.stack = QStackedWidget()
        self.stack.addWidget(EmptyState(self.empty_title, self.empty_text, self.icon_name))
        self.model: PagedModel[FaceInfo] = PagedModel(ctx.runner)
        self.grid = Grid(self.model, FaceDelegate(ctx.thumbs, 96), ctx.thumbs)
        self.stack.addWidget(self.grid)
        self.page.addWidget(self.stack, 1)
        self.model.loaded.connect(self._loaded)
        self.grid.selectionModel().selectionChanged.connect(self._update_buttons)

    def fetcher(self) -> Callable[[int, int], Page[FaceInfo]]:
        """The page reader, run in a worker (it captures plain values only)."""
        raise NotImplementedError

    def reload(self) -> None:
        super().reload()
        self.model.reset(self.fetcher())

    def _loaded(self) -> None:
        self.header.set_subtitle(self.describe(self.model.total))
        self.stack.setCurrentIndex(1 if self.model.total else 0)
        for i in range(self.header.buttons.count()):  # no buttons over an empty page
            item = self.header.buttons.itemAt(i)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.setVisible(bool(self.model.total))
        self._update_buttons()
        self.loaded()

    def describe(self, total: int) -> str:
        return plural(total, "face")

    def _update_buttons(self, *_: object) -> None:
        pass

    def menu_actions(self) -> list[tuple[str, Callable[[], object]]]:
        """The page's own edits for the selected faces, for the context menu."""
        return []

    def forget_selected(self) -> None:
        """Forget the selected faces for good (asks first)."""
        ids = [f.id for f in self.grid.selected()]
        if ids:
            forget_faces_flow(self, self.ctx, ids)

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        index = self.grid.menu_index(event.globalPos())
        if not index.isValid():
            return
        self.face_menu().exec(event.globalPos())

    def face_menu(self) -> QMenu:
        menu = QMenu(self)
        for text, slot in self.menu_actions():
            menu.addAction(text, slot)
        menu.addSeparator()
        count = len(self.grid.selected())
        menu.addAction(
            "Forget This Face…" if count == 1 else "Forget These Faces…", self.forget_selected
        )
        return menu


class UnassignedView(FacesView):
    title = "Unassigned"
    icon_name = "unassigned"
    empty_title = "Every face has a person"
    empty_text = "Faces the app could not put with anyone show up here, for you to name."

    def __init__(
        self, ctx: AppContext, actions: PeopleActions, parent: QWidget | None = None
    ) -> None:
        super().__init__(ctx, actions, parent)
        self.name_button = self.header.add(
            button("Name…", primary=True, tooltip="Say who the selected faces are (F2)")
        )
        self.group_button = self.header.add(
            button("New person", tooltip="Put the selected faces together as a new person")
        )
        self.ignore_button = self.header.add(
            button("Ignore", tooltip="Strangers or not faces: hide them (Delete)")
        )
        self.name_button.clicked.connect(self.name_selected)
        self.group_button.clicked.connect(self.group_selected)
        self.ignore_button.clicked.connect(self.ignore_selected)
        add_shortcuts(
            self, [("Name", "F2", self.name_selected), ("Ignore", "Delete", self.ignore_selected)]
        )
        self._update_buttons()

    def fetcher(self) -> Callable[[int, int], Page[FaceInfo]]:
        library = self.ctx.library
        return lambda offset, limit: unassigned_page(library, offset, limit)

    def describe(self, total: int) -> str:
        return f"{plural(total, 'face')} without a person" if total else "Nothing to sort"

    def _update_buttons(self, *_: object) -> None:
        chosen = bool(self.grid.selected())
        for b in (self.name_button, self.group_button, self.ignore_button):
            b.setEnabled(chosen)

    def menu_actions(self) -> list[tuple[str, Callable[[], object]]]:
        return [
            ("Name…\tF2", self.name_selected),
            ("New Person", self.group_selected),
            ("Ignore\tDelete", self.ignore_selected),
        ]

    def name_selected(self) -> None:
        ids = [f.id for f in self.grid.selected()]
        if not ids:
            return

        def chosen(choice: Choice) -> None:
            self.model.remove_ids(set(ids))
            self.edits.move_to_chosen(ids, choice.person_id, choice.name)

        pick_person(self, self.ctx, f"Who {'is this' if len(ids) == 1 else 'are these'}?", chosen)

    def group_selected(self) -> None:
        ids = [f.id for f in self.grid.selected()]
        if ids:
            self.model.remove_ids(set(ids))
            self.edits.move(ids, None)

    def ignore_selected(self) -> None:
        ids = [f.id for f in self.grid.selected()]
        if ids:
            self.model.remove_ids(set(ids))
            self.edits.ignore(ids)


class IgnoredView(FacesView):
    title = "Ignored"
    icon_name = "ignored"
    empty_title = "No ignored faces"
    empty_text = "Faces you ignore (strangers, faces on posters) wait here, out of the way."

    def __init__(
        self, ctx: AppContext, actions: PeopleActions, parent: QWidget | None = None
    ) -> None:
        super().__init__(ctx, actions, parent)
        self.restore_button = self.header.add(
            button("Restore", tooltip="Put the selected faces back among the unassigned")
        )
        self.restore_button.clicked.connect(self.restore_selected)
        self._update_buttons()

    def fetcher(self) -> Callable[[int, int], Page[FaceInfo]]:
        library = self.ctx.library
        return lambda offset, limit: ignored_page(library, offset, limit)

    def describe(self, total: int) -> str:
        return f"{plural(total, 'face')} ignored" if total else ""

    def _update_buttons(self, *_: object) -> None:
        self.restore_button.setEnabled(bool(self.grid.selected()))

    def menu_actions(self) -> list[tuple[str, Callable[[], object]]]:
        return [("Restore", self.restore_selected)]

    def restore_selected(self) -> None:
        ids = [f.id for f in self.grid.selected()]
        if ids:
            self.model.remove_ids(set(ids))
            self.edits.ignore(ids, False)
