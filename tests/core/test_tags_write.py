"""Sidecars we write are read back by ExifTool with the same names and boxes (IoU >= 0.99, EXIF
orientations included), keep everything else an existing sidecar held, keep a backup, survive a
concurrent edit, and fail cleanly in a folder that cannot be written."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from facenet_core.tags import read_face_tags
from facenet_core.tags import write as write_mod
from facenet_core.tags.write import FaceTag, backup_path, commit, prepare, write_sidecar
from tests.core.tags_helpers import (
    displayed_size,
    exiftool,
    exiftool_json,
    expected_regions,
    iou,
    run_exiftool,
)

FACES = [
    FaceTag("Ann Lee", (40.0, 30.0, 100.0, 110.0)),
    FaceTag("Bo Chen", (150.0, 20.0, 210.0, 95.0)),
]

OTHER_SIDECAR = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 5.5.0">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
    xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
    xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"
    xmp:Rating="4" crs:Exposure2012="+0.35">
   <dc:subject><rdf:Bag><rdf:li>Paris</rdf:li><rdf:li>Old Friend</rdf:li></rdf:Bag></dc:subject>
   <digiKam:TagsList><rdf:Seq>
     <rdf:li>Places/Paris</rdf:li><rdf:li>People/Old Friend</rdf:li>
   </rdf:Seq></digiKam:TagsList>
   <mwg-rs:Regions rdf:parseType="Resource"><mwg-rs:RegionList><rdf:Bag>
     <rdf:li rdf:parseType="Resource"><mwg-rs:Name>Old Friend</mwg-rs:Name>
      <mwg-rs:Type>Face</mwg-rs:Type><mwg-rs:Area stArea:x="0.5" stArea:y="0.5" stArea:w="0.1"
      stArea:h="0.1"/></rdf:li>
     <rdf:li rdf:parseType="Resource"><mwg-rs:Name>Rex</mwg-rs:Name>
      <mwg-rs:Type>Pet</mwg-rs:Type><mwg-rs:Area stArea:x="0.2" stArea:y="0.8" stArea:w="0.1"
      stArea:h="0.1"/></rdf:li>
   </rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""


def make_photo(folder: Path, orientation: int = 1) -> tuple[Path, tuple[int, int]]:
    """A 250 x 180 stored JPEG with EXIF orientation; returns it and its displayed size."""
    path = folder / "IMG_0001.jpg"
    img = Image.new("RGB", (250, 180), (120, 120, 120))
    exif = Image.Exif()
    exif[0x0112] = orientation
    img.save(path, exif=exif.tobytes())
    return path, ((180, 250) if orientation in (5, 6, 7, 8) else (250, 180))


def photo_with_other_sidecar(folder: Path) -> tuple[Path, tuple[int, int], Path]:
    """:func:`make_photo` with a sidecar another program wrote (:data:`OTHER_SIDECAR`: a
    rating, a place, other namespaces); returns the photo, its displayed size and the sidecar."""
    photo, size = make_photo(folder)
    sidecar = photo.with_name(photo.name + ".xmp")
    sidecar.write_text(OTHER_SIDECAR, encoding="utf-8")
    return photo, size, sidecar


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exiftool_reads_back_every_name_with_iou_over_099(tmp_path: Path, orientation: int) -> None:
    exiftool()
    photo, size = make_photo(tmp_path, orientation)
    faces = [
        FaceTag(f.name, f.box if size[0] > size[1] else (f.box[1], f.box[0], f.box[3], f.box[2]))
        for f in FACES
    ]
    result = write_sidecar(photo, size, orientation, faces, people_without_box=["Cy Diaz"])
    assert result.written and result.faces_written == 2, result.reason
    sidecar = photo.with_name(photo.name + ".xmp")
    # ExifTool reads the sidecar; the photo gives it the stored size and orientation
    info = exiftool_json(sidecar)
    image = exiftool_json(photo)
    info.update({k: image[k] for k in ("ImageWidth", "ImageHeight", "Orientation")})
    assert displayed_size(info) == size
    read_back = expected_regions(info)
    assert [n for n, _ in read_back] == ["Ann Lee", "Bo Chen"]
    for face, (_, box) in zip(faces, read_back, strict=True):
        assert iou(face.box, box) >= 0.99
    people = run_exiftool("-s3", "-XMP-iptcExt:PersonInImage", sidecar).strip()
    assert people == "Ann Lee, Bo Chen, Cy Diaz"
    # and our own reader agrees
    tags = read_face_tags(photo, size, orientation)
    assert [r.name for r in tags.regions] == ["Ann Lee", "Bo Chen"]
    assert tags.names_without_box == ("Cy Diaz",) and tags.disagreements == 0


def test_other_namespaces_survive_and_a_backup_is_kept(tmp_path: Path) -> None:
    photo, size, sidecar = photo_with_other_sidecar(tmp_path)
    result = write_sidecar(photo, size, 1, FACES)
    assert result.written and result.backup == backup_path(sidecar)
    assert result.backup.read_text(encoding="utf-8") == OTHER_SIDECAR
    text = sidecar.read_text(encoding="utf-8")
    assert 'xmp:Rating="4"' in text and 'crs:Exposure2012="+0.35"' in text
    assert "Places/Paris" in text and ">Paris<" in text and "Rex" in text  # other keywords, pets
    assert "Old Friend" not in text  # the people parts were replaced
    tags = read_face_tags(photo, size)
    assert [r.name for r in tags.regions] == ["Ann Lee", "Bo Chen"]
    assert tags.names_without_box == ()


def test_other_namespaces_survive_for_exiftool_too(tmp_path: Path) -> None:
    exiftool()
    photo, size, sidecar = photo_with_other_sidecar(tmp_path)
    write_sidecar(photo, size, 1, FACES)
    out = run_exiftool("-s", "-XMP:Rating", "-XMP-crs:Exposure2012", "-XMP-dc:Subject", sidecar)
    assert "Rating" in out and ": 4" in out and "0.35" in out
    assert "Paris, Ann Lee, Bo Chen" in out


def test_writing_twice_changes_nothing_the_second_time(tmp_path: Path) -> None:
    photo, size = make_photo(tmp_path)
    assert write_sidecar(photo, size, 1, FACES).written
    again = write_sidecar(photo, size, 1, FACES)
    assert not again.written and again.reason == "already up to date"


def test_a_sidecar_changed_between_read_and_write_is_read_again_and_merged(tmp_path: Path) -> None:
    photo, size, sidecar = photo_with_other_sidecar(tmp_path)
    plan = prepare(photo, size, 1, FACES)
    # another program edits the sidecar (a new rating) while we are merging
    sidecar.write_text(OTHER_SIDECAR.replace('xmp:Rating="4"', 'xmp:Rating="5"'), encoding="utf-8")
    assert commit(plan, photo) is None  # detected: nothing written
    assert 'xmp:Rating="5"' in sidecar.read_text(encoding="utf-8")
    assert "Ann Lee" not in sidecar.read_text(encoding="utf-8")


def test_write_sidecar_merges_again_after_a_concurrent_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo, size, sidecar = photo_with_other_sidecar(tmp_path)
    real_prepare = write_mod.prepare
    calls = []

    def racing_prepare(*args, **kwargs):
        plan = real_prepare(*args, **kwargs)
        if not calls:  # the first time only: another program writes after our read
            sidecar.write_text(
                OTHER_SIDECAR.replace('xmp:Rating="4"', 'xmp:Rating="5"'), encoding="utf-8"
            )
        calls.append(plan)
        return plan

    monkeypatch.setattr(write_mod, "prepare", racing_prepare)
    result = write_sidecar(photo, size, 1, FACES)
    assert result.written and result.merged_again == 1
    text = sidecar.read_text(encoding="utf-8")
    assert 'xmp:Rating="5"' in text and "Ann Lee" in text


def test_a_sidecar_that_keeps_changing_is_skipped_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo, size, sidecar = photo_with_other_sidecar(tmp_path)
    real_prepare = write_mod.prepare
    counter = iter(range(100))

    def always_racing(*args, **kwargs):
        plan = real_prepare(*args, **kwargs)
        sidecar.write_text(
            OTHER_SIDECAR.replace("Paris", f"Paris {next(counter)}"), encoding="utf-8"
        )
        return plan

    monkeypatch.setattr(write_mod, "prepare", always_racing)
    result = write_sidecar(photo, size, 1, FACES)
    assert not result.written and "kept changing" in (result.reason or "")
    assert "Ann Lee" not in sidecar.read_text(encoding="utf-8")


def test_an_unreadable_existing_sidecar_is_left_alone(tmp_path: Path) -> None:
    photo, size = make_photo(tmp_path)
    sidecar = photo.with_name(photo.name + ".xmp")
    sidecar.write_bytes(b"<x:xmpmeta><broken")
    result = write_sidecar(photo, size, 1, FACES)
    assert not result.written and "left as it is" in (result.reason or "")
    assert sidecar.read_bytes() == b"<x:xmpmeta><broken"


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_folder_gives_one_clear_error(tmp_path: Path) -> None:
    photo, size = make_photo(tmp_path)
    tmp_path.chmod(0o555)
    try:
        result = write_sidecar(photo, size, 1, FACES)
    finally:
        tmp_path.chmod(0o755)
    assert not result.written and "permission denied" in (result.reason or "")
    assert not photo.with_name(photo.name + ".xmp").exists() and _leftovers(tmp_path) == []


def test_a_folder_refusing_writes_leaves_nothing_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same as a read-only folder, simulated so that it runs as root too."""
    photo, size, sidecar = photo_with_other_sidecar(tmp_path)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(write_mod.os, "replace", refuse)
    result = write_sidecar(photo, size, 1, FACES)
    assert not result.written and "permission denied" in (result.reason or "")
    assert sidecar.read_text(encoding="utf-8") == OTHER_SIDECAR
    assert _leftovers(tmp_path) == []


def test_unnamed_faces_and_bad_boxes_are_not_written(tmp_path: Path) -> None:
    photo, size = make_photo(tmp_path)
    faces = [FaceTag("  ", (10, 10, 50, 50)), FaceTag("Ann", (50, 50, 40, 40)), FACES[0]]
    result = write_sidecar(photo, size, 1, faces)
    assert result.faces_written == 1 and result.faces_skipped == 2
    assert [r.name for r in read_face_tags(photo, size).regions] == ["Ann Lee"]


def test_img_xmp_naming(tmp_path: Path) -> None:
    photo, size = make_photo(tmp_path)
    result = write_sidecar(photo, size, 1, FACES, naming="xmp")
    assert result.sidecar == tmp_path / "IMG_0001.xmp" and result.sidecar.is_file()
    assert [r.name for r in read_face_tags(photo, size).regions] == ["Ann Lee", "Bo Chen"]


def test_names_with_markup_characters_and_an_unknown_size(tmp_path: Path) -> None:
    photo, size = make_photo(tmp_path)
    name = 'Anne & <Bob> "O\'Neil"'
    assert write_sidecar(photo, size, 1, [FaceTag(name, (40, 30, 100, 110))]).written
    assert [r.name for r in read_face_tags(photo, size).regions] == [name]
    if shutil.which("exiftool"):
        assert (
            run_exiftool(
                "-s3", "-XMP-mwg-rs:RegionName", photo.with_name(photo.name + ".xmp")
            ).strip()
            == name
        )
    refused = write_sidecar(photo, (0, 0), 1, FACES)
    assert not refused.written and refused.reason == "image size unknown"
