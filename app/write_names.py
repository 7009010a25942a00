""" "Write names to photos…": the people named here, written to XMP sidecars beside the photos.

The dialog first shows what would change, computed off the GUI thread by the core's
:func:`~facenet_core.library.export_tags.export_tags` in its dry run (each sidecar read and
merged in memory, nothing written): how many photos, sidecars created and changed, faces and
people, who is left out because the user asked never to write them, and the photos that cannot
be written. *Write* then runs the same export for real as a long job in the task
runner, with progress and Cancel (it stops after the current photo and says what it wrote), and
lists each photo that could not be written with its reason. Photos themselves are never
modified.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QHBoxLayout,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from app.context import AppContext
from app.models import Column, TableModel
from app.tasks import Task
from app.widgets import button, file_table, label, plural
from facenet_core.library.export_tags import ExportResult, export_tags
from facenet_core.progress import CancelToken, Progress, Reporter
from facenet_core.store import Library
from facenet_core.tags.write import Naming

WRITE_TITLE = "Writing names to photos"
NAMINGS: list[tuple[Naming, str]] = [
    ("ext.xmp", "IMG_0001.jpg.xmp (digiKam, Immich, ExifTool)"),
    ("xmp", "IMG_0001.xmp (Lightroom, Capture One)"),
]
PROBLEM_COLUMNS: list[Column[tuple[str, str]]] = [
    Column("Photo", lambda p: p[0], tooltip=lambda p: p[0]),
    Column("Why it was not written", lambda p: p[1], tooltip=lambda p: p[1]),
]
INTRO = (
    "The names of the people you named go into an XMP sidecar file beside each photo, where "
    "digiKam, Lightroom, ExifTool and other programs read them (face regions, PersonInImage and "
    "People keywords). <b>Your photos themselves are not modified.</b> A sidecar that exists "
    "already keeps everything else it holds, and the previous one is kept as <i>.xmp.bak</i>."
)


def export_job(
    library: Library, naming: Naming, dry_run: bool
) -> Callable[[Reporter, CancelToken], ExportResult]:
    """The export (``dry_run``: its preview) as a long job."""

    def job(reporter: Reporter, cancel: CancelToken) -> ExportResult:
        return export_tags(
            library, naming=naming, dry_run=dry_run, reporter=reporter, cancel=cancel
        )

    return job


def preview_lines(plan: ExportResult, most: int = 8) -> list[str]:
    """The preview in a user's words: what would be written (and whose names, the first
    ``most``), who is left out, what cannot be."""
    if not plan.photos:
        lines = ["Nothing to write: no photo holds a named person yet."]
    else:
        lines = [
            f"{plural(plan.photos, 'photo')} with named people: "
            f"{plural(plan.sidecars_new, 'sidecar')} to create, {plan.sidecars_changed:,} to "
            f"change, {plan.sidecars_unchanged:,} already up to date",
        ]
        if plan.sidecars_written:
            people = plural(len(plan.people), "person", "people")
            names = ", ".join(plan.people[:most])
            if len(plan.people) > most:
                names += f" and {len(plan.people) - most:,} more"
            lines.append(
                f"{plural(plan.faces_written, 'named face')} of {people} to write: {names}"
            )
    if plan.never_written:
        lines.append(
            "Never written, as you asked: " + ", ".join(plan.never_written)  # privacy list
        )
    if plan.failed:
        lines.append(f"{plural(len(plan.failed), 'photo')} cannot be written (listed below)")
    return lines


def result_lines(r: ExportResult) -> list[str]:
    """What the export did, in a user's words."""
    done = (
        f"{plural(r.sidecars_written, 'sidecar')} written ({r.sidecars_new:,} created, "
        f"{r.sidecars_changed:,} changed; {plural(r.faces_written, 'named face')}), "
        f"{r.sidecars_unchanged:,} already up to date"
    )
    if r.cancelled:
        lines = [f"Stopped: {done} before you cancelled. Write again to finish."]
    else:
        lines = [f"Done: {done}."]
    if r.failed:
        lines.append(f"{plural(len(r.failed), 'photo')} could not be written (listed below).")
    return lines


class WriteNamesDialog(QDialog):
    """Preview, then write, with progress and Cancel; the problems listed photo by photo."""

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Write names to photos")
        self.setMinimumWidth(640)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 16)
        layout.setSpacing(10)
        layout.addWidget(label("Write names to photos", "pageTitle"))
        self.intro = label(INTRO, "muted", wrap=True)
        self.intro.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.intro)
        row = QHBoxLayout()
        row.addWidget(label("Sidecar name:"))
        self.naming = QComboBox()
        for value, text in NAMINGS:
            self.naming.addItem(text, value)
        row.addWidget(self.naming, 1)
        layout.addLayout(row)
        self.preview = label("", "figure", wrap=True)
        layout.addWidget(self.preview)
        self.bar = QProgressBar()
        self.bar.setFixedHeight(10)
        self.bar.setTextVisible(False)
        layout.addWidget(self.bar)
        self.status = label("", "muted", wrap=True)
        layout.addWidget(self.status)
        self.problems_model: TableModel[tuple[str, str]] = TableModel(
            PROBLEM_COLUMNS, key=lambda p: p[0], parent=self
        )
        self.problems = file_table(self.problems_model, 340)
        self.problems.setMinimumHeight(110)
        layout.addWidget(self.problems, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.cancel_button = button("Cancel", tooltip="Stop after the current photo")
        self.close_button = button("Close")
        self.write_button = button("Write", primary=True)
        for b in (self.cancel_button, self.close_button, self.write_button):
            buttons.addWidget(b)
        layout.addLayout(buttons)

        self.plan: ExportResult | None = None
        self.outcome: ExportResult | None = None
        self.plan_task: Task | None = None
        self.write_task: Task | None = None
        self.naming.currentIndexChanged.connect(self.refresh_preview)
        self.write_button.clicked.connect(self.write)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        self.refresh_preview()

    @property
    def chosen_naming(self) -> Naming:
        return cast(Naming, self.naming.currentData())

    # -- preview ---------------------------------------------------------------------------------

    def refresh_preview(self) -> None:
        """Compute the preview again (off the GUI thread) for the chosen sidecar name."""
        if self.plan_task is not None:
            self.plan_task.cancel()
        self.plan = None
        self.preview.setText("Reading what would change…")
        self.status.setText("")
        self.bar.setRange(0, 0)
        self.bar.show()
        self.problems_model.set_rows([])
        self.problems.hide()
        self._set_buttons()
        self.plan_task = self._start(True, self._show_plan, None)

    def _show_plan(self, plan: ExportResult) -> None:
        if plan.cancelled:
            return
        self.plan = plan
        self.preview.setText("\n".join(preview_lines(plan)))
        self.bar.hide()
        self.problems_model.set_rows(plan.failed)
        self.problems.setVisible(bool(plan.failed))
        self._set_buttons()
        self._fit()

    # -- writing ---------------------------------------------------------------------------------

    def write(self) -> Task | None:
        """Write the sidecars as the preview said (a long job, with progress and Cancel)."""
        if self.plan is None or self.write_task is not None or not self.plan.sidecars_written:
            return None
        self.outcome = None
        self.status.setText(
            "Waiting for the running job to finish…" if self.ctx.runner.running_jobs() else ""
        )
        self.bar.setRange(0, max(1, self.plan.photos))
        self.bar.setValue(0)
        self.bar.show()
        self.write_task = self._start(False, self._written, self._stopped_before_start)
        self._set_buttons()
        return self.write_task

    def _written(self, result: ExportResult) -> None:
        self.outcome = result
        self.bar.hide()
        self.status.setText(" ".join(result_lines(result)))
        self.problems_model.set_rows(result.failed)
        self.problems.setVisible(bool(result.failed))
        self.ctx.say(result_lines(result)[0])
        self._fit()

    def _stopped_before_start(self) -> None:
        self.bar.hide()
        self.status.setText("Stopped before anything was written.")

    def cancel(self) -> None:
        if self.write_task is not None:
            self.write_task.cancel()
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Stopping…")

    # -- shared ----------------------------------------------------------------------------------

    def _start(
        self,
        dry_run: bool,
        on_done: Callable[[ExportResult], None],
        on_cancelled: Callable[[], None] | None,
    ) -> Task:
        """Run the export (or its preview) for the chosen sidecar name: the preview as a read
        (it writes nothing), the export as the window's long job (the Library page shows it)."""
        task = self.ctx.runner.run(
            export_job(self.ctx.library, self.chosen_naming, dry_run),
            title="Reading what writing names would change" if dry_run else WRITE_TITLE,
            on_progress=self._progress,
            on_done=on_done,
            on_error=self._failed,
            on_cancelled=on_cancelled,
            owner=self,
            lane="read" if dry_run else "job",
        )
        task.ended.connect(lambda: self._ended(task))
        return task

    def _progress(self, event: Progress) -> None:
        if event.total:
            self.bar.setRange(0, event.total)
            self.bar.setValue(min(event.done, event.total))
        if event.phase == "sidecars":
            written = int(event.counters.get("written", 0))
            self.status.setText(
                f"Writing: {event.done:,} of {event.total or 0:,} photos, "
                f"{plural(written, 'sidecar')} written"
            )

    def _failed(self, reason: str) -> None:
        self.bar.hide()
        self.status.setText(f"Could not finish: {reason}")

    def _ended(self, task: Task) -> None:
        if task is self.plan_task:
            self.plan_task = None
        if task is self.write_task:
            self.write_task = None
            self.cancel_button.setText("Cancel")
        self._set_buttons()

    def _fit(self) -> None:
        """Grow to show every line of the preview and the result (never shrink what the user
        made larger)."""
        layout = self.layout()
        if layout is not None:
            layout.activate()
        self.resize(self.width(), max(self.height(), self.sizeHint().height()))

    def _set_buttons(self) -> None:
        writing = self.write_task is not None
        ready = self.plan is not None and self.plan.sidecars_written > 0
        self.write_button.setEnabled(ready and not writing and self.outcome is None)
        self.write_button.setVisible(self.outcome is None)
        self.cancel_button.setVisible(writing)
        self.cancel_button.setEnabled(writing)
        self.close_button.setEnabled(not writing)
        self.naming.setEnabled(not writing and self.outcome is None)

    def reject(self) -> None:
        """Esc or the window's close box: never while writing (Cancel first); a preview still
        being read is dropped."""
        if self.write_task is not None:
            return
        if self.plan_task is not None:
            self.plan_task.cancel()
        super().reject()

    def closeEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        if self.write_task is not None:
            event.ignore()
            return
        if self.plan_task is not None:
            self.plan_task.cancel()
        super().closeEvent(event)
