"""Each container and RDF spelling that carries face tags, and the formats without XMP."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from facenet_core.tags import read_face_tags
from facenet_core.tags.rdf import parse_xmp

NS = (
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    'xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/" '
    'xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#" '
    'xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#"'
)


def packet(regions_xml: str) -> str:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        f'<rdf:RDF {NS}><rdf:Description rdf:about="">{regions_xml}</rdf:Description></rdf:RDF>'
        '</x:xmpmeta><?xpacket end="w"?>'
    )


ELEMENT_FORM = packet(
    '<mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag>'
    '<rdf:li rdf:parseType="Resource"><mwg-rs:Name>Ann</mwg-rs:Name><mwg-rs:Type>Face</mwg-rs:Type>'
    '<mwg-rs:Area rdf:parseType="Resource"><stArea:x>0.25</stArea:x><stArea:y>0.5</stArea:y>'
    "<stArea:w>0.1</stArea:w><stArea:h>0.2</stArea:h></mwg-rs:Area></rdf:li>"
    "</rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>"
)
NESTED_DESCRIPTION_FORM = packet(
    "<mwg-rs:Regions><rdf:Description><mwg-rs:RegionList><rdf:Seq>"
    '<rdf:li><rdf:Description mwg-rs:Name="Ann" mwg-rs:Type="Face"><mwg-rs:Area>'
    '<rdf:Description stArea:x="0.25" stArea:y="0.5" stArea:w="0.1" stArea:h="0.2" '
    'stArea:unit="normalized"/></mwg-rs:Area></rdf:Description></rdf:li>'
    '<rdf:li rdf:parseType="Resource"><mwg-rs:Type>Pet</mwg-rs:Type><mwg-rs:Name>Rex</mwg-rs:Name>'
    '<mwg-rs:Area stArea:x="0.7" stArea:y="0.5" stArea:w="0.1" stArea:h="0.2"/></rdf:li>'
    "</rdf:Seq></mwg-rs:RegionList></rdf:Description></mwg-rs:Regions>"
)
EXPECTED = (40.0, 40.0, 60.0, 60.0)  # 200 x 100 image: centre (50, 50), 20 x 20 px


@pytest.mark.parametrize("xmp", [ELEMENT_FORM, NESTED_DESCRIPTION_FORM], ids=["element", "nested"])
def test_every_rdf_spelling_gives_the_same_face_and_skips_other_types(
    tmp_path: Path, xmp: str
) -> None:
    photo = tmp_path / "a.jpg"
    Image.new("RGB", (200, 100)).save(photo)
    photo.with_name("a.jpg.xmp").write_text(xmp, encoding="utf-8")
    tags = read_face_tags(photo, (200, 100))
    assert [(r.name, r.source) for r in tags.regions] == [("Ann", "mwg")]
    assert tags.regions[0].box == pytest.approx(EXPECTED)


def test_pixel_units_and_lightroom_rotation(tmp_path: Path) -> None:
    photo = tmp_path / "a.jpg"
    Image.new("RGB", (200, 100)).save(photo)
    xmp = packet(
        '<mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag>'
        '<rdf:li rdf:parseType="Resource"><mwg-rs:Name>Px</mwg-rs:Name>'
        "<mwg-rs:Type>Face</mwg-rs:Type>"
        '<mwg-rs:Area stArea:x="50" stArea:y="50" stArea:w="20" stArea:h="20" stArea:unit="pixel"/>'
        "</rdf:li>"
        '<rdf:li rdf:parseType="Resource"><mwg-rs:Name>Tilted</mwg-rs:Name>'
        "<mwg-rs:Type>Face</mwg-rs:Type>"
        f"<mwg-rs:Rotation>{math.pi / 2}</mwg-rs:Rotation>"
        '<mwg-rs:Area stArea:x="0.5" stArea:y="0.5" stArea:w="0.2" stArea:h="0.2"/></rdf:li>'
        "</rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>"
    )
    photo.with_name("a.xmp").write_text(xmp, encoding="utf-8")
    regions = read_face_tags(photo, (200, 100)).regions
    assert regions[0].box == pytest.approx(EXPECTED)
    # 40 x 20 px (0.2 of 200 by 0.2 of 100) turned a quarter turn: 20 x 40 px, same centre
    assert regions[1].name == "Tilted"
    assert regions[1].box == pytest.approx((90.0, 30.0, 110.0, 70.0), abs=1e-6)


def test_stale_applied_to_dimensions_are_flagged_but_read(tmp_path: Path) -> None:
    photo = tmp_path / "a.jpg"
    Image.new("RGB", (200, 100)).save(photo)
    xmp = ELEMENT_FORM.replace(
        "<mwg-rs:RegionList>",
        '<mwg-rs:AppliedToDimensions stDim:w="4000" stDim:h="2000" stDim:unit="pixel"/>'
        "<mwg-rs:RegionList>",
    )
    photo.with_name("a.jpg.xmp").write_text(xmp, encoding="utf-8")
    (region,) = read_face_tags(photo, (200, 100)).regions
    assert region.stale and region.box == pytest.approx(EXPECTED)


def _check_embedded(path: Path) -> None:
    tags = read_face_tags(path, (200, 100))
    assert tags.reason is None
    assert [r.name for r in tags.regions] == ["Ann"]
    assert tags.regions[0].box == pytest.approx(EXPECTED)
    assert tags.sources == ("embedded",)


@pytest.mark.parametrize("compressed", [False, True])
def test_png_itxt(tmp_path: Path, compressed: bool) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", ELEMENT_FORM, zip=compressed)
    path = tmp_path / "a.png"
    Image.new("RGB", (200, 100)).save(path, pnginfo=info)
    _check_embedded(path)


def test_webp_xmp_chunk(tmp_path: Path) -> None:
    path = tmp_path / "a.webp"
    Image.new("RGB", (200, 100)).save(path, xmp=ELEMENT_FORM.encode())
    _check_embedded(path)


def test_tiff_tag_700(tmp_path: Path) -> None:
    path = tmp_path / "a.tif"
    Image.new("RGB", (200, 100)).save(path, tiffinfo={700: ELEMENT_FORM.encode()})
    _check_embedded(path)


def test_heic_packet(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    path = tmp_path / "a.heic"
    try:
        pillow_heif.from_pillow(Image.new("RGB", (200, 100))).save(path, xmp=ELEMENT_FORM.encode())
    except Exception as exc:  # an install without a HEVC encoder
        pytest.skip(f"pillow-heif cannot encode HEIC here: {exc}")
    _check_embedded(path)


def test_jpeg_extended_xmp_is_reassembled_by_guid(tmp_path: Path) -> None:
    """Regions moved to ExtendedXMP (split in two chunks, out of order) are read."""
    guid = b"0123456789ABCDEF0123456789ABCDEF"
    std = packet(
        '<xmpNote:HasExtendedXMP xmlns:xmpNote="http://ns.adobe.com/xmp/note/">'
        f"{guid.decode()}</xmpNote:HasExtendedXMP>"
    ).encode()
    ext = ELEMENT_FORM.encode()
    half = len(ext) // 2

    def app1(body: bytes) -> bytes:
        return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body

    chunks = [
        app1(
            b"http://ns.adobe.com/xmp/extension/\x00"
            + guid
            + struct.pack(">II", len(ext), off)
            + part
        )
        for off, part in ((half, ext[half:]), (0, ext[:half]))
    ]
    path = tmp_path / "a.jpg"
    Image.new("RGB", (200, 100)).save(path)
    data = path.read_bytes()
    path.write_bytes(
        data[:2] + app1(b"http://ns.adobe.com/xap/1.0/\x00" + std) + b"".join(chunks) + data[2:]
    )
    _check_embedded(path)


def test_google_takeout_people(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_1.jpg"
    Image.new("RGB", (200, 100)).save(photo)
    meta = {"title": "IMG_1.jpg", "people": [{"name": "Ann Lee"}, {"name": " "}, {"x": 1}]}
    photo.with_name("IMG_1.jpg.supplemental-metadata.json").write_text(json.dumps(meta))
    tags = read_face_tags(photo, (200, 100))
    assert tags.names_without_box == ("Ann Lee",) and "takeout" in tags.sources


def test_picasa_ini_faces_with_contacts(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_1.jpg"
    Image.new("RGB", (200, 100)).save(photo)
    # left 0.2, top 0.4, right 0.3, bottom 0.8 of 65535
    rect = "".join(f"{round(v * 65535):04x}" for v in (0.2, 0.4, 0.3, 0.8))
    other = "".join(f"{round(v * 65535):04x}" for v in (0.6, 0.1, 0.7, 0.5))
    (tmp_path / ".picasa.ini").write_text(
        f"[IMG_1.jpg]\nfaces=rect64({rect}),a1b2;rect64({other}),ffffffffffffffff;rect64(zz),c3\n"
        "[Contacts2]\na1b2=Ann Lee;ann@example.com;\n"
    )
    (tmp_path / "contacts.xml").write_text('<contacts><contact id="c3" name="Bo Chen"/></contacts>')
    tags = read_face_tags(photo, (200, 100))
    assert [r.name for r in tags.regions] == ["Ann Lee", None]  # ffff... names nobody
    assert tags.regions[0].box == pytest.approx((40.0, 40.0, 60.0, 80.0), abs=0.01)
    assert tags.names_without_box == ("Bo Chen",) and tags.dropped == 1


def test_parse_keeps_other_namespaces_as_plain_values() -> None:
    props = parse_xmp(NESTED_DESCRIPTION_FORM.encode())
    regions = props["{http://www.metadataworkinggroup.com/schemas/regions/}Regions"]
    assert isinstance(regions, dict)
