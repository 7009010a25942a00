"""Microsoft Photo regions (``MP:RegionInfo``): Windows Photo Gallery, Windows Live, Exiv2 tools.

``MPReg:Rectangle`` is ``"left, top, width, height"`` normalised (not a centre, unlike MWG), read
in the stored frame like MWG. A region without a rectangle still names someone on the photo.
"""

from __future__ import annotations

from facenet_core.tags.model import RawRegion, RegionsFound, checked_box, clean_name
from facenet_core.tags.rdf import Props, field, items, text

MP = "http://ns.microsoft.com/photo/1.2/"
MPRI = "http://ns.microsoft.com/photo/1.2/t/RegionInfo#"
MPREG = "http://ns.microsoft.com/photo/1.2/t/Region#"


def _floats(raw: str) -> list[float] | None:
    try:
        values = [float(part) for part in raw.replace(";", ",").split(",")]
    except ValueError:
        return None
    return values if len(values) == 4 else None


def read_regions(props: Props) -> tuple[list[RawRegion], list[str], int]:
    """The regions, the names of regions without a rectangle, and the unusable ones dropped."""
    info = props.get(f"{{{MP}}}RegionInfo")
    found = RegionsFound()
    for region in items(field(info, MPRI, "Regions")):
        name = clean_name(text(field(region, MPREG, "PersonDisplayName")))
        rect = text(field(region, MPREG, "Rectangle"))
        if not rect or not rect.strip():
            found.add_name(name)
            continue
        values = _floats(rect)
        box = None
        if values is not None:
            left, top, width, height = values
            box = checked_box((left, top, left + width, top + height))
        found.add(box, name, "mp")
    return found.regions, found.names, found.dropped
