"""Bad metadata never stops a scan: each case gives a reason (or a sane reading), never raises."""

from __future__ import annotations

import shutil
import struct
import time
from pathlib import Path

import pytest
from PIL import Image

from facenet_core.tags import read_face_tags
from facenet_core.tags.rdf import MAX_PACKET_BYTES

HEAD = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about="" '
    'xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/" '
    'xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#">'
)
TAIL = "</rdf:Description></rdf:RDF></x:xmpmeta>"


def region(name: str, x: float | str, y: float | str, w: float | str, h: float | str) -> str:
    return (
        f'<rdf:li><rdf:Description mwg-rs:Name="{name}" mwg-rs:Type="Face">'
        f'<mwg-rs:Area stArea:x="{x}" stArea:y="{y}" stArea:w="{w}" stArea:h="{h}"/>'
        "</rdf:Description></rdf:li>"
    )


def sidecar_xmp(*regions: str) -> str:
    return (
        HEAD
        + '<mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag>'
        + "".join(regions)
        + "</rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>"
        + TAIL
    )


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "IMG.jpg"
    Image.new("RGB", (200, 100), (90, 90, 90)).save(path)
    return path


def write_sidecar_bytes(photo: Path, data: bytes) -> None:
    photo.with_name(photo.name + ".xmp").write_bytes(data)


def test_malformed_xml_gives_a_reason(photo: Path) -> None:
    write_sidecar_bytes(photo, sidecar_xmp(region("Ann", 0.5, 0.5, 0.2, 0.2)).encode()[:-30])
    tags = read_face_tags(photo, (200, 100))
    assert tags.regions == ()
    assert tags.reason is not None and "malformed" in tags.reason


def test_billion_laughs_is_refused_without_expanding(photo: Path) -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + "".join(
            f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">'
            for i in range(1, 10)
        )
        + "]>"
        + sidecar_xmp(region("&lol9;", 0.5, 0.5, 0.2, 0.2))
    )
    write_sidecar_bytes(photo, bomb.encode())
    started = time.perf_counter()
    tags = read_face_tags(photo, (200, 100))
    assert time.perf_counter() - started < 2.0
    assert tags.regions == ()
    assert tags.reason is not None and "unsafe" in tags.reason


def test_an_external_entity_is_never_resolved(photo: Path) -> None:
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        + sidecar_xmp(region("&e;", 0.5, 0.5, 0.2, 0.2))
    )
    write_sidecar_bytes(photo, xxe.encode())
    tags = read_face_tags(photo, (200, 100))
    assert tags.regions == () and not any("root" in n for n in tags.names)
    assert tags.reason is not None and "unsafe" in tags.reason


def test_a_sidecar_of_tens_of_megabytes_is_refused_quickly(photo: Path) -> None:
    padding = "<!--" + "x" * (24 * 2**20) + "-->"
    write_sidecar_bytes(photo, (sidecar_xmp(region("Ann", 0.5, 0.5, 0.2, 0.2)) + padding).encode())
    started = time.perf_counter()
    tags = read_face_tags(photo, (200, 100))
    assert time.perf_counter() - started < 2.0
    assert tags.reason is not None and "too large" in tags.reason


def test_extended_xmp_claiming_tens_of_megabytes_is_refused(photo: Path) -> None:
    """A JPEG ExtendedXMP chunk that announces a 40 MiB packet is not allocated; the standard
    packet beside it is still read."""
    data = photo.read_bytes()
    std = (
        b"http://ns.adobe.com/xap/1.0/\x00"
        + sidecar_xmp(region("Ann", 0.5, 0.5, 0.2, 0.2)).encode()
    )
    body = b"http://ns.adobe.com/xmp/extension/\x00" + b"A" * 32 + struct.pack(">II", 40 * 2**20, 0)
    body += b"<x:xmpmeta/>"
    segments = b"".join(b"\xff\xe1" + struct.pack(">H", len(b) + 2) + b for b in (std, body))
    photo.write_bytes(data[:2] + segments + data[2:])
    tags = read_face_tags(photo, (200, 100))
    assert tags.reason is not None and "too large" in tags.reason
    assert MAX_PACKET_BYTES < 40 * 2**20
    assert [r.name for r in tags.regions] == ["Ann"]


def test_regions_outside_empty_negative_or_nan_are_dropped_and_a_straddling_one_clipped(
    photo: Path,
) -> None:
    write_sidecar_bytes(
        photo,
        sidecar_xmp(
            region("Outside", 1.6, 0.5, 0.2, 0.2),
            region("Zero", 0.5, 0.5, 0.0, 0.2),
            region("Negative", 0.5, 0.5, 0.2, -0.2),
            region("NaN", "nan", 0.5, 0.2, 0.2),
            region("Text", "left", 0.5, 0.2, 0.2),
            region("Straddling", 0.95, 0.5, 0.2, 0.2),
        ).encode(),
    )
    tags = read_face_tags(photo, (200, 100))
    assert tags.dropped == 5
    assert [r.name for r in tags.regions] == ["Straddling"]
    assert tags.regions[0].box == pytest.approx((170.0, 40.0, 200.0, 60.0))


def test_duplicate_and_empty_names(photo: Path) -> None:
    write_sidecar_bytes(
        photo,
        sidecar_xmp(
            region("Ann Lee", 0.2, 0.5, 0.1, 0.2),
            region("ann  lee", 0.5, 0.5, 0.1, 0.2),
            region("", 0.7, 0.5, 0.1, 0.2),
            region("   ", 0.9, 0.5, 0.1, 0.2),
        ).encode(),
    )
    tags = read_face_tags(photo, (200, 100))
    assert [r.name for r in tags.regions] == ["Ann Lee", "ann lee", None, None]
    assert tags.names == ("Ann Lee",)  # one person, whatever the spelling


def test_non_utf8_text_is_read_in_its_code_page(photo: Path) -> None:
    write_sidecar_bytes(
        photo, sidecar_xmp(region("Jos\xe9 Mu\xf1oz", 0.5, 0.5, 0.2, 0.2)).encode("cp1252")
    )
    tags = read_face_tags(photo, (200, 100))
    assert [r.name for r in tags.regions] == ["José Muñoz"]


def test_control_characters_in_names_are_removed(photo: Path) -> None:
    write_sidecar_bytes(photo, sidecar_xmp(region("Ann&#9;Lee&#10;", 0.5, 0.5, 0.2, 0.2)).encode())
    assert [r.name for r in read_face_tags(photo, (200, 100)).regions] == ["Ann Lee"]


def test_a_sidecar_without_its_photo_is_not_read(photo: Path) -> None:
    write_sidecar_bytes(photo, sidecar_xmp(region("Ann", 0.5, 0.5, 0.2, 0.2)).encode())
    photo.unlink()
    tags = read_face_tags(photo, (200, 100))
    assert tags.regions == () and tags.reason is not None and "not found" in tags.reason


def test_a_truncated_or_garbage_photo_gives_a_reason_or_nothing(
    photo: Path, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8\xff\xe1\x00")
    assert read_face_tags(garbage, (200, 100)).regions == ()
    noise = tmp_path / "noise.heic"
    noise.write_bytes(b"ftypheic" + b"<x:xmpmeta" + b"\x00" * 100)
    tags = read_face_tags(noise, (200, 100))
    assert tags.regions == () and tags.reason is not None


def test_deep_nesting_gives_a_reason(photo: Path) -> None:
    deep = HEAD + '<mwg-rs:Regions rdf:parseType="Resource">' * 200 + "x"
    deep += "</mwg-rs:Regions>" * 200 + TAIL
    write_sidecar_bytes(photo, deep.encode())
    tags = read_face_tags(photo, (200, 100))
    assert tags.reason is not None and "deeply" in tags.reason


def test_an_unreadable_sidecar_keeps_the_embedded_tags(photo: Path, tmp_path: Path) -> None:
    """The photo's own regions still count when its sidecar is broken."""
    from tests.core.tags_helpers import face_tags_dir

    copy = tmp_path / "portrait.jpg"
    shutil.copy(face_tags_dir() / "portrait.jpg", copy)
    copy.with_name("portrait.jpg.xmp").write_bytes(b"<x:xmpmeta><oops")
    tags = read_face_tags(copy, (840, 700))
    assert [r.name for r in tags.regions] == ["Marie Curie", "Pierre Curie"]
    assert tags.reason is not None and "portrait.jpg.xmp" in tags.reason
