"""The main window: a sidebar of pages, the page area under a message banner, and a status bar
with the library's counts and the running job. It owns the one :class:`~app.context.AppContext`
(library, task runner, thumbnail cache) and hands it to every page."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer, QUrl
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.actions import PeopleActions
from app.context import AppContext
from app.data import PeopleCount, people_tally
from app.forget import next_start, remove_library_flow
from app.resources import icon
from app.tasks import TaskInfo
from app.views.base import View
from app.views.faces_view import IgnoredView, UnassignedView
from app.views.library_view import LibraryView, describe
from app.views.people_view import PeopleView, describe_people
from app.views.photos_view import PhotosView
from app.views.settings_view import SettingsView
from app.views.training_view import SWITCHING_TITLE, TRAINING_TITLE, TrainingView
from app.widgets import Banner, label, plural
from app.write_names import WriteNamesDialog
from facenet_core import __version__
from facenet_core.library.roots import library_counts
from facenet_core.paths import APP_TITLE
from facenet_core.progress import Progress
from facenet_core.settings import Settings
from facenet_core.store import Library

ORGANISATION = "facenet-photos"


def notify_removed(box: QMessageBox) -> None:
    """Show the "library removed" message (modal); a test replaces it to read the box."""
    box.exec()


TRAINING_JOBS = {TRAINING_TITLE, SWITCHING_TITLE}
"""Jobs whose progress the Training page shows (the others: the Library page)."""


def app_settings() -> QSettings:
    """Window state (geometry, last page): the app's own business, not the library's."""
    return QSettings(ORGANISATION, "FaceNet Photos")


class Sidebar(QWidget):
    """The app's name and the list of pages."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sidebar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setFixedWidth(208)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 18, 0, 12)
        layout.setSpacing(14)
        head = QHBoxLayout()
        head.setContentsMargins(18, 0, 12, 0)
        logo = QLabel()
        logo.setPixmap(icon("app").pixmap(QSize(30, 30)))
        head.addWidget(logo)
        head.addWidget(label(APP_TITLE, "sidebarTitle"), 1)
        layout.addLayout(head)
        self.list = QListWidget()
        self.list.setObjectName("sidebarList")
        self.list.setIconSize(QSize(20, 20))
        self.list.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.list, 1)
        self.footer = label("", "muted", wrap=True)
        self.footer.setContentsMargins(18, 0, 12, 0)
        layout.addWidget(self.footer)

    def add(self, title: str, icon_name: str, shortcut: str) -> None:
        item = QListWidgetItem(icon(icon_name), title)
        item.setToolTip(f"{title} ({shortcut})")
        item.setSizeHint(QSize(180, 38))
        self.list.addItem(item)


class MainWindow(QMainWindow):
    def __init__(self, library: Library, *, restore_state: bool = True) -> None:
        super().__init__()
        self.library = library
        self.removed = False  # the library was removed: closing must not touch it again
        self.ctx = AppContext(library, self)
        self.setWindowTitle(APP_TITLE)
        self.setWindowIcon(icon("app"))
        self.setAcceptDrops(True)
        self.resize(1180, 780)
        self.setMinimumSize(760, 520)

        self.sidebar = Sidebar()
        self.sidebar.footer.setText(library.path.name)
        self.sidebar.footer.setToolTip(str(library.path))
        self.banner = Banner()
        self.stack = QStackedWidget()
        content = QWidget()
        content.setObjectName("content")
        right = QVBoxLayout(content)
        right.setContentsMargins(0, 0, 0, 0)
        right.setSpacing(0)
        banner_row = QHBoxLayout()
        banner_row.setContentsMargins(16, 10, 16, 0)
        banner_row.addWidget(self.banner)
        right.addLayout(banner_row)
        right.addWidget(self.stack, 1)
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(self.sidebar)
        row.addWidget(content, 1)
        self.setCentralWidget(central)

        self.views: dict[str, View] = {}
        self.edits = PeopleActions(self.ctx, self)
        self.library_view = LibraryView(self.ctx)
        self.people_view = PeopleView(self.ctx, self.edits)
        self.photos_view = PhotosView(self.ctx, self.edits)
        self.training_view = TrainingView(self.ctx)
        self.settings_view = SettingsView(self.ctx)
        for view in self._make_views():
            self._add_view(view)
        self.sidebar.list.currentRowChanged.connect(self.stack.setCurrentIndex)

        self._make_status_bar()
        self._make_menus()
        self.ctx.runner.failed.connect(self.banner.show_error)
        self.ctx.status.connect(self._say)
        self.ctx.changed.connect(self._counts_changed)
        self.library_view.add_requested.connect(self.choose_folder)
        self.library_view.write_names_requested.connect(self.write_names)
        self.write_dialog: WriteNamesDialog | None = None
        self.settings_view.remove_requested.connect(self.remove_library)
        runner = self.ctx.runner
        runner.job_started.connect(self._job_started)
        runner.job_progress.connect(self._job_progress)
        runner.job_ended.connect(self._job_ended)

        self._restore(restore_state)
        note = library.privacy_note()
        if note:
            self.banner.show_info(note[0].upper() + note[1:])
        self.refresh_counts()
        self.ctx.runner.query(library.settings, self._settings_loaded, key="settings-start")

    # -- pages -----------------------------------------------------------------------------------

    def _make_views(self) -> list[View]:
        return [
            self.library_view,
            self.people_view,
            self.photos_view,
            UnassignedView(self.ctx, self.edits),
            IgnoredView(self.ctx, self.edits),
            self.training_view,
            self.settings_view,
        ]

    def _add_view(self, view: View) -> None:
        index = self.stack.addWidget(view)
        key = type(view).__name__ if view.title == "" else view.title
        self.views[key] = view
        self.sidebar.add(view.title, view.icon_name, f"Ctrl+{index + 1}")

    def show_view(self, title: str) -> View:
        """Switch to the page called ``title`` (``"People"``...)."""
        view = self.views[title]
        self.sidebar.list.setCurrentRow(self.stack.indexOf(view))
        return view

    @property
    def current_view(self) -> View:
        widget = self.stack.currentWidget()
        assert isinstance(widget, View)
        return widget

    # -- menus and shortcuts ---------------------------------------------------------------------

    def _make_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.add_folder_action = QAction(icon("library"), "&Add Folder…", self)
        self.add_folder_action.setShortcut(QKeySequence.StandardKey.Open)
        self.add_folder_action.setToolTip("Add a folder of photos to the library (Ctrl+O)")
        self.add_folder_action.triggered.connect(self.choose_folder)
        file_menu.addAction(self.add_folder_action)
        self.rescan_action = QAction("&Rescan All Folders", self)
        self.rescan_action.setShortcut(QKeySequence("Ctrl+R"))
        self.rescan_action.triggered.connect(lambda: self.library_view.scan(None))
        file_menu.addAction(self.rescan_action)
        self.write_names_action = QAction("&Write Names to Photos…", self)
        self.write_names_action.setToolTip(
            "Write the people you named into XMP sidecars beside the photos (a preview first)"
        )
        self.write_names_action.triggered.connect(self.write_names)
        file_menu.addAction(self.write_names_action)
        file_menu.addSeparator()
        self.remove_library_action = QAction("Remove This &Library…", self)
        self.remove_library_action.setToolTip(
            "Delete this library and all it created beside it; the photos are not touched"
        )
        self.remove_library_action.triggered.connect(self.remove_library)
        file_menu.addAction(self.remove_library_action)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        self.quit_action = quit_action

        self.edit_menu = self.menuBar().addMenu("&Edit")
        self.undo_action = QAction("&Undo", self)
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.undo_action.setEnabled(False)
        self.undo_action.triggered.connect(lambda: self.edits.undo())
        self.edit_menu.addAction(self.undo_action)
        self.redo_action = QAction("&Redo", self)
        self.redo_action.setShortcuts(
            [QKeySequence(QKeySequence.StandardKey.Redo), QKeySequence("Ctrl+Shift+Z")]
        )
        self.redo_action.setEnabled(False)
        self.redo_action.triggered.connect(lambda: self.edits.redo())
        self.edit_menu.addAction(self.redo_action)
        self.edits.undo_changed.connect(self._undo_changed)
        self.edits.redo_changed.connect(self._redo_changed)
        self.edits.refresh_history()

        view_menu = self.menuBar().addMenu("&View")
        for index in range(self.stack.count()):
            view = self.stack.widget(index)
            assert isinstance(view, View)
            action = QAction(icon(view.icon_name), view.title, self)
            action.setShortcut(QKeySequence(f"Ctrl+{index + 1}"))
            action.triggered.connect(lambda _=False, i=index: self.sidebar.list.setCurrentRow(i))
            view_menu.addAction(action)

        help_menu = self.menuBar().addMenu("&Help")
        about = QAction(f"&About {APP_TITLE}", self)
        about.triggered.connect(self._about)
        help_menu.addAction(about)

    def _about(self) -> None:
        QMessageBox.about(
            self,
            f"About {APP_TITLE}",
            f"<h3>{APP_TITLE} {__version__}</h3>"
            "<p>Organises your photos by the people in them, entirely on this computer.</p>"
            f"<p>Library: {self.library.path}</p>",
        )

    def _undo_changed(self, summary: str) -> None:
        self.undo_action.setEnabled(bool(summary))
        self.undo_action.setText(f"&Undo {summary}" if summary else "&Undo")
        self.undo_action.setToolTip(f"Undo: {summary}" if summary else "Nothing to undo")

    def _redo_changed(self, summary: str) -> None:
        self.redo_action.setEnabled(bool(summary))
        self.redo_action.setText(f"&Redo {summary}" if summary else "&Redo")
        self.redo_action.setToolTip(f"Redo: {summary}" if summary else "Nothing to redo")

    # -- status bar ------------------------------------------------------------------------------

    def _make_status_bar(self) -> None:
        bar = self.statusBar()
        bar.setSizeGripEnabled(False)
        self.counts_label = QLabel("")
        self.counts_label.setContentsMargins(10, 0, 0, 0)
        bar.addWidget(self.counts_label, 1)
        self.job_label = QLabel("")
        self.job_label.setMinimumWidth(260)
        self.job_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.job_bar = QProgressBar()
        self.job_bar.setFixedSize(140, 8)
        self.job_bar.setTextVisible(False)
        self.job_button = QToolButton()
        self.job_button.setText("Show")
        self.job_button.setToolTip("Show the running job")
        self._job_page = "Library"
        self.job_button.clicked.connect(lambda: self.show_view(self._job_page))
        for widget in (self.job_label, self.job_bar, self.job_button):
            bar.addPermanentWidget(widget)
            widget.hide()

    def refresh_counts(self) -> None:
        self._counts_at = time.monotonic()
        library = self.library
        min_faces = self.ctx.settings.min_cluster_faces  # the People page's, so the two agree

        def read() -> tuple[dict[str, int | str | None], PeopleCount]:
            return library_counts(library), people_tally(library, min_faces=min_faces)

        self.ctx.runner.query(read, self._show_counts, key="status-counts", owner=self)

    def _counts_changed(self, topics: frozenset[str]) -> None:
        if topics & {"roots", "photos", "faces", "people", "settings"}:
            self.refresh_counts()

    def _show_counts(self, answer: tuple[dict[str, int | str | None], PeopleCount]) -> None:
        counts, people = answer

        def n(key: str) -> int:
            value = counts.get(key) or 0
            return int(value)

        listed, left_out = describe_people(people, self.ctx.settings.min_cluster_faces)
        text = f"{plural(n('photos'), 'photo')}  ·  {plural(n('faces'), 'face')}  ·  {listed}"
        self.counts_label.setToolTip(
            f"Not shown on the People page: {left_out}" if left_out else ""
        )
        if n("failed"):
            text += f"  ·  {n('failed'):,} unreadable"
        self.counts_label.setText(text)
        self.counts = counts

    def _say(self, message: str) -> None:
        self.banner.show_info(message)

    def _job_started(self, info: TaskInfo) -> None:
        self._job_page = "Training" if info.title in TRAINING_JOBS else "Library"
        self.job_label.setText(info.title)
        self.job_bar.setRange(0, 0)
        for widget in (self.job_label, self.job_bar, self.job_button):
            widget.show()

    def _job_progress(self, info: TaskInfo, event: Progress) -> None:
        now = time.monotonic()
        if now - self._counts_at > 2.0:  # the counts grow as the scan commits
            self._counts_at = now
            self.refresh_counts()
        head, _ = describe(event)
        self.job_label.setText(head)
        if event.total:
            self.job_bar.setRange(0, event.total)
            self.job_bar.setValue(min(event.done, event.total))

    def _job_ended(self, info: TaskInfo) -> None:
        if not self.ctx.runner.running_jobs() or all(
            t.id == info.id for t in self.ctx.runner.running_jobs()
        ):
            for widget in (self.job_label, self.job_bar, self.job_button):
                widget.hide()

    def _settings_loaded(self, settings: Settings) -> None:
        self.ctx.settings = settings
        self.refresh_counts()  # counted with the library's own smallest group size

    # -- adding folders --------------------------------------------------------------------------

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Add a folder of photos", str(Path.home()), QFileDialog.Option.ShowDirsOnly
        )
        if folder:
            self.add_folders([folder])

    def add_folders(self, folders: list[str]) -> None:
        """Add folders to the library and scan them (the Library page shows the progress)."""
        self.show_view("Library")
        self.library_view.scan(folders)

    @staticmethod
    def _dropped_folders(urls: list[QUrl]) -> list[str]:
        return [u.toLocalFile() for u in urls if u.isLocalFile() and Path(u.toLocalFile()).is_dir()]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        mime = event.mimeData()
        if mime.hasUrls() and self._dropped_folders(mime.urls()):
            event.acceptProposedAction()
            self.library_view.drop_zone.set_hover(True)
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.library_view.drop_zone.set_hover(False)
        super().dragLeaveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        self.library_view.drop_zone.set_hover(False)
        folders = self._dropped_folders(event.mimeData().urls())
        if folders:
            event.acceptProposedAction()
            self.add_folders(folders)
        else:
            self.banner.show_info("Drop a folder (not single files) to add its photos")

    # -- writing names to photos ----------------------------------------------------------------

    def write_names(self) -> WriteNamesDialog:
        """Open "Write names to photos" (the one already open, if any): a preview, then Write."""
        dialog = self.write_dialog
        if dialog is not None and dialog.isVisible():
            dialog.raise_()
            dialog.activateWindow()
            return dialog
        if dialog is not None:
            dialog.deleteLater()
        dialog = WriteNamesDialog(self.ctx, self)
        self.write_dialog = dialog
        dialog.open()
        return dialog

    # -- removing the library --------------------------------------------------------------------

    def remove_library(self) -> None:
        """Ask, then remove this library with all it created, and quit.

        Quitting (rather than opening a fresh library in its place) is the honest end: the user
        asked for the app's data to go, and a new library would create files again at once. The
        next start creates a new, empty one (the default library), or asks (another one)."""
        remove_library_flow(
            self, self.ctx, self._close_library, self._library_removed, self._removal_failed
        )

    def _close_library(self) -> bool:
        """Stop every task and close the library; False (and nothing closed) when a job does
        not stop in time."""
        runner = self.ctx.runner
        self.statusBar().showMessage("Stopping every job before removing the library…")
        runner.cancel_all()
        if not runner.wait(30_000):
            self.statusBar().clearMessage()
            self.banner.show_error(
                "Removing the library", "a job is still finishing; nothing was removed, try again"
            )
            return False
        central = self.centralWidget()
        if central is not None:
            central.setEnabled(False)
        self.menuBar().setEnabled(False)
        self.library.close()
        self.removed = True
        return True

    def _library_removed(self, paths: list[Path]) -> None:
        self.statusBar().clearMessage()
        done = QMessageBox(self)
        done.setIcon(QMessageBox.Icon.Information)
        done.setWindowTitle(APP_TITLE)
        done.setText("<b>The library was removed.</b>")
        done.setInformativeText(
            f"{self.library.path} and everything it created beside it are gone"
            f" ({plural(len(paths), 'file or folder', 'files and folders')}). Your photos were"
            f" not touched.\n\n{APP_TITLE} quits now; {next_start(self.library.path)}."
        )
        notify_removed(done)
        done.deleteLater()
        self.close()

    def _removal_failed(self, reason: str) -> None:
        self.statusBar().clearMessage()
        self.banner.show_error("Removing the library", f"{reason}; quit and try again")

    # -- state -----------------------------------------------------------------------------------

    def _restore(self, restore_state: bool) -> None:
        row = 0
        if restore_state:
            state = app_settings()
            geometry = state.value("window/geometry")
            if isinstance(geometry, QByteArray | bytes):
                self.restoreGeometry(QByteArray(geometry))
            last = state.value("window/view", "")
            titles = [view.title for view in self.views.values()]
            if last in titles:
                row = titles.index(last)
        self.sidebar.list.setCurrentRow(row)

    def save_state(self) -> None:
        state = app_settings()
        state.setValue("window/geometry", self.saveGeometry())
        state.setValue("window/view", self.current_view.title)

    def closeEvent(self, event: QCloseEvent) -> None:
        runner = self.ctx.runner
        if runner.running_jobs():
            self.statusBar().showMessage("Stopping the scan (what is done is kept)…")
        runner.cancel_all()
        if not self.removed:
            self.save_state()
        if not runner.wait(30_000):
            QTimer.singleShot(0, self.close)  # still finishing a batch: try again
            event.ignore()
            return
        self.library.close()
        super().closeEvent(event)
