"""``import_tags``: names in photo metadata become people on the faces a scan found, and the
user's word wins. The round trip of the issue: a library's named people, exported to sidecars,
come back in a fresh library scanning the same folder (BCubed F1 1.0 on the named faces)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from facenet_core.evaluation.cluster_metrics import bcubed_scores
from facenet_core.library import scan as run_scan
from facenet_core.library.export_tags import export_tags
from facenet_core.library.import_tags import import_tags
from facenet_core.people.edits import ignore_faces, move_faces, name_person
from facenet_core.settings import Settings
from facenet_core.store import Face, Library, Person, Photo
from facenet_core.types import box_iou

_STORE = {1: None, 3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90}


@pytest.fixture(scope="module")
def folder(lfw_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Eight lfw-mini photos of four people, some stored rotated (EXIF 3 and 6)."""
    out = tmp_path_factory.mktemp("tagged") / "photos"
    out.mkdir()
    people = [p for p in sorted((lfw_mini / "images").iterdir()) if len(list(p.glob("*.jpg"))) >= 2]
    for i, person in enumerate(people[::29][:4]):
        for j, source in enumerate(sorted(person.glob("*.jpg"))[:2]):
            orientation = (1, 3, 6, 1)[(2 * i + j) % 4]
            shown = Image.open(source).convert("RGB").crop((30, 40, 250, 220))
            stored = shown if _STORE[orientation] is None else shown.transpose(_STORE[orientation])
            exif = Image.Exif()
            exif[0x0112] = orientation
            stored.save(out / f"{person.name}_{j}.jpg", exif=exif.tobytes(), quality=95)
    return out


def _scan(db: Path, folder: Path, read_tags: bool = False) -> Library:
    lib = Library.open(db, create=True)
    settings = Settings(device="cpu", flip=False, workers=0, read_face_tags=read_tags)
    run_scan(lib, [folder], settings, recognize=False)
    return lib


def _faces(lib: Library) -> list[tuple[str, tuple[float, ...], str | None, str, int]]:
    with lib.session() as s:
        rows = s.execute(
            select(Photo.path, Face.x1, Face.y1, Face.x2, Face.y2, Person.name, Face.assignment)
            .add_columns(Face.id)
            .join(Face, Face.photo_id == Photo.id)
            .outerjoin(Person, Person.id == Face.person_id)
        ).all()
    return [(p, (a, b, c, d), n, asg, fid) for p, a, b, c, d, n, asg, fid in rows]


def _name_main_faces(lib: Library) -> dict[str, str]:
    """Name the largest face of each photo after the LFW folder: what a user did by hand."""
    largest: dict[str, tuple[float, int]] = {}
    for path, box, _, _, face_id in _faces(lib):
        area = (box[2] - box[0]) * (box[3] - box[1])
        if area > largest.get(path, (0.0, 0))[0]:
            largest[path] = (area, face_id)
    by_person: dict[str, list[int]] = {}
    for path, (_, face_id) in largest.items():
        by_person.setdefault(Path(path).stem.rsplit("_", 1)[0].replace("_", " "), []).append(
            face_id
        )
    for name, ids in by_person.items():
        change = move_faces(lib, ids, None)
        name_person(lib, change.person_id, name)
    return {path: Path(path).stem for path in largest}


@pytest.fixture(scope="module")
def libraries(folder: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[list, Path]:
    """A library whose people were named by hand and exported to sidecars, and a fresh scan of
    the same folder (kept as a backup file each test opens a copy of)."""
    work = tmp_path_factory.mktemp("libraries")
    first = _scan(work / "first.db", folder)
    _name_main_faces(first)
    exported = export_tags(first)
    assert exported.failed == [] and exported.sidecars_written == 8
    named_first = [f for f in _faces(first) if f[2]]
    first.close()
    fresh = _scan(work / "fresh.db", folder)
    fresh.backup(work / "fresh-scanned.db")
    fresh.close()
    return named_first, work / "fresh-scanned.db"


def _fresh(libraries, tmp_path: Path) -> Library:
    with Library.open(libraries[1]) as scanned:
        copy = scanned.backup(tmp_path / "fresh.db")
    return Library.open(copy)


def test_named_people_come_back_in_a_fresh_library(libraries, tmp_path: Path) -> None:
    named_first = libraries[0]
    fresh = _fresh(libraries, tmp_path)
    result = import_tags(fresh)
    assert result.unreadable == [] and result.photos_with_tags == 8
    assert (result.faces_named, result.people_created, result.regions_without_face) == (8, 4, 0)
    fresh_faces = _faces(fresh)
    truth, found = [], []
    for path, box, name, _, _ in named_first:
        (twin,) = [f for f in fresh_faces if f[0] == path and box_iou(f[1], box) >= 0.99]
        truth.append(name)
        found.append(twin[2])
        assert twin[3] == "confirmed"
    assert found == truth
    labels = {n: i for i, n in enumerate(sorted(set(found)), start=1)}  # 0 is "no cluster"
    scores = bcubed_scores(truth, np.array([labels[n] for n in found]))
    assert scores.f1 == 1.0
    assert sum(1 for f in fresh_faces if f[2]) == len(named_first)  # nobody else named
    # a second import changes nothing: every face is now the user's (confirmed) word
    again = import_tags(fresh)
    assert again.faces_named == 0 and again.faces_kept == 8 and again.people_created == 0
    fresh.close()


def test_the_users_word_wins_over_an_import(libraries, tmp_path: Path) -> None:
    fresh = _fresh(libraries, tmp_path)
    main: dict[str, tuple[float, int]] = {}
    for path, box, _, _, face_id in sorted(_faces(fresh)):
        area = (box[2] - box[0]) * (box[3] - box[1])
        if area > main.get(path, (0.0, 0))[0]:
            main[path] = (area, face_id)
    moved, ignored = (fid for _, fid in list(main.values())[:2])
    change = move_faces(fresh, [moved], None)  # the user put this face with someone else
    name_person(fresh, change.person_id, "Someone Else")
    ignore_faces(fresh, [ignored])  # and said "stranger" of this one
    result = import_tags(fresh)
    assert result.faces_kept == 2 and result.faces_named == 6
    after = {f[4]: f for f in _faces(fresh)}
    assert after[moved][2] == "Someone Else"
    assert after[ignored][2] is None
    fresh.close()


def test_a_scan_reads_the_tags_of_the_photos_it_processes(
    folder: Path, libraries, tmp_path: Path
) -> None:
    """The setting "Read face tags from photos" (on by default): the scan itself names them."""
    assert Settings().read_face_tags
    lib = _scan(tmp_path / "scanning.db", folder, read_tags=True)
    named = sorted((Path(f[0]).name, f[2]) for f in _faces(lib) if f[2])
    assert named == sorted((Path(f[0]).name, f[2]) for f in libraries[0])
    # a second scan processes nothing new, so it reads no tags (an edit made since stays)
    with lib.session() as s:
        any_face = s.scalar(select(Face.id).where(Face.person_id.is_not(None)).limit(1))
    ignore_faces(lib, [any_face])
    again = run_scan(lib, [folder], Settings(device="cpu", flip=False, workers=0), recognize=False)
    assert again.tags is not None and again.tags.photos_read == 0
    lib.close()


def test_a_region_the_detector_missed_becomes_a_named_face(lfw_mini: Path, tmp_path: Path) -> None:
    """With faces too small for the detector's settings nothing is found in the photo; the
    tagged region becomes a face (the detector looking again inside it), embedded, marked as
    from a tag, and named."""
    from facenet_core.store import Embedding, unpack_landmarks
    from facenet_core.tags.write import FaceTag, write_sidecar

    folder = tmp_path / "missed"
    folder.mkdir()
    source = sorted((lfw_mini / "images").glob("*/*.jpg"))[0]
    photo = folder / "face.jpg"
    Image.open(source).save(photo)
    settings = Settings(device="cpu", flip=False, workers=0, min_face_size=2000)
    lib = Library.open(tmp_path / "lib.db", create=True)
    run_scan(lib, [folder], settings, recognize=False)  # reads no tags yet: there are none
    assert _faces(lib) == []
    box = (70.0, 65.0, 180.0, 190.0)  # the LFW face, centred in its 250 x 250 photo
    assert write_sidecar(photo, (250, 250), 1, [FaceTag("Ann Lee", box)]).written
    result = import_tags(lib, settings=settings)
    assert (result.faces_created, result.faces_named, result.regions_without_face) == (1, 1, 0)
    with lib.session() as s:
        (face,) = s.scalars(select(Face)).all()
        assert face.detector == "tag:mwg" and face.assignment == "confirmed"
        assert face.person is not None and face.person.name == "Ann Lee"
        assert box_iou((face.x1, face.y1, face.x2, face.y2), box) > 0.4
        points = np.array(unpack_landmarks(face.landmarks))
        assert ((points >= (70, 65)) & (points <= (180, 190))).all()
        assert face.landmark_scheme == "mtcnn5"  # the detector's O-Net points: it found the face
        assert s.scalar(select(Embedding.face_id).where(Embedding.face_id == face.id))
    lib.close()


def test_where_the_detector_sees_no_face_the_region_keeps_its_own_box() -> None:
    from facenet_core.library.tag_faces import TagFaceMaker

    maker = TagFaceMaker(None, Settings(device="cpu", flip=False))  # type: ignore[arg-type]
    blank = np.full((200, 300, 3), 128, np.uint8)
    det = maker.detection(blank, (100.0, 50.0, 180.0, 150.0))
    assert det.scheme == "dlib5" and det.box == (100.0, 50.0, 180.0, 150.0)
    assert det.landmarks.shape == (5, 2)


def test_export_writes_only_the_people_the_user_lets_it(folder: Path, tmp_path: Path) -> None:
    """Hidden people and the people on the "never write to photos" list stay out of sidecars;
    taking someone off the list writes them again."""
    import shutil

    from facenet_core.library.export_tags import set_never_export
    from facenet_core.people.edits import hide_person
    from facenet_core.tags.read import read_face_tags

    photos = tmp_path / "photos"
    shutil.copytree(folder, photos, ignore=shutil.ignore_patterns("*.xmp*"))  # photos only
    lib = _scan(tmp_path / "lib.db", photos)
    _name_main_faces(lib)
    with lib.session() as s:
        people = {p.name: p.id for p in s.scalars(select(Person)) if p.name}
    names = sorted(people)
    hidden, never, shown = names[0], names[1], names[2:]
    hide_person(lib, people[hidden], True)
    assert set_never_export(lib, [people[never]]) == {people[never]}
    result = export_tags(lib)
    assert result.failed == [] and result.sidecars_written == 2 * len(shown)

    def written() -> set[str]:
        found: set[str] = set()
        for photo in photos.glob("*.jpg"):
            with Image.open(photo) as img:
                orientation = img.getexif().get(0x0112, 1)
                size = img.size if orientation in (1, 3) else img.size[::-1]
            tags = read_face_tags(photo, size, orientation)
            found |= {r.name for r in tags.regions if r.name}
        return found

    assert written() == set(shown)
    assert set_never_export(lib, [people[never]], False) == set()
    export_tags(lib)
    assert written() == {*shown, never}
    lib.close()
