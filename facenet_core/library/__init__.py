"""Bringing photos into the library: walk the folders (:mod:`.walk`), plan what changed
(:mod:`.plan`), find and store faces (:mod:`.ingest`); :func:`scan` runs the whole job."""

from facenet_core.library.result import ScanResult
from facenet_core.library.scan import scan

__all__ = ["ScanResult", "scan"]
