"""The guard set for fine-tuning: face pairs unrelated to the library, scored at the calibrated
threshold before and after training, so that a model which starts to forget how to tell strangers
apart is never promoted (see :mod:`facenet_core.training.decision`).

An LFW-style folder (``DIR/images/NAME/NAME_0001.jpg`` and ``pairs_fold1.txt`` or ``pairs.txt``):
``$FACENET_GUARD_DIR``, else the project's shared ``lfw-mini`` when running from a checkout. The
chips are detected once and cached per folder, pairs file and detector settings (in the user's
cache folder), so only the first run pays for the detection. Used by the command line (``train``)
and by the app's Training page alike.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np

from facenet_core import calibration
from facenet_core.errors import UserError
from facenet_core.evaluation.lfw import lfw_pair_chips
from facenet_core.paths import atomic_write_bytes, cache_dir
from facenet_core.progress import CancelToken, Reporter, ignore_progress
from facenet_core.settings import Settings
from facenet_core.types import GuardPairs
from facenet_core.vision.engines import Engines, shared_engines

GUARD_ENV = "FACENET_GUARD_DIR"
PAIRS_FILES = ("pairs_fold1.txt", "pairs.txt")


class GuardSetError(UserError, ValueError):
    """The guard folder or its pairs file is missing or unusable (the message says which)."""

    hint = (
        f"Point {GUARD_ENV} at an LFW-style folder (images/NAME/NAME_0001.jpg and "
        "pairs_fold1.txt), or train without a guard check."
    )


def default_guard_dir() -> Path | None:
    """``$FACENET_GUARD_DIR``, else the project's shared ``lfw-mini`` when this is a checkout
    (``<checkout>/../shared/datasets/lfw-mini``); None when neither exists."""
    candidates = []
    if os.environ.get(GUARD_ENV):
        candidates.append(Path(os.environ[GUARD_ENV]))
    if os.environ.get("FACENET_SHARED"):
        candidates.append(Path(os.environ["FACENET_SHARED"]) / "datasets" / "lfw-mini")
    candidates.append(Path(__file__).resolve().parents[3] / "shared" / "datasets" / "lfw-mini")
    return next((c for c in candidates if (c / "images").is_dir()), None)


def guard_pairs_file(folder: Path, pairs: Path | None = None) -> Path:
    """``pairs`` when given, else the folder's ``pairs_fold1.txt`` or ``pairs.txt``."""
    if pairs is not None:
        if not pairs.is_file():
            raise GuardSetError(f"{pairs}: no such pairs file")
        return pairs
    for name in PAIRS_FILES:
        if (folder / name).is_file():
            return folder / name
    raise GuardSetError(f"{folder}: no pairs_fold1.txt or pairs.txt")


def load_guard(
    folder: Path,
    settings: Settings,
    model_version: str,
    *,
    pairs: Path | None = None,
    engines: Engines | None = None,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> GuardPairs:
    """The guard set of ``folder`` (chips from the cache, or detected and cached now), scored at
    ``model_version``'s calibrated threshold for the settings' alignment and flip. For the fused
    model the ArcFace chips of the same faces come with them (and its own threshold)."""
    from facenet_core.models.registry import FUSED

    arcface = model_version.split("@", 1)[0] == FUSED
    folder = Path(folder)
    if not (folder / "images").is_dir():
        raise GuardSetError(f"{folder}: not an LFW-style folder (no images/NAME/...)")
    pairs_file = guard_pairs_file(folder, pairs)
    engines = engines or shared_engines()
    detector = engines.detector_config(settings)
    tag = json.dumps(
        [
            str(folder.resolve()),
            hashlib.sha256(pairs_file.read_bytes()).hexdigest(),
            dataclasses.asdict(detector),
            *(["arcface"] if arcface else []),
        ],
        default=str,
    )
    cached = cache_dir() / "guard" / f"{hashlib.sha256(tag.encode()).hexdigest()[:20]}.npz"
    if cached.is_file():
        data = np.load(cached)
        chips, left, right, same = data["chips"], data["left"], data["right"], data["same"]
        faces = data["arcface"] if arcface else None
    else:
        try:
            found = lfw_pair_chips(
                folder,
                pairs_file,
                settings,
                engines=engines,
                reporter=reporter,
                cancel=cancel,
                arcface=arcface,
            )
        except (FileNotFoundError, ValueError) as exc:
            raise GuardSetError(f"guard set: {exc}") from exc
        chips, left, right, same = found.chips, found.left, found.right, found.same
        faces = found.arcface
        buffer = io.BytesIO()
        if faces is None:
            np.savez(buffer, chips=chips, left=left, right=right, same=same)
        else:
            np.savez(buffer, chips=chips, left=left, right=right, same=same, arcface=faces)
        atomic_write_bytes(cached, buffer.getvalue())
    threshold, _ = calibration.thresholds(model_version, detector.alignment, settings.flip)
    name = f"{folder.name}/{pairs_file.name}"
    return GuardPairs(name, chips, left, right, same, threshold, faces)
