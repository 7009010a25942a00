"""Face tags in the app, through the real window and task runner, on real lfw-mini photos whose
names another program wrote into sidecars: the Library page says what a scan read from them and
lists the photo whose metadata could not be read; the person page marks the faces a tag named;
"Write names to photos…" previews exactly what it then writes, stops on Cancel, and leaves out a
person marked "never write to photos".

The tagged folder is made with the project's own writer: three people of two photos each, two of
them with ``IMG.jpg.xmp`` sidecars (digiKam's naming), one with ``IMG.xmp`` (Lightroom's), and a
seventh photo whose sidecar is broken."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from facenet_core.library import scan as run_scan
from facenet_core.library.export_tags import never_export_ids
from facenet_core.settings import Settings
from facenet_core.store import Library, Person
from facenet_core.tags import read_face_tags
from facenet_core.tags.write import FaceTag, write_sidecar
from tests.gui.conftest import show_main_window, shut_down

pytestmark = pytest.mark.slow

PEOPLE = ("Ada Lovelace", "Bo Diddley", "Cy Twombly")
REGION = (75.0, 65.0, 175.0, 190.0)
"""Where an lfw-mini face is (250 x 250, the face in the middle): a digiKam-like loose box."""
SETTINGS = Settings(device="cpu", flip=False, workers=0, face_model="fast", read_face_tags=True)


def _shot(widget, name: str) -> None:  # type: ignore[no-untyped-def]
    if os.environ.get("FACENET_SHOTS"):
        widget.grab().save(str(Path(os.environ["FACENET_SHOTS"]) / name))


@pytest.fixture(scope="module")
def tagged_folder(lfw_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tags") / "Tagged photos"
    folder.mkdir()
    people: dict[str, list[str]] = {}
    for line in (lfw_mini / "clusters.txt").read_text().splitlines():
        rel, person = line.split("\t")
        people.setdefault(person, []).append(rel)
    sources = [rels for rels in people.values() if len(rels) >= 2][:4]
    for n, name in enumerate(PEOPLE):
        for rel in sources[n][:2]:
            photo = folder / Path(rel).name
            shutil.copy(lfw_mini / "images" / rel, photo)
            naming = "xmp" if n == 1 else "ext.xmp"  # Bo's sidecars are Lightroom's IMG.xmp
            outcome = write_sidecar(photo, (250, 250), 1, [FaceTag(name, REGION)], (), naming)
            assert outcome.written
    stranger = folder / Path(sources[3][0]).name
    shutil.copy(lfw_mini / "images" / sources[3][0], stranger)
    (folder / (stranger.name + ".xmp")).write_text("<x:xmpmeta><rdf:RDF>cut short")
    pristine = folder.parent / "pristine"
    pristine.mkdir()
    for sidecar in folder.glob("*.xmp"):
        shutil.copy(sidecar, pristine / sidecar.name)
    return folder


@pytest.fixture(autouse=True)
def pristine_sidecars(tagged_folder: Path) -> None:
    """Each test starts from the sidecars as the other programs left them."""
    for sidecar in [*tagged_folder.glob("*.xmp"), *tagged_folder.glob("*.bak")]:
        sidecar.unlink()
    for sidecar in (tagged_folder.parent / "pristine").iterdir():
        shutil.copy(sidecar, tagged_folder / sidecar.name)


def _new_library(path: Path) -> Library:
    library = Library.open(path, create=True)
    library.save_settings(SETTINGS)
    return library


@pytest.fixture(scope="module")
def scanned(tagged_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tagged folder scanned once (its tags read), kept as a file each test copies."""
    work = tmp_path_factory.mktemp("scanned")
    library = _new_library(work / "scanned.db")
    run_scan(library, [tagged_folder], SETTINGS, recognize=False)
    library.close()
    return work / "scanned.db"


@pytest.fixture
def window(qtbot, scanned: Path, tmp_path: Path):
    with Library.open(scanned) as source:
        copy = source.backup(tmp_path / "library.db")
    library = Library.open(copy)
    win = show_main_window(qtbot, library)
    yield win
    shut_down(win, library, qtbot)


def _person_id(library: Library, name: str) -> int:
    with library.session() as s:
        found = s.scalar(select(Person.id).where(Person.name == name))
    assert found is not None, name
    return found


def _names_in(sidecar: Path) -> list[str]:
    photo = sidecar.with_name(sidecar.name.removesuffix(".xmp"))
    return [r.name or "" for r in read_face_tags(photo, (250, 250), 1).regions]


def test_a_scan_says_what_it_read_from_face_tags(qtbot, tagged_folder: Path, tmp_path) -> None:
    library = _new_library(tmp_path / "lib" / "library.db")
    window = show_main_window(qtbot, library)
    try:
        page = window.library_view
        window.add_folders([str(tagged_folder)])
        qtbot.waitUntil(lambda: page.scan_task is not None, timeout=10_000)
        qtbot.waitUntil(lambda: page.scan_task is None, timeout=600_000)
        assert "Face tags: 6 names read from 6 photos, 6 faces named" in window.banner.message
        panel = page.tag_panel
        qtbot.waitUntil(panel.isVisible, timeout=20_000)
        assert panel.headline.text() == "6 names read from 6 photos (of 7 read)"
        details = panel.details.text()
        assert "6 faces named" in details and "3 new people" in details
        assert "6 regions matched" in details
        # the photo whose sidecar is broken: listed, with its reason, once the list is opened
        button = panel.unreadable_button
        assert button.text() == "Show 1 photo whose metadata could not be read"
        assert not panel.unreadable.isVisible()
        button.click()
        assert panel.unreadable.isVisible() and panel.model.rowCount() == 1
        path, reason = panel.model.item(0)
        assert path.endswith(".jpg") and Path(path + ".xmp").read_text().endswith("cut short")
        assert "malformed XMP" in reason
        qtbot.waitUntil(lambda: "(3 named)" in window.counts_label.text(), timeout=20_000)
        _shot(window, "library-face-tags.png")
    finally:
        shut_down(window, library, qtbot)


def test_the_person_page_marks_the_faces_a_tag_named(qtbot, window) -> None:
    ada = _person_id(window.library, PEOPLE[0])
    window.show_view("People")
    window.people_view.open_person(ada)
    page = window.people_view.person
    qtbot.waitUntil(lambda: page.faces.rowCount() == 2, timeout=20_000)
    qtbot.waitUntil(lambda: page.origins_shown > 0, timeout=20_000)
    ids = {f.id for f in page.faces.items}
    origins = page.face_delegate.origins
    assert set(origins) == ids
    assert all(text.startswith("Named from a face tag: an MWG region") for text in origins.values())
    assert "digiKam" in next(iter(origins.values()))
    # the pill is painted: the accent colour at the bottom left of each face
    delegate = page.face_delegate
    for row in range(2):
        rect = page.grid.visualRect(page.faces.index(row, 0))
        image = page.grid.viewport().grab(rect).toImage()
        left = (rect.width() - delegate.size) // 2
        bottom = delegate.pad + delegate.size
        accent = sum(
            1
            for x in range(left - 2, left + 30)
            for y in range(bottom - 18, bottom)
            if image.pixelColor(x, y).name() == "#3b6fd8"
        )
        assert accent > 100, accent
    qtbot.wait(300)  # thumbnails
    _shot(window, "person-face-tags.png")


def _open_dialog(qtbot, window):  # type: ignore[no-untyped-def]
    dialog = window.write_names()
    qtbot.waitUntil(lambda: dialog.plan is not None, timeout=20_000)
    return dialog


def test_the_write_preview_is_what_is_then_written(qtbot, window, tagged_folder: Path) -> None:
    window.show_view("Library")
    dialog = _open_dialog(qtbot, window)
    plan = dialog.plan
    # 6 named photos: Bo's 2 had only Lightroom's IMG.xmp, so their IMG.jpg.xmp is new
    assert (plan.photos, plan.sidecars_new, plan.sidecars_changed) == (6, 2, 4)
    assert plan.people == sorted(PEOPLE) and plan.faces_written == 6 and plan.failed == []
    text = dialog.preview.text()
    assert "6 photos with named people: 2 sidecars to create, 4 to change" in text
    assert f"6 named faces of 3 people to write: {', '.join(sorted(PEOPLE))}" in text
    assert "Your photos themselves are not modified" in dialog.intro.text()
    before = {p: p.stat().st_mtime_ns for p in tagged_folder.glob("*.jpg")}
    assert dialog.write_button.isEnabled()
    dialog.write_button.click()
    qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=60_000)
    result = dialog.outcome
    assert result.sidecars_written == plan.sidecars_written == 6
    assert result.sidecars_new == plan.sidecars_new and result.faces_written == plan.faces_written
    assert result.people == plan.people
    assert dialog.status.text().startswith("Done: 6 sidecars written (2 created, 4 changed;")
    written = sorted(tagged_folder.glob("*.jpg.xmp"))
    names = sorted(n for sidecar in written for n in _names_in(sidecar))
    assert names == sorted(p for p in PEOPLE for _ in range(2))
    # the photos themselves are untouched
    assert {p: p.stat().st_mtime_ns for p in tagged_folder.glob("*.jpg")} == before
    _shot(dialog, "write-names-done.png")
    dialog.close()


def test_cancel_stops_writing(qtbot, window, tagged_folder: Path, monkeypatch) -> None:
    import facenet_core.people.exportable as export_module  # where export writes a sidecar

    for sidecar in tagged_folder.glob("*.jpg.xmp"):
        if "cut short" not in sidecar.read_text():
            sidecar.unlink()
    real = export_module.write_sidecar

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.5)  # a slow network drive
        return real(*args, **kwargs)

    monkeypatch.setattr(export_module, "write_sidecar", slow)
    dialog = _open_dialog(qtbot, window)
    assert dialog.plan.sidecars_new == 6
    dialog.write_button.click()
    assert dialog.write_task is not None
    qtbot.waitUntil(lambda: dialog.status.text().startswith("Writing: "), timeout=20_000)
    assert dialog.cancel_button.isVisible()
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=20_000)
    result = dialog.outcome
    assert result.cancelled and 1 <= result.sidecars_written < 6
    new = [s for s in tagged_folder.glob("*.jpg.xmp") if "cut short" not in s.read_text()]
    assert len(new) == result.sidecars_written
    assert dialog.status.text().startswith("Stopped:")
    assert dialog.close_button.isEnabled() and not dialog.cancel_button.isVisible()
    dialog.close()


def test_a_person_never_written_stays_out(qtbot, window, tagged_folder: Path) -> None:
    library = window.library
    ada = _person_id(library, PEOPLE[0])
    window.show_view("People")
    window.people_view.open_person(ada)
    page = window.people_view.person
    qtbot.waitUntil(lambda: page.person is not None and page.person.id == ada, timeout=20_000)
    assert not page.never_action.isChecked()
    page.never_action.trigger()  # More > Never Write This Person to Photos

    def listed() -> bool:
        with library.session() as s:
            return ada in never_export_ids(s)

    qtbot.waitUntil(listed, timeout=20_000)
    before = {s: s.read_bytes() for s in tagged_folder.glob("*.xmp")}
    dialog = _open_dialog(qtbot, window)
    plan = dialog.plan
    assert plan.never_written == [PEOPLE[0]] and plan.people == list(PEOPLE[1:])
    assert (plan.photos, plan.sidecars_new, plan.sidecars_changed) == (4, 2, 2)
    assert plan.faces_written == 4
    assert f"Never written, as you asked: {PEOPLE[0]}" in dialog.preview.text()
    _shot(dialog, "write-names.png")
    dialog.write_button.click()
    qtbot.waitUntil(lambda: dialog.outcome is not None, timeout=60_000)
    assert dialog.outcome.sidecars_written == 4
    after = {s: s.read_bytes() for s in tagged_folder.glob("*.xmp")}
    changed = [s for s in after if after[s] != before.get(s)]
    assert len(changed) == 4
    assert sorted(n for s in changed for n in _names_in(s)) == sorted(PEOPLE[1:] * 2)
    # Ada's own photos were not written: their sidecars are as the other program left them
    adas = [s for s in after if _names_in(s) == [PEOPLE[0]]]
    assert len(adas) == 2 and all(after[s] == before[s] for s in adas)
    dialog.close()
    # the page shows the choice when opened again, and it can be taken back
    window.people_view.open_person(ada)
    qtbot.waitUntil(page.never_action.isChecked, timeout=20_000)
    page.never_action.trigger()
    qtbot.waitUntil(lambda: not listed(), timeout=20_000)
