"""Every real file written by other programs is read with its exact names and boxes, within one
pixel of what ExifTool reports once the EXIF orientation is applied."""

from __future__ import annotations

import pytest

from facenet_core.tags import read_face_tags
from tests.core.tags_helpers import (
    displayed_size,
    exiftool_json,
    expected_regions,
    face_tags_dir,
)

FILES = [
    "portrait.jpg",
    "portrait-orientation-6.jpg",
    "iphone-unnamed-faces.jpg",
    "iptc-image-region.jpg",
]


@pytest.mark.parametrize("name", FILES)
def test_real_file_regions_match_exiftool_within_one_pixel(name: str) -> None:
    path = face_tags_dir() / name
    info = exiftool_json(path)
    expected = expected_regions(info)
    tags = read_face_tags(path, displayed_size(info), int(info.get("Orientation", 1) or 1))
    assert tags.reason is None
    assert expected, "ExifTool found no face region: the fixture changed"
    assert [r.name for r in tags.regions] == [n for n, _ in expected]
    for region, (_, box) in zip(tags.regions, expected, strict=True):
        assert region.box == pytest.approx(box, abs=1.0)


def test_the_rotated_portrait_shows_its_faces_where_the_upright_one_does() -> None:
    folder = face_tags_dir()
    upright = read_face_tags(folder / "portrait.jpg", (840, 700), 1)
    rotated = read_face_tags(folder / "portrait-orientation-6.jpg", (840, 700), 6)
    assert [r.name for r in rotated.regions] == ["Marie Curie", "Pierre Curie"]
    for a, b in zip(upright.regions, rotated.regions, strict=True):
        assert a.box == pytest.approx(b.box, abs=1.0)


def test_mwg_wins_over_the_unrotated_mp_rectangles_and_the_disagreement_is_counted() -> None:
    folder = face_tags_dir()
    agreeing = read_face_tags(folder / "portrait.jpg", (840, 700), 1)
    rotated = read_face_tags(folder / "portrait-orientation-6.jpg", (840, 700), 6)
    assert agreeing.disagreements == 0
    assert {r.source for r in agreeing.regions} == {"mwg"}
    # the MP rectangles were left unrotated: same names, boxes elsewhere
    assert rotated.disagreements == 2
    assert len(rotated.regions) == 2 and {r.source for r in rotated.regions} == {"mwg"}


def test_unnamed_iphone_faces_are_regions_without_names() -> None:
    tags = read_face_tags(face_tags_dir() / "iphone-unnamed-faces.jpg", (3264, 2448), 1)
    assert len(tags.regions) == 2
    assert all(r.name is None for r in tags.regions)
    assert tags.names == ()


def test_iptc_person_names_without_a_region_are_names_without_box() -> None:
    path = face_tags_dir() / "iptc-image-region.jpg"
    info = exiftool_json(path)
    tags = read_face_tags(path, displayed_size(info), 1)
    assert list(tags.names_without_box) == info["PersonInImage"]
    assert {r.source for r in tags.regions} == {"iptc"}
