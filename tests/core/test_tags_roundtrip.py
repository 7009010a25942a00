"""Round trip on lfw-mini photos: name the detected faces, write sidecars, and both ExifTool and a
fresh read (tags matched to freshly detected faces) give back every name on the same face,
including copies stored rotated with EXIF orientation 3, 6 and 8."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageOps

from facenet_core.imageio import open_photo
from facenet_core.tags import read_face_tags
from facenet_core.tags.match import match_regions
from facenet_core.tags.write import FaceTag, write_sidecar
from tests.core.tags_helpers import display_box, exiftool, iou, mwg_box, run_exiftool

# the stored pixels that EXIF orientation o turns back into the photo as shown
_STORE = {
    1: None,
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


def _library(lfw_mini: Path, folder: Path) -> list[tuple[Path, int, str]]:
    """Twelve lfw-mini photos of different people, three per orientation, stored rotated."""
    people = sorted(p for p in (lfw_mini / "images").iterdir() if p.is_dir())[::37][:12]
    out = []
    for i, person in enumerate(people):
        source = sorted(person.glob("*.jpg"))[0]
        orientation = (1, 3, 6, 8)[i % 4]
        # off-centre and not square, so that a rotation or a width/height swap applied wrongly
        # moves the face by tens of pixels
        shown = Image.open(source).convert("RGB").crop((40, 50, 250, 200))
        stored = shown if _STORE[orientation] is None else shown.transpose(_STORE[orientation])
        exif = Image.Exif()
        exif[0x0112] = orientation
        path = folder / f"{i:02d}_{source.name}"
        stored.save(path, exif=exif.tobytes(), quality=95)
        with Image.open(path) as img:  # the copy is shown as the original
            assert ImageOps.exif_transpose(img).size == shown.size
        out.append((path, orientation, person.name.replace("_", " ")))
    return out


def _main_face(detector, path: Path) -> tuple[tuple[int, int], tuple[float, ...]]:
    photo = open_photo(path)
    faces = detector.detect(photo.image)
    assert faces, path
    face = max(faces, key=lambda d: d.width * d.height)
    return (photo.width, photo.height), face.box


def test_named_faces_survive_a_sidecar_round_trip(lfw_mini: Path, tmp_path: Path, yunet) -> None:
    exiftool()
    library = _library(lfw_mini, tmp_path)
    written: dict[Path, tuple[str, tuple[float, ...], int, tuple[int, int]]] = {}
    for path, orientation, name in library:
        size, box = _main_face(yunet, path)
        result = write_sidecar(path, size, orientation, [FaceTag(name, box)])
        assert result.written, result.reason
        written[path] = (name, box, orientation, size)
    # ExifTool, in one call, reads every sidecar back: same name, IoU >= 0.99 after orientation
    sidecars = [p.with_name(p.name + ".xmp") for p in written]
    infos = json.loads(run_exiftool("-j", "-struct", "-n", "-XMP-mwg-rs:RegionInfo", *sidecars))
    for path, info in zip(written, infos, strict=True):
        name, box, orientation, size = written[path]
        (region,) = info["RegionInfo"]["RegionList"]
        stored_w, stored_h = (size[1], size[0]) if orientation in (6, 8) else size
        stored_box = mwg_box(region["Area"], stored_w, stored_h)
        assert region["Name"] == name
        assert iou(display_box(orientation, stored_box, stored_w, stored_h), box) >= 0.99, path.name
    # a fresh reading, matched to freshly detected faces, names the same faces
    agreed = 0
    for path, (name, box, orientation, size) in written.items():
        tags = read_face_tags(path, size, orientation)
        photo = open_photo(path)
        faces = [d.box for d in yunet.detect(photo.image)]
        matching = match_regions([r.box for r in tags.regions], faces)
        (match,) = matching.matches
        assert tags.regions[match.region].name == name
        assert iou(faces[match.face], box) >= 0.99
        agreed += 1
    assert agreed == len(library) == 12
