"""The promotion decision: is a fine-tuned model better than the one it was trained from?

The rule, written once: promote only if VAL at FAR = 1e-3 on the held-out faces went up, their
nearest-person accuracy did not go down, and the guard (face pairs of strangers) dropped by at
most :data:`GUARD_MAX_DROP`. :func:`decide` returns *data*, one :class:`Check` per rule with the
figures it compared, so the front ends (the ``train`` command, the Training page) only put the
checks into words and can never disagree with the decision.

Pure: it compares figures measured elsewhere (:mod:`.finetune`) and imports nothing heavy, so the
app can import it on its GUI thread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

GUARD_MAX_DROP = 0.005
"""The guard's accuracy may drop by at most 0.5 percentage points."""

CheckName = Literal["val", "nearest", "guard"]
Outcome = Literal[
    "improved",  # val: rose
    "not_improved",  # val: same or lower
    "already_perfect",  # val: was 100% before, nothing to improve
    "unmeasured",  # val: no held-out same-person pair, so no figure
    "kept",  # nearest: not lower
    "dropped",  # nearest: lower; guard: lower by more than the limit
    "within",  # guard: lower by at most the limit (or higher)
    "unchecked",  # guard: no guard set was given
]


@dataclass(frozen=True, slots=True)
class Check:
    """One rule of the decision: ``name`` (``"val"``, ``"nearest"`` or ``"guard"``), whether it
    ``passed``, the figures it compared (fractions in [0, 1]; None when not measured), the
    ``limit`` it allowed (the guard's largest drop, as a fraction; None for the other checks)
    and the ``outcome`` in one word, which is what a front end words (see :data:`Outcome`)."""

    name: CheckName
    passed: bool
    before: float | None
    after: float | None
    outcome: Outcome
    limit: float | None = None

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> Check:
        """A check as :meth:`to_json_dict` wrote it (stored with a model version's metrics)."""
        return cls(
            name=data["name"],
            passed=bool(data["passed"]),
            before=data.get("before"),
            after=data.get("after"),
            outcome=data["outcome"],
            limit=data.get("limit"),
        )

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("before", "after"):  # JSON has no NaN
            value = data[key]
            if isinstance(value, float) and math.isnan(value):
                data[key] = None
        return data


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict and every check that led to it (always three: val, nearest, guard)."""

    promoted: bool
    checks: tuple[Check, ...]

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def check(self, name: CheckName) -> Check:
        return next(c for c in self.checks if c.name == name)

    def summary(self) -> str:
        """A terse record for the model version's notes (``promoted: val 0.9000 -> 0.9300 ok;
        ...``); people read the front ends' wording, not this."""

        def figure(value: float | None) -> str:
            return "n/a" if value is None or math.isnan(value) else f"{value:.4f}"

        parts = [
            f"{c.name} {figure(c.before)} -> {figure(c.after)} {c.outcome}" for c in self.checks
        ]
        return ("promoted: " if self.promoted else "not promoted: ") + "; ".join(parts)

    def to_json_dict(self) -> dict[str, Any]:
        return {"promoted": self.promoted, "checks": [c.to_json_dict() for c in self.checks]}

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> Decision | None:
        """The decision stored with a model version's metrics (None: none stored, as for the
        pretrained version and versions recorded before checks were stored)."""
        if "checks" not in data or data.get("promoted") is None:
            return None
        return cls(bool(data["promoted"]), tuple(Check.from_json_dict(c) for c in data["checks"]))


def _val(before: float, after: float) -> Check:
    if math.isnan(before) or math.isnan(after):
        return Check("val", False, before, after, "unmeasured")
    if after > before:
        return Check("val", True, before, after, "improved")
    if before >= 1.0:
        return Check("val", False, before, after, "already_perfect")
    return Check("val", False, before, after, "not_improved")


def _nearest(before: float, after: float) -> Check:
    if after < before:
        return Check("nearest", False, before, after, "dropped")
    return Check("nearest", True, before, after, "kept")


def _guard(before: float | None, after: float | None) -> Check:
    if before is None or after is None:
        return Check("guard", True, before, after, "unchecked", GUARD_MAX_DROP)
    if after < before - GUARD_MAX_DROP - 1e-12:
        return Check("guard", False, before, after, "dropped", GUARD_MAX_DROP)
    return Check("guard", True, before, after, "within", GUARD_MAX_DROP)


def decide(
    before: Mapping[str, float],
    after: Mapping[str, float],
    guard_before: float | None,
    guard_after: float | None,
) -> Decision:
    """Promote only if VAL at FAR = 1e-3 on the held-out faces went up, their nearest-person
    accuracy did not go down, and the guard dropped by at most 0.5 pp (no guard set: that check
    passes, and says it was not made). ``before``/``after``: the held-out figures (``val``,
    ``nearest``; a missing figure counts as not measured)."""
    checks = (
        _val(before.get("val", math.nan), after.get("val", math.nan)),
        _nearest(before.get("nearest", math.nan), after.get("nearest", math.nan)),
        _guard(guard_before, guard_after),
    )
    return Decision(all(c.passed for c in checks), checks)
