"""The Training page: fine-tuning the face model on the faces the user confirmed.

What the library has (confirmed faces by person, who is ready, what is still missing), the model
versions with their before/after figures and "Use this model", Start and Cancel (a cancelled run
keeps a checkpoint and resumes), a live plot of the loss, the share of active triplets and the
held-out figures, and at the end the figures before and after, the promotion decision with its
reasons, the re-embedding and regrouping that follow a promotion, and "Restore previous model".

Everything slow runs in the task runner (``app.jobs``): the torch-based core is imported there,
in the worker thread. The plot gets every training step through a
:class:`~app.jobs.TrainingFeed` and appends them to its curves once per progress delivery.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QProgressBar,
    QSpinBox,
    QStackedWidget,
    QWidget,
)

from app.context import AppContext
from app.jobs import (
    TrainingFeed,
    TrainingOptions,
    TrainingState,
    finetune_job,
    training_state,
    use_model_job,
)
from app.tasks import Task, TaskInfo
from app.views.base import View
from app.views.library_view import show_progress
from app.views.training_plot import LivePlot
from app.views.training_result import (
    ResultPanel,
    card,
    run_summary,
)
from app.views.training_rules import start_blockers
from app.views.training_versions import VERSION_ID, VersionList
from app.widgets import PageHeader, button, label, plural
from facenet_core.progress import CancelToken, Progress, Reporter

if TYPE_CHECKING:
    from facenet_core.training.finetune import FinetuneResult
    from facenet_core.training.versions import UseResult, VersionRow

T = TypeVar("T")

TRAINING_TITLE = "Fine-tuning the face model"
SWITCHING_TITLE = "Switching the face model"


class TrainingView(View):
    title = "Training"
    icon_name = "training"
    topics = frozenset({"people", "faces", "settings"})

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(ctx, parent)
        self.options = TrainingOptions()  # tests put a tiny config and a small guard here
        self.state: TrainingState | None = None
        self.task: Task | None = None
        self.switch_task: Task | None = None
        self.result: FinetuneResult | None = None
        self.feed = TrainingFeed()
        self.first_step: float | None = None
        self.last_step = 0.0
        self.stopped_at: float | None = None
        self._epochs_touched = False

        self.header = PageHeader(
            "Training", "Teach the face model your people, from the faces you confirmed"
        )
        self.page.addWidget(self.header)

        top = QHBoxLayout()
        top.setSpacing(14)
        faces_card, faces = card("Your confirmed faces")
        self.counts_text = label("Reading the library…", wrap=True)
        self.ready_text = label("", wrap=True)
        self.negatives_text = label("", "muted", wrap=True)
        self.shortfall_text = label("", "warning", wrap=True)
        for w in (self.counts_text, self.ready_text, self.negatives_text, self.shortfall_text):
            faces.addWidget(w)
        faces.addStretch(1)
        top.addWidget(faces_card, 4)

        models_card, models = card()
        title_row = QHBoxLayout()
        title_row.addWidget(label("Face models", "sectionTitle"))
        self.active_text = label("", "muted")
        title_row.addWidget(self.active_text, 1)
        title_row.addWidget(label("figures: before → after training", "muted"))
        models.addLayout(title_row)
        self.versions = VersionList()
        models.addWidget(self.versions)
        row = QHBoxLayout()
        self.use_button = button(
            "Use this model",
            tooltip="Make the selected model the one in use (faces are re-embedded if needed and "
            "people regrouped; names and confirmations are kept)",
        )
        row.addWidget(self.use_button)
        self.use_note = label("", "muted")
        row.addWidget(self.use_note, 1)
        models.addLayout(row)
        top.addWidget(models_card, 7)
        self.page.addLayout(top, 0)

        train_card, body = card()
        controls = QHBoxLayout()
        controls.setSpacing(10)
        controls.addWidget(label("Fine-tuning", "sectionTitle"))
        controls.addStretch(1)
        controls.addWidget(label("Passes over your faces (epochs)"))
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.epochs.setToolTip(
            "How many times training goes over every confirmed face (the default is in Settings)"
        )
        controls.addWidget(self.epochs)
        self.start_button = button("Start fine-tuning", primary=True)
        self.cancel_button = button(
            "Cancel", tooltip="Stop now; the progress is saved and Start resumes from it"
        )
        controls.addWidget(self.start_button)
        controls.addWidget(self.cancel_button)
        body.addLayout(controls)
        self.note = label("", "muted", wrap=True)
        body.addWidget(self.note)
        self.error_text = label("", "warning", wrap=True)
        self.error_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_text.hide()
        body.addWidget(self.error_text)
        self.progress = QProgressBar()
        self.progress.setFixedHeight(10)
        self.progress.setTextVisible(False)
        body.addWidget(self.progress)
        status = QHBoxLayout()
        self.phase_text = label("", "")
        self.figures_text = label("", "muted")
        self.figures_text.setAlignment(Qt.AlignmentFlag.AlignRight)
        status.addWidget(self.phase_text, 1)
        status.addWidget(self.figures_text)
        body.addLayout(status)

        lower = QHBoxLayout()
        lower.setSpacing(18)
        self.plot = LivePlot()
        lower.addWidget(self.plot, 5)
        self.side = QStackedWidget()
        self.side.setMinimumWidth(330)
        self.about = label(
            "<b>How it works.</b> A quarter of each person's confirmed faces are set aside; "
            "the model trains on the rest, then is tested on the faces set aside and on "
            "pairs of strangers. It is used only if it got better at your people without "
            "getting worse at strangers. Your current model is kept either way and can be "
            "restored at any time.<br><br>Cancel saves the progress: Start again resumes "
            "where it stopped (with the same number of passes).",
            "muted",
            wrap=True,
        )
        self.about.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.side.addWidget(self.about)
        self.result_panel = ResultPanel()
        self.side.addWidget(self.result_panel)
        lower.addWidget(self.side, 4)
        body.addLayout(lower, 1)
        self.page.addWidget(train_card, 1)

        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.use_button.clicked.connect(self._use_selected)
        self.result_panel.restore_button.clicked.connect(self.restore_previous)
        self.versions.itemSelectionChanged.connect(self._update_buttons)
        self.epochs.valueChanged.connect(self._epochs_changed)
        runner = ctx.runner
        runner.job_started.connect(lambda _info: self._update_buttons())
        runner.job_ended.connect(self._job_ended)
        self.progress.hide()
        self._update_buttons()

    # -- loading ---------------------------------------------------------------------------------

    def reload(self) -> None:
        super().reload()
        library, options = self.ctx.library, self.options
        self.ctx.runner.query(
            lambda: training_state(library, options),
            self._show,
            key="training-view",
            owner=self,
            title="Reading the training state",
        )

    def _show(self, state: TrainingState) -> None:
        self.state = state
        n_people = len(state.counts)
        if state.confirmed:
            self.counts_text.setText(
                f"{plural(state.confirmed, 'confirmed face')} of "
                f"{plural(n_people, 'person', 'people')}."
            )
        else:
            self.counts_text.setText(
                "No confirmed faces yet. A face counts as confirmed once you name its person "
                "or accept a suggestion on the People page."
            )
        ready = ", ".join(f"{n} ({state.counts[n]})" for n in state.ready)
        self.ready_text.setText(
            f"Ready for training (8 or more faces): {ready}" if state.ready else ""
        )
        self.ready_text.setVisible(bool(state.ready))
        others = ", ".join(f"{n} ({state.counts[n]})" for n in state.negatives)
        self.negatives_text.setText(
            f"Used only as “other people” (fewer than 8 faces): {others}" if others else ""
        )
        self.negatives_text.setVisible(bool(others))
        if state.shortfall:
            text = state.shortfall[0].upper() + state.shortfall[1:]
            self.shortfall_text.setText(f"Not enough yet. {text}.")
            self.shortfall_text.setObjectName("warning")
        else:
            self.shortfall_text.setText("Enough to fine-tune.")
            self.shortfall_text.setObjectName("good")
        self.shortfall_text.style().unpolish(self.shortfall_text)
        self.shortfall_text.style().polish(self.shortfall_text)
        self._show_versions(state.versions)
        if not self._epochs_touched:
            self.epochs.blockSignals(True)
            self.epochs.setValue(state.epochs)
            self.epochs.blockSignals(False)
        self._update_buttons()
        self.loaded()

    def _show_versions(self, versions: Iterable[VersionRow]) -> None:
        active = self.versions.show_versions(versions)
        if active is None:
            self.active_text.setText("No model yet: add a folder of photos first.")
        else:
            kind = "fine-tuned on your faces" if active.fine_tuned else "pretrained"
            self.active_text.setText(f"in use: #{active.id}, {kind}")
            self.active_text.setToolTip(active.version)

    # -- state of the buttons --------------------------------------------------------------------

    def _other_job(self) -> str | None:
        mine = {t.id for t in (self.task, self.switch_task) if t is not None}
        others = [t for t in self.ctx.runner.running_jobs() if t.id not in mine]
        return others[0].info.title if others else None

    def _update_buttons(self) -> None:
        state = self.state
        running = self.task is not None
        switching = self.switch_task is not None
        other = self._other_job()
        blockers = start_blockers(state, other_job=other, running=running, switching=switching)
        reason = "" if blockers is None else blockers[0]
        self.start_button.setEnabled(blockers is None)
        self.start_button.setToolTip(
            "Fine-tune the model in use on your confirmed faces"
            if blockers is None
            else " ".join(blockers)
        )
        self.cancel_button.setVisible(running)
        self.epochs.setEnabled(not running)
        resume = state is not None and state.checkpoint_saved is not None
        resuming = resume and not running
        self.start_button.setText("Resume fine-tuning" if resuming else "Start fine-tuning")
        if running:
            self.note.setText(
                "Training runs in the background: you can keep using the app. Cancel saves the "
                "progress; starting again resumes from it."
            )
        elif reason:
            self.note.setText(reason)
        elif resume and state is not None and state.checkpoint_saved is not None:
            saved = dt.datetime.fromtimestamp(state.checkpoint_saved).strftime("%d %b %H:%M")
            where = f" at step {int(self.stopped_at):,}" if self.stopped_at else ""
            self.note.setText(
                f"A stopped run was saved{where} ({saved}): Resume continues it where it "
                "stopped, with the same number of passes (a different number starts afresh)."
            )
        else:
            guard = "" if state is None else self._guard_note(state)
            self.note.setText(
                "Ready. Training takes a few minutes on a computer without a graphics card; "
                "cancelling saves the progress and starting again resumes." + guard
            )
        chosen = [item.data(0, VERSION_ID) for item in self.versions.selectedItems()]
        chosen_version = (
            next((v for v in state.versions if v.id == chosen[0]), None)
            if state is not None and chosen
            else None
        )
        usable = chosen_version is not None and not chosen_version.active
        self.use_button.setEnabled(usable and not running and not switching and other is None)
        if chosen_version is not None and chosen_version.active:
            self.use_note.setText("This model is in use")
        elif running or switching or other:
            self.use_note.setText("Wait for the running job")
        else:
            self.use_note.setText("" if usable else "Select a model to use it")
        self.result_panel.restore_button.setEnabled(not running and not switching)

    def _guard_note(self, state: TrainingState) -> str:
        if self.options.guard is not None or state.guard:
            return ""
        return (
            " No guard set of strangers was found (set FACENET_GUARD_DIR): the check that "
            "the model does not forget strangers is skipped."
        )

    def _epochs_changed(self, _value: int) -> None:
        self._epochs_touched = True
        self._update_buttons()

    # -- training --------------------------------------------------------------------------------

    def start(self) -> Task | None:
        """Start (or resume) fine-tuning with the epochs in the spin box."""
        if self.task is not None or not self.start_button.isEnabled():
            return None
        self.feed = TrainingFeed()
        self.first_step = None
        self.side.setCurrentWidget(self.about)
        self.task = self._start_job(
            finetune_job(self.ctx.library, self.epochs.value(), self.options, self.feed),
            TRAINING_TITLE,
            "Getting ready (loading the face model)…",
            self._trained,
            self._failed,
            self._cancelled,
        )
        self._update_buttons()
        return self.task

    def _start_job(
        self,
        job: Callable[[Reporter, CancelToken], T],
        title: str,
        phase: str,
        on_done: Callable[[T], None],
        on_error: Callable[[str], None],
        on_cancelled: Callable[[], None],
    ) -> Task:
        """Run one of this page's jobs (training, switching the model), its progress shown on
        the page, starting with ``phase`` over a busy bar."""
        self.error_text.hide()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.phase_text.setText(phase)
        self.figures_text.setText("")
        return self.ctx.runner.run(
            job,
            title=title,
            on_done=on_done,
            on_progress=self._progress,
            on_error=on_error,
            on_cancelled=on_cancelled,
            owner=self,
        )

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.cancel_button.setEnabled(False)
            self.cancel_button.setText("Stopping…")
            self.phase_text.setText("Stopping: saving the progress…")

    def _progress(self, event: Progress) -> None:
        self._take_points()
        show_progress(event, self.phase_text, self.figures_text, self.progress)

    def _take_points(self) -> None:
        points = self.feed.drain()
        if not points:
            return
        if self.first_step is None:
            self.first_step = points[0]["step"]
            if self.first_step <= 0:
                self.plot.clear()  # a fresh run
            else:  # resumed from the checkpoint at the step before this one
                self.plot.keep_until(self.first_step - 1)
                self.ctx.say(f"Fine-tuning resumed from step {int(self.first_step - 1):,}")
        self.last_step = points[-1]["step"]
        self.plot.add(points)

    @property
    def resumed_from(self) -> int:
        """The step the running (or last) run resumed from (0: it started afresh)."""
        return 0 if self.first_step is None else max(0, int(self.first_step) - 1)

    def _end_run(self) -> None:
        self._take_points()
        self.task = None
        self.cancel_button.setEnabled(True)
        self.cancel_button.setText("Cancel")
        self.progress.hide()

    def _trained(self, result: FinetuneResult) -> None:
        if result.decision is None:  # stopped on request before the decision
            self._cancelled()
            return
        self._end_run()
        self.stopped_at = None
        self.result = result
        self.result_panel.show_result(result)
        self.side.setCurrentWidget(self.result_panel)
        self.phase_text.setText(run_summary(result))
        self.figures_text.setText("")
        if result.promoted:
            self.ctx.notify("people", "faces", "photos")
            self.ctx.say("Fine-tuning finished: the new model is in use and people were regrouped")
        else:
            self.ctx.say("Fine-tuning finished: the new model was not better and is not used")
        self.reload()

    def _cancelled(self) -> None:
        self._end_run()
        self.stopped_at = self.last_step if self.first_step is not None else None
        self.phase_text.setText(
            "Stopped. The progress is saved: Resume continues from it."
            if self.stopped_at
            else "Stopped before training began."
        )
        self.figures_text.setText("")
        self.reload()

    def _failed(self, reason: str) -> None:
        self._end_run()
        self.phase_text.setText("")
        self.figures_text.setText("")
        self.error_text.setText(f"Fine-tuning failed: {reason}")
        self.error_text.show()
        self.ctx.runner.failed.emit("Fine-tuning", reason)
        self.reload()

    def _job_ended(self, info: TaskInfo) -> None:
        self._update_buttons()

    # -- switching models ------------------------------------------------------------------------

    def _use_selected(self) -> None:
        items = self.versions.selectedItems()
        if items:
            self.use_model(int(items[0].data(0, VERSION_ID)))

    def restore_previous(self) -> Task | None:
        """Make the active model's parent the model in use again."""
        return self.use_model(None)

    def use_model(self, version_id: int | None) -> Task | None:
        """Make a model version the one in use (None: the previous one), as a job."""
        if self.switch_task is not None or self.task is not None:
            return None
        self.switch_task = self._start_job(
            use_model_job(self.ctx.library, version_id),
            SWITCHING_TITLE,
            "Switching the model…",
            self._switched,
            self._switch_failed,
            self._switch_ended,
        )
        self._update_buttons()
        return self.switch_task

    def _switch_ended(self) -> None:
        self.switch_task = None
        self.progress.hide()
        self.phase_text.setText("")
        self.figures_text.setText("")
        self._update_buttons()
        # even a stopped switch may have changed the active model
        self.ctx.notify("people", "faces", "photos")
        self.reload()

    def _switched(self, result: UseResult) -> None:
        self._switch_ended()
        self.result_panel.restore_button.setVisible(False)
        if result.cancelled:  # the switch is made; embedding or regrouping stopped
            self.phase_text.setText(f"Now using {result.version}; stopped before it finished")
            self.ctx.say(f"Now using the model {result.version} (stopped: {result.reclustered})")
            return
        self.phase_text.setText(f"Now using {result.version}")
        self.ctx.say(f"Now using the model {result.version} (people regrouped)")

    def _switch_failed(self, reason: str) -> None:
        self._switch_ended()
        self.error_text.setText(f"Switching the model failed: {reason}")
        self.error_text.show()
        self.ctx.runner.failed.emit("Switching the model", reason)
