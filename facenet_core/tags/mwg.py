"""Metadata Working Group regions (``mwg-rs:Regions``): digiKam, Lightroom, Picasa, Apple, ExifTool.

``stArea:x``/``y`` are the box *centre*, ``w``/``h`` its size, normalised to the stored image (a
missing ``unit`` means normalised). Lightroom may add ``mwg-rs:Rotation`` (radians) for a tilted
face: the box read is the tilted rectangle's axis-aligned bounding box. Only ``Type`` ``Face`` is
read: pets, barcodes and focus areas are not people.
"""

from __future__ import annotations

import math

from facenet_core.tags.model import RawRegion, checked_box, clean_name
from facenet_core.tags.rdf import Props, field, items, number, text

MWG_RS = "http://www.metadataworkinggroup.com/schemas/regions/"
ST_AREA = "http://ns.adobe.com/xmp/sType/Area#"
ST_DIM = "http://ns.adobe.com/xap/1.0/sType/Dimensions#"


def read_regions(props: Props, stored: tuple[int, int]) -> tuple[list[RawRegion], int]:
    """The face regions and the number of unusable ones dropped."""
    info = props.get(f"{{{MWG_RS}}}Regions")
    if info is None:
        return [], 0
    dims = field(info, MWG_RS, "AppliedToDimensions")
    dim_w, dim_h = number(field(dims, ST_DIM, "w")), number(field(dims, ST_DIM, "h"))
    stale = bool(dim_w and dim_h) and (round(dim_w or 0), round(dim_h or 0)) != stored
    regions: list[RawRegion] = []
    dropped = 0
    for region in items(field(info, MWG_RS, "RegionList")):
        kind = text(field(region, MWG_RS, "Type"))
        if (kind or "").strip().casefold() != "face":
            continue
        area = field(region, MWG_RS, "Area")
        x, y = number(field(area, ST_AREA, "x")), number(field(area, ST_AREA, "y"))
        w, h = number(field(area, ST_AREA, "w")), number(field(area, ST_AREA, "h"))
        if x is None or y is None or w is None or h is None:
            dropped += 1
            continue
        unit = (text(field(area, ST_AREA, "unit")) or "normalized").strip().casefold()
        if unit == "pixel":
            ref_w, ref_h = (dim_w or stored[0]), (dim_h or stored[1])
            x, w, y, h = x / ref_w, w / ref_w, y / ref_h, h / ref_h
        rotation = number(field(region, MWG_RS, "Rotation"))
        if rotation is None:
            rotation = number(field(area, MWG_RS, "Rotation"))
        if rotation and w > 0 and h > 0:
            # the tilted rectangle's bounding box, computed in pixels (normalised units are not
            # square on a non-square image)
            pw, ph = w * stored[0], h * stored[1]
            c, s = abs(math.cos(rotation)), abs(math.sin(rotation))
            w, h = (pw * c + ph * s) / stored[0], (pw * s + ph * c) / stored[1]
        box = checked_box((x - w / 2, y - h / 2, x + w / 2, y + h / 2))
        if box is None:
            dropped += 1
            continue
        name = clean_name(text(field(region, MWG_RS, "Name")))
        regions.append(RawRegion(box, name, "mwg", stale))
    return regions, dropped
