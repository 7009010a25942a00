"""Value types of face tags read from photo metadata, shared by every format module.

Boxes come in two frames, and mixing them up is the classic bug of this subsystem:

- :class:`RawRegion` holds what a format stores: a box normalised to ``[0, 1]`` in the *stored*
  image's frame (the pixels as they lie in the file, before the EXIF orientation is applied), the
  frame MWG, Microsoft Photo and IPTC regions are defined in.
- :class:`TagRegion` holds the same box in pixels of the *displayed* image (orientation applied),
  the frame detections and the rest of the project use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from facenet_core.types import Box

Source = Literal["mwg", "iptc", "mp", "picasa"]
"""Where a region came from, in the order a conflict is decided (MWG wins)."""

PRIORITY: dict[str, int] = {"mwg": 0, "iptc": 1, "mp": 2, "picasa": 3}


@dataclass(frozen=True, slots=True)
class RawRegion:
    """One face region as a format stores it: ``(x1, y1, x2, y2)`` normalised, stored frame.

    ``stale`` is set when the region carried ``AppliedToDimensions`` that do not match the image
    (the region may predate a crop or resize); it is read anyway, because the dimensions are not
    reliable in the wild.
    """

    box: tuple[float, float, float, float]
    name: str | None
    source: Source
    stale: bool = False


@dataclass
class RegionsFound:
    """What a format's reader collects: the regions with a usable box, the names of regions
    without one (a name alone may still go to a photo's only face), and how many regions had a
    box that could not be used (``dropped``)."""

    regions: list[RawRegion] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    dropped: int = 0

    def add(
        self, box: tuple[float, float, float, float] | None, name: str | None, source: Source
    ) -> None:
        """A region read: kept with its box, or, its box unusable (None), counted as dropped
        with its name kept alone."""
        if box is None:
            self.dropped += 1
            self.add_name(name)
        else:
            self.regions.append(RawRegion(box, name, source))

    def add_name(self, name: str | None) -> None:
        """A region's name without a box (nothing when it has no name)."""
        if name:
            self.names.append(name)


@dataclass(frozen=True, slots=True)
class TagRegion:
    """A face region in the displayed image's pixel frame, with the name other software gave it."""

    box: Box
    name: str | None
    source: Source
    stale: bool = False


@dataclass(frozen=True, slots=True)
class PhotoTags:
    """Everything the metadata of one photo says about the people in it.

    ``names_without_box`` are people named on the photo (keywords, ``PersonInImage``, Takeout)
    that no region carries. ``disagreements`` counts regions of a weaker format that described a
    face already described by a stronger one but with another name or box. ``dropped`` counts
    regions refused as unusable (outside the image, empty, NaN). ``reason`` says why (some of)
    the metadata could not be read; what could be read is still returned.
    """

    regions: tuple[TagRegion, ...] = ()
    names_without_box: tuple[str, ...] = ()
    disagreements: int = 0
    dropped: int = 0
    reason: str | None = None
    sources: tuple[str, ...] = field(default=())

    @property
    def names(self) -> tuple[str, ...]:
        """Every distinct person name, region names first, in reading order."""
        seen: dict[str, str] = {}
        for name in [r.name for r in self.regions if r.name] + list(self.names_without_box):
            seen.setdefault(name_key(name), name)
        return tuple(seen.values())


def clean_name(value: object) -> str | None:
    """A person name as shown: whitespace collapsed, control characters removed; None if empty."""
    if not isinstance(value, str):
        return None
    text = "".join(ch if ch.isprintable() else " " for ch in value)
    text = " ".join(text.split())
    return text or None


def name_key(name: str) -> str:
    """The key two spellings of one name share (case and spacing ignored)."""
    return " ".join(name.casefold().split())


def checked_box(
    box: tuple[float | None, float | None, float | None, float | None],
) -> tuple[float, float, float, float] | None:
    """A normalised box clipped to the image, or None when it is unusable.

    Unusable: a missing or NaN coordinate, zero or negative size, or nothing left inside the
    image after clipping (a region written for another crop of the photo).
    """
    x1, y1, x2, y2 = box
    if x1 is None or y1 is None or x2 is None or y2 is None:
        return None
    if not all(v == v and abs(v) != float("inf") for v in (x1, y1, x2, y2)):
        return None
    if x2 <= x1 or y2 <= y1:
        return None
    cx1, cy1, cx2, cy2 = max(0.0, x1), max(0.0, y1), min(1.0, x2), min(1.0, y2)
    if cx2 - cx1 < 1e-4 or cy2 - cy1 < 1e-4:
        return None
    return cx1, cy1, cx2, cy2
