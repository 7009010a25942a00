"""Every edit of people the pages offer, run in the task runner's edit lane (one at a time, in
order), then announced: the pages reload, the banner says what happened, Undo learns what it
would revert. Undo itself is the core's (``facenet_core.people.edits.undo``): the library keeps
the history, so an edit can be undone even after the app restarted."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from PySide6.QtCore import QObject, Signal

from app.context import AppContext
from app.tasks import Task
from facenet_core.people import drawn_edits, edits
from facenet_core.people.edits import Change
from facenet_core.people.history_trace import edit_history
from facenet_core.store import Library

Done = Callable[[Change], None] | None


class PeopleActions(QObject):
    """The edits, for every page. ``undo_text`` is what Undo would revert, ``redo_text`` what
    Redo would make again ("" for nothing)."""

    undo_changed = Signal(str)
    redo_changed = Signal(str)
    edited = Signal(object)  # the Change of each finished edit (undo included)

    def __init__(self, ctx: AppContext, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.undo_text = ""
        self.redo_text = ""
        ctx.changed.connect(self._maybe_history)

    # -- running ---------------------------------------------------------------------------------

    def run(self, title: str, edit: Callable[[], Change], on_done: Done = None) -> Task:
        def done(change: Change) -> None:
            if change.changed:
                self.ctx.say(change.summary[:1].upper() + change.summary[1:])
            self.edited.emit(change)
            self.ctx.notify("people", "faces", "photos", "history")
            if on_done is not None:
                on_done(change)

        return self.ctx.runner.edit(edit, done, title=title)

    def refresh_history(self) -> None:
        library = self.ctx.library

        def newest() -> tuple[str, str]:
            with library.session() as session:
                entries = edit_history(session, limit=1)
                return (entries[0].summary if entries else "", edits.redo_summary(session))

        self.ctx.runner.query(newest, self._history, key="undo-history", owner=self)

    def _history(self, summaries: tuple[str, str]) -> None:
        self.undo_text, self.redo_text = summaries
        self.undo_changed.emit(self.undo_text)
        self.redo_changed.emit(self.redo_text)

    def _maybe_history(self, topics: frozenset[str]) -> None:
        if "history" in topics:
            self.refresh_history()

    # -- the edits -------------------------------------------------------------------------------

    def name(self, person_id: int, name: str, on_done: Done = None) -> Task:
        library = self.ctx.library
        return self.run("Naming", lambda: edits.name_person(library, person_id, name), on_done)

    def merge(self, person_ids: Sequence[int], on_done: Done = None) -> Task:
        library, ids = self.ctx.library, list(person_ids)
        return self.run("Merging", lambda: edits.merge_people(library, ids), on_done)

    def move(self, face_ids: Iterable[int], to_person: int | None, on_done: Done = None) -> Task:
        """Move faces to a person, or to a new person (None)."""
        library, ids = self.ctx.library, list(face_ids)
        return self.run("Moving faces", lambda: edits.move_faces(library, ids, to_person), on_done)

    def move_to_chosen(self, face_ids: Iterable[int], person_id: int | None, name: str) -> Task:
        """Move faces to the person picked for them: an existing one (``person_id``), else a
        new person named ``name`` (the person picker's answer)."""
        if person_id is None:
            return self.move_to_new(face_ids, name)
        return self.move(face_ids, person_id)

    def move_to_new(self, face_ids: Iterable[int], name: str, on_done: Done = None) -> Task:
        """Move faces to a new person with this name (one undo step each)."""
        library, ids = self.ctx.library, list(face_ids)

        def work() -> Change:
            change = edits.move_faces(library, ids, None)
            if name and change.person_id is not None:
                return edits.name_person(library, change.person_id, name)
            return change

        return self.run("Moving faces", work, on_done)

    def not_this_person(
        self, face_ids: Iterable[int], person_id: int, on_done: Done = None
    ) -> Task:
        library, ids = self.ctx.library, list(face_ids)
        return self.run(
            "Not this person", lambda: edits.remove_faces(library, ids, person_id), on_done
        )

    def confirm_suggestions(
        self, person_id: int, face_ids: Iterable[int] | None = None, on_done: Done = None
    ) -> Task:
        return self._answer("Confirming", edits.confirm_suggestions, person_id, face_ids, on_done)

    def reject_suggestions(
        self, person_id: int, face_ids: Iterable[int] | None = None, on_done: Done = None
    ) -> Task:
        return self._answer("Rejecting", edits.reject_suggestions, person_id, face_ids, on_done)

    def _answer(
        self,
        title: str,
        answer: Callable[..., Change],
        person_id: int,
        face_ids: Iterable[int] | None,
        on_done: Done,
    ) -> Task:
        """Answer a person's suggestions (``face_ids``; None: all of them) with ``answer``."""
        library = self.ctx.library
        ids = None if face_ids is None else list(face_ids)
        return self.run(title, lambda: answer(library, ids, person_id=person_id), on_done)

    def ignore(self, face_ids: Iterable[int], ignored: bool = True, on_done: Done = None) -> Task:
        library, ids = self.ctx.library, list(face_ids)
        return self.run(
            "Ignoring faces" if ignored else "Restoring faces",
            lambda: edits.ignore_faces(library, ids, ignored),
            on_done,
        )

    def hide(self, person_id: int, hidden: bool = True, on_done: Done = None) -> Task:
        library = self.ctx.library
        return self.run(
            "Hiding" if hidden else "Showing",
            lambda: edits.hide_person(library, person_id, hidden),
            on_done,
        )

    def set_cover(self, person_id: int, face_id: int, on_done: Done = None) -> Task:
        library = self.ctx.library
        return self.run(
            "Choosing the cover", lambda: edits.set_cover(library, person_id, face_id), on_done
        )

    def draw_face(
        self,
        photo_id: int,
        box: tuple[float, float, float, float],
        person_id: int | None = None,
        name: str | None = None,
        on_done: Done = None,
    ) -> Task:
        """Add a face drawn by hand (aligned and embedded in the worker) and give it to
        ``person_id`` or to a new person ``name``: one edit, one undo step."""
        library, settings = self.ctx.library, self.ctx.settings

        def work() -> Change:
            from facenet_core.library.drawn import draw_face  # torch: loaded when first used

            return draw_face(library, photo_id, box, settings, person_id=person_id, name=name)

        return self.run("Adding the face", work, on_done)

    def delete_drawn_face(self, face_id: int, on_done: Done = None) -> Task:
        library = self.ctx.library
        return self.run(
            "Deleting the face", lambda: drawn_edits.delete_drawn_face(library, face_id), on_done
        )

    def undo(self, on_done: Done = None) -> Task | None:
        return self._step("Undo", self.undo_text, edits.undo, on_done)

    def redo(self, on_done: Done = None) -> Task | None:
        return self._step("Redo", self.redo_text, edits.redo, on_done)

    def _step(
        self, verb: str, what: str, step: Callable[[Library], Change], on_done: Done
    ) -> Task | None:
        """Undo or redo (``step``) the edit named ``what``; with none to take, say so instead."""
        if not what:
            self.ctx.say(f"Nothing to {verb.lower()}")
            return None
        library = self.ctx.library
        return self.run(verb, lambda: step(library), on_done)
