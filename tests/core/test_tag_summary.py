"""What the app shows of face tags: the last import's counts and unreadable photos, which faces a
tag named or made, and the preview of an export, which must equal what the export then writes."""

from __future__ import annotations

from sqlalchemy import select

from facenet_core.library.export_tags import export_tags, set_never_export
from facenet_core.library.import_tags import ImportResult, import_tags, save_last_import
from facenet_core.library.tag_queries import TagOrigin, last_import, tag_origins
from facenet_core.people.edits import move_faces
from facenet_core.progress import CancelToken, Progress
from facenet_core.store import Face, Person
from facenet_core.tags.write import FaceTag, write_sidecar
from tests.core.people_helpers import add_face
from tests.core.test_tags_export import _photo, library  # noqa: F401 (a fixture)


def test_an_import_is_kept_with_its_unreadable_photos_and_the_faces_it_named(library) -> None:  # noqa: F811
    lib, folder = library
    assert last_import(lib) is None
    # photo 3: Bo's suggestion, one face: a name without a box goes to it
    write_sidecar(folder / "img_3.jpg", (640, 480), 1, [], ["Cy Diaz"])
    (folder / "img_4.jpg.xmp").write_text("<x:xmpmeta broken")  # cannot be read
    result = import_tags(lib)
    summary = last_import(lib)
    assert summary is not None
    assert (summary.photos_read, summary.photos_with_tags) == (4, 1)
    assert (summary.names_found, summary.faces_named, summary.people_created) == (1, 1, 1)
    assert summary.unreadable_total == 1 == len(result.unreadable)
    assert summary.unreadable[0][0] == str(folder / "img_4.jpg")
    assert summary.unreadable[0][1] == result.unreadable[0][1]
    with lib.session() as s:
        cy = s.scalar(
            select(Face.id)
            .join(Person, Person.id == Face.person_id)
            .where(Person.name == "Cy Diaz")
        )
        others = list(s.scalars(select(Face.id).where(Face.id != cy)))
        assert tag_origins(s, [cy, *others]) == {cy: TagOrigin(cy, "named", "names")}
    # the user moves the face elsewhere: it is theirs now, no longer the tag's
    assert cy is not None
    move_faces(lib, [cy], None)
    with lib.session() as s:
        assert tag_origins(s, [cy]) == {}


def test_an_import_that_reads_nothing_keeps_the_last_one(library) -> None:  # noqa: F811
    lib, folder = library
    write_sidecar(folder / "img_3.jpg", (640, 480), 1, [], ["Cy Diaz"])
    import_tags(lib)
    import_tags(lib, [folder / "no such folder"])  # reads no photo
    summary = last_import(lib)
    assert summary is not None and summary.names_found == 1


def test_a_face_made_from_a_region_says_so(library) -> None:  # noqa: F811
    lib, folder = library
    with lib.write() as s:
        photo = _photo(s, folder, 9)
        face_id = add_face(s, photo)
        s.get(Face, face_id).detector = "tag:mwg"  # type: ignore[union-attr]
    with lib.session() as s:
        assert tag_origins(s, [face_id]) == {face_id: TagOrigin(face_id, "made", "mwg")}


def test_a_cancelled_import_is_not_kept(library) -> None:  # noqa: F811
    lib, _ = library
    save_last_import(lib, ImportResult(photos_read=3, names_found=2, cancelled=True))
    assert last_import(lib) is None


def test_the_preview_equals_what_the_export_writes(library) -> None:  # noqa: F811
    lib, folder = library
    # photo 1 already has a sidecar with Ada only: changed; photo 2 has none: new
    write_sidecar(folder / "img_1.jpg", (640, 480), 1, [FaceTag("Ada", (5, 6, 35, 40))])
    events: list[Progress] = []
    before = (folder / "img_1.jpg.xmp").read_bytes()
    plan = export_tags(lib, dry_run=True, reporter=events.append)
    assert (plan.photos, plan.sidecars_new, plan.sidecars_changed) == (2, 1, 1)
    assert plan.people == ["Ada", "Bo"] and plan.faces_written == 3 and plan.failed == []
    assert [e.done for e in events] == [1, 2] and not (folder / "img_2.jpg.xmp").exists()
    assert (folder / "img_1.jpg.xmp").read_bytes() == before  # nothing written
    result = export_tags(lib)
    assert not result.dry_run and result.sidecars_written == plan.sidecars_written == 2
    assert result.sidecars_new == plan.sidecars_new and result.faces_written == plan.faces_written
    assert result.people == plan.people
    again = export_tags(lib, dry_run=True)
    assert (again.sidecars_written, again.sidecars_unchanged, again.faces_written) == (0, 2, 0)


def test_the_preview_leaves_out_people_never_written(library) -> None:  # noqa: F811
    lib, _ = library
    with lib.session() as s:
        bo = s.scalar(select(Person.id).where(Person.name == "Bo"))
    assert bo is not None
    set_never_export(lib, [bo])
    plan = export_tags(lib, dry_run=True)
    assert plan.people == ["Ada"] and plan.never_written == ["Bo"] and plan.faces_written == 2


def test_the_preview_and_the_export_stop_when_cancelled(library) -> None:  # noqa: F811
    lib, folder = library
    cancel = CancelToken()

    def stop_after_first(event: Progress) -> None:
        cancel.cancel()

    plan = export_tags(lib, dry_run=True, reporter=stop_after_first, cancel=cancel)
    assert plan.cancelled and plan.photos == 1
    cancel = CancelToken()
    result = export_tags(lib, reporter=stop_after_first, cancel=cancel)
    assert result.cancelled and result.sidecars_written == 1
    assert len(list(folder.glob("*.xmp"))) == 1


def test_the_export_tags_command_has_a_dry_run(library, capsys) -> None:  # noqa: F811
    from facenet_core.cli import main

    lib, folder = library
    db = lib.path
    lib.close()
    assert main(["export-tags", "--library", str(db), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run, nothing written: 2 sidecars to create and 0 to change (3 named faces)" in out
    assert list(folder.glob("*.xmp")) == []
