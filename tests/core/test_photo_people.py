"""Photo-level people (issue 15, item 5): a person on a photo without a face box is one of the
person's photos and of "photos of A and B", is an undoable edit, follows merges, goes with a
forgotten person or a deleted photo, is written as PersonInImage (never for hidden or
never-export people), and comes from imported names that cannot be put on one face."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from facenet_core.cli import main as cli_main
from facenet_core.library.export_tags import export_tags, set_never_export
from facenet_core.library.forget import forget_person
from facenet_core.library.import_tags import import_tags
from facenet_core.library.roots import remove_root
from facenet_core.library.tag_queries import last_import
from facenet_core.people import edits
from facenet_core.people.errors import PeopleError
from facenet_core.people.photo_people import photo_people, tag_photo, untag_photo
from facenet_core.people.queries import photos_with_people
from facenet_core.store import (
    Edit,
    EditPhotoPerson,
    Face,
    Library,
    Person,
    Photo,
    PhotoPerson,
    Root,
)
from facenet_core.tags import read_face_tags
from facenet_core.tags.write import FaceTag, sidecar_path, write_sidecar

EACH = 2
"""Photos of each person in :func:`tests.core.conftest.three_people`."""


def people(lib: Library) -> dict[str, int]:
    with lib.session() as s:
        return {n: i for i, n in s.execute(select(Person.id, Person.name)) if n}


def photos_of(lib: Library, *names: str) -> set[str]:
    ids = people(lib)
    with lib.session() as s:
        page = photos_with_people(s, [ids[n] for n in names], limit=100)
    return {Path(p.path).name for p in page.items}


def photo_without(lib: Library, name: str) -> tuple[int, str]:
    """A photo in which the person has no face."""
    pid = people(lib)[name]
    with lib.session() as s:
        own = select(Face.photo_id).where(Face.person_id == pid)
        row = s.execute(
            select(Photo.id, Photo.path).where(Photo.id.not_in(own)).order_by(Photo.path)
        ).first()
    assert row is not None
    return row.id, Path(row.path).name


def test_a_tagged_photo_is_among_the_persons_photos_and_of_a_and_b_and_undo_takes_it_back(
    sidecar_library,
) -> None:
    lib, _ = sidecar_library
    names = sorted(people(lib))
    a, b = names[0], names[1]
    before_a, before_ab = photos_of(lib, a), photos_of(lib, a, b)
    assert len(before_a) == EACH and before_ab == set()
    photo_id, photo_name = photo_without(lib, a)
    assert photo_name in photos_of(lib, b)  # the photo chosen is one of B's

    change = tag_photo(lib, photo_id, people(lib)[a])

    assert change.changed and change.photos == {photo_id}
    assert photos_of(lib, a) == before_a | {photo_name}
    assert photos_of(lib, a, b) == {photo_name}
    with lib.session() as s:
        assert [p.name for p in photo_people(s, photo_id)] == [a]
    assert not tag_photo(lib, photo_id, people(lib)[a]).changed  # already there

    edits.undo(lib)
    assert photos_of(lib, a) == before_a and photos_of(lib, a, b) == set()
    edits.redo(lib)
    assert photos_of(lib, a, b) == {photo_name}

    untag_photo(lib, photo_id, people(lib)[a])
    assert photos_of(lib, a) == before_a
    with pytest.raises(PeopleError, match="not tagged"):
        untag_photo(lib, photo_id, people(lib)[a])
    edits.undo(lib)
    assert photos_of(lib, a, b) == {photo_name}


def test_merging_moves_the_tags_and_undo_gives_them_back(sidecar_library) -> None:
    lib, _ = sidecar_library
    a, _, c = sorted(people(lib))
    photo_id, photo_name = photo_without(lib, a)
    tag_photo(lib, photo_id, people(lib)[a])
    ids = people(lib)
    c_photos = photos_of(lib, c)

    edits.merge_people(lib, [ids[c], ids[a]])  # A merged into C

    assert photo_name in photos_of(lib, c)
    with lib.session() as s:
        assert (
            s.scalar(select(PhotoPerson.person_id).where(PhotoPerson.photo_id == photo_id))
            == (ids[c])
        )
    edits.undo(lib)
    assert photos_of(lib, c) == c_photos
    assert photo_name in photos_of(lib, a)
    edits.name_person(lib, people(lib)[a], f"{a} Senior")  # renaming keeps them
    assert photo_name in photos_of(lib, f"{a} Senior")


def test_a_person_with_only_tags_is_not_deleted_as_empty(sidecar_library) -> None:
    lib, _ = sidecar_library
    a = sorted(people(lib))[0]
    photo_id, _ = photo_without(lib, a)
    ids = people(lib)
    with lib.session() as s:
        own = list(s.scalars(select(Face.id).where(Face.person_id == ids[a])))
    tag_photo(lib, photo_id, ids[a])
    change = edits.move_faces(lib, own, None)  # all A's faces to a new person
    edits.name_person(lib, ids[a], a)  # A keeps its name
    with lib.session() as s:
        assert s.get(Person, ids[a]) is not None
    assert change.changed


def test_forgetting_a_person_forgets_their_photo_tags_sidecars_and_history(sidecar_library) -> None:
    lib, photos = sidecar_library
    a = sorted(people(lib))[0]
    photo_id, photo_name = photo_without(lib, a)
    tag_photo(lib, photo_id, people(lib)[a])
    export_tags(lib)
    sidecar = sidecar_path(photos / photo_name)
    assert a.encode() in sidecar.read_bytes()

    forget_person(lib, people(lib)[a])

    with lib.session() as s:
        assert s.scalar(select(func.count()).select_from(PhotoPerson)) == 0
        assert s.scalar(select(func.count()).select_from(EditPhotoPerson)) == 0
        assert s.scalar(select(func.count()).select_from(Edit)) == 0
    assert a.encode() not in sidecar.read_bytes()
    assert not sidecar.with_name(sidecar.name + ".bak").exists()


def test_removing_the_folder_deletes_the_tags_with_the_photos(sidecar_library) -> None:
    lib, _ = sidecar_library
    a = sorted(people(lib))[0]
    photo_id, _ = photo_without(lib, a)
    tag_photo(lib, photo_id, people(lib)[a])
    with lib.session() as s:
        root_id = s.scalar(select(Root.id))
    remove_root(lib, root_id)
    with lib.session() as s:
        assert s.scalar(select(func.count()).select_from(PhotoPerson)) == 0


def test_export_writes_tagged_people_as_person_in_image_except_hidden_and_never(
    sidecar_library,
) -> None:
    lib, photos = sidecar_library
    a, b, c = sorted(people(lib))
    ids = people(lib)
    photo_id, photo_name = photo_without(lib, a)
    for name in (a, b, c):
        tag_photo(lib, photo_id, ids[name])
    edits.hide_person(lib, ids[b])
    set_never_export(lib, [ids[c]])

    result = export_tags(lib, [a])

    assert result.photos == EACH + 1 and not result.failed  # A's own photos and the tagged one
    with lib.session() as s:
        p = s.get(Photo, photo_id)
        assert p is not None and p.width and p.height
        size = (p.width, p.height)
    tags = read_face_tags(photos / photo_name, size, 1)
    names_in_boxes = {r.name for r in tags.regions}
    assert a in tags.names_without_box and a not in names_in_boxes
    assert b not in tags.names and c not in tags.names
    assert photo_name.startswith(b.replace(" ", "_"))  # the photo's face is B's, hidden:
    assert tags.regions == ()  # not written with a box either


def test_cli_tag_photo_and_untag_photo(sidecar_library, capsys: pytest.CaptureFixture[str]) -> None:
    lib, photos = sidecar_library
    a = sorted(people(lib))[0]
    _, photo_name = photo_without(lib, a)
    path = str(lib.path)
    lib.close()
    assert cli_main(["--library", path, "tag-photo", str(photos / photo_name), a]) == 0
    assert f'put "{a}"' in capsys.readouterr().out
    assert cli_main(["--library", path, "photos", a]) == 0
    assert photo_name in capsys.readouterr().out
    assert cli_main(["--library", path, "untag-photo", str(photos / photo_name), a]) == 0
    assert cli_main(["--library", path, "tag-photo", "/no/such.jpg", a]) == 1
    assert "no photo" in capsys.readouterr().err


def test_names_that_find_no_face_become_photo_tags_and_the_counts_are_kept(sidecar_library) -> None:
    lib, photos = sidecar_library
    a, b, _ = sorted(people(lib))
    photo_id, photo_name = photo_without(lib, a)
    photo = photos / photo_name
    with lib.session() as s:
        p = s.get(Photo, photo_id)
        assert p is not None and p.width and p.height
        size = (p.width, p.height)
    # a named region in a corner where no face is (its face cannot be made without settings),
    # and a name without a box on a photo whose face already belongs to someone
    write_sidecar(photo, size, 1, [FaceTag("Zed Corner", (0, 0, 30, 30))], [a, b])

    result = import_tags(lib, [photos])

    assert result.regions_without_face == 1
    assert result.photos_tagged == 2  # Zed (new person) and A; B's face is already there
    ids = people(lib)
    assert "Zed Corner" in ids and result.people_created == 1
    assert photo_name in photos_of(lib, "Zed Corner")
    assert photo_name in photos_of(lib, a, b)
    with lib.session() as s:
        sources = dict(
            s.execute(
                select(PhotoPerson.person_id, PhotoPerson.source).where(
                    PhotoPerson.photo_id == photo_id
                )
            ).all()
        )
    assert sources == {ids["Zed Corner"]: "tag:mwg", ids[a]: "tag:names"}
    kept = last_import(lib)
    assert kept is not None
    assert (kept.regions_found, kept.names_found, kept.photos_tagged) == (1, 3, 2)
    assert kept.summary == "3 names read from 1 photo"
    assert kept.finished_at is not None
    # a second import changes nothing: the tags are there
    again = import_tags(lib, [photos])
    assert again.photos_tagged == 0
