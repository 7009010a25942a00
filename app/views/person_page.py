"""One person's page: the suggestions to confirm or reject, then every face (paged as you
scroll), "Not this person" (Delete), move to someone else or a new person, choose the cover.
Every edit can be undone (Ctrl+Z); forgetting a person or a face (:mod:`app.forget`) is not an
edit and cannot be. A face that came from a face tag another program wrote carries a small "tag"
pill whose tooltip says from which format; *More* holds "Never write this person to photos" (the
library's privacy list that "Write names to photos…" and ``export-tags`` respect)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QContextMenuEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from app.actions import PeopleActions
from app.context import AppContext
from app.data import (
    FaceInfo,
    PersonCard,
    face_origins,
    is_never_written,
    person_card,
    person_page,
)
from app.delegates import FaceDelegate
from app.forget import forget_faces_flow, forget_person_flow
from app.grid import Grid
from app.models import PagedModel
from app.picker import Choice, pick_person
from app.views.base import PeoplePart
from app.widgets import PageHeader, add_shortcuts, back_button, button, label, plural
from facenet_core.library.export_tags import set_never_export
from facenet_core.library.tag_queries import SOURCE_PROGRAMS, TagOrigin

NEVER_WRITE = "Never Write This Person to Photos"


def origin_text(source: str, made: bool) -> str:
    """A face's tooltip when it came from a face tag: which format (and so which programs)."""
    where = SOURCE_PROGRAMS.get(source, source)
    if made:
        return f"From a face tag: {where} marked this face, which no detector had found"
    return f"Named from a face tag: {where}"


class PersonPage(PeoplePart):
    """One person: suggestions to answer, then every face, with the edits."""

    back = Signal()

    def __init__(
        self, ctx: AppContext, actions: PeopleActions, parent: QWidget | None = None
    ) -> None:
        super().__init__(ctx, actions, 10, parent)
        self.person: PersonCard | None = None
        self.person_id: int | None = None
        layout = self.column
        top = QHBoxLayout()
        self.back_button = back_button("People", "Back to everyone (Esc)")
        self.back_button.clicked.connect(self.back)
        top.addWidget(self.back_button)
        top.addStretch(1)
        layout.addLayout(top)
        self.header = PageHeader("", "")
        self.rename_button = self.header.add(button("Rename", tooltip="Name this person (F2)"))
        self.hide_button = self.header.add(button("Hide", tooltip="Hide this person"))
        self.more_button = self.header.add(button("More", tooltip="More for this person"))
        self.more_menu = QMenu(self)
        self.never_action = QAction(NEVER_WRITE, self)
        self.never_action.setCheckable(True)
        self.never_action.setToolTip(
            "Keep this person's name out of the sidecars that Write Names to Photos writes"
        )
        self.more_menu.addAction(self.never_action)
        self.more_button.setMenu(self.more_menu)
        self.forget_button = self.header.add(
            button(
                "Forget…",
                danger=True,
                tooltip="Remove this person, their faces and their history from the library"
                " for good (asks first; cannot be undone)",
            )
        )
        layout.addWidget(self.header)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Who is this? Type a name and press Enter")
        self.name_edit.hide()
        layout.addWidget(self.name_edit)

        # suggestions
        self.suggest_box = QFrame()
        self.suggest_box.setObjectName("card")
        sbox = QVBoxLayout(self.suggest_box)
        sbox.setContentsMargins(14, 10, 14, 10)
        srow = QHBoxLayout()
        self.suggest_title = label("", "sectionTitle")
        srow.addWidget(self.suggest_title, 1)
        self.yes_button = button("Yes", tooltip="The selected faces are this person (Y)")
        self.no_button = button("No", tooltip="The selected faces are not this person (N)")
        self.all_button = button("Confirm all", primary=True)
        for b in (self.yes_button, self.no_button, self.all_button):
            srow.addWidget(b)
        sbox.addLayout(srow)
        self.suggestions: PagedModel[FaceInfo] = PagedModel(ctx.runner, page_size=120)
        self.suggest_delegate = FaceDelegate(ctx.thumbs, 84)
        self.suggest_grid = Grid(self.suggestions, self.suggest_delegate, ctx.thumbs)
        self.suggest_grid.setFixedHeight(118)
        self.suggest_grid.setFlow(Grid.Flow.LeftToRight)
        self.suggest_grid.setWrapping(False)
        self.suggest_grid.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        sbox.addWidget(self.suggest_grid)
        layout.addWidget(self.suggest_box)

        # faces
        frow = QHBoxLayout()
        self.faces_title = label("Photos", "sectionTitle")
        frow.addWidget(self.faces_title, 1)
        self.cover_button = button("Make cover", tooltip="Show this face for the person")
        self.move_button = button("Move to…", tooltip="Give the selected faces to someone else")
        self.not_button = button(
            "Not this person", danger=True, tooltip="The selected faces are someone else (Delete)"
        )
        for b in (self.cover_button, self.move_button, self.not_button):
            frow.addWidget(b)
        layout.addLayout(frow)
        self.faces: PagedModel[FaceInfo] = PagedModel(ctx.runner)
        self.face_delegate = FaceDelegate(ctx.thumbs, 104)
        self.grid = Grid(self.faces, self.face_delegate, ctx.thumbs)
        layout.addWidget(self.grid, 1)

        self.rename_button.clicked.connect(self.start_rename)
        self.name_edit.returnPressed.connect(self._finish_rename)
        self.hide_button.clicked.connect(self._toggle_hidden)
        self.never_action.toggled.connect(self._toggle_never_written)
        self.forget_button.clicked.connect(self.forget_person)
        self.yes_button.clicked.connect(self.confirm_selected)
        self.no_button.clicked.connect(self.reject_selected)
        self.all_button.clicked.connect(self.confirm_all)
        self.cover_button.clicked.connect(self.make_cover)
        self.move_button.clicked.connect(self.move_selected)
        self.not_button.clicked.connect(self.not_this_person)
        self.grid.selectionModel().selectionChanged.connect(self._update_buttons)
        self.suggest_grid.selectionModel().selectionChanged.connect(self._update_buttons)
        self.faces.loaded.connect(self._update_titles)
        self.suggestions.loaded.connect(self._update_titles)
        self.faces.loaded.connect(self._read_origins)
        self.suggestions.loaded.connect(self._read_origins)
        self.origins_read: set[int] = set()  # faces asked about
        self.origins_shown = 0  # answers shown (tests wait on it)
        add_shortcuts(
            self,
            [
                ("Not this person", "Delete", self.not_this_person),
                ("Rename", "F2", self.start_rename),
                ("Back", "Esc", self.back.emit),
                ("Yes", "Y", self.confirm_selected),
                ("No", "N", self.reject_selected),
            ],
        )

    # -- data ------------------------------------------------------------------------------------

    def open(self, person_id: int) -> None:
        if person_id != self.person_id:
            self.person = None
            self.header.title.setText("")
            self.header.set_subtitle("")
        self.person_id = person_id
        library = self.ctx.library
        self.origins_read = set()
        self.ctx.runner.query(
            lambda: is_never_written(library, person_id),
            self._show_never_written,
            key="person-never-written",
            owner=self,
        )
        self.ctx.runner.query(
            lambda: person_card(library, person_id),
            self._show_person,
            key="person-page",
            owner=self,
            on_error=lambda reason: self.back.emit(),  # the person went (merged, emptied)
        )
        self.faces.reset(lambda offset, limit: person_page(library, person_id, offset, limit))
        self.suggestions.reset(
            lambda offset, limit: person_page(library, person_id, offset, limit, suggestions=True)
        )
        self.name_edit.hide()

    def refresh(self) -> None:
        if self.person_id is not None:
            self.open(self.person_id)

    def _show_never_written(self, never: bool) -> None:
        self.never_action.blockSignals(True)
        self.never_action.setChecked(never)
        self.never_action.blockSignals(False)

    def _toggle_never_written(self, never: bool) -> None:
        """Put the person on (or off) the list of people never written to photos."""
        person_id, library = self.person_id, self.ctx.library
        if person_id is None:
            return
        who = self.person.label if self.person else "This person"

        def done(_: object) -> None:
            if never:
                self.ctx.say(f"{who} will never be written to photos")
            else:
                self.ctx.say(f"{who} can be written to photos again")

        self.ctx.runner.edit(
            lambda: set_never_export(library, [person_id], never),
            done,
            title="Changing who is written to photos",
            owner=self,
        )

    def _read_origins(self) -> None:
        """Which of the faces shown came from a face tag (asked once per face)."""
        wanted = [
            f.id
            for model in (self.faces, self.suggestions)
            for f in model.items
            if f.id not in self.origins_read
        ]
        if not wanted:
            return
        self.origins_read.update(wanted)
        library = self.ctx.library
        self.ctx.runner.query(lambda: face_origins(library, wanted), self._show_origins, owner=self)

    def _show_origins(self, found: dict[int, TagOrigin]) -> None:
        texts = {i: origin_text(o.source, o.kind == "made") for i, o in found.items()}
        for grid in (self.grid, self.suggest_grid):
            delegate = grid.itemDelegate()
            if isinstance(delegate, FaceDelegate):
                delegate.origins.update(texts)
            grid.viewport().update()
        self.origins_shown = getattr(self, "origins_shown", 0) + 1

    def _show_person(self, card: PersonCard) -> None:
        self.person = card
        self.header.title.setText(card.label)
        self.hide_button.setText("Show" if card.is_hidden else "Hide")
        self._update_titles()
        if not card.name:
            self.name_edit.show()

    def _update_titles(self) -> None:
        card = self.person
        if card is None:
            return
        parts = [plural(card.faces, "photo")]
        if card.suggestions:
            parts.append(f"{card.suggestions:,} to review")
        self.header.set_subtitle(" · ".join(parts))
        who = card.name or "this person"
        count = self.suggestions.total
        self.suggest_title.setText(f"Is this {who}?  {plural(count, 'suggestion')}")
        self.suggest_box.setVisible(count > 0)
        self.faces_title.setText(f"{plural(self.faces.total, 'photo')} of {who}")
        self._update_buttons()

    def _update_buttons(self, *_: object) -> None:
        faces = self.grid.selected()
        suggestions = self.suggest_grid.selected()
        self.cover_button.setEnabled(len(faces) == 1)
        self.move_button.setEnabled(bool(faces))
        self.not_button.setEnabled(bool(faces))
        self.yes_button.setEnabled(bool(suggestions))
        self.no_button.setEnabled(bool(suggestions))

    # -- edits -----------------------------------------------------------------------------------

    def start_rename(self) -> None:
        self.name_edit.setText(self.person.name or "" if self.person else "")
        self.name_edit.show()
        self.name_edit.setFocus()
        self.name_edit.selectAll()

    def _finish_rename(self) -> None:
        name = self.name_edit.text().strip()
        if name and self.person_id is not None:
            self.edits.name(self.person_id, name)
            self.name_edit.hide()

    def _toggle_hidden(self) -> None:
        if self.person is not None:
            self.edits.hide(self.person.id, not self.person.is_hidden)

    def confirm_selected(self) -> None:
        chosen = self.suggest_grid.selected()
        if chosen and self.person_id is not None:
            self.suggestions.remove_ids({f.id for f in chosen})
            self.edits.confirm_suggestions(self.person_id, [f.id for f in chosen])

    def reject_selected(self) -> None:
        chosen = self.suggest_grid.selected()
        if chosen and self.person_id is not None:
            self.suggestions.remove_ids({f.id for f in chosen})
            self.edits.reject_suggestions(self.person_id, [f.id for f in chosen])

    def confirm_all(self) -> None:
        if self.person_id is not None and self.suggestions.total:
            self.edits.confirm_suggestions(self.person_id)

    def make_cover(self) -> None:
        chosen = self.grid.selected()
        if len(chosen) == 1 and self.person_id is not None:
            self.edits.set_cover(self.person_id, chosen[0].id)

    def not_this_person(self) -> None:
        chosen = self.grid.selected() or self.suggest_grid.selected()
        if not chosen or self.person_id is None:
            return
        if chosen[0].kind == "suggested":
            self.reject_selected()
            return
        self.faces.remove_ids({f.id for f in chosen})  # at once; the edit follows
        self.edits.not_this_person([f.id for f in chosen], self.person_id)

    def forget_person(self) -> None:
        """Forget this person for good; back to the grid once they are gone."""
        if self.person_id is not None:
            forget_person_flow(self, self.ctx, self.person_id, self.back.emit)

    def forget_faces(self) -> None:
        """Forget the selected faces for good (the person keeps the others)."""
        chosen = self.grid.selected() or self.suggest_grid.selected()
        if chosen:
            forget_faces_flow(self, self.ctx, [f.id for f in chosen])

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        """The face grids' menu: the page's edits for the faces under the pointer."""
        for grid in (self.grid, self.suggest_grid):
            if not grid.isVisible():
                continue
            if grid.menu_index(event.globalPos()).isValid():
                break
        else:
            return
        if grid is self.grid:
            self.suggest_grid.clearSelection()
        else:
            self.grid.clearSelection()
        menu = self.face_menu()
        menu.exec(event.globalPos())

    def face_menu(self) -> QMenu:
        """The menu for the selected faces (of either grid)."""
        menu = QMenu(self)
        count = len(self.grid.selected() or self.suggest_grid.selected())
        if self.suggest_grid.selected():
            menu.addAction("Yes, This Is Them\tY", self.confirm_selected)
            menu.addAction("No\tN", self.reject_selected)
        else:
            if count == 1:
                menu.addAction("Make Cover", self.make_cover)
            menu.addAction("Move to…", self.move_selected)
            menu.addAction("Not This Person\tDelete", self.not_this_person)
        menu.addSeparator()
        menu.addAction(
            "Forget This Face…" if count == 1 else "Forget These Faces…", self.forget_faces
        )
        return menu

    def move_selected(self) -> None:
        chosen = self.grid.selected()
        if not chosen or self.person_id is None:
            return
        ids = [f.id for f in chosen]

        def moved(choice: Choice) -> None:
            self.faces.remove_ids(set(ids))
            self.edits.move_to_chosen(ids, choice.person_id, choice.name)

        pick_person(
            self, self.ctx, f"Move {plural(len(ids), 'face')} to…", moved, exclude={self.person_id}
        )
