"""Issue 15, item 4's leftovers: ``export-tags --embed`` writes the people into the photos
themselves through ExifTool (read back with ExifTool), and says clearly when ExifTool is not
installed; the setting "Keep sidecars in sync" writes the sidecars of the photos an edit
touched, after every edit (and only then)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from facenet_core.cli import main as cli_main
from facenet_core.library import embed_tags
from facenet_core.library.embed_tags import ExifToolMissing
from facenet_core.library.export_tags import export_tags
from facenet_core.people import edits
from facenet_core.people.photo_people import tag_photo
from facenet_core.store import Face, Library, Person, Photo
from facenet_core.tags import read_face_tags
from facenet_core.tags.write import sidecar_path
from tests.core.tags_helpers import exiftool, exiftool_json, expected_regions, iou
from tests.helpers import named_library


def _people(lib: Library) -> dict[str, int]:
    with lib.session() as s:
        return {n: i for i, n in s.execute(select(Person.id, Person.name)) if n}


def _named_faces(lib: Library) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    """Each photo's named faces (name, displayed box), by file name."""
    with lib.session() as s:
        rows = s.execute(
            select(Photo.path, Person.name, Face.x1, Face.y1, Face.x2, Face.y2)
            .join(Face, Face.photo_id == Photo.id)
            .join(Person, Person.id == Face.person_id)
            .where(Person.name.is_not(None))
        ).all()
    out: dict[str, list[tuple[str, tuple[float, ...]]]] = {}
    for path, name, *box in rows:
        out.setdefault(Path(path).name, []).append((name, tuple(box)))
    return out


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- --embed --------------------------------------------------------------------------------------


def test_embed_writes_names_into_the_photos_that_exiftool_reads_back(
    lfw_mini: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    exiftool()  # skips with a reason when ExifTool is not installed
    source, photos = named_library(lfw_mini, tmp_path_factory, 2, 2)
    with Library.open(source) as lib:
        named = _named_faces(lib)
        a = sorted(_people(lib))[0]
        other = next(n for n, faces in sorted(named.items()) if all(f[0] != a for f in faces))
        with lib.session() as s:
            other_id = s.scalar(select(Photo.id).where(Photo.path.endswith(other)))
        assert other_id is not None
        tag_photo(lib, other_id, _people(lib)[a])  # A on B's photo, without a face box

        result = export_tags(lib, embed=True)

    assert result.embedded == result.photos == 4 and not result.failed, result.failed
    for name, faces in named.items():
        photo = photos / name
        assert (photos / f"{name}_original").is_file()  # ExifTool's copy of the original
        info = exiftool_json(photo)
        regions = expected_regions(info)
        assert sorted(n for n, _ in regions) == sorted(n for n, _ in faces)
        for name_, box in faces:
            assert max(iou(box, b) for n, b in regions if n == name_) >= 0.99
        people_in = info["PersonInImage"]
        people_in = [people_in] if isinstance(people_in, str) else people_in
        expected = {n for n, _ in faces} | ({a} if name == other else set())
        assert set(people_in) == expected


def test_embed_without_exiftool_says_so_and_writes_nothing(
    lfw_mini: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, photos = named_library(lfw_mini, tmp_path_factory, 1, 1)
    before = {p.name: _digest(p) for p in photos.iterdir()}
    monkeypatch.setattr(embed_tags.shutil, "which", lambda name: None)
    with Library.open(source) as lib, pytest.raises(ExifToolMissing, match="not installed"):
        export_tags(lib, embed=True)
    assert cli_main(["--library", str(source), "export-tags", "--embed"]) == 1
    err = capsys.readouterr().err
    assert "ExifTool" in err and "not installed" in err and "libimage-exiftool-perl" in err
    assert {p.name: _digest(p) for p in photos.iterdir()} == before  # no sidecar, no change


# -- keeping sidecars in sync ---------------------------------------------------------------------


def _sidecar_names(photos: Path, lib: Library) -> dict[str, set[str]]:
    """The names in each photo's sidecar, as our reader reads them back."""
    out = {}
    with lib.session() as s:
        sizes = {
            Path(p): (w, h) for p, w, h in s.execute(select(Photo.path, Photo.width, Photo.height))
        }
    for photo, size in sizes.items():
        if sidecar_path(photo).exists():
            out[photo.name] = set(read_face_tags(photo, size, 1).names)
    return out


def test_with_the_setting_off_an_edit_writes_no_sidecar(sidecar_library) -> None:
    lib, photos = sidecar_library
    a = sorted(_people(lib))[0]
    edits.name_person(lib, _people(lib)[a], "Renamed Person")
    assert list(photos.glob("*.xmp")) == []


def test_with_the_setting_on_each_edit_rewrites_only_the_photos_it_touched(sidecar_library) -> None:
    lib, photos = sidecar_library
    lib.save_settings(lib.settings().replace(keep_sidecars_in_sync=True))
    a, b, c = sorted(_people(lib))
    ids = _people(lib)
    named = _named_faces(lib)
    a_photos = {n for n, faces in named.items() if any(f[0] == a for f in faces)}

    edits.name_person(lib, ids[a], "Ada Renamed")
    assert _sidecar_names(photos, lib) == {p: {"Ada Renamed"} for p in a_photos}

    # moving one of B's faces to C touches that photo only
    with lib.session() as s:
        face_id, photo_path = s.execute(
            select(Face.id, Photo.path)
            .join(Photo, Photo.id == Face.photo_id)
            .where(Face.person_id == ids[b])
            .order_by(Face.id)
        ).first()
    stamps = {p.name: p.stat().st_mtime_ns for p in photos.glob("*.xmp")}
    edits.move_faces(lib, [face_id], ids[c])
    names = _sidecar_names(photos, lib)
    assert names[Path(photo_path).name] == {c}
    assert {p.name: p.stat().st_mtime_ns for p in photos.glob("*.xmp")
            if p.name in stamps} == stamps  # fmt: skip

    # a photo-level tag, then undo: the sidecar follows
    other = sorted(p for p in named if p not in a_photos)[0]
    with lib.session() as s:
        other_id = s.scalar(select(Photo.id).where(Photo.path.endswith(other)))
    tag_photo(lib, other_id, ids[a])
    assert "Ada Renamed" in _sidecar_names(photos, lib)[other]
    edits.undo(lib)
    assert "Ada Renamed" not in _sidecar_names(photos, lib)[other]

    # hiding a person takes them out of every sidecar of theirs
    edits.hide_person(lib, ids[a])
    names = _sidecar_names(photos, lib)
    assert all("Ada Renamed" not in n for n in names.values())


def test_cli_export_tags_turns_sync_on_and_off(
    sidecar_library, capsys: pytest.CaptureFixture[str]
) -> None:
    lib, _ = sidecar_library
    path = str(lib.path)
    lib.close()
    assert cli_main(["--library", path, "export-tags", "--keep-sidecars-in-sync"]) == 0
    assert "kept in sync" in capsys.readouterr().out
    with Library.open(path) as again:
        assert again.settings().keep_sidecars_in_sync
    assert cli_main(["--library", path, "export-tags", "--no-keep-sidecars-in-sync"]) == 0
    with Library.open(path) as again:
        assert not again.settings().keep_sidecars_in_sync
