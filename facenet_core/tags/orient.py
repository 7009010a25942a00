"""EXIF orientation applied to normalised boxes, both ways (MWG guidelines 2.0, section 5.9).

Regions are stored relative to the image as it lies in the file; a viewer shows it turned by the
EXIF ``Orientation`` tag. A normalised point ``(u, v)`` of the stored image lands at the displayed
point given below; the displayed image of orientations 5 to 8 is the stored one with width and
height swapped.
"""

from __future__ import annotations

NormBox = tuple[float, float, float, float]


def _forward(orientation: int, u: float, v: float) -> tuple[float, float]:
    """Where the stored point ``(u, v)`` is shown: orientations 5 to 8 swap the axes, then 2, 3,
    6 and 7 mirror the horizontal one and 3, 4, 7 and 8 the vertical one (2: (1 - u, v), 6:
    (1 - v, u), 8: (v, 1 - u)...); 1 and unknown values leave the point where it is."""
    if not 2 <= orientation <= 8:
        return u, v
    x, y = (v, u) if orientation >= 5 else (u, v)
    if orientation in (2, 3, 6, 7):
        x = 1.0 - x
    if orientation in (3, 4, 7, 8):
        y = 1.0 - y
    return x, y


_INVERSE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


def _map(orientation: int, box: NormBox) -> NormBox:
    x1, y1 = _forward(orientation, box[0], box[1])
    x2, y2 = _forward(orientation, box[2], box[3])
    return min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)


def to_displayed(box: NormBox, orientation: int) -> NormBox:
    """A normalised stored-frame box as a normalised box of the displayed image."""
    return _map(orientation, box)


def to_stored(box: NormBox, orientation: int) -> NormBox:
    """A normalised displayed-frame box as a normalised box of the stored image."""
    return _map(_INVERSE.get(orientation, 1), box)


def stored_size(displayed: tuple[int, int], orientation: int) -> tuple[int, int]:
    """The stored image's ``(width, height)`` given the displayed one."""
    w, h = displayed
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)
