"""Forgetting from the app: a person, single faces, or the whole library, gone for good.

Each flow reads what would go off the GUI thread, asks with a :class:`ConfirmBox` that says it
in the core's own words (the CLI shows the same: :mod:`facenet_core.library.forget`), Cancel
being the default, and only then forgets, in the runner's ``"job"`` lane: jobs run one at a
time, in order, so a scan or a training run that is going on finishes first (the box says so),
and the core then takes the library's writer lock (another process's scan is waited for too).
Forgetting is not an edit: Undo never brings it back, and the box says that as well.

The boxes are shown by :func:`ask`, the one place a test replaces to answer them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QMessageBox, QWidget

from app.context import AppContext
from facenet_core.library.forget import (
    ForgetPlan,
    ForgetReport,
    describe_faces,
    describe_library_removal,
    describe_plan,
    describe_report,
    forget_faces,
    forget_library,
    forget_person,
    plan_forget_person,
)
from facenet_core.paths import default_library_path
from facenet_core.progress import CancelToken, Reporter


class ConfirmBox(QMessageBox):
    """A warning that says what goes, with a destructive action button and Cancel, the default
    (Enter or Esc never forgets anything)."""

    def __init__(self, parent: QWidget | None, title: str, text: str, action: str) -> None:
        super().__init__(parent)
        self.setIcon(QMessageBox.Icon.Warning)
        self.setWindowTitle(title)
        head, _, rest = text.partition("\n")
        self.setText(f"<b>{title}</b>")
        self.setInformativeText("\n\n".join([head, *rest.splitlines()]) if rest else head)
        self.forget_button = self.addButton(action, QMessageBox.ButtonRole.DestructiveRole)
        self.forget_button.setProperty("destructive", True)
        style = self.forget_button.style()
        style.unpolish(self.forget_button)  # the box polished it when adding it: again, red
        style.polish(self.forget_button)
        self.cancel_button = self.addButton(QMessageBox.StandardButton.Cancel)
        self.setDefaultButton(self.cancel_button)
        self.setEscapeButton(self.cancel_button)

    @property
    def message(self) -> str:
        """Everything the box says, as plain text (for tests and screen readers alike)."""
        return f"{self.windowTitle()}\n{self.informativeText()}"

    def confirmed(self) -> bool:
        return self.clickedButton() is self.forget_button


def ask(box: ConfirmBox) -> bool:
    """Show ``box`` modally; True when the user chose the destructive action. The box is then
    deleted (later, by the event loop): it is asked once."""
    try:
        box.exec()
        return box.confirmed()
    finally:
        box.deleteLater()


def busy_note(ctx: AppContext) -> str:
    """A line for the box when a long job runs now: forgetting waits for it."""
    jobs = ctx.runner.running_jobs()
    if not jobs:
        return ""
    title = jobs[0].info.title
    return (
        f"\n\u201c{title}\u201d is running: forgetting starts when it has finished"
        " (or stop it on the Library page)."
    )


def sentence(text: str) -> str:
    """The core's lines as one banner line: each capitalised, joined into sentences."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return ". ".join(line[:1].upper() + line[1:] for line in lines)


def person_box(parent: QWidget | None, plan: ForgetPlan, note: str = "") -> ConfirmBox:
    who = plan.name or "this person"
    return ConfirmBox(parent, f"Forget {who}?", describe_plan(plan) + note, "Forget")


def faces_box(parent: QWidget | None, count: int, note: str = "") -> ConfirmBox:
    title = "Forget this face?" if count == 1 else f"Forget {count:,} faces?"
    return ConfirmBox(parent, title, describe_faces(count) + note, "Forget")


def next_start(library_path: Path) -> str:
    """What the next start does once this library is gone: the default library is created
    anew; another one (given with ``--library``) is missing, so the app asks."""
    default = default_library_path().expanduser().absolute()
    if library_path.expanduser().absolute() == default:
        return "next time it starts with a new, empty library"
    return "next time it asks which library to open or create"


def library_box(parent: QWidget | None, text: str, path: Path) -> ConfirmBox:
    return ConfirmBox(
        parent,
        "Remove this library?",
        text + f"\nThe app quits afterwards; {next_start(path)}.",
        "Remove Library",
    )


def _announce(ctx: AppContext, report: ForgetReport) -> None:
    ctx.say(sentence(describe_report(report)))
    ctx.notify("people", "faces", "photos", "history")


def forget_person_flow(
    parent: QWidget, ctx: AppContext, person_id: int, on_done: Callable[[], None] | None = None
) -> None:
    """Read the plan, ask, then forget the person (``on_done()`` after the banner said what
    went). The plan's read and the forgetting both run in the task runner."""
    library = ctx.library

    def confirm(plan: ForgetPlan) -> None:
        note = busy_note(ctx)
        if not ask(person_box(parent, plan, note)):
            return
        who = plan.name or "this person"
        if note:
            ctx.say(f"{who} will be forgotten when the running job has finished")

        def work(report: Reporter, cancel: CancelToken) -> ForgetReport:
            return forget_person(library, person_id)

        def done(result: ForgetReport) -> None:
            if on_done is not None:  # first: leave their page before the pages reload
                on_done()
            _announce(ctx, result)

        ctx.runner.run(work, title=f"Forgetting {who}", on_done=done)

    ctx.runner.query(
        lambda: plan_forget_person(library, person_id), confirm, key="forget-plan", owner=parent
    )


def forget_faces_flow(
    parent: QWidget,
    ctx: AppContext,
    face_ids: list[int],
    on_done: Callable[[], None] | None = None,
) -> None:
    """Ask, then forget single faces (their person, if any, stays with the others)."""
    if not face_ids:
        return
    library, ids = ctx.library, list(face_ids)
    if not ask(faces_box(parent, len(ids), busy_note(ctx))):
        return

    def work(report: Reporter, cancel: CancelToken) -> ForgetReport:
        return forget_faces(library, ids)

    def done(result: ForgetReport) -> None:
        _announce(ctx, result)
        if on_done is not None:
            on_done()

    ctx.runner.run(work, title="Forgetting faces", on_done=done)


def remove_library_flow(
    parent: QWidget,
    ctx: AppContext,
    close_library: Callable[[], bool],
    on_removed: Callable[[list[Path]], None],
    on_failed: Callable[[str], None],
) -> None:
    """Ask, then remove the open library with all it created. ``close_library()`` stops every
    task and closes the library (False: it could not, nothing is removed); the files then go
    in a worker, and ``on_removed(paths)`` or ``on_failed(reason)`` follows."""
    path = ctx.library.path

    def confirm(text: str) -> None:
        if not ask(library_box(parent, text, path)):
            return
        if not close_library():
            return
        ctx.runner.query(
            lambda: forget_library(path),
            on_removed,
            title="Removing the library",
            on_error=on_failed,
        )

    ctx.runner.query(lambda: describe_library_removal(path), confirm, key="forget-library")
