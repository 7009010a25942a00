"""Forgetting a person, a face or a whole library: their 128-byte codes leave the database file
and its WAL (and the backups), their thumbnails and history go, a rescan does not bring them
back, and everybody else is unchanged."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from facenet_core.cli import main as cli_main
from facenet_core.library import scan
from facenet_core.library.forget import SAW_FORGOTTEN, plan_forget_person
from facenet_core.people import edits
from facenet_core.settings import Settings
from facenet_core.store import (
    Edit,
    EditFace,
    EditPerson,
    Embedding,
    Face,
    ForgottenFace,
    Library,
    ModelVersion,
    Person,
    Photo,
)
from facenet_core.thumbnails import thumbnail_path
from tests.helpers import DEFAULT_CODE_BYTES, copy_library, named_library_fixture

SETTINGS = Settings(device="cpu", flip=False, workers=1)
PEOPLE = 4
EACH = 4
scanned = named_library_fixture(PEOPLE, EACH)


@pytest.fixture
def library(scanned: tuple[Path, Path], tmp_path: Path):
    source, photos = scanned
    with Library.open(copy_library(source, tmp_path / "lib")) as lib:
        yield lib, photos


def person_id(lib: Library, name: str) -> int:
    with lib.session() as s:
        found = s.scalar(select(Person.id).where(Person.name == name))
        assert found is not None
        return found


def state(lib: Library) -> dict[int, tuple]:
    """Every face: its place, person, assignment and codes."""
    with lib.session() as s:
        return {
            f.id: (
                f.photo_id,
                (f.x1, f.y1, f.x2, f.y2),
                f.person_id,
                f.assignment,
                tuple(sorted(e.vector for e in f.embeddings)),
            )
            for f in s.scalars(select(Face))
        }


def file_bytes(lib: Library) -> bytes:
    wal = lib.path.with_name(lib.path.name + "-wal")
    return lib.path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


@pytest.mark.slow
def test_forget_a_person_leaves_no_code_name_thumbnail_or_edit_and_a_rescan_keeps_it_so(
    library, capsys
) -> None:
    lib, photos = library
    with lib.session() as s:
        names = sorted(n for n in s.scalars(select(Person.name)) if n)
    name, other = names[0], names[1]
    pid, other_id = person_id(lib, name), person_id(lib, other)
    # some history: a rename of the person, and one of its faces moved away and back
    edits.name_person(lib, pid, name + " Senior")
    edits.name_person(lib, pid, name)
    edits.name_person(lib, other_id, other + " Jr")
    before = state(lib)
    gone = {fid: row for fid, row in before.items() if row[2] == pid}
    kept = {fid: row for fid, row in before.items() if row[2] != pid}
    assert len(gone) == EACH and kept
    codes = [code for row in gone.values() for code in row[4]]
    assert codes and all(len(c) == DEFAULT_CODE_BYTES and c in file_bytes(lib) for c in codes)
    assert name.encode() in file_bytes(lib)
    thumbs = [thumbnail_path(lib.thumbnails_dir, fid) for fid in gone]
    assert all(t.exists() for t in thumbs)
    backup = lib.backup(lib.backups_dir if lib.backups_dir.is_dir() else _mkdir(lib.backups_dir))
    assert all(c in backup.read_bytes() for c in codes)

    plan = plan_forget_person(lib, pid)
    assert (plan.faces, plan.confirmed_faces, plan.photos, plan.backups) == (EACH, EACH, EACH, 1)
    assert plan.edits == 2
    assert cli_main(["--library", str(lib.path), "forget", str(pid), "--yes"]) == 0
    out = capsys.readouterr()
    assert f"forgot '{name}': {EACH} faces, 2 edits" in out.out
    assert "cannot be undone" in out.err

    data = file_bytes(lib)
    assert not [c for c in codes if c in data]  # not one of their codes is left in the file
    assert name.encode() not in data and (name + " Senior").encode() not in data
    assert not [c for c in codes if c in backup.read_bytes()]  # nor in the backup
    assert name.encode() not in backup.read_bytes()
    assert not any(t.exists() for t in thumbs)
    after = state(lib)
    assert after == kept  # everybody else unchanged, to the byte
    with lib.session() as s:
        assert s.get(Person, pid) is None
        assert s.scalar(select(func.count()).select_from(ForgottenFace)) == EACH
        assert not s.scalars(select(EditPerson).where(EditPerson.person_id == pid)).all()
        assert not s.scalars(select(EditFace).where(EditFace.face_id.in_(gone))).all()
        assert s.scalar(select(func.count()).select_from(Edit)) == 1  # the other's rename

    # a rescan does not bring them back: unchanged photos, then a changed one (detected again)
    scan(lib, [photos], SETTINGS)
    assert state(lib) == kept
    first = sorted(gone.values())[0]
    with lib.session() as s:
        changed = Path(s.get(Photo, first[0]).path)
    image = Image.open(changed)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=97)
    changed.write_bytes(buffer.getvalue())
    scan(lib, [photos], SETTINGS)
    with lib.session() as s:
        faces_there = s.scalars(select(Face).where(Face.photo_id == first[0])).all()
        for face in faces_there:  # any other face of that photo may come back, not theirs
            box = (face.x1, face.y1, face.x2, face.y2)
            assert _iou(box, first[1]) < 0.5
        assert s.scalar(select(func.count()).select_from(Embedding)) == sum(
            len(r[4]) for r in state(lib).values()
        )


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _iou(a: tuple, b: tuple) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def test_forget_single_faces_keeps_their_person(library, capsys) -> None:
    lib, _ = library
    before = state(lib)
    with lib.session() as s:
        names = sorted(n for n in s.scalars(select(Person.name)) if n)
    pid = person_id(lib, names[0])
    face_id = min(fid for fid, row in before.items() if row[2] == pid)
    codes = before[face_id][4]
    assert cli_main(["--library", str(lib.path), "forget", "--face", str(face_id), "--yes"]) == 0
    assert "forgot 1 face, 0 edits" in capsys.readouterr().out
    after = state(lib)
    assert face_id not in after and after == {k: v for k, v in before.items() if k != face_id}
    assert not [c for c in codes if c in file_bytes(lib)]
    with lib.session() as s:
        assert s.get(Person, pid) is not None


def test_forget_asks_first_and_refuses_without_an_answer(library, capsys, monkeypatch) -> None:
    lib, _ = library
    before = state(lib)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal: no answer can come
    assert cli_main(["--library", str(lib.path), "forget", "--face", "1"]) != 0
    assert "add --yes" in capsys.readouterr().err
    assert cli_main(["--library", str(lib.path), "forget", "--face", "999999", "--yes"]) != 0
    assert "no face 999999" in capsys.readouterr().err
    assert cli_main(["--library", str(lib.path), "forget", "nobody at all", "--yes"]) != 0
    assert state(lib) == before


def test_a_model_trained_after_the_person_was_confirmed_is_marked(library, capsys) -> None:
    lib, _ = library
    with lib.write() as s:
        base = s.scalar(select(ModelVersion).where(ModelVersion.is_active))
        assert base is not None
        s.add(
            ModelVersion(
                name="fine-tuned 1",
                weights_sha256="0" * 64,
                parent_id=base.id,
                metrics={"before": {}},
            )
        )
        names = sorted(n for n in s.scalars(select(Person.name)) if n)
    pid = person_id(lib, names[0])
    assert plan_forget_person(lib, pid).models == ["fine-tuned 1"]
    assert cli_main(["--library", str(lib.path), "forget", str(pid), "--yes"]) == 0
    assert "may have been trained on them: fine-tuned 1" in capsys.readouterr().out
    with lib.session() as s:
        version = s.scalar(select(ModelVersion).where(ModelVersion.name == "fine-tuned 1"))
        assert version is not None and version.metrics[SAW_FORGOTTEN] == 1


def test_forget_the_library_removes_all_it_made_and_no_photo(library, capsys) -> None:
    lib, photos = library
    path = lib.path
    lib.backup(_mkdir(lib.backups_dir))
    lib.close()
    before = sorted(p.name for p in photos.iterdir())
    assert cli_main(["forget", "--library", str(path), "--yes"]) == 0
    assert "removed the library" in capsys.readouterr().out
    assert list(path.parent.iterdir()) == []
    assert sorted(p.name for p in photos.iterdir()) == before


def test_forgetting_cleans_the_sidecars_that_named_them(library, capsys) -> None:
    """A person exported to sidecars, then forgotten: their name leaves every sidecar (and the
    writer's backup copy), the other people in those sidecars stay, the photos are untouched."""
    from facenet_core.library.export_tags import export_tags
    from facenet_core.tags.write import sidecar_path

    lib, photos = library
    with lib.session() as s:
        names = sorted(n for n in s.scalars(select(Person.name)) if n)
    gone, other = names[0], names[1]
    assert export_tags(lib).failed == []
    theirs = [
        p
        for p in photos.glob("*.jpg")
        if sidecar_path(p).exists() and gone.encode() in sidecar_path(p).read_bytes()
    ]
    others = [
        p
        for p in photos.glob("*.jpg")
        if sidecar_path(p).exists() and other.encode() in sidecar_path(p).read_bytes()
    ]
    assert len(theirs) == EACH and len(others) == EACH
    before = {p: p.read_bytes() for p in photos.glob("*.jpg")}
    assert cli_main(["--library", str(lib.path), "forget", gone, "--yes"]) == 0
    assert f"their names in {EACH} sidecars" in capsys.readouterr().out
    for photo in theirs:
        assert gone.encode() not in sidecar_path(photo).read_bytes()
        assert not list(photos.glob(sidecar_path(photo).name + "*.bak"))
    for photo in others:
        assert other.encode() in sidecar_path(photo).read_bytes()
    assert {p: p.read_bytes() for p in photos.glob("*.jpg")} == before
