"""Tags that ExifTool writes into copies of lfw-mini photos are all read: MWG in the element and
attribute forms, MP only, IPTC only, a sidecar only, ``IMG.xmp`` naming, and EXIF orientations
3, 6 and 8 checked against where Pillow shows a painted patch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from facenet_core.tags import read_face_tags
from tests.core.tags_helpers import exiftool, run_exiftool

STORED = (250, 180)
PATCH = (40, 30, 100, 110)  # stored-frame pixels, x2 and y2 exclusive


@pytest.fixture
def photo(lfw_mini: Path, tmp_path: Path) -> Path:
    """A non-square copy of an lfw-mini photo (so a width/height swap cannot pass unnoticed)
    with a pure red patch painted where the tagged face is."""
    exiftool()
    source = sorted((lfw_mini / "images").glob("*/*.jpg"))[0]
    image = Image.open(source).convert("RGB").crop((0, 35, 250, 215))
    pixels = np.asarray(image).copy()
    x1, y1, x2, y2 = PATCH
    pixels[y1:y2, x1:x2] = (255, 0, 0)
    path = tmp_path / "IMG_0001.jpg"
    Image.fromarray(pixels).save(path, quality=98)
    return path


def _norm_centre() -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = PATCH
    w, h = STORED
    return (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h


def _mwg_arg(name: str) -> str:
    x, y, w, h = _norm_centre()
    return (
        f"-XMP-mwg-rs:RegionInfo={{AppliedToDimensions={{W={STORED[0]},H={STORED[1]},Unit=pixel}},"
        f"RegionList=[{{Area={{X={x},Y={y},W={w},H={h},Unit=normalized}},Name={name},Type=Face}}]}}"
    )


def _mp_arg(name: str) -> str:
    x1, y1, x2, y2 = PATCH
    w, h = STORED
    rect = f"{x1 / w}|, {y1 / h}|, {(x2 - x1) / w}|, {(y2 - y1) / h}"
    return f"-XMP-MP:RegionInfoMP={{Regions=[{{Rectangle={rect},PersonDisplayName={name}}}]}}"


def _iptc_arg(name: str) -> str:
    x1, y1, x2, y2 = PATCH
    w, h = STORED
    return (
        "-XMP-iptcExt:ImageRegion=[{RegionBoundary={RbShape=rectangle,RbUnit=relative,"
        f"RbX={x1 / w},RbY={y1 / h},RbW={(x2 - x1) / w},RbH={(y2 - y1) / h}}},"
        f"PersonInImage=[{name}]}}]"
    )


def _displayed_patch(path: Path) -> tuple[tuple[int, int], tuple[float, float, float, float]]:
    """Where Pillow, applying the EXIF orientation itself, shows the red patch."""
    with Image.open(path) as img:
        shown = np.asarray(ImageOps.exif_transpose(img).convert("RGB")).astype(int)
    red = (shown[..., 0] > 200) & (shown[..., 1] < 60) & (shown[..., 2] < 60)
    ys, xs = np.nonzero(red)
    return (shown.shape[1], shown.shape[0]), (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def _read(path: Path):
    size, patch = _displayed_patch(path)
    with Image.open(path) as img:
        orientation = img.getexif().get(0x0112, 1)
    return read_face_tags(path, size, orientation), patch


@pytest.mark.parametrize(
    ("label", "args"),
    [
        ("mwg element form", [_mwg_arg("Ann Lee")]),
        ("mwg attribute form", ["-api", "XMPShorthand=1", _mwg_arg("Ann Lee")]),
        ("mp only", [_mp_arg("Ann Lee")]),
        ("iptc only", [_iptc_arg("Ann Lee")]),
    ],
)
def test_embedded_tags_written_by_exiftool_are_read(
    photo: Path, label: str, args: list[str]
) -> None:
    run_exiftool("-q", "-overwrite_original", *args, photo)
    tags, patch = _read(photo)
    assert tags.reason is None, label
    assert [r.name for r in tags.regions] == ["Ann Lee"], label
    assert tags.regions[0].box == pytest.approx(patch, abs=1.0), label


@pytest.mark.parametrize("naming", ["IMG_0001.jpg.xmp", "IMG_0001.xmp"])
def test_sidecar_only_tags_written_by_exiftool_are_read(photo: Path, naming: str) -> None:
    sidecar = photo.with_name(naming)
    run_exiftool("-q", "-o", sidecar, _mwg_arg("Bo Chen"), photo)
    assert sidecar.is_file()
    tags, patch = _read(photo)
    assert [r.name for r in tags.regions] == ["Bo Chen"]
    assert tags.regions[0].box == pytest.approx(patch, abs=1.0)
    assert naming in tags.sources


def test_the_sidecar_wins_over_the_embedded_regions(photo: Path) -> None:
    # (ExifTool copies the photo's own XMP into a sidecar it creates: make the sidecar first)
    run_exiftool("-q", "-o", photo.with_name(photo.name + ".xmp"), _mwg_arg("New Name"), photo)
    run_exiftool("-q", "-overwrite_original", _mwg_arg("Old Name"), photo)
    tags, _ = _read(photo)
    assert [r.name for r in tags.regions] == ["New Name"]


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_regions_of_a_rotated_photo_land_on_the_face_pillow_shows(
    photo: Path, orientation: int
) -> None:
    run_exiftool("-q", "-overwrite_original", "-n", f"-IFD0:Orientation={orientation}",
                 _mwg_arg("Ann Lee"), _mp_arg("Ann Lee"), photo)  # fmt: skip
    tags, patch = _read(photo)
    assert [r.name for r in tags.regions] == ["Ann Lee"]
    assert tags.regions[0].box == pytest.approx(patch, abs=1.0)
    assert tags.disagreements == 0  # MP and MWG rotated alike


def test_people_keywords_written_by_exiftool_are_names_without_box(photo: Path) -> None:
    run_exiftool("-q", "-overwrite_original", "-XMP-digiKam:TagsList=People/Cy Diaz",
                 "-XMP-lr:HierarchicalSubject=People|Family|Di Evans", "-XMP-dc:Subject=Paris",
                 "-XMP-iptcExt:PersonInImage=Ed Fox", photo)  # fmt: skip
    tags, _ = _read(photo)
    assert tags.regions == ()
    assert sorted(tags.names_without_box) == ["Cy Diaz", "Di Evans", "Ed Fox"]
