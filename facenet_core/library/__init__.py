"""Bringing photos into the library: walk the folders (:mod:`.walk`), plan what changed
(:mod:`.plan`), find and store faces (:mod:`.ingest`); :func:`scan` runs the whole job.
:mod:`.roots` lists, adds and removes the library's folders.

``scan`` is loaded on first use: it needs torch and the detectors (seconds to import, holding
Python's GIL), which the app's window and light commands must not wait for;
``facenet_core.library.roots`` stays light. As before, ``facenet_core.library.scan`` is the
function (importing the submodule of that name does not rebind it).
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from facenet_core.library.result import ScanResult

if TYPE_CHECKING:
    from facenet_core.library.scan import scan

__all__ = ["ScanResult", "scan"]


def __getattr__(name: str) -> Any:
    if name == "scan":
        from facenet_core.library.scan import scan as function

        globals()["scan"] = function
        return function
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Package(types.ModuleType):
    """Keeps the package's ``scan`` the function when the submodule ``scan`` is imported (the
    import system would bind the submodule to that name)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "scan" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
