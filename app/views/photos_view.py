"""The Photos page: every photo, or the photos with one or several people together (chosen
with "Add person…"), as a grid; double click opens the viewer with the faces boxed and named.
Clicking a face names it or gives it to someone else.

A video's faces (tracks) were each found on a frame of their own, so the viewer shows one face
at a time on its own best frame (decoded off the GUI thread, the last few kept), with a strip of
the video's faces and when each is seen to move between them. A video opens in the system's
player from the viewer and from the grid's context menu."""

from __future__ import annotations

import calendar

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QContextMenuEvent, QImage
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QMenu,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.actions import PeopleActions
from app.context import AppContext
from app.data import FaceInfo, PhotoFaces, PhotoInfo, person_label, photo_faces, photo_page
from app.delegates import FaceDelegate, PhotoDelegate
from app.grid import Grid
from app.models import ItemRole, ListModel, PagedModel
from app.picker import Choice, pick_person
from app.viewer import (
    BoxedFace,
    FrameCache,
    PhotoCanvas,
    decode_preview,
    open_in_system_player,
    track_label,
    track_span,
)
from app.views.base import View
from app.widgets import EmptyState, PageHeader, add_shortcuts, back_button, button, label, plural
from facenet_core.thumbnails import photo_preview

PREVIEW_SIDE = 1600
UNDATED = "No date"
PHOTO_HINT = (
    "Click a face to name it or to say who it really is; drag a box around a face"
    " that was missed to add it."
)
VIDEO_HINT = (
    "Each face is shown on the frame it was seen best in: pick a face below to see it;"
    " click its box to name it."
)


def frame_time(face: FaceInfo) -> float | None:
    """The moment of a video's face the viewer shows: its best frame (where its box is)."""
    if face.frame_s is not None:
        return face.frame_s
    return face.track[0] if face.track is not None else None


def date_headings(photo: PhotoInfo) -> tuple[str, ...]:
    """The year and month headers a photo goes under (photos come newest first, by date taken;
    those without a date come last, under one header)."""
    taken = photo.taken_at
    if taken is None:
        return (UNDATED,)
    return (str(taken.year), calendar.month_name[taken.month])


class Chip(QWidget):
    """A chosen person in the filter, with a button to take them out."""

    def __init__(self, person_id: int, name: str, view: PhotosView) -> None:
        super().__init__()
        self.person_id = person_id
        self.setObjectName("chip")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 2, 4, 2)
        row.setSpacing(2)
        row.addWidget(QLabel(name))
        close = QToolButton()
        close.setText("✕")
        close.setToolTip(f"Show photos without requiring {name}")
        close.clicked.connect(lambda: view.remove_person(person_id))
        row.addWidget(close)


class PhotosView(View):
    title = "Photos"
    icon_name = "photos"
    topics = frozenset({"photos", "people", "faces"})

    def __init__(
        self, ctx: AppContext, actions: PeopleActions, parent: QWidget | None = None
    ) -> None:
        super().__init__(ctx, parent)
        self.edits = actions
        self.people: list[tuple[int, str]] = []  # the filter: (id, name)
        self.stack = QStackedWidget()
        self.page.addWidget(self.stack)

        # the grid
        grid_page = QWidget()
        column = QVBoxLayout(grid_page)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(12)
        self.header = PageHeader("Photos", "")
        self.add_person_button = self.header.add(
            button(
                "Add person…",
                tooltip="Show only the photos with this person (and the others chosen)",
            )
        )
        self.clear_button = self.header.add(button("Everyone", tooltip="Show every photo"))
        column.addWidget(self.header)
        self.chips = QHBoxLayout()
        self.chips.setSpacing(6)
        self.chips_label = label("With:", "muted")
        self.chips.addWidget(self.chips_label)
        self.chips.addStretch(1)
        column.addLayout(self.chips)
        self.grid_stack = QStackedWidget()
        self.empty = EmptyState("No photos yet", "Add a folder in the Library page.", "photos")
        self.grid_stack.addWidget(self.empty)
        self.model: PagedModel[PhotoInfo] = PagedModel(
            ctx.runner, page_size=200, sections=date_headings, parent=self
        )
        self.grid = Grid(self.model, PhotoDelegate(ctx.thumbs, 160), ctx.thumbs, headers=True)
        self.grid_stack.addWidget(self.grid)
        column.addWidget(self.grid_stack, 1)
        self.stack.addWidget(grid_page)

        # the viewer
        viewer_page = QWidget()
        vcol = QVBoxLayout(viewer_page)
        vcol.setContentsMargins(0, 0, 0, 0)
        vcol.setSpacing(8)
        top = QHBoxLayout()
        self.back_button = back_button("Photos", "Back to the grid (Esc)")
        top.addWidget(self.back_button)
        self.viewer_title = label("", "muted")
        self.viewer_title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top.addWidget(self.viewer_title, 1)
        self.play_button = button(
            "▶  Open in player", tooltip="Play this video in the system's video player"
        )
        self.play_button.hide()
        top.addWidget(self.play_button)
        self.prev_button = button("‹", tooltip="Previous photo (Left)")
        self.next_button = button("›", tooltip="Next photo (Right)")
        top.addWidget(self.prev_button)
        top.addWidget(self.next_button)
        vcol.addLayout(top)
        self.canvas = PhotoCanvas()
        vcol.addWidget(self.canvas, 1)
        # a video's faces, each shown on its own frame
        self.tracks: ListModel[FaceInfo] = ListModel(lambda f: track_span(f.track or (0, 0)))
        self.track_strip = Grid(
            self.tracks,
            FaceDelegate(
                ctx.thumbs, 72, caption=lambda f: track_span(f.track or (0, 0)), video_badges=False
            ),
            ctx.thumbs,
        )
        self.track_strip.setFlow(Grid.Flow.LeftToRight)
        self.track_strip.setWrapping(False)
        self.track_strip.setFixedHeight(132)
        self.track_strip.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.track_strip.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.track_strip.hide()
        vcol.addWidget(self.track_strip)
        self.viewer_hint = label(PHOTO_HINT, "muted")
        vcol.addWidget(self.viewer_hint)
        self.stack.addWidget(viewer_page)
        self.viewing: int = -1  # row shown in the viewer
        self.shown: PhotoFaces | None = None
        self.frames = FrameCache()
        self.track_id: int | None = None  # the video's face shown in the viewer
        self.shown_at: float | None = None  # the time of the video frame on the canvas

        self.add_person_button.clicked.connect(self.choose_person)
        self.clear_button.clicked.connect(self.clear_people)
        self.grid.activated.connect(self.open_index)
        self.grid.doubleClicked.connect(self.open_index)
        self.back_button.clicked.connect(self.close_viewer)
        self.prev_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        self.canvas.face_clicked.connect(self.face_clicked)
        self.canvas.box_drawn.connect(self.box_drawn)
        self.play_button.clicked.connect(self.play_video)
        self.track_strip.selectionModel().currentChanged.connect(self._track_chosen)
        self.model.loaded.connect(self._update_header)
        add_shortcuts(
            viewer_page,
            [
                ("Back", "Esc", self.close_viewer),
                ("Previous", "Left", lambda: self.step(-1)),
                ("Next", "Right", lambda: self.step(1)),
            ],
        )
        self._update_chips()

    # -- the grid --------------------------------------------------------------------------------

    def reload(self) -> None:
        super().reload()
        library = self.ctx.library
        ids = [pid for pid, _ in self.people]
        self.model.reset(lambda offset, limit: photo_page(library, ids, offset, limit))
        if self.stack.currentIndex() == 1 and self.shown is not None:
            self._load_faces(self.shown.photo.id)

    def _update_header(self) -> None:
        total = self.model.total
        if self.people:
            names = " and ".join(name for _, name in self.people)
            self.header.set_subtitle(f"{plural(total, 'photo')} with {names}")
        else:
            self.header.set_subtitle(plural(total, "photo"))
        self.grid_stack.setCurrentIndex(1 if total or self.people else 0)
        self.loaded()

    def set_people(self, people: list[tuple[int, str]]) -> None:
        """Show the photos in which all these people appear (none: every photo)."""
        self.people = list(dict.fromkeys(people))
        self._update_chips()
        self.reload()

    def choose_person(self) -> None:
        def chosen(choice: Choice) -> None:
            if choice.person_id is not None:
                name = person_label(choice.person_id, choice.name)
                self.set_people([*self.people, (choice.person_id, name)])

        taken = {pid for pid, _ in self.people}
        pick_person(self, self.ctx, "Photos with…", chosen, exclude=taken)

    def remove_person(self, person_id: int) -> None:
        self.set_people([p for p in self.people if p[0] != person_id])

    def clear_people(self) -> None:
        self.set_people([])

    def _update_chips(self) -> None:
        while self.chips.count() > 2:
            item = self.chips.takeAt(1)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for n, (pid, name) in enumerate(self.people):
            self.chips.insertWidget(1 + n, Chip(pid, name, self))
        self.chips_label.setText("With:" if self.people else "Showing every photo.")
        self.clear_button.setVisible(bool(self.people))
        self.add_person_button.setText("Add person…" if self.people else "Filter by person…")

    # -- the viewer ------------------------------------------------------------------------------

    def open_index(self, index: QModelIndex) -> None:
        if index.isValid():
            self.open_row(index.row())

    def _photo_row(self, row: int, step: int) -> int:
        """The first row from ``row`` on (going by ``step``) that is a photo, not a header;
        -1 when there is none among the rows loaded."""
        while 0 <= row < self.model.rowCount():
            if isinstance(self.model.item(row), PhotoInfo):
                return row
            row += step
        return -1

    def open_row(self, row: int) -> None:
        row = self._photo_row(row, 1)
        if row < 0:
            return
        self.viewing = row
        photo: PhotoInfo = self.model.item(row)
        video = photo.media_kind == "video"
        self.stack.setCurrentIndex(1)
        self.canvas.clear()
        self.canvas.drawing_enabled = not video
        self.canvas.setFocus()
        self.viewer_title.setText(photo.path)
        self.viewer_hint.setText(VIDEO_HINT if video else PHOTO_HINT)
        self.play_button.setVisible(video)
        self.track_strip.hide()
        self.tracks.set_items([])
        self.track_id = self.shown_at = None
        self.prev_button.setEnabled(self._photo_row(row - 1, -1) >= 0)
        more = len(self.model.items) < self.model.total
        self.next_button.setEnabled(self._photo_row(row + 1, 1) >= 0 or more)
        if not video:  # a video's frame waits for its faces: it is the chosen face's frame
            self._show_image(photo, None, None)
        self._load_faces(photo.id)

    def _show_image(
        self, photo: PhotoInfo, at_s: float | None, boxes: list[BoxedFace] | None
    ) -> None:
        """Show the photo, or a video's frame at ``at_s`` (its middle one when None), decoded
        off the GUI thread; a video's frames are kept (:class:`FrameCache`). ``boxes``: the
        faces to draw once the frame is there (None: the photo's faces arrive on their own)."""
        path, size = photo.path, (photo.width or 0, photo.height or 0)
        key = (path, at_s)

        def show(image: QImage) -> None:
            if photo.media_kind == "video":
                self.frames.put(key, image)
            self.canvas.set_photo(image, size)
            if boxes is not None:
                self.canvas.set_faces(boxes)
                self.shown_at = at_s

        cached = self.frames.get(key) if photo.media_kind == "video" else None
        if cached is not None:
            self.ctx.runner.supersede("viewer-image")
            show(cached)
            return
        self.ctx.runner.query(
            lambda: decode_preview(photo_preview(path, PREVIEW_SIDE, at_s)),
            show,
            key="viewer-image",
            owner=self,
            on_error=lambda reason: self.canvas.clear(f"This photo cannot be shown: {reason}"),
        )

    def _load_faces(self, photo_id: int) -> None:
        library = self.ctx.library
        self.ctx.runner.query(
            lambda: photo_faces(library, photo_id), self._show_faces, key="viewer-faces", owner=self
        )

    def _boxes(self, shown: PhotoFaces) -> list[tuple[FaceInfo, BoxedFace]]:
        """The faces to box (not the ignored ones), labelled with who they are; a video's face
        also with when it is seen."""
        boxes = []
        for named in shown.faces:
            face = named.face
            if face.is_ignored:
                continue
            text = (
                "Who is this?"
                if face.person_id is None
                else person_label(face.person_id, named.person_name)
            )
            text = track_label(text, face.track)  # a video's face: when it is seen
            boxes.append((face, BoxedFace(face.id, face.box, text, face.person_id, face.kind)))
        return boxes

    def _show_faces(self, shown: PhotoFaces) -> None:
        self.shown = shown
        if shown.photo.media_kind != "video":
            self.canvas.set_faces([box for _, box in self._boxes(shown)])
            self.loaded()
            return
        tracks = sorted((f for f, _ in self._boxes(shown)), key=lambda f: f.track or (0, 0))
        self.tracks.set_items(tracks)
        self.track_strip.setVisible(bool(tracks))
        if not tracks:  # no face: the middle frame
            self._show_image(shown.photo, None, [])
        else:
            chosen = next((f for f in tracks if f.id == self.track_id), tracks[0])
            self.show_track(chosen.id)
        self.loaded()

    def show_track(self, face_id: int) -> None:
        """Show a video's face on its own best frame, boxed (with any other face whose best
        frame is that same frame), and mark it in the strip."""
        if self.shown is None:
            return
        boxes = self._boxes(self.shown)
        face = next((f for f, _ in boxes if f.id == face_id), None)
        if face is None:
            return
        self.track_id = face_id
        at = frame_time(face)
        row = next(r for r, f in enumerate(self.tracks.items) if f.id == face_id)
        if self.track_strip.currentIndex().row() != row:
            self.track_strip.setCurrentIndex(self.tracks.index(row, 0))
        same_frame = [box for f, box in boxes if frame_time(f) == at]
        self._show_image(self.shown.photo, at, same_frame)

    def _track_chosen(self, current: QModelIndex, _previous: QModelIndex) -> None:
        face = current.data(ItemRole) if current.isValid() else None
        if face is not None and face.id != self.track_id:
            self.show_track(face.id)

    def play_video(self) -> None:
        """Open the video shown in the viewer in the system's player."""
        if self.shown is not None:
            self.open_externally(self.shown.photo)

    def open_externally(self, photo: PhotoInfo) -> None:
        if not open_in_system_player(photo.path):
            self.ctx.say(f"No program on this computer would open {photo.path}")

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        """The grid's menu: open the photo or video under the pointer, here or in the system's
        own program."""
        if self.stack.currentIndex() != 0:
            return
        index = self.grid.menu_index(event.globalPos())
        photo = index.data(ItemRole) if index.isValid() else None
        if isinstance(photo, PhotoInfo):
            self.photo_menu(index.row(), photo).exec(event.globalPos())

    def photo_menu(self, row: int, photo: PhotoInfo) -> QMenu:
        menu = QMenu(self)
        menu.addAction("Open", lambda: self.open_row(row))
        video = photo.media_kind == "video"
        menu.addAction(
            "Open in System Player" if video else "Open in Default App",
            lambda: self.open_externally(photo),
        )
        return menu

    def step(self, delta: int) -> None:
        if self.stack.currentIndex() != 1:
            return
        row = self._photo_row(self.viewing + delta, 1 if delta > 0 else -1)
        if row < 0:
            if delta > 0 and self.model.canFetchMore():
                self.model.fetchMore()
            return
        self.open_row(row)

    def close_viewer(self) -> None:
        self.stack.setCurrentIndex(0)
        if 0 <= self.viewing < self.model.rowCount():
            index = self.model.index(self.viewing, 0)
            self.grid.setCurrentIndex(index)
            self.grid.scrollTo(index)
        self.grid.setFocus()

    def face_clicked(self, face_id: int) -> None:
        if self.shown is None:
            return
        face = next((n.face for n in self.shown.faces if n.face.id == face_id), None)
        if face is None:
            return

        def chosen(choice: Choice) -> None:
            if choice.person_id is None:
                self.edits.move_to_new([face_id], choice.name)
            else:  # to someone else, or confirmed where it is
                self.edits.move([face_id], choice.person_id)

        pick_person(self, self.ctx, "Who is this?", chosen)

    def box_drawn(self, box: tuple[float, float, float, float]) -> None:
        """A face drawn by hand: ask who it is, then add it (cancelling adds nothing)."""
        if self.shown is None:
            return
        photo_id = self.shown.photo.id

        def chosen(choice: Choice) -> None:
            person, name = choice.person_id, (choice.name or None)
            self.edits.draw_face(photo_id, box, person, None if person is not None else name)

        pick_person(self, self.ctx, "Who is this?", chosen)
