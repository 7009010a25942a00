"""Why fine-tuning cannot start now: a pure function of plain values, so it is tested without Qt.

The Training page asks it each time something it depends on changes (the library's state read,
a job starting or ending, a model switch) and shows the first reason on the Start button's
tooltip and below it. No Qt here, and nothing that loads torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.jobs import TrainingState

READING = "Reading the library…"
SHORTFALL = "Not enough confirmed faces yet (see above)."
NO_MODEL = "No model yet: add a folder of photos first."
SWITCHING = "Switching the model…"
RUNNING = "Fine-tuning is running."


def start_blockers(
    state: TrainingState | None,
    *,
    other_job: str | None,
    running: bool,
    switching: bool,
) -> tuple[str, ...] | None:
    """Every reason fine-tuning cannot start, most important first; None when it can.

    ``state``: what the library holds (None: not read yet; it carries the confirmed faces'
    shortfall, the model in use and another program's writing job); ``other_job``: the title
    of another job running in this app; ``running``: this page's own training runs;
    ``switching``: this page is switching the model in use. The epochs come from the settings
    (the page's spin box, range-checked by the registry), so no setting can block a start."""
    reasons: list[str] = []
    if state is None:
        reasons.append(READING)
    else:
        if state.shortfall:
            reasons.append(SHORTFALL)
        if state.active is None:
            reasons.append(NO_MODEL)
        if state.busy:
            reasons.append(f"The library is busy: {state.busy}. Start when it has finished.")
    if other_job:
        reasons.append(f"Wait for “{other_job}” to finish.")
    if switching:
        reasons.append(SWITCHING)
    if running:
        reasons.append(RUNNING)
    return tuple(reasons) or None
