"""Calibrated verification thresholds on squared L2 distance of unit embeddings.

Each entry was measured on the full LFW (deep-funnelled images, official pairs) with
``facenet-photos eval-lfw`` settings as keyed, using folds 2-10 only, so that fold 1
(``lfw-mini``) is never scored with a threshold fitted on its own pairs. ``accuracy``: the
threshold of highest accuracy on those 5,400 pairs; ``far_1e3``: the largest threshold with a
false accept rate <= 1e-3 on them. The chips' alignment shifts the distances a little, so the
key names it: ``hog`` (dlib 5 points), ``mtcnn`` (MTCNN's points onto the fitted template),
``mtcnn-dlib5`` (dlib's 5-point predictor in MTCNN's box), ``yunet-onet`` (O-Net's points in
YuNet's box onto MTCNN's template: the default) and ``yunet`` (YuNet's own points onto its
template): see ``DetectorConfig.alignment``. An entry is printed by ``tools/calibrate.py`` from
an ``eval-lfw --json`` run of the full LFW (fold 1's thresholds of the 10-fold protocol are the
ones fitted on folds 2-10) or from ``tools/compare_alignment.py``'s cached embeddings.

A leaf module (plain numbers), so the people logic can use the thresholds without torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Calibration:
    accuracy: float
    far_1e3: float
    note: str


# keyed by (model name, alignment, flip test-time augmentation); measured 2026-11-28 (the
# yunet entries 2026-11-29, with the embedder in bfloat16, the CPU default on the project's
# machines: bfloat16 moves squared distances by at most 6e-4)
CALIBRATIONS: dict[tuple[str, str, bool], Calibration] = {
    ("dlib-resnet-v1", "yunet-onet", True): Calibration(
        0.1690,
        0.1512,
        "10-fold accuracy 99.18% +- 0.12, VAL@FAR=1e-3 97.23% (eval-lfw, final code)",
    ),
    ("dlib-resnet-v1", "yunet-onet", False): Calibration(
        0.1812, 0.1625, "10-fold accuracy 98.92% +- 0.15, VAL@FAR=1e-3 96.90% (compare_alignment)"
    ),
    ("dlib-resnet-v1", "yunet", True): Calibration(
        0.1692, 0.1486, "10-fold accuracy 99.15% +- 0.08, VAL@FAR=1e-3 96.97% (compare_alignment)"
    ),
    ("dlib-resnet-v1", "mtcnn", True): Calibration(
        0.1763, 0.1511, "10-fold accuracy 99.22% +- 0.09, VAL@FAR=1e-3 96.63% (fast pyramid)"
    ),
    ("dlib-resnet-v1", "mtcnn", False): Calibration(
        0.1842, 0.1577, "10-fold accuracy 99.03% +- 0.11, VAL@FAR=1e-3 96.03% (exact pyramid)"
    ),
    ("dlib-resnet-v1", "mtcnn-dlib5", True): Calibration(
        0.1709, 0.1562, "10-fold accuracy 99.15% +- 0.11, VAL@FAR=1e-3 97.37%"
    ),
    ("dlib-resnet-v1", "hog", True): Calibration(
        0.1751, 0.1527, "10-fold accuracy 98.97% +- 0.13, VAL@FAR=1e-3 96.73%"
    ),
    ("dlib-resnet-v1", "hog", False): Calibration(
        0.1855, 0.1570, "10-fold accuracy 98.78% +- 0.17, VAL@FAR=1e-3 95.70%"
    ),
    # the fused model (fused-dlib-sface-v1: dlib's and SFace's unit vectors side by side,
    # re-normalised), measured 2026-12-07 from bench/fused_embedding.py's full-LFW embeddings
    # with tools/calibrate.py --embeddings ~/cache/fused-lfw/fused_w1.npy --alignment yunet-onet
    ("fused-dlib-sface-v1", "yunet-onet", True): Calibration(
        0.7743,
        0.7263,
        "10-fold accuracy 99.70% +- 0.07, VAL@FAR=1e-3 99.23% (bench/fused_embedding.py)",
    ),
}


@dataclass(frozen=True)
class DistanceScale:
    """How a model's squared distances relate to the fast model's, for the rules that were
    tuned on the fast model's scale.

    ``factor``: the model's calibrated accuracy threshold over the fast model's (both for the
    default alignment, mirror-averaged): a distance threshold set in the fast model's units
    (clustering strictness, its range) is multiplied by it. ``centre`` and ``width``: the
    recognition logistic of "same person" against squared distance, fitted on LFW pairs of that
    model (``bench/fused_embedding.py logistic``)."""

    factor: float
    centre: float
    width: float


SCALES: dict[str, DistanceScale] = {
    "dlib-resnet-v1": DistanceScale(1.0, 0.172, 0.0097),
    "fused-dlib-sface-v1": DistanceScale(0.7743 / 0.1690, 0.7514, 0.0298),
}


def distance_scale(model_version: str) -> DistanceScale:
    """The :class:`DistanceScale` of a model (``name`` or ``name@sha``). A name without an
    entry gets the fast model's (what every model got before the fused one had its own): the
    fine-tuned versions keep dlib's name, and their training holds distances on its scale."""
    name = model_version.split("@", 1)[0]
    return SCALES.get(name, SCALES["dlib-resnet-v1"])


def thresholds(model_version: str, alignment: str, flip: bool) -> tuple[float, float]:
    """(accuracy threshold, FAR=1e-3 threshold) for a model version such as ``name@sha``.

    Settings that were never calibrated fall back to the nearest calibrated alignment with the
    same flip setting (thresholds differ by about 0.005 between alignments): dlib's points in
    another detector's box fall back to ``mtcnn-dlib5``, everything to ``mtcnn``, then ``hog``.
    The fused model was calibrated for the default settings only; its other settings use that
    entry (an approximation rather than a refusal)."""
    name = model_version.split("@", 1)[0]
    nearest = ("mtcnn-dlib5",) if alignment.endswith("-dlib5") else ()
    for candidate in (alignment, *nearest, "mtcnn", "hog"):
        cal = CALIBRATIONS.get((name, candidate, flip))
        if cal is not None:
            return cal.accuracy, cal.far_1e3
    for (model, _, _), cal in CALIBRATIONS.items():
        if model == name:
            return cal.accuracy, cal.far_1e3
    raise KeyError(
        f"no calibrated threshold for model {name!r}; calibrate it with eval-lfw on the full LFW"
    )
