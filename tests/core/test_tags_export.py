"""``export_tags``: the library's named faces go to sidecars; nothing else does."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from facenet_core.library.export_tags import export_tags
from facenet_core.store import Library, Person, Photo
from facenet_core.tags import read_face_tags
from tests.core.people_helpers import add_face


def _photo(session, folder: Path, n: int, orientation: int = 1) -> Photo:
    """A real 640 x 480 (displayed) JPEG in ``folder`` and its row."""
    path = folder / f"img_{n}.jpg"
    stored = (480, 640) if orientation in (6, 8) else (640, 480)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.new("RGB", stored, (100, 100, 100)).save(path, exif=exif.tobytes())
    photo = Photo(
        path=str(path), size=1, mtime_ns=n, content_hash=f"{n:064x}", width=640, height=480,
        status="done",
    )  # fmt: skip
    session.add(photo)
    session.flush()
    return photo


@pytest.fixture
def library(tmp_path: Path) -> tuple[Library, Path]:
    folder = tmp_path / "photos"
    folder.mkdir()
    lib = Library.open(tmp_path / "library.db", create=True)
    with lib.write() as s:
        ada, bo, unnamed = Person(name="Ada"), Person(name="Bo"), Person()
        s.add_all([ada, bo, unnamed])
        s.flush()
        p1, p2, p3, p4 = (_photo(s, folder, n, o) for n, o in ((1, 1), (2, 6), (3, 1), (4, 1)))
        add_face(s, p1, ada, "confirmed", x=5.0)
        add_face(s, p1, bo, "auto", 0.9, x=100.0)
        add_face(s, p1, unnamed, "auto", 0.8, x=200.0)  # not named: not written
        add_face(s, p2, ada, "confirmed", x=300.0)  # stored rotated
        add_face(s, p3, bo, "suggested", 0.6)  # a question, not an answer: not written
        add_face(s, p4, ignored=True)
    return lib, folder


def _names(photo: Path, orientation: int = 1) -> list[str | None]:
    return [r.name for r in read_face_tags(photo, (640, 480), orientation).regions]


def test_every_named_face_is_written_and_nothing_else(library) -> None:
    lib, folder = library
    result = export_tags(lib)
    assert (result.photos, result.sidecars_written, result.faces_written) == (2, 2, 3)
    assert result.failed == []
    assert _names(folder / "img_1.jpg") == ["Ada", "Bo"]
    rotated = read_face_tags(folder / "img_2.jpg", (640, 480), 6)
    assert [r.name for r in rotated.regions] == ["Ada"]
    assert rotated.regions[0].box == pytest.approx((300.0, 6.0, 330.0, 40.0), abs=1e-3)
    assert not (folder / "img_3.jpg.xmp").exists() and not (folder / "img_4.jpg.xmp").exists()
    again = export_tags(lib)
    assert (again.sidecars_written, again.sidecars_unchanged) == (0, 2)


def test_choosing_a_person_chooses_photos_and_keeps_their_other_people(library) -> None:
    lib, folder = library
    result = export_tags(lib, ["bo", "Nobody"])
    assert result.photos == 1 and result.unknown_people == ["Nobody"]
    assert _names(folder / "img_1.jpg") == ["Ada", "Bo"]
    assert not (folder / "img_2.jpg.xmp").exists()


def test_a_missing_photo_is_reported_and_the_rest_written(library) -> None:
    lib, folder = library
    (folder / "img_2.jpg").unlink()
    result = export_tags(lib, naming="xmp")
    assert result.failed == [(str(folder / "img_2.jpg"), "photo not found")]
    assert (folder / "img_1.xmp").is_file() and result.sidecars_written == 1


def test_the_export_tags_command(library, tmp_path: Path, capsys) -> None:
    import json

    from facenet_core.cli import main

    lib, folder = library
    db = lib.path
    lib.close()
    (folder / "img_2.jpg").unlink()
    out = tmp_path / "export.json"
    code = main(["export-tags", "--library", str(db), "--json", str(out)])
    assert code == 1  # one photo could not be written
    text = capsys.readouterr()
    assert "1 sidecars written (2 named faces)" in text.out + text.err
    assert "img_2.jpg: photo not found" in text.out + text.err
    data = json.loads(out.read_text())
    assert data["sidecars_written"] == 1 and data["failed"][0]["reason"] == "photo not found"
    assert _names(folder / "img_1.jpg") == ["Ada", "Bo"]


def test_the_import_tags_command_confirms_and_keeps_the_users_word(
    library, tmp_path: Path, capsys
) -> None:
    import json

    from facenet_core.cli import main

    lib, _ = library
    export_tags(lib)
    db = lib.path
    lib.close()
    out = tmp_path / "import.json"
    assert main(["import-tags", "--library", str(db), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    # Bo's automatic face becomes confirmed; Ada's two confirmed faces are the user's already
    assert (data["faces_named"], data["faces_kept"], data["people_created"]) == (1, 2, 0)
    assert "3 names and 3 face regions read from 2 of 4 photos" in capsys.readouterr().out


def test_import_survives_absurd_names_and_places_a_lone_name(library) -> None:
    from facenet_core.library.import_tags import import_tags
    from facenet_core.tags.write import FaceTag, write_sidecar

    lib, folder = library
    # photo 3 has one face (Bo's suggestion): a name without a box goes to it
    write_sidecar(folder / "img_3.jpg", (640, 480), 1, [], ["Cy Diaz"])
    # photo 1: a region named with 5,000 characters on Ada's face
    write_sidecar(folder / "img_1.jpg", (640, 480), 1, [FaceTag("x" * 5000, (5, 6, 35, 40))])
    result = import_tags(lib)
    assert result.faces_named == 1 and result.people_created == 1
    assert result.names_unplaced == 1
    assert any("longer than" in reason for _, reason in result.unreadable)
    assert _names(folder / "img_3.jpg") == []  # no region: the name went to the face
    with lib.session() as s:
        from sqlalchemy import select

        from facenet_core.store import Face

        names = s.execute(select(Person.name).join(Face, Face.person_id == Person.id)).scalars()
        assert "Cy Diaz" in set(names)
