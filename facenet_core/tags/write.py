"""Write the people of a photo to its XMP sidecar, keeping everything else the sidecar holds.

What is written: MWG regions (``Type`` ``Face``, ``Name``, a centre-based normalised ``Area`` in
the *stored* frame, ``AppliedToDimensions`` of the stored image), Microsoft Photo regions
(``left, top, width, height``, same frame), ``Iptc4xmpExt:PersonInImage``, and the person as a
keyword in the forms organisers read: the plain name in ``dc:subject`` (as digiKam and Lightroom
write it), ``People/NAME`` in ``digiKam:TagsList`` and ``People|NAME`` in
``lr:hierarchicalSubject``.

What is kept: an existing sidecar is parsed (safely) and only those parts are replaced; every
other property and namespace (ratings, develop settings, other keywords, IPTC regions) survives.
The "People" entries of the keyword hierarchies, and plain ``dc:subject`` entries that name a
person the sidecar named before, are ours to replace; other keywords stay.

How: the new sidecar is written to a temporary file in the same folder, flushed and fsynced, the
previous sidecar is kept as ``<sidecar>.bak``, and the temporary file is renamed over the sidecar
(atomic on one file system). If another program changed the sidecar between our read and our
rename (modification time, size or content differ), it is read and merged again; after
:data:`RETRIES` such changes the photo is skipped with a reason. A photo whose folder cannot be
written gets one clear reason and nothing half written.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from xml.etree.ElementTree import Element, SubElement, indent
from xml.sax.saxutils import escape, quoteattr

from facenet_core.tags import keywords, mp, mwg
from facenet_core.tags.iptc import IPTC_EXT
from facenet_core.tags.keywords import DC, DIGIKAM, LIGHTROOM, MEDIAPRO, MS_PHOTO, PEOPLE
from facenet_core.tags.model import checked_box, clean_name, name_key
from facenet_core.tags.orient import stored_size, to_stored
from facenet_core.tags.rdf import RDF, XmpError, field, parse_root, parse_xmp, text, value_of
from facenet_core.types import Box

Naming = Literal["ext.xmp", "xmp"]
RETRIES = 3
XMP_META = "adobe:ns:meta/"
_R = "{" + RDF + "}"
_MWG, _AREA, _DIM = mwg.MWG_RS, mwg.ST_AREA, mwg.ST_DIM
_MP, _MPRI, _MPREG = mp.MP, mp.MPRI, mp.MPREG
PREFIXES = {
    XMP_META: "x",
    RDF: "rdf",
    _MWG: "mwg-rs",
    _AREA: "stArea",
    _DIM: "stDim",
    _MP: "MP",
    _MPRI: "MPRI",
    _MPREG: "MPReg",
    IPTC_EXT: "Iptc4xmpExt",
    DC: "dc",
    DIGIKAM: "digiKam",
    LIGHTROOM: "lr",
}
_REPLACED = {f"{{{_MWG}}}Regions", f"{{{_MP}}}RegionInfo", f"{{{IPTC_EXT}}}PersonInImage"}
# keyword arrays: (property, hierarchy separator or None for plain names, written by us)
_KEYWORDS = [
    (f"{{{DC}}}subject", None, True),
    (f"{{{DIGIKAM}}}TagsList", "/", True),
    (f"{{{LIGHTROOM}}}hierarchicalSubject", "|", True),
    (f"{{{MS_PHOTO}}}LastKeywordXMP", "/", False),
    (f"{{{MS_PHOTO.rstrip('/')}}}LastKeywordXMP", "/", False),
    (f"{{{MEDIAPRO}}}CatalogSets", "|", False),
]
_XMLNS = re.compile(rb"xmlns:([A-Za-z_][\w.-]*)\s*=\s*[\"']([^\"']*)[\"']")


@dataclass(frozen=True, slots=True)
class FaceTag:
    """A named face to write: the name and its box in the displayed image's pixel frame."""

    name: str
    box: Box


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What happened to one photo's sidecar. ``reason`` is set whenever nothing was written."""

    photo: Path
    sidecar: Path
    written: bool
    backup: Path | None = None
    reason: str | None = None
    merged_again: int = 0
    faces_written: int = 0
    faces_skipped: int = 0


@dataclass(frozen=True, slots=True)
class Plan:
    """A sidecar read and merged, ready to be committed if it has not changed since."""

    sidecar: Path
    old: bytes | None
    stamp: tuple[int, int] | None
    new: bytes
    faces_written: int
    faces_skipped: int


def sidecar_path(photo: Path, naming: Naming = "ext.xmp") -> Path:
    """``IMG.jpg.xmp`` (digiKam, Immich, ExifTool's ``%f.%e.xmp``) or ``IMG.xmp`` (Lightroom)."""
    return photo.with_name(photo.name + ".xmp" if naming == "ext.xmp" else photo.stem + ".xmp")


def backup_path(sidecar: Path) -> Path:
    return sidecar.with_name(sidecar.name + ".bak")


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _num(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".") if value else "0"


def _unique_names(names: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name_key(name), name)
    return list(seen.values())


def _resource(parent: Element, tag: str) -> Element:
    return SubElement(parent, tag, {f"{_R}parseType": "Resource"})


def _leaf(parent: Element, tag: str, value: str) -> None:
    SubElement(parent, tag).text = value


def _array(parent: Element, tag: str, kind: str, values: Sequence[str]) -> None:
    arr = SubElement(SubElement(parent, tag), _R + kind)
    for value in values:
        SubElement(arr, _R + "li").text = value


def _ours(
    faces: Sequence[FaceTag],
    names: list[str],
    image_size: tuple[int, int],
    orientation: int,
    other_regions: Sequence[Element] = (),
) -> tuple[Element, int, int]:
    """A new ``rdf:Description`` with our regions and names, and the faces written / skipped.

    ``other_regions`` are MWG regions of other types (pets, focus areas) from the old sidecar,
    kept as they were written."""
    desc = Element(_R + "Description", {f"{_R}about": ""})
    width, height = image_size
    stored = stored_size(image_size, orientation)
    boxes = []
    skipped = 0
    for face in faces:
        name = clean_name(face.name)
        x1, y1, x2, y2 = face.box
        box = checked_box((x1 / width, y1 / height, x2 / width, y2 / height))
        if name is None or box is None:
            skipped += 1
            continue
        boxes.append((name, to_stored(box, orientation)))
    if boxes or other_regions:
        regions = _resource(desc, f"{{{_MWG}}}Regions")
        dims = _resource(regions, f"{{{_MWG}}}AppliedToDimensions")
        _leaf(dims, f"{{{_DIM}}}w", str(stored[0]))
        _leaf(dims, f"{{{_DIM}}}h", str(stored[1]))
        _leaf(dims, f"{{{_DIM}}}unit", "pixel")
        bag = SubElement(SubElement(regions, f"{{{_MWG}}}RegionList"), _R + "Bag")
        for name, (a, b, c, d) in boxes:
            li = _resource(bag, _R + "li")
            _leaf(li, f"{{{_MWG}}}Type", "Face")
            _leaf(li, f"{{{_MWG}}}Name", name)
            area = _resource(li, f"{{{_MWG}}}Area")
            for key, value in (("x", (a + c) / 2), ("y", (b + d) / 2), ("w", c - a), ("h", d - b)):
                _leaf(area, f"{{{_AREA}}}{key}", _num(value))
            _leaf(area, f"{{{_AREA}}}unit", "normalized")
        bag.extend(other_regions)
    if boxes:
        info = _resource(desc, f"{{{_MP}}}RegionInfo")
        bag = SubElement(SubElement(info, f"{{{_MPRI}}}Regions"), _R + "Bag")
        for name, (a, b, c, d) in boxes:
            li = _resource(bag, _R + "li")
            _leaf(li, f"{{{_MPREG}}}PersonDisplayName", name)
            _leaf(li, f"{{{_MPREG}}}Rectangle", ", ".join(_num(v) for v in (a, b, c - a, d - b)))
    if names:
        _array(desc, f"{{{IPTC_EXT}}}PersonInImage", "Bag", names)
    return desc, len(boxes), skipped


def _old_people(data: bytes, stored: tuple[int, int]) -> set[str]:
    props = parse_xmp(data)
    regions, _ = mwg.read_regions(props, stored)
    mp_regions, mp_names, _ = mp.read_regions(props)
    names = [r.name for r in regions + mp_regions if r.name] + mp_names
    return {name_key(n) for n in names + keywords.read_names(props)}


def _is_people_keyword(value: str, separator: str | None, people: set[str]) -> bool:
    if separator is None:
        if name_key(value) in people:
            return True
        return any(keywords.person_from_keyword(value, sep) for sep in "/|")
    return keywords.person_from_keyword(value, separator) is not None


def merge(
    old: bytes | None,
    faces: Sequence[FaceTag],
    people_without_box: Sequence[str],
    image_size: tuple[int, int],
    orientation: int,
) -> tuple[bytes, int, int]:
    """The new sidecar's bytes: ``old`` with our parts replaced (or a fresh document)."""
    stored = stored_size(image_size, orientation)
    names = _unique_names(
        n
        for n in (clean_name(x) for x in [f.name for f in faces] + list(people_without_box))
        if n is not None
    )
    prefixes = dict(PREFIXES)
    if old is None:
        root = Element(f"{{{XMP_META}}}xmpmeta", {f"{{{XMP_META}}}xmptk": "FaceNet Photos"})
        rdf = SubElement(root, _R + "RDF")
        people: set[str] = set()
    else:
        root = parse_root(old)
        found = [root] if root.tag == _R + "RDF" else list(root.iter(_R + "RDF"))
        if not found:
            raise XmpError("no rdf:RDF in the existing sidecar")
        rdf = found[0]
        people = _old_people(old, stored) | {name_key(n) for n in names}
        for prefix, uri in _XMLNS.findall(old):
            uri_s, prefix_s = uri.decode("utf-8", "replace"), prefix.decode("utf-8", "replace")
            if uri_s not in prefixes and prefix_s not in prefixes.values():
                prefixes[uri_s] = prefix_s
    descriptions = [d for d in rdf if d.tag == _R + "Description"]
    other_regions: list[Element] = []
    home: tuple[Element, int] | None = None  # where our properties go: where the old ones were
    for desc in descriptions:
        for index, child in enumerate(list(desc)):
            if child.tag not in _REPLACED:
                continue
            if home is None:
                home = (desc, index)
            if child.tag == f"{{{_MWG}}}Regions":
                other_regions += _non_face_regions(child)
            desc.remove(child)
    ours, written, skipped = _ours(faces, names, image_size, orientation, other_regions)
    placed: set[str] = set()
    for desc in descriptions:
        for tag, separator, ours_too in _KEYWORDS:
            for prop in desc.findall(tag):
                arrays = [a for a in prop if a.tag in (_R + "Bag", _R + "Seq", _R + "Alt")]
                for arr in arrays:
                    for li in list(arr):
                        if _is_people_keyword(li.text or "", separator, people):
                            arr.remove(li)
                    if ours_too and tag not in placed:
                        for value in _keyword_values(tag, names):
                            SubElement(arr, _R + "li").text = value
                        placed.add(tag)
                if arrays and all(len(a) == 0 for a in arrays):
                    desc.remove(prop)
    for tag, _, ours_too in _KEYWORDS:
        values = _keyword_values(tag, names)
        if ours_too and tag not in placed and values:
            _array(ours, tag, "Seq" if tag.endswith("TagsList") else "Bag", values)
    if home is None and descriptions:
        home = (descriptions[0], len(descriptions[0]))
    if home is None:
        rdf.append(ours)
    else:
        desc, index = home
        for offset, child in enumerate(list(ours)):
            desc.insert(index + offset, child)
    for desc in descriptions:
        if len(desc) == 0 and not [k for k in desc.attrib if not k.startswith(_R)]:
            rdf.remove(desc)
    indent(root, space=" ")
    return _serialise(root, prefixes), written, skipped


def _non_face_regions(regions: Element) -> list[Element]:
    """The MWG regions of other types (pets, barcodes, focus) inside an old ``mwg-rs:Regions``."""
    kept = []
    for region_list in regions.iter(f"{{{_MWG}}}RegionList"):
        for li in (li for arr in region_list for li in arr if li.tag == _R + "li"):
            kind = text(field(value_of(li), _MWG, "Type"))
            if kind is not None and kind.strip().casefold() != "face":
                kept.append(li)
    return kept


def _keyword_values(tag: str, names: Sequence[str]) -> list[str]:
    if tag == f"{{{DC}}}subject":
        return list(names)
    if tag == f"{{{DIGIKAM}}}TagsList":
        return [f"{PEOPLE}/{n}" for n in names]
    return [f"{PEOPLE}|{n}" for n in names]


def _serialise(root: Element, prefixes: dict[str, str]) -> bytes:
    used: dict[str, str] = {}

    def qname(tag: str) -> str:
        if not tag.startswith("{"):
            return tag
        uri, local = tag[1:].split("}", 1)
        if uri == "http://www.w3.org/XML/1998/namespace":
            return "xml:" + local
        if uri not in used:
            prefix = prefixes.get(uri) or f"ns{len(used)}"
            while prefix in used.values():
                prefix += "_"
            used[uri] = prefix
        return f"{used[uri]}:{local}"

    def write(elem: Element, out: list[str]) -> None:
        attrs = "".join(f" {qname(k)}={quoteattr(v)}" for k, v in elem.attrib.items())
        out.append(f"<{qname(elem.tag)}{attrs}")
        if len(elem) == 0 and not elem.text:
            out.append("/>")
        else:
            out.append(">" + escape(elem.text or ""))
            for child in elem:
                write(child, out)
            out.append(f"</{qname(elem.tag)}>")
        out.append(escape(elem.tail or ""))

    body: list[str] = []
    write(root, body)
    declared = "".join(f" xmlns:{p}={quoteattr(u)}" for u, p in used.items())
    first = body[0]
    body[0] = first + declared
    text = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        + "".join(body)
        + '\n<?xpacket end="w"?>\n'
    )
    return text.encode("utf-8")


def prepare(
    photo: Path,
    image_size: tuple[int, int],
    orientation: int,
    faces: Sequence[FaceTag],
    people_without_box: Sequence[str] = (),
    naming: Naming = "ext.xmp",
) -> Plan:
    """Read the current sidecar (if any) and merge ours into it; raises ``XmpError``/``OSError``."""
    sidecar = sidecar_path(photo, naming)
    stamp = _stamp(sidecar)
    old = sidecar.read_bytes() if stamp is not None else None
    if old is not None:
        stamp = _stamp(sidecar)  # as of the bytes read
    new, written, skipped = merge(old, faces, people_without_box, image_size, orientation)
    return Plan(sidecar, old, stamp, new, written, skipped)


def _unchanged(plan: Plan) -> bool:
    if _stamp(plan.sidecar) != plan.stamp:
        return False
    if plan.old is None:
        return True
    try:
        current = plan.sidecar.read_bytes()
    except FileNotFoundError:
        return False
    return hashlib.sha256(current).digest() == hashlib.sha256(plan.old).digest()


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit(plan: Plan, photo: Path) -> WriteResult | None:
    """Write ``plan`` if the sidecar is as it was read; None when it changed (read it again)."""
    fd, tmp = tempfile.mkstemp(
        prefix=f".{plan.sidecar.name}.", suffix=".tmp", dir=plan.sidecar.parent
    )
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(plan.new)
            f.flush()
            os.fsync(f.fileno())
        if not _unchanged(plan):
            return None
        backup = None
        if plan.old is not None:
            backup = backup_path(plan.sidecar)
            _atomic_write(backup, plan.old)
        os.replace(tmp, plan.sidecar)
    finally:
        Path(tmp).unlink(missing_ok=True)
    _fsync_dir(plan.sidecar.parent)
    return WriteResult(
        photo,
        plan.sidecar,
        True,
        backup=backup,
        faces_written=plan.faces_written,
        faces_skipped=plan.faces_skipped,
    )


def write_sidecar(
    photo: Path | str,
    image_size: tuple[int, int],
    orientation: int,
    faces: Sequence[FaceTag | tuple[str, Box]],
    people_without_box: Sequence[str] = (),
    naming: Naming = "ext.xmp",
) -> WriteResult:
    """Write the people of ``photo`` to its sidecar; never raises for a file problem.

    ``image_size`` is the displayed ``(width, height)`` and ``faces`` carry boxes in that frame;
    they are stored in the stored frame, as the MWG guidelines require.
    """
    photo = Path(photo)
    tags = [f if isinstance(f, FaceTag) else FaceTag(f[0], f[1]) for f in faces]
    sidecar = sidecar_path(photo, naming)
    if image_size[0] <= 0 or image_size[1] <= 0:
        return WriteResult(photo, sidecar, False, reason="image size unknown")
    merged_again = 0
    for _ in range(RETRIES + 1):
        try:
            plan = prepare(photo, image_size, orientation, tags, people_without_box, naming)
        except XmpError as exc:
            return WriteResult(photo, sidecar, False, reason=f"{sidecar.name} left as it is: {exc}")
        except OSError as exc:
            return WriteResult(photo, sidecar, False, reason=_os_reason(sidecar, exc))
        if plan.old is not None and plan.old == plan.new:
            return WriteResult(photo, sidecar, False, reason="already up to date")
        try:
            result = commit(plan, photo)
        except OSError as exc:
            return WriteResult(photo, sidecar, False, reason=_os_reason(sidecar, exc))
        if result is not None:
            if merged_again:
                return WriteResult(
                    result.photo,
                    result.sidecar,
                    True,
                    result.backup,
                    None,
                    merged_again,
                    result.faces_written,
                    result.faces_skipped,
                )
            return result
        merged_again += 1
    return WriteResult(
        photo,
        sidecar,
        False,
        reason=f"{sidecar.name} kept changing while we wrote it (another program?): skipped",
        merged_again=merged_again,
    )


def _os_reason(sidecar: Path, exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return f"cannot write {sidecar.name} in {sidecar.parent}: permission denied"
    return f"cannot write {sidecar.name}: {exc.strerror or exc}"
