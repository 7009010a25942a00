"""What the app shows of face tags (issue 15, items 3 and 6): the last import's counts are kept
in the library after a scan, and the faces that came from tags are told apart (named by a tag,
or made from a region no detector found) for as long as they stay where the tag put them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, select

from facenet_core.library import scan
from facenet_core.library.export_tags import export_tags
from facenet_core.library.import_tags import import_tags
from facenet_core.library.tag_queries import faces_from_tags, last_import, tag_origins
from facenet_core.people import edits
from facenet_core.settings import Settings
from facenet_core.store import Face, Library, Person
from tests.helpers import named_library

SETTINGS = Settings(device="cpu", flip=False, workers=0)


@pytest.fixture(scope="module")
def imported(lfw_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """3 named people (2 lfw-mini photos each) exported to sidecars, and a fresh library that
    scanned the same folder with "Read face tags from photos" on."""
    source, photos = named_library(lfw_mini, tmp_path_factory, 3, 2)
    with Library.open(source) as lib:
        assert export_tags(lib).sidecars_written == 6
    fresh = tmp_path_factory.mktemp("fresh") / "library.db"
    with Library.open(fresh, create=True) as lib:
        scan(lib, [photos], SETTINGS.replace(read_face_tags=True), recognize=False)
    return fresh, photos


def _named(lib: Library) -> dict[int, str]:
    with lib.session() as s:
        return dict(
            s.execute(
                select(Face.id, Person.name)
                .join(Person, Person.id == Face.person_id)
                .where(Person.name.is_not(None))
            ).all()
        )


def test_the_scan_keeps_the_counts_of_its_import(imported: tuple[Path, Path]) -> None:
    path, _ = imported
    with Library.open(path) as lib:
        kept = last_import(lib)
    assert kept is not None and kept.finished_at is not None
    assert (kept.photos_read, kept.photos_with_tags) == (6, 6)
    assert (kept.regions_found, kept.faces_matched, kept.faces_named) == (6, 6, 6)
    assert (kept.people_created, kept.names_found) == (3, 6)  # one name per photo
    assert kept.unreadable == () and kept.unreadable_total == 0
    assert kept.summary == "6 names read from 6 photos"


@pytest.fixture
def copied(imported: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the imported library a test may change, and the photos' folder."""
    source, photos = imported
    copy = tmp_path / "library.db"
    copy.write_bytes(source.read_bytes())
    return copy, photos


def test_faces_named_by_tags_are_marked_while_they_stay_there(copied: tuple[Path, Path]) -> None:
    with Library.open(copied[0]) as lib:
        named = _named(lib)
        assert len(named) == 6
        with lib.session() as s:
            origins = tag_origins(s, list(named))
            unnamed = list(s.scalars(select(Face.id).where(Face.person_id.is_(None))))
            assert tag_origins(s, unnamed) == {}
        assert set(origins) == set(named)
        assert {(o.kind, o.source) for o in origins.values()} == {("named", "mwg")}

        people = {n: i for i, n in _people(lib).items()}
        a, b, c = sorted(people)
        moved = next(f for f, n in named.items() if n == a)
        edits.move_faces(lib, [moved], people[b])  # the user's word: no longer the tag's
        edits.merge_people(lib, [people[c], people[b]])  # B merged into C keeps its marks
        with lib.session() as s:
            marked = {o.face_id for o in faces_from_tags(s, people[c])}
        assert marked == {f for f, n in named.items() if n in (b, c)}


def _people(lib: Library) -> dict[int, str]:
    with lib.session() as s:
        return {i: n for i, n in s.execute(select(Person.id, Person.name)) if n}


def test_a_face_the_detector_missed_is_made_from_its_region_and_marked(
    copied: tuple[Path, Path],
) -> None:
    path, photos = copied
    with Library.open(path) as lib:
        named = _named(lib)
        gone = min(named)
        with lib.write() as s:  # as if the detector had not found this face
            s.execute(delete(Face).where(Face.id == gone))
        result = import_tags(lib, [photos], settings=SETTINGS)
        assert result.faces_created == 1
        new = max(_named(lib))
        assert _named(lib)[new] == named[gone]
        with lib.session() as s:
            origin = tag_origins(s, [new])[new]
            detector = s.scalar(select(Face.detector).where(Face.id == new))
        assert (origin.kind, origin.source, detector) == ("made", "mwg", "tag:mwg")
        kept = last_import(lib)
        assert kept is not None and kept.faces_created == 1 and kept.photos_read == 6
