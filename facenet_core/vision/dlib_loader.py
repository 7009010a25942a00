"""dlib, loaded on first use.

dlib's HOG detector, 5-point predictor and chip extractor are only needed with ``--detector hog``
or ``--landmarks dlib5``; the default MTCNN pipeline never touches them. Loading dlib only when
one of them is built keeps about 10 MB out of every other process (the scan's peak memory is
measured against the version before the refactor, which loaded it lazily too).
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType


@cache
def dlib() -> ModuleType:
    """The ``dlib`` module (from the ``dlib-bin`` wheel)."""
    return importlib.import_module("dlib")
