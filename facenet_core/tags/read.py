"""One call that reads every face tag a photo carries: :func:`read_face_tags`.

Order and precedence: the embedded XMP is read first and the sidecar's properties replace it
property by property (a sidecar is where organisers record later edits); then MWG, IPTC,
Microsoft Photo and Picasa regions are pooled. Where two describe the same face (their boxes
overlap, or they carry the same name), the stronger format's region is kept (MWG over IPTC over
MP over Picasa) and a disagreement is counted when the other gave another name or a box that does
not overlap. This never raises on bad input: what cannot be read becomes ``PhotoTags.reason``.
"""

from __future__ import annotations

from pathlib import Path

from facenet_core.tags import iptc, keywords, mp, mwg, picasa, takeout
from facenet_core.tags.model import PRIORITY, PhotoTags, RawRegion, TagRegion, name_key
from facenet_core.tags.orient import stored_size, to_displayed
from facenet_core.tags.rdf import MAX_PACKET_BYTES, Props, XmpError, parse_xmp
from facenet_core.tags.xmp_extract import embedded_packets, find_sidecar
from facenet_core.types import box_iou

SAME_FACE_IOU = 0.3
"""Two regions with at least this IoU describe one face (tight and loose boxes of one face score
about 0.4 to 0.7; boxes of two neighbours rarely exceed 0.1)."""
AGREE_IOU = 0.5
"""Regions of one face below this IoU disagree about where it is."""


def _centre_inside(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    cx, cy = (a[0] + a[2]) / 2, (a[1] + a[3]) / 2
    return b[0] <= cx <= b[2] and b[1] <= cy <= b[3]


def _read_props(photo: Path, reasons: list[str], sources: list[str]) -> Props:
    props: Props = {}
    try:
        packets = embedded_packets(photo)
    except XmpError as exc:
        reasons.append(f"embedded XMP: {exc}")
        packets = exc.partial
    except OSError as exc:
        reasons.append(f"photo unreadable: {exc.strerror or exc}")
        packets = []
    for packet in packets:
        try:
            props.update(parse_xmp(packet))
        except XmpError as exc:
            reasons.append(f"embedded XMP: {exc}")
            continue
        if "embedded" not in sources:
            sources.append("embedded")
    sidecar = find_sidecar(photo)
    if sidecar is not None:
        try:
            if sidecar.stat().st_size > MAX_PACKET_BYTES:
                raise XmpError("sidecar too large")
            props.update(parse_xmp(sidecar.read_bytes()))
            sources.append(sidecar.name)
        except XmpError as exc:
            reasons.append(f"{sidecar.name}: {exc}")
        except OSError as exc:
            reasons.append(f"{sidecar.name}: {exc.strerror or exc}")
    return props


def resolve(regions: list[RawRegion]) -> tuple[list[RawRegion], int]:
    """The regions left once each face is described once, and the disagreements counted."""
    kept: list[RawRegion] = []
    disagreements = 0
    for region in sorted(regions, key=lambda r: PRIORITY[r.source]):
        best, best_score = None, 0.0
        for i, other in enumerate(kept):
            if other.source == region.source:
                continue
            overlap = box_iou(other.box, region.box)
            same_name = bool(
                other.name and region.name and name_key(other.name) == name_key(region.name)
            )
            if overlap >= SAME_FACE_IOU or _centre_inside(region.box, other.box) or same_name:
                score = overlap + (1.0 if same_name else 0.0)
                if best is None or score > best_score:
                    best, best_score = i, score
        if best is None:
            kept.append(region)
            continue
        other = kept[best]
        named_differently = bool(
            other.name and region.name and name_key(other.name) != name_key(region.name)
        )
        if named_differently or box_iou(other.box, region.box) < AGREE_IOU:
            disagreements += 1
        if other.name is None and region.name:
            kept[best] = RawRegion(other.box, region.name, other.source, other.stale)
    return kept, disagreements


def read_face_tags(
    photo: Path | str,
    image_size: tuple[int, int],
    orientation: int = 1,
    *,
    with_takeout: bool = True,
    with_picasa: bool = True,
) -> PhotoTags:
    """Every face region and person name the metadata of ``photo`` holds.

    ``image_size`` is the *displayed* ``(width, height)`` (EXIF orientation applied, as
    :func:`facenet_core.imageio.open_photo` reports it) and ``orientation`` the EXIF value; the
    regions come back in that displayed frame, in pixels.
    """
    photo = Path(photo)
    if not photo.is_file():
        return PhotoTags(reason="photo not found (a sidecar without its photo is not read)")
    if image_size[0] <= 0 or image_size[1] <= 0:
        return PhotoTags(reason="unknown image size")
    reasons: list[str] = []
    sources: list[str] = []
    props = _read_props(photo, reasons, sources)
    stored = stored_size(image_size, orientation)
    raw: list[RawRegion] = []
    names: list[str] = []
    dropped = 0
    found, lost = mwg.read_regions(props, stored)
    raw += found
    dropped += lost
    found, lost = iptc.read_regions(props, stored)
    raw += found
    dropped += lost
    found, mp_names, lost = mp.read_regions(props)
    raw += found
    names += mp_names
    dropped += lost
    names += keywords.read_names(props)
    if with_picasa:
        found, picasa_names, lost, why = picasa.read_regions(photo)
        raw += found
        names += picasa_names
        dropped += lost
        if found or picasa_names:
            sources.append("picasa")
        if why:
            reasons.append(why)
    if with_takeout:
        takeout_names, why = takeout.read_names(photo)
        names += takeout_names
        if takeout_names:
            sources.append("takeout")
        if why:
            reasons.append(why)
    kept, disagreements = resolve(raw)
    width, height = image_size
    regions = []
    for region in kept:
        x1, y1, x2, y2 = to_displayed(region.box, orientation)
        box = (x1 * width, y1 * height, x2 * width, y2 * height)
        regions.append(TagRegion(box, region.name, region.source, region.stale))
    with_box = {name_key(r.name) for r in regions if r.name}
    loose: dict[str, str] = {}
    for name in names:
        key = name_key(name)
        if key not in with_box:
            loose.setdefault(key, name)
    return PhotoTags(
        regions=tuple(regions),
        names_without_box=tuple(loose.values()),
        disagreements=disagreements,
        dropped=dropped,
        reason="; ".join(reasons) or None,
        sources=tuple(sources),
    )
