"""Calibrated verification thresholds on squared L2 distance of unit embeddings.

Each entry was measured with ``facenet-photos eval-lfw`` on the full LFW (deep-funnelled images,
official pairs) using folds 2-10 only, so that fold 1 (``lfw-mini``) is never scored with a
threshold fitted on its own pairs. ``accuracy``: the threshold of highest accuracy on those 5,400
pairs; ``far_1e3``: the largest threshold with a false accept rate <= 1e-3 on them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Calibration:
    accuracy: float
    far_1e3: float
    source: str


_SOURCE = (
    "facenet-photos eval-lfw on full LFW, HOG detector (1 upsampling), dlib 5-point chips, "
    "unit embeddings; thresholds fitted on folds 2-10 (2026-11-28)"
)

# keyed by (model name, flip test-time augmentation)
CALIBRATIONS: dict[tuple[str, bool], Calibration] = {
    # 10-fold accuracy 98.97% +- 0.13, VAL@FAR=1e-3 96.73% with these settings
    ("dlib-resnet-v1", True): Calibration(accuracy=0.1751, far_1e3=0.1527, source=_SOURCE),
    # 10-fold accuracy 98.78% +- 0.17, VAL@FAR=1e-3 95.70%
    ("dlib-resnet-v1", False): Calibration(accuracy=0.1855, far_1e3=0.1570, source=_SOURCE),
}


def thresholds(model_version: str, flip: bool) -> tuple[float, float]:
    """(accuracy threshold, FAR=1e-3 threshold) for a model version such as ``name@sha``."""
    name = model_version.split("@", 1)[0]
    try:
        cal = CALIBRATIONS[(name, flip)]
    except KeyError:
        raise KeyError(
            f"no calibrated threshold for model {name!r} (flip={flip}); "
            "calibrate it with eval-lfw on the full LFW"
        ) from None
    return cal.accuracy, cal.far_1e3
