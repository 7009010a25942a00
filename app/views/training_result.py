"""The Training page's result panel: promoted or not and why, the figures before and after.

The decision is the core's (:mod:`facenet_core.training.decision`, a module without torch, so it
is imported here on the GUI thread): :func:`check_words` only puts each of its checks into plain
words, as the ``train`` command puts the same checks into its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from app.widgets import button, duration, label, plural
from facenet_core.training.decision import GUARD_MAX_DROP, Check

if TYPE_CHECKING:
    from facenet_core.training.finetune import FinetuneResult

FIGURES = (
    (
        "val",
        "Same person recognised (VAL)",
        "VAL at FAR = 1e-3: of pairs of faces set aside that show the same person, the share "
        "recognised as the same person while at most 1 in 1,000 pairs of different people is "
        "confused",
    ),
    (
        "nearest",
        "Right person nearest",
        "Nearest-person accuracy: of the faces set aside, the share whose most similar training "
        "face is the right person",
    ),
    (
        "guard",
        "Strangers told apart (guard)",
        "Accuracy on face pairs of people outside your library: it must not drop by more "
        f"than {100 * GUARD_MAX_DROP:g} points, or the model would be forgetting how to tell "
        "strangers apart",
    ),
)


def pct(value: float | None) -> str:
    """A fraction as a percentage with two decimals; a dash when unknown."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{100 * value:.2f}%"


def pct_short(value: float | None) -> str:
    """A fraction as a percentage with one decimal, without the sign (the list's columns)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{100 * value:.1f}"


def figure_pair(metrics: Mapping[str, Any] | None, key: str) -> tuple[float | None, float | None]:
    """(before, after) of one figure of a version's stored metrics."""
    if not metrics:
        return None, None
    if key == "guard":
        return metrics.get("guard_before"), metrics.get("guard_after")
    return (metrics.get("before") or {}).get(key), (metrics.get("after") or {}).get(key)


def card(title: str = "") -> tuple[QFrame, QVBoxLayout]:
    frame = QFrame()
    frame.setObjectName("card")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(18, 14, 18, 14)
    layout.setSpacing(8)
    if title:
        layout.addWidget(label(title, "sectionTitle"))
    return frame, layout


class ResultPanel(QWidget):
    """After a run: promoted or not and why, the figures before and after, what followed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.verdict = label("", "verdict", wrap=True)
        layout.addWidget(self.verdict)
        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(2)
        for col, text in enumerate(("On faces it did not train on", "Before", "After")):
            head = label(text, "muted")
            if col:
                head.setAlignment(Qt.AlignmentFlag.AlignRight)
            grid.addWidget(head, 0, col)
        self.figures: dict[str, tuple[QLabel, QLabel]] = {}
        for row, (key, title, tip) in enumerate(FIGURES, start=1):
            name = label(title)
            name.setToolTip(tip)
            before, after = label("—", "figure"), label("—", "figure")
            for w in (before, after):
                w.setAlignment(Qt.AlignmentFlag.AlignRight)
                w.setToolTip(tip)
            grid.addWidget(name, row, 0)
            grid.addWidget(before, row, 1)
            grid.addWidget(after, row, 2)
            self.figures[key] = (before, after)
        grid.setColumnStretch(0, 1)
        layout.addLayout(grid)
        self.reasons = label("", "muted", wrap=True)
        layout.addWidget(self.reasons)
        self.followup = label("", "", wrap=True)
        layout.addWidget(self.followup)
        buttons = QHBoxLayout()
        self.restore_button = button(
            "Restore previous model",
            tooltip="Go back to the model used before this run: its embeddings are kept, so "
            "this is quick; names and confirmations are never touched",
        )
        buttons.addWidget(self.restore_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        layout.addStretch(1)

    def show_result(self, result: FinetuneResult) -> None:
        if result.promoted:
            self.verdict.setText("Better: the new model is now in use")
            self.verdict.setProperty("kind", "good")
        else:
            self.verdict.setText("Not better: the current model stays in use")
            self.verdict.setProperty("kind", "bad")
        self.verdict.style().unpolish(self.verdict)
        self.verdict.style().polish(self.verdict)
        checks = () if result.decision is None else result.decision.checks
        for check in checks:
            self.figures[check.name][0].setText(pct(check.before))
            self.figures[check.name][1].setText(pct(check.after))
        self.reasons.setText(why(checks))
        self.reasons.setToolTip("\n".join(check_detail(c) for c in checks))
        if result.promoted:
            follow = "Every face was re-embedded with it and people regrouped"
            if result.reembed is not None and result.reembed.remaining:
                follow = (
                    f"{plural(result.reembed.remaining, 'face')} could not be re-embedded "
                    "(their photos are missing or unreadable)"
                )
            if result.cancelled:
                follow = "Stopped before every face was re-embedded and people regrouped"
            if result.reclustered != "done":
                follow += f"; regrouping: {result.reclustered}"
            self.followup.setText(follow + "; your names and confirmations are unchanged.")
        else:
            self.followup.setText(
                "It is kept in the list of models (“Use this model” tries it). Confirming more "
                "faces, above all ones the model gets wrong, gives training more to learn."
            )
        self.restore_button.setVisible(result.promoted)
        self.restore_button.setEnabled(True)


def check_words(check: Check) -> str:
    """One check of the promotion decision in plain words (a failed one says what went wrong)."""
    b, a = pct(check.before), pct(check.after)
    if check.name == "val":
        return {
            "improved": f"it recognises the same person better ({b} → {a})",
            "already_perfect": "it already recognised every pair of faces set aside (100%): "
            "there was nothing to improve",
            "unmeasured": "recognising the same person could not be measured (no person has "
            "two faces set aside)",
        }.get(check.outcome, f"it does not recognise the same person better ({b} → {a})")
    if check.name == "nearest":
        if check.outcome == "dropped":
            return f"it matches fewer faces to the right person ({b} → {a})"
        return f"faces matched to the right person: {b} → {a}"
    if check.outcome == "unchecked":
        return "telling strangers apart was not checked (no guard set)"
    if check.outcome == "dropped":
        return f"it got worse at telling strangers apart ({b} → {a}): it was starting to forget"
    return f"telling strangers apart still works ({b} → {a})"


def why(checks: tuple[Check, ...]) -> str:
    """The result panel's "Why:" line: every check in plain words, in the decision's order."""
    return "Why: " + "; ".join(check_words(c) for c in checks) + "."


def check_detail(check: Check) -> str:
    """A check's exact figures and verdict (the tooltip of the "Why:" line)."""
    limit = "" if check.limit is None else f", may drop by {100 * check.limit:g} points"
    verdict = "passed" if check.passed else "failed"
    return f"{check.name}: {pct(check.before)} → {pct(check.after)}{limit}: {verdict}"


def run_summary(result: FinetuneResult) -> str:
    """One line: how long, on what, checked on what."""
    c = result.counts
    steps = int(result.training.get("steps", 0))
    resumed = int(result.training.get("resumed_from", 0))
    text = (
        f"Finished in {duration(result.seconds)}: trained on "
        f"{plural(c.get('faces_train', 0), 'face')} of "
        f"{plural(c.get('people_trained', 0), 'person', 'people')} ({plural(steps, 'step')}"
    )
    text += f", resumed from step {resumed:,})" if resumed else ")"
    return text + f", checked on {plural(c.get('faces_held_out', 0), 'face')} set aside."
