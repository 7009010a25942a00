"""The promotion decision: is a fine-tuned model better than the one it was trained from?

Pure: it compares figures measured elsewhere (:mod:`.finetune`) and imports nothing heavy, so the
app can import it on its GUI thread.
"""

from __future__ import annotations

import math

GUARD_MAX_DROP = 0.005
"""The guard's accuracy may drop by at most 0.5 percentage points."""


def decide(
    before: dict[str, float],
    after: dict[str, float],
    guard_before: float | None,
    guard_after: float | None,
) -> tuple[bool, list[str]]:
    """Promote only if VAL at FAR = 1e-3 on the held-out faces went up, their nearest-person
    accuracy did not go down, and the guard dropped by at most 0.5 pp. Returns the decision and
    its reasons in words."""
    reasons = []
    ok = True
    vb, va = before["val"], after["val"]
    if math.isnan(vb) or math.isnan(va):
        ok = False
        reasons.append("VAL could not be measured (the held-out faces have no same-person pair)")
    elif va > vb:
        reasons.append(f"VAL at FAR=1e-3 on held-out faces rose {100 * vb:.2f}% -> {100 * va:.2f}%")
    elif vb >= 1.0:
        ok = False
        reasons.append(
            "VAL at FAR=1e-3 on the held-out faces was already 100%: nothing to improve "
            "(confirm more faces, or faces the model gets wrong)"
        )
    else:
        ok = False
        reasons.append(f"VAL at FAR=1e-3 did not improve ({100 * vb:.2f}% -> {100 * va:.2f}%)")
    nb, na = before["nearest"], after["nearest"]
    if na < nb:
        ok = False
        reasons.append(f"nearest-person accuracy dropped ({100 * nb:.2f}% -> {100 * na:.2f}%)")
    else:
        reasons.append(f"nearest-person accuracy {100 * nb:.2f}% -> {100 * na:.2f}%")
    if guard_before is None or guard_after is None:
        reasons.append("no guard set was checked")
    elif guard_after < guard_before - GUARD_MAX_DROP - 1e-12:
        ok = False
        reasons.append(
            f"the guard dropped by more than 0.5 pp ({100 * guard_before:.2f}% -> "
            f"{100 * guard_after:.2f}%): the network started to forget"
        )
    else:
        reasons.append(f"guard accuracy {100 * guard_before:.2f}% -> {100 * guard_after:.2f}%")
    return ok, reasons
