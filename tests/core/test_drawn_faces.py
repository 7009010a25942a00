"""A face the detector missed, drawn by hand: aligned on O-Net's points (or the template's when
O-Net sees no face), embedded, stored as drawn by the user and given to a person in one undoable
edit; it survives a rescan of a changed photo, undo and redo, and can be deleted (undoably)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from facenet_core.library import scan
from facenet_core.library.drawn import delete_face, draw_face
from facenet_core.people import edits
from facenet_core.people.errors import PeopleError
from facenet_core.quantize import from_bytes
from facenet_core.settings import Settings
from facenet_core.store import DRAWN_BY_USER, Assignment, Face, Library, Person, Photo
from facenet_core.thumbnails import thumbnail_path
from facenet_core.vision.drawn import ONET_MIN_PROBABILITY, box_template_points, drawn_detection
from facenet_core.vision.engines import shared_engines
from facenet_core.vision.faces import CENTRE_BOX

SETTINGS = Settings(device="cpu", flip=False, workers=1)
BLIND = Settings(device="cpu", flip=False, workers=1, min_face_size=2000)
"""A scan that finds no face in a 250-pixel LFW photo: the detector 'misses' it."""
A, B = "Tom_Hanks", "Yao_Ming"


def centre_box(size: int = 250) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = CENTRE_BOX
    return (x1 * size, y1 * size, x2 * size, y2 * size)


def _photos(lfw_mini: Path, name: str) -> list[Path]:
    return sorted((lfw_mini / "images" / name).glob("*.jpg"))


@pytest.fixture(scope="module")
def scanned(lfw_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Three photos of A and three of B, their faces found and confirmed (persons "A", "B");
    a fourth photo of A, in a folder scanned so that its face is missed."""
    seen = tmp_path_factory.mktemp("seen")
    missed = tmp_path_factory.mktemp("missed")
    for name in (A, B):
        for path in _photos(lfw_mini, name)[:3]:
            shutil.copy(path, seen / path.name)
    shutil.copy(_photos(lfw_mini, A)[3], missed / "missed.jpg")
    path = tmp_path_factory.mktemp("lib") / "library.db"
    with Library.open(path, create=True) as lib:
        scan(lib, [seen], SETTINGS, recognize=False)
        scan(lib, [missed], BLIND, recognize=False)
        with lib.write() as s:
            people = {n: Person(name=n[0]) for n in (A, B)}
            s.add_all(people.values())
            s.flush()
            for photo in s.scalars(select(Photo)):
                if photo.faces:
                    face = max(photo.faces, key=lambda f: (f.x2 - f.x1) * (f.y2 - f.y1))
                    owner = A if Path(photo.path).name.startswith(A) else B
                    face.person_id = people[owner].id
                    face.assignment = Assignment.CONFIRMED
    return path, seen, missed


@pytest.fixture
def library(scanned: tuple[Path, Path, Path], tmp_path: Path):
    source, seen, missed = scanned
    folder = tmp_path / "lib"
    folder.mkdir()
    shutil.copy(source, folder / "library.db")
    shutil.copytree(source.with_name("library.db.thumbnails"), folder / "library.db.thumbnails")
    photos = tmp_path / "photos"
    shutil.copytree(missed, photos)
    with Library.open(folder / "library.db") as lib:
        with lib.write() as s:  # the missed photo, copied where this test may change it
            photo = s.scalar(select(Photo).where(Photo.path.endswith("missed.jpg")))
            assert photo is not None
            photo.path = str(photos / "missed.jpg")
        yield lib, seen, photos


def _ids(lib: Library) -> tuple[int, int, int]:
    with lib.session() as s:
        missed = s.scalar(select(Photo.id).where(Photo.path.endswith("missed.jpg")))
        a = s.scalar(select(Person.id).where(Person.name == "T"))
        b = s.scalar(select(Person.id).where(Person.name == "Y"))
        assert missed is not None and a is not None and b is not None
        assert not s.scalars(select(Face).where(Face.photo_id == missed)).all(), "not missed"
        return missed, a, b


def _mean_distance(lib: Library, face_id: int, person_id: int) -> float:
    with lib.session() as s:
        face = s.get(Face, face_id)
        assert face is not None
        mine = from_bytes(face.embeddings[0].vector)
        others = [
            from_bytes(f.embeddings[0].vector)
            for f in s.scalars(select(Face).where(Face.person_id == person_id, Face.id != face_id))
        ]
    return float(np.mean([np.linalg.norm(mine - o) for o in others]))


def _face(lib: Library, face_id: int) -> Face | None:
    with lib.session() as s:
        face = s.get(Face, face_id)
        if face is not None:
            s.expunge(face)
        return face


def test_onet_finds_the_points_of_a_real_face_and_a_blank_wall_gets_the_template(
    lfw_mini: Path,
) -> None:
    image = np.asarray(Image.open(_photos(lfw_mini, A)[3]).convert("RGB"))
    onet = shared_engines().onet(SETTINGS)
    face = drawn_detection(onet, image, centre_box())
    assert face.scheme == "mtcnn5" and face.score >= ONET_MIN_PROBABILITY
    # the eyes above the nose above the mouth, inside the box
    (lx, ly), (rx, ry), (nx, ny), (_, mly), (_, mry) = face.landmarks
    assert lx < nx < rx and max(ly, ry) < ny < min(mly, mry)
    wall = np.full((250, 250, 3), 128, np.uint8)
    blank = drawn_detection(onet, wall, (50.0, 50.0, 150.0, 150.0))
    assert blank.score == 0.0
    assert np.allclose(blank.landmarks, box_template_points((50.0, 50.0, 150.0, 150.0)))
    assert np.all((blank.landmarks > 50) & (blank.landmarks < 150))


def test_a_drawn_face_is_embedded_like_its_person_and_given_in_one_undoable_edit(library) -> None:
    lib, _, _ = library
    missed, a, b = _ids(lib)
    change = draw_face(lib, missed, centre_box(), SETTINGS, person_id=a)
    (face_id,) = change.faces
    face = _face(lib, face_id)
    assert face is not None and face.detector == DRAWN_BY_USER
    assert face.person_id == a and face.assignment == Assignment.CONFIRMED
    assert face.det_score >= ONET_MIN_PROBABILITY  # O-Net found its points
    assert thumbnail_path(lib.thumbnails_dir, face_id).is_file()
    # the same person's faces are near, the other person's far
    near, far = _mean_distance(lib, face_id, a), _mean_distance(lib, face_id, b)
    assert near < far / 1.5
    with lib.session() as s:
        before = s.get(Face, face_id)
        assert before is not None
        vector = before.embeddings[0].vector

    edits.undo(lib)
    assert _face(lib, face_id) is None
    with lib.session() as s:
        assert s.get(Person, a) is not None  # the person stays, one face fewer
    edits.redo(lib)
    again = _face(lib, face_id)
    assert again is not None and again.person_id == a and again.detector == DRAWN_BY_USER
    with lib.session() as s:
        back = s.get(Face, face_id)
        assert back is not None and back.embeddings[0].vector == vector
    edits.undo(lib)
    edits.redo(lib)
    assert _face(lib, face_id) is not None


def test_naming_a_new_person_with_the_drawn_face_is_undone_with_it(library) -> None:
    lib, _, _ = library
    missed, _, _ = _ids(lib)
    change = draw_face(lib, missed, centre_box(), SETTINGS, name="Someone New")
    (face_id,) = change.faces
    new_person = change.person_id
    assert new_person is not None
    with lib.session() as s:
        person = s.get(Person, new_person)
        assert person is not None and person.name == "Someone New" and person.face_count == 1
    edits.undo(lib)
    with lib.session() as s:
        assert s.get(Person, new_person) is None and s.get(Face, face_id) is None
    edits.redo(lib)
    with lib.session() as s:
        person = s.get(Person, new_person)
        assert person is not None and person.name == "Someone New" and person.face_count == 1


def test_a_drawn_face_survives_a_rescan_of_its_changed_photo_and_is_not_found_twice(
    library,
) -> None:
    lib, _, photos = library
    missed, a, _ = _ids(lib)
    (face_id,) = draw_face(lib, missed, centre_box(), SETTINGS, person_id=a).faces
    # the photo changes (saved again), and this time the detector finds the face
    path = photos / "missed.jpg"
    Image.open(path).save(path, quality=90)
    result = scan(lib, [photos], SETTINGS, recognize=False)
    assert result.photos_detected == 1
    with lib.session() as s:
        faces = s.scalars(select(Face).where(Face.photo_id == missed)).all()
        assert [f.id for f in faces] == [face_id]  # the drawn face, and no copy of it
        assert faces[0].person_id == a and faces[0].detector == DRAWN_BY_USER
    # and a rescan of the unchanged photo leaves it alone too
    scan(lib, [photos], SETTINGS, recognize=False)
    assert _face(lib, face_id) is not None
    # without the drawn face, the same rescan does find a face there: it was skipped above
    delete_face(lib, face_id)
    Image.open(path).save(path, quality=85)
    assert scan(lib, [photos], SETTINGS, recognize=False).faces_added == 1


def test_a_drawn_face_can_be_deleted_undoably_and_a_detected_one_cannot(library) -> None:
    lib, _, _ = library
    missed, a, _ = _ids(lib)
    (face_id,) = draw_face(lib, missed, centre_box(), SETTINGS, person_id=a).faces
    with lib.write() as s:
        person = s.get(Person, a)
        assert person is not None
        person.cover_face_id = face_id
        count = person.face_count
    delete_face(lib, face_id)
    with lib.session() as s:
        person = s.get(Person, a)
        assert s.get(Face, face_id) is None and person is not None
        assert person.face_count == count - 1 and person.cover_face_id is None
    edits.undo(lib)
    with lib.session() as s:
        person = s.get(Person, a)
        face = s.get(Face, face_id)
        assert face is not None and face.person_id == a and len(face.embeddings) == 1
        assert person is not None and person.face_count == count
        assert person.cover_face_id == face_id
        detected = s.scalar(select(Face.id).where(Face.detector != DRAWN_BY_USER))
    assert detected is not None
    with pytest.raises(PeopleError, match="found by the detector"):
        delete_face(lib, detected)
    with pytest.raises(PeopleError, match="already there"):
        with lib.session() as s:
            taken = s.get(Face, detected)
            assert taken is not None
            photo_id, box = taken.photo_id, taken.box
        draw_face(lib, photo_id, box, SETTINGS)


def _cli(lib: Library, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facenet_core", "--library", str(lib.path), *args, "--device=cpu"]
        if args[0] == "add-face"
        else [sys.executable, "-m", "facenet_core", "--library", str(lib.path), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_add_face_on_the_command_line_names_a_new_person(library) -> None:
    lib, _, photos = library
    missed, _, _ = _ids(lib)
    x1, y1, x2, y2 = (str(round(v)) for v in centre_box())
    photo = str(photos / "missed.jpg")
    run = _cli(lib, "add-face", photo, x1, y1, x2, y2, "--person", "Drawn Person")
    assert run.returncode == 0, run.stderr
    assert "drew face" in run.stdout and "Drawn Person" in run.stdout
    with lib.session() as s:
        face = s.scalar(select(Face).where(Face.photo_id == missed))
        assert face is not None and face.detector == DRAWN_BY_USER
        assert face.person is not None and face.person.name == "Drawn Person"
        face_id = face.id
    run = _cli(lib, "add-face", photo, x1, y1, x2, y2)  # the same face again
    assert run.returncode == 1 and f"face {face_id} is already there" in run.stderr
    run = _cli(lib, "delete-face", str(face_id))
    assert run.returncode == 0, run.stderr
    assert _face(lib, face_id) is None
