"""The Library page: the folders of the library with their counts, adding (button, Ctrl+O or a
dropped folder), scanning and removing folders, the progress of the running job with Cancel, what
the last reading of face tags found (:mod:`app.views.tag_panel`), "Write names to photos…", and
the files that could not be read, with their reasons."""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.jobs import ScanOutcome, scan_job
from app.models import Column, TableModel
from app.resources import icon
from app.tasks import Task, TaskInfo
from app.views.base import View
from app.views.tag_panel import TagPanel
from app.widgets import (
    DropZone,
    PageHeader,
    button,
    card_layout,
    duration,
    file_table,
    label,
    plural,
    table,
)
from facenet_core.library.roots import (
    FailedPhoto,
    RemovedRoot,
    RootSummary,
    failed_photos,
    list_roots,
    remove_root,
)
from facenet_core.library.tag_queries import LastImport, last_import
from facenet_core.progress import Progress

RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
LIVE_INTERVAL = 1.0
"""While a job runs, the folder table and the header are read again at most this often (s)."""


def folder_state(root: RootSummary) -> str:
    """The last column of the folder table: what is not right with the folder, if anything."""
    if not root.exists:
        return "Folder not found (unplugged drive?)"
    if root.pending:
        return f"{root.pending:,} waiting to be scanned"
    if root.missing:
        return f"{root.missing:,} photos gone from disk"
    return ""


FOLDER_COLUMNS: list[Column[RootSummary]] = [
    Column("Folder", lambda r: r.path, tooltip=lambda r: r.path, icon=lambda r: icon("library")),
    Column("Photos", lambda r: f"{r.photos:,}", RIGHT),
    Column("Faces", lambda r: f"{r.faces:,}", RIGHT),
    Column("Unreadable", lambda r: f"{r.failed:,}" if r.failed else "", RIGHT),
    Column("", folder_state),
]
FAILED_COLUMNS: list[Column[FailedPhoto]] = [
    Column("File", lambda f: f.path, tooltip=lambda f: f.path),
    Column("Why it could not be read", lambda f: f.error, tooltip=lambda f: f.error),
]


def show_progress(event: Progress, head: QLabel, figures: QLabel, bar: QProgressBar) -> None:
    """Show a job's progress ``event`` the one way every page does: what it is doing (``head``),
    its figures, and the bar (busy while the total is not known yet)."""
    text, numbers = describe(event)
    head.setText(text)
    figures.setText(numbers)
    if event.total:
        bar.setRange(0, event.total)
        bar.setValue(min(event.done, event.total))
    else:
        bar.setRange(0, 0)


@dataclass(frozen=True, slots=True)
class LibraryState:
    roots: tuple[RootSummary, ...]
    failed: tuple[FailedPhoto, ...]
    tags: LastImport | None = None


def describe(event: Progress) -> tuple[str, str]:
    """A progress event as two lines for people: what is happening, and the figures."""
    if event.task == "scan" and event.phase == "walk":
        return "Looking for photos…", f"{plural(event.done, 'photo')} found so far"
    if event.task == "scan" and event.phase == "faces":
        head = f"Finding faces: {event.done:,} of {event.total or 0:,} photos"
        parts = []
        if event.rate:
            parts.append(f"{event.rate:.1f} photos/s")
        faces = int(event.counters.get("faces", 0))
        parts.append(f"{plural(faces, 'face')} found")
        failed = int(event.counters.get("failed", 0))
        if failed:
            parts.append(f"{failed:,} unreadable")
        left = event.seconds_left
        if left is not None and event.done:
            parts.append(f"about {duration(left)} left")
        return head, " · ".join(parts)
    if event.task == "scan" and event.phase == "tags":
        head = f"Reading face tags: {event.done:,} of {event.total or 0:,} photos"
        return head, f"{plural(int(event.counters.get('named', 0)), 'region')} matched so far"
    if event.task == "export-tags":
        doing = "Checking" if event.phase == "plan" else "Writing names to"
        head = f"{doing} photos: {event.done:,} of {event.total or 0:,}"
        written = int(event.counters.get("written", 0))
        return head, f"{plural(written, 'sidecar')} written" if event.phase != "plan" else ""
    if event.task == "cluster" and event.phase == "neighbours":
        figures = f"{event.done:,} of {event.total or 0:,} faces"
        if event.seconds_left is not None and event.done:
            figures += f" · about {duration(event.seconds_left)} left"
        return "Grouping faces: finding each face's look-alikes", figures
    if event.task == "cluster" and event.phase == "merge":
        return "Grouping faces: joining look-alikes into people", f"{event.done:,} joined"
    if event.task in ("train", "reembed", "eval-lfw"):
        return _describe_training(event)
    if event.task in ("recognize", "cluster"):
        doing = "Recognising people" if event.task == "recognize" else "Grouping faces"
        head = f"{doing}: {event.message or event.phase}"
        figures = f"{event.done:,} of {event.total:,} faces" if event.total else ""
        return head, figures
    head = event.message or f"{event.phase.capitalize()}"
    if event.total:
        figures = f"{event.done:,} of {event.total:,} {event.unit}s"
    else:
        figures = f"{event.done:,} {event.unit}s"
    if event.seconds_left is not None and event.done:
        figures += f" · about {duration(event.seconds_left)} left"
    return head, figures


def _describe_training(event: Progress) -> tuple[str, str]:
    left = event.seconds_left
    eta = f" · about {duration(left)} left" if left is not None and event.done else ""
    of = f"{event.done:,} of {event.total:,}" if event.total else f"{event.done:,}"
    if event.task == "eval-lfw":
        return "Preparing the guard set of strangers (first run only)", f"{of} photos{eta}"
    if event.task == "reembed":
        return "Re-embedding every face with the new model", f"{of} faces{eta}"
    if event.phase == "chips":
        return "Reading your confirmed faces", f"{of} faces{eta}"
    if event.phase == "features":
        return "Preparing the faces for training", f"{of} faces{eta}"
    epoch = int(event.counters.get("epoch", 0))
    head = f"Training: step {of}" + (f", pass {epoch}" if epoch else "")
    loss = event.counters.get("loss")
    figures = f"loss {loss:.4f}" if loss is not None else "checking the model before training"
    return head, figures + eta


class JobPanel(QFrame):
    """The running job: what it does, a bar, its figures, and Cancel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = card_layout(self)
        top = QHBoxLayout()
        self.title = label("", "sectionTitle")
        top.addWidget(self.title, 1)
        self.cancel_button = button(
            "Cancel",
            tooltip="Stop after the photos in hand; scanning again later resumes where it stopped",
        )
        top.addWidget(self.cancel_button)
        layout.addLayout(top)
        self.bar = QProgressBar(self)
        self.bar.setFixedHeight(10)
        self.bar.setTextVisible(False)
        layout.addWidget(self.bar)
        self.figures = label("", "muted")
        layout.addWidget(self.figures)
        self.task: Task | None = None
        self.cancel_button.clicked.connect(self._cancel)
        self.hide()

    def start(self, task: Task, title: str) -> None:
        self.task = task
        self.title.setText(title)
        self.figures.setText("Getting ready (loading the face models)…")
        self.bar.setRange(0, 0)
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        self.show()

    def update_progress(self, event: Progress) -> None:
        show_progress(event, self.title, self.figures, self.bar)

    def finish(self) -> None:
        self.task = None
        self.hide()

    def _cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Stopping…")


class LibraryView(View):
    title = "Library"
    icon_name = "library"
    topics = frozenset({"roots", "photos"})

    add_requested = Signal()  # the window asks for a folder (one dialog for button and Ctrl+O)
    write_names_requested = Signal()  # the window opens "Write names to photos" (button, menu)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.header = PageHeader("Library", "")
        self.add_button = self.header.add(
            button("Add folder…", primary=True, tooltip="Add a folder of photos (Ctrl+O)")
        )
        self.rescan_button = self.header.add(
            button("Rescan all", tooltip="Look for new, changed and removed photos in every folder")
        )
        self.write_button = self.header.add(
            button(
                "Write names to photos…",
                tooltip="Write the people you named into XMP sidecars beside the photos, for "
                "digiKam, Lightroom and other programs (shows what would change first)",
            )
        )
        self.page.addWidget(self.header)

        self.stack = QStackedWidget(self)
        self.page.addWidget(self.stack, 1)
        self.drop_zone = DropZone()
        empty = QWidget()
        empty_layout = QVBoxLayout(empty)
        empty_layout.setContentsMargins(0, 0, 0, 0)
        empty_layout.addWidget(self.drop_zone)
        self.stack.addWidget(empty)

        content = QWidget()
        body = QVBoxLayout(content)
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(12)
        self.job_panel = JobPanel()
        body.addWidget(self.job_panel)
        body.addWidget(label("Folders", "sectionTitle"))
        self.folder_model: TableModel[RootSummary] = TableModel(
            FOLDER_COLUMNS, key=lambda r: r.id, parent=self
        )
        self.folders = table(self.folder_model)
        self.folders.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.folders.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.folders.setIconSize(QSize(18, 18))
        head = self.folders.header()
        head.setStretchLastSection(False)
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2, 3, 4):
            head.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.folders.setMinimumHeight(120)
        body.addWidget(self.folders, 2)
        row = QHBoxLayout()
        self.scan_button = button("Scan now", tooltip="Scan the selected folders for new photos")
        self.open_button = button("Show in file manager")
        self.remove_button = button(
            "Remove from library…",
            danger=True,
            tooltip="Take the folder and everything found in it out of the library; "
            "the files stay on disk",
        )
        for b in (self.scan_button, self.open_button):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(self.remove_button)
        body.addLayout(row)
        self.tag_panel = TagPanel()
        body.addWidget(self.tag_panel)
        self.failed_title = label("", "sectionTitle")
        body.addWidget(self.failed_title)
        self.failed_model: TableModel[FailedPhoto] = TableModel(
            FAILED_COLUMNS, key=lambda f: f.id, parent=self
        )
        self.failed = file_table(self.failed_model)
        self.failed.setMinimumHeight(90)
        body.addWidget(self.failed, 1)
        self.stack.addWidget(content)

        self.state = LibraryState((), ())
        self.scan_task: Task | None = None
        self._last_phase = ""
        self._read_at = 0.0
        self.add_button.clicked.connect(self.add_requested)
        self.drop_zone.add_clicked.connect(self.add_requested)
        self.rescan_button.clicked.connect(lambda: self.scan(None))
        self.write_button.clicked.connect(self.write_names_requested)
        self.scan_button.clicked.connect(self._scan_selected)
        self.remove_button.clicked.connect(self._remove_selected)
        self.open_button.clicked.connect(self._open_selected)
        self.folders.selectionModel().selectionChanged.connect(self._update_buttons)
        self.folders.doubleClicked.connect(self._open_index)
        runner = ctx.runner
        runner.job_started.connect(self._job_started)
        runner.job_progress.connect(self._job_progress)
        runner.job_ended.connect(self._job_ended)
        self._update_buttons()

    # -- loading ---------------------------------------------------------------------------------

    def reload(self) -> None:
        super().reload()
        self._read_at = time.monotonic()
        library = self.ctx.library

        def read() -> LibraryState:
            return LibraryState(
                tuple(list_roots(library)), tuple(failed_photos(library)), last_import(library)
            )

        self.ctx.runner.query(read, self._show, key="library-view", owner=self)

    def _show(self, state: LibraryState) -> None:
        self.state = state
        roots = state.roots
        photos = sum(r.photos for r in roots)
        faces = sum(r.faces for r in roots)
        self.header.set_subtitle(
            f"{plural(len(roots), 'folder')} · {plural(photos, 'photo')} · {plural(faces, 'face')}"
            if roots
            else "No folders yet"
        )
        empty = not roots and self.scan_task is None
        self.stack.setCurrentIndex(0 if empty else 1)
        self.add_button.setVisible(not empty)  # the empty page has its own big button
        self.rescan_button.setVisible(not empty)
        self.write_button.setVisible(not empty)
        self.tag_panel.show_summary(state.tags)
        # in place: the rows that stay keep the user's selection and scroll position
        self.folder_model.set_rows(roots)
        self.failed_model.set_rows(state.failed)
        count = len(state.failed)
        self.failed_title.setText(f"Files that could not be read ({count:,})")
        self.failed_title.setVisible(bool(count))
        self.failed.setVisible(bool(count))
        self._update_buttons()
        self.loaded()

    def _update_buttons(self, *_: object) -> None:
        busy = self.scan_task is not None
        chosen = len(self._selected_roots())
        self.scan_button.setEnabled(bool(chosen) and not busy)
        self.remove_button.setEnabled(bool(chosen) and not busy)
        self.open_button.setEnabled(chosen == 1)
        self.rescan_button.setEnabled(bool(self.state.roots) and not busy)
        if busy:
            self.remove_button.setToolTip("Wait for the scan to finish, or cancel it")
        else:
            self.remove_button.setToolTip(
                "Take the folder and everything found in it out of the library; "
                "the files stay on disk"
            )

    def _selected_roots(self) -> list[RootSummary]:
        rows = sorted(i.row() for i in self.folders.selectionModel().selectedRows())
        return [self.folder_model.item(row) for row in rows]

    def select_folder(self, root_id: int) -> None:
        """Select the folder (keyboard use, and tests)."""
        for row, root in enumerate(self.folder_model.rows):
            if root.id == root_id:
                self.folders.setCurrentIndex(self.folder_model.index(row, 0))
                selection = self.folders.selectionModel()
                flags = selection.SelectionFlag.ClearAndSelect | selection.SelectionFlag.Rows
                selection.select(self.folder_model.index(row, 0), flags)

    # -- scanning --------------------------------------------------------------------------------

    def scan(self, folders: list[str] | None) -> Task | None:
        """Scan ``folders`` (adding them), or every folder when None."""
        if self.scan_task is not None:
            if folders:
                self.ctx.say("A scan is running; the new folders are scanned after it")
            else:
                return None
        names = "every folder" if folders is None else ", ".join(folders)
        task = self.ctx.runner.run(
            scan_job(self.ctx.library, folders),
            title=f"Scanning {names}",
            on_done=self._scan_done,
            owner=self,
        )
        if self.scan_task is None:
            self.scan_task = task
        self.stack.setCurrentIndex(1)
        self._update_buttons()
        return task

    def _scan_selected(self) -> None:
        roots = self._selected_roots()
        if roots:
            self.scan([r.path for r in roots])

    def _job_started(self, info: TaskInfo) -> None:
        task = next((t for t in self.ctx.runner.running_jobs() if t.id == info.id), None)
        if task is not None:
            if info.title.startswith("Scanning"):
                self.scan_task = task
            self.job_panel.start(task, info.title)
            self.stack.setCurrentIndex(1)
            self._update_buttons()

    def _job_progress(self, info: TaskInfo, event: Progress) -> None:
        if self.job_panel.task is not None and self.job_panel.task.id == info.id:
            self.job_panel.update_progress(event)
        # the folder is listed from the scan's start and its counts grow as the scan commits:
        # read them again at each new phase, and at most once a second in between
        now = time.monotonic()
        if event.phase != self._last_phase or now - self._read_at >= LIVE_INTERVAL:
            self._last_phase = event.phase
            self.reload()

    def _job_ended(self, info: TaskInfo) -> None:
        if self.scan_task is not None and self.scan_task.id == info.id:
            self.scan_task = None
        if self.job_panel.task is not None and self.job_panel.task.id == info.id:
            self.job_panel.finish()
        self._update_buttons()
        # a thumbnail that could not be made may be makeable now (a photo back on disk)
        self.ctx.thumbs.forget_missing()
        # the scan's photos and faces are in the library even when it was cancelled
        self.ctx.notify("roots", "photos", "faces", "people")

    def _scan_done(self, outcome: ScanOutcome) -> None:
        r = outcome.result
        if r.cancelled:
            text = (
                f"Scan stopped: {plural(r.faces_added, 'face')} found so far are kept. "
                "Scan again to finish."
            )
        else:
            changes = (
                (r.photos_changed, "changed"),
                (r.photos_moved, "moved"),
                (r.photos_missing, "gone from disk"),
                (r.photos_failed, "unreadable"),
            )
            parts = [plural(r.photos_added, "new photo")]
            parts += [f"{count:,} {what}" for count, what in changes if count]
            text = (
                f"Scan finished: {', '.join(parts)}; {plural(r.faces_added, 'face')} found "
                f"in {duration(r.seconds)}."
            )
            people = r.people
            if people is not None and (people.assigned or people.suggested or people.new_people):
                found = [
                    text
                    for count, text in (
                        (people.assigned, f"{plural(people.assigned, 'face')} recognised"),
                        (people.suggested, f"{plural(people.suggested, 'suggestion')} to review"),
                        (people.new_people, plural(people.new_people, "new person", "new people")),
                    )
                    if count
                ]
                text += " " + ", ".join(found).capitalize() + "."
            tags = r.tags
            if tags is not None and tags.photos_with_tags:
                text += (
                    f" Face tags: {plural(tags.names_found, 'name')} read from "
                    f"{plural(tags.photos_with_tags, 'photo')}, "
                    f"{plural(tags.faces_named, 'face')} named."
                )
        if outcome.absent:
            text += " Not found on disk (skipped): " + ", ".join(outcome.absent)
        note = r.face_model_note()
        if note:
            text += " " + note + "."
        self.ctx.say(text)

    # -- removing and opening --------------------------------------------------------------------

    def _remove_selected(self) -> None:
        roots = self._selected_roots()
        if not roots:
            return
        photos = sum(r.photos for r in roots)
        faces = sum(r.faces for r in roots)
        what = f"“{roots[0].path}”" if len(roots) == 1 else plural(len(roots), "folder")
        answer = QMessageBox.question(
            self,
            "Remove from library",
            f"Remove {what} from the library?\n\n"
            f"Its {plural(photos, 'photo')} and {plural(faces, 'face')}, and the names given to "
            "them, are taken out of the library. The files on disk are not touched; add the "
            "folder again to bring the photos back.",
            QMessageBox.StandardButton.Cancel | QMessageBox.StandardButton.Yes,
            QMessageBox.StandardButton.Cancel,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.remove([r.id for r in roots])

    def remove(self, root_ids: list[int]) -> Task:
        library = self.ctx.library

        def work() -> list[RemovedRoot]:
            return [remove_root(library, rid) for rid in root_ids]

        return self.ctx.runner.edit(work, self._removed, title="Removing the folder", owner=self)

    def _removed(self, removed: list[RemovedRoot]) -> None:
        photos = sum(r.photos for r in removed)
        self.ctx.say(f"Removed {plural(len(removed), 'folder')} ({plural(photos, 'photo')})")
        self.ctx.notify("roots", "photos", "faces", "people", "history")

    def _open_index(self, index: QModelIndex) -> None:
        if index.isValid():
            self.select_folder(self.folder_model.item(index.row()).id)
            self._open_selected()

    def _open_selected(self) -> None:
        roots = self._selected_roots()
        if len(roots) == 1:
            QDesktopServices.openUrl(QUrl.fromLocalFile(roots[0].path))
