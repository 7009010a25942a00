"""Bringing photos into the library: walk the folders (:mod:`.walk`), plan what changed
(:mod:`.plan`), find and store faces (:mod:`.ingest`); :func:`scan` runs the whole job.
:mod:`.roots` lists, adds and removes the library's folders.

``scan`` is loaded on first use: it needs torch and the detectors (seconds to import), which the
app's window and the light commands must not wait for (``facenet_core.library.roots`` is light).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from facenet_core.library.result import ScanResult

if TYPE_CHECKING:
    from facenet_core.library.scan import scan

__all__ = ["ScanResult", "scan"]


def __getattr__(name: str) -> Any:
    if name == "scan":
        from facenet_core.library.scan import scan as function

        # importing the submodule bound the name to the module; the package exports the function
        globals()["scan"] = function
        return function
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
