"""Start the desktop app: ``python main.py [--library FILE]``.

Without ``--library`` the app opens the library in the user's data folder, creating it on the
first start. A library given with ``--library`` must exist. When a library cannot be opened (not
a library, from a newer app, locked, unreadable...) a dialog says why and offers to choose
another library, create a new one, or quit; nothing is ever overwritten.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEventLoop
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QProgressDialog, QWidget

from app.main_window import ORGANISATION, MainWindow
from app.resources import apply_style, icon
from facenet_core.paths import APP_TITLE, default_library_path
from facenet_core.settings import Settings
from facenet_core.store import Library, LibraryError

log = logging.getLogger(__name__)

Choice = tuple[Path, bool] | None
"""What the user chose after a failure: a library file and whether to create it, or quit."""


Opener = Callable[[Path, bool], Library]
"""Opens a library file (creating it when told): :meth:`Library.open` or :func:`open_waiting`."""


def open_library(
    path: Path | None,
    ask: Callable[[Path, str], Choice],
    opener: Opener | None = None,
) -> Library | None:
    """Open ``path`` (or the default library, created when missing); on failure ask the user
    (``ask(path, reason)``) until a library opens or they quit (None)."""
    opener = opener or (lambda target, create: Library.open(target, create=create))
    default = default_library_path()
    target = (path or default).expanduser()
    create = path is None or target.absolute() == default.absolute()
    while True:
        try:
            return opener(target, create)
        except LibraryError as exc:
            log.warning("cannot open %s: %s", target, exc)
            choice = ask(target, str(exc))
        if choice is None:
            return None
        target, create = choice


def ask_with_dialogs(parent: QWidget | None = None) -> Callable[[Path, str], Choice]:
    """The real ``ask``: a message box saying why, then a file dialog."""

    def ask(path: Path, reason: str) -> Choice:
        box = QMessageBox(parent)
        box.setWindowTitle(APP_TITLE)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setText("<b>The library could not be opened.</b>")
        box.setInformativeText(f"{reason}\n\nNothing was changed. What would you like to do?")
        choose = box.addButton("Open Another Library…", QMessageBox.ButtonRole.AcceptRole)
        create = box.addButton("Create a New Library…", QMessageBox.ButtonRole.ActionRole)
        box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(choose)
        box.exec()
        start = str(path.parent if path.parent.is_dir() else Path.home())
        if box.clickedButton() is choose:
            name, _ = QFileDialog.getOpenFileName(
                parent, "Open a library", start, "Libraries (*.db);;All files (*)"
            )
            return (Path(name), False) if name else ask(path, reason)
        if box.clickedButton() is create:
            name, _ = QFileDialog.getSaveFileName(
                parent,
                "Create a new library",
                str(Path(start) / "library.db"),
                "Libraries (*.db)",
                options=QFileDialog.Option.DontConfirmOverwrite,
            )
            if not name:
                return ask(path, reason)
            chosen = Path(name)
            # an existing file is opened, never overwritten (and refused if it is no library)
            return chosen, not chosen.exists()
        return None

    return ask


def open_waiting(target: Path, create: bool, *, show_after_ms: int = 400) -> Library:
    """Open the library in a worker thread while Qt's events keep flowing; when it takes a
    while (a large library upgraded to this version, with its backup first) a small window says
    what is happening. Raises what :meth:`Library.open` raises."""
    with ThreadPoolExecutor(1, thread_name_prefix="open-library") as pool:
        future = pool.submit(Library.open, target, create=create)
        started = time.monotonic()
        dialog: QProgressDialog | None = None
        while not future.done():
            QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            futures_wait([future], timeout=0.02)
            if dialog is None and (time.monotonic() - started) * 1000 >= show_after_ms:
                dialog = QProgressDialog(f"Opening {target.name}…", "", 0, 0)
                dialog.setWindowTitle(APP_TITLE)
                dialog.setLabelText(
                    f"Opening the library {target}…\n"
                    "A library from an earlier version is backed up and upgraded first."
                )
                dialog.setCancelButton(None)
                dialog.setMinimumDuration(0)
                dialog.show()
        if dialog is not None:
            dialog.close()
        return future.result()


def warm_up(settings: Settings) -> None:
    """Import the scanner's heavy modules (torch, the detectors) and load the face models. Run
    in a worker soon after start-up, so the first scan does not wait for them: an import or a
    model load holds Python's GIL for up to a second at a time, which the window shrugs off
    while it is still appearing but a scan's progress display would not."""
    importlib.import_module("facenet_core.library.scan")  # torch, detectors, faiss
    from facenet_core.vision.engines import shared_engines

    engines = shared_engines()
    engines.embedder(settings)
    engines.detector(engines.detector_config(settings))


def settle_memory() -> None:
    """Keep Python's garbage collector from pausing the GUI: move everything alive now (the
    imported libraries: torch, numpy, SQLAlchemy, Qt -- hundreds of thousands of objects) out of
    its reach, and collect the youngest objects less often. A full collection otherwise walks all
    of them, on whatever thread allocates, 90-120 ms measured on the GUI thread."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="facenet-photos-gui", description=APP_TITLE)
    parser.add_argument(
        "--library",
        type=Path,
        default=None,
        help=f"library file to open (default: {default_library_path()}, created on first start)",
    )
    args, qt_args = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    qapp = QApplication([sys.argv[0], *qt_args])
    qapp.setApplicationName(APP_TITLE)
    qapp.setOrganizationName(ORGANISATION)
    qapp.setWindowIcon(icon("app"))
    apply_style(qapp)

    library = open_library(args.library, ask_with_dialogs(), open_waiting)
    if library is None:
        return 1
    window = MainWindow(library)
    settings = library.settings()
    window.ctx.runner.query(
        lambda: warm_up(settings), lambda _: settle_memory(), title="Loading the face models"
    )
    window.show()
    return qapp.exec()
