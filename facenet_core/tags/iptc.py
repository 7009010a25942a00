"""IPTC image regions (``Iptc4xmpExt:ImageRegion``, IPTC Photo Metadata 2019.1 and later).

A region is about a person when it names one (``PersonInImage`` inside the region) or its content
type is IPTC's ``human`` or a ``face``; other regions (products, logos) are left out of people.
Boundaries are a rectangle (``rbX``/``rbY`` the top-left corner), a circle (centre and ``rbRx``,
a relative radius being relative to the image width) or a polygon; circles and polygons are read
as their bounding boxes. Units are ``relative`` or ``pixel`` of the stored image.
"""

from __future__ import annotations

from facenet_core.tags.model import RawRegion, checked_box, clean_name
from facenet_core.tags.rdf import Props, field, items, number, text

IPTC_EXT = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
XMP_NS = "http://ns.adobe.com/xap/1.0/"
_PERSON_TYPES = ("imageregiontype/human", "imageregiontype/face", "/face")


def _is_person_type(region: object) -> bool:
    for ctype in items(field(region, IPTC_EXT, "rCtype")):  # type: ignore[arg-type]
        for ident in items(field(ctype, XMP_NS, "Identifier")):
            if (text(ident) or "").rstrip("/").casefold().endswith(_PERSON_TYPES):
                return True
    return False


def read_regions(props: Props, stored: tuple[int, int]) -> tuple[list[RawRegion], int]:
    """The person regions and the number of unusable ones dropped."""
    regions: list[RawRegion] = []
    dropped = 0
    width, height = stored
    for region in items(props.get(f"{{{IPTC_EXT}}}ImageRegion")):
        names = [clean_name(text(v)) for v in items(field(region, IPTC_EXT, "PersonInImage"))]
        names = [n for n in names if n]
        if not names and not _is_person_type(region):
            continue
        bound = field(region, IPTC_EXT, "RegionBoundary")
        shape = (text(field(bound, IPTC_EXT, "rbShape")) or "rectangle").strip().casefold()
        pixel = (text(field(bound, IPTC_EXT, "rbUnit")) or "relative").strip().casefold() == "pixel"
        sx, sy = (1.0 / width, 1.0 / height) if pixel else (1.0, 1.0)
        x, y = number(field(bound, IPTC_EXT, "rbX")), number(field(bound, IPTC_EXT, "rbY"))
        box: tuple[float | None, float | None, float | None, float | None] = (None,) * 4
        if shape == "rectangle" and x is not None and y is not None:
            w, h = number(field(bound, IPTC_EXT, "rbW")), number(field(bound, IPTC_EXT, "rbH"))
            if w is not None and h is not None:
                box = (x * sx, y * sy, (x + w) * sx, (y + h) * sy)
        elif shape == "circle" and x is not None and y is not None:
            r = number(field(bound, IPTC_EXT, "rbRx"))
            if r is not None:
                rx = r * sx
                ry = r / height if pixel else r * width / height
                box = (x * sx - rx, y * sy - ry, x * sx + rx, y * sy + ry)
        elif shape == "polygon":
            points = [
                (number(field(v, IPTC_EXT, "rbX")), number(field(v, IPTC_EXT, "rbY")))
                for v in items(field(bound, IPTC_EXT, "rbVertices"))
            ]
            xs = [p[0] * sx for p in points if p[0] is not None and p[1] is not None]
            ys = [p[1] * sy for p in points if p[0] is not None and p[1] is not None]
            if len(xs) >= 3:
                box = (min(xs), min(ys), max(xs), max(ys))
        checked = checked_box(box)
        if checked is None:
            dropped += 1
            continue
        regions.append(RawRegion(checked, names[0] if names else None, "iptc"))
    return regions, dropped
