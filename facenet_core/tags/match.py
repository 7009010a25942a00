"""Match face regions from tags to detected faces: a pure function on boxes.

Tag boxes follow their writer's convention (Apple's are tight, Picasa's loose, digiKam's include
hair), so IoU alone misses true pairs. A region and a face are candidates when their IoU reaches
:data:`MIN_IOU`, or when the centre of one lies inside the other and their areas are within a
factor :data:`MAX_AREA_RATIO`. Candidates are taken best first (IoU, then the distance between
centres relative to the face size), one region per face and one face per region. Regions left
over are reported: the caller makes a face of them (a face the detector missed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from facenet_core.types import Box, box_iou

MIN_IOU = 0.25
MAX_AREA_RATIO = 12.0


@dataclass(frozen=True, slots=True)
class RegionMatch:
    """Region ``region`` (an index into the regions) is the face ``face`` (an index)."""

    region: int
    face: int
    iou: float


@dataclass(frozen=True, slots=True)
class Matching:
    """The pairs found, and the regions no detected face took."""

    matches: tuple[RegionMatch, ...]
    unmatched_regions: tuple[int, ...]

    def face_of(self, region: int) -> int | None:
        for m in self.matches:
            if m.region == region:
                return m.face
        return None


def _area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _centre(b: Box) -> tuple[float, float]:
    return (b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0


def _inside(point: tuple[float, float], b: Box) -> bool:
    return b[0] <= point[0] <= b[2] and b[1] <= point[1] <= b[3]


def match_regions(regions: Sequence[Box], faces: Sequence[Box]) -> Matching:
    """Pair each region with at most one detected face (see the module docstring for the rule)."""
    candidates: list[tuple[float, float, int, int]] = []
    for r, region in enumerate(regions):
        ra = _area(region)
        if ra <= 0:
            continue
        for f, face in enumerate(faces):
            fa = _area(face)
            if fa <= 0:
                continue
            overlap = box_iou(region, face)
            ratio = max(ra, fa) / min(ra, fa)
            nested = _inside(_centre(region), face) or _inside(_centre(face), region)
            if overlap < MIN_IOU and not (nested and ratio <= MAX_AREA_RATIO):
                continue
            (rx, ry), (fx, fy) = _centre(region), _centre(face)
            distance = math.hypot(rx - fx, ry - fy) / math.sqrt(fa)
            candidates.append((-overlap, distance, r, f))
    candidates.sort()
    used_regions: set[int] = set()
    used_faces: set[int] = set()
    matches = []
    for neg_iou, _, r, f in candidates:
        if r in used_regions or f in used_faces:
            continue
        used_regions.add(r)
        used_faces.add(f)
        matches.append(RegionMatch(r, f, -neg_iou))
    matches.sort(key=lambda m: m.region)
    unmatched = tuple(r for r in range(len(regions)) if r not in used_regions)
    return Matching(tuple(matches), unmatched)
