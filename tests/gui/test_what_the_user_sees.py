"""What a person sees agrees with itself, through the real window: one count of people on the
People page and in the status bar (and what is small or hidden is said), one label for an
unnamed person in the app and on the command line, the Library page's counts live during a job
(at most once a second) with its rows kept through refreshes, and photos by date taken, newest
first, under year and month headers, undated photos last."""

from __future__ import annotations

import io
import time
from contextlib import redirect_stdout
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QPersistentModelIndex
from sqlalchemy import insert

from app.models import ItemRole, Section
from app.picker import PersonPicker
from facenet_core.cli import main as cli_main
from facenet_core.library.roots import add_root
from facenet_core.people.queries import person_label
from facenet_core.progress import CancelToken, PhaseClock, Reporter
from facenet_core.store import Assignment, Face, Library, Person, Photo, PhotoStatus, Root
from facenet_core.store.models import pack_landmarks
from tests.gui.conftest import window_fixture

LANDMARKS = pack_landmarks([(10.0, 12.0), (20.0, 12.0), (15.0, 18.0), (11.0, 24.0), (19.0, 24.0)])
DATES = [
    datetime(2024, 3, 2, 9, 0),
    datetime(2024, 3, 20, 18, 0),
    datetime(2024, 1, 5, 12, 0),
    datetime(2023, 12, 24, 20, 0),
    None,
    datetime(2023, 12, 1, 8, 0),
    None,
]


@dataclass(frozen=True)
class World:
    library: Library
    photos: dict[int, datetime | None]  # photo id -> date taken
    ada: int  # named, 4 faces
    group: int  # unnamed, 3 faces
    small: int  # unnamed, 1 face: under the smallest group size (3)
    hidden: int  # named, hidden


def _photo(session, root_id: int, folder: Path, n: int, taken: datetime | None) -> int:  # type: ignore[no-untyped-def]
    path = folder / f"img_{n}.jpg"
    Image.new("RGB", (64, 48), (40 * n % 255, 90, 140)).save(path)
    row = session.execute(
        insert(Photo).returning(Photo.id),
        {
            "root_id": root_id,
            "path": str(path),
            "size": path.stat().st_size,
            "mtime_ns": n,
            "content_hash": f"{n:064x}",
            "width": 64,
            "height": 48,
            "taken_at": taken,
            "status": PhotoStatus.DONE,
        },
    )
    return int(row.scalar_one())


def _face(session, photo_id: int, person_id: int | None) -> None:  # type: ignore[no-untyped-def]
    session.execute(
        insert(Face),
        {
            "photo_id": photo_id,
            "x1": 4.0,
            "y1": 4.0,
            "x2": 40.0,
            "y2": 40.0,
            "landmarks": LANDMARKS,
            "landmark_scheme": "mtcnn5",
            "detector": "mtcnn",
            "det_score": 0.99,
            "person_id": person_id,
            "assignment": Assignment.AUTO if person_id else Assignment.NONE,
        },
    )


@pytest.fixture
def world(tmp_path: Path) -> World:
    folder = tmp_path / "Photos"
    folder.mkdir()
    library = Library.open(tmp_path / "lib" / "library.db", create=True)
    root = add_root(library, folder)
    with library.write() as s:
        photos = {_photo(s, root, folder, n, taken): taken for n, taken in enumerate(DATES)}
        ids = list(photos)
        people = {}
        for key, name, hidden in (
            ("ada", "Ada", False),
            ("group", None, False),
            ("small", None, False),
            ("hidden", "Hugo", True),
        ):
            people[key] = s.execute(
                insert(Person).returning(Person.id), {"name": name, "is_hidden": hidden}
            ).scalar_one()
        for photo in ids[:4]:
            _face(s, photo, people["ada"])
        for photo in (ids[1], ids[3], ids[4]):
            _face(s, photo, people["group"])
        _face(s, ids[5], people["small"])
        _face(s, ids[6], people["hidden"])
    return World(library, photos, **people)


@pytest.fixture
def window(qtbot, world: World):
    yield from window_fixture(qtbot, world.library)


def test_one_count_of_people_on_the_people_page_and_in_the_status_bar(
    window, world: World, qtbot
) -> None:
    view = window.show_view("People")
    grid = view.people
    qtbot.waitUntil(lambda: view.loads > 0 and grid.model.rowCount() > 0, timeout=10_000)
    # listed: Ada and the unnamed group of 3; left out: the group of 1, and Hugo (hidden)
    assert {c.id for c in grid.model.items} == {world.ada, world.group}
    subtitle = grid.header.subtitle.text()
    assert subtitle.startswith("2 people (1 named)")
    assert "not shown: 1 small group (under 3 faces), 1 hidden" in subtitle
    qtbot.waitUntil(lambda: "2 people (1 named)" in window.counts_label.text(), timeout=10_000)
    assert "1 small group" in window.counts_label.toolTip()
    assert "1 hidden" in window.counts_label.toolTip()
    # a refresh (someone was renamed elsewhere) keeps the card the user selected
    row = next(r for r in range(grid.proxy.rowCount()) if grid.proxy.index(r, 0).data() == "Ada")
    grid.grid.selectionModel().select(
        grid.proxy.index(row, 0), grid.grid.selectionModel().SelectionFlag.ClearAndSelect
    )
    with world.library.write() as s:
        s.get(Person, world.group).name = "Zoe"
    loads = view.loads
    window.ctx.notify("people")
    qtbot.waitUntil(lambda: view.loads > loads, timeout=10_000)
    assert [c.id for c in grid.grid.selected()] == [world.ada]
    assert "Zoe" in [c.name for c in grid.model.items]
    assert grid.header.subtitle.text().startswith("2 people (2 named)")
    qtbot.waitUntil(lambda: "2 people (2 named)" in window.counts_label.text(), timeout=10_000)
    # showing the hidden people lists Hugo too, and says so
    grid.hidden_box.setChecked(True)
    qtbot.waitUntil(lambda: grid.model.rowCount() == 3, timeout=10_000)
    assert grid.header.subtitle.text().startswith("2 people (2 named) and 1 hidden")
    assert "not shown: 1 small group" in grid.header.subtitle.text()


def test_an_unnamed_person_has_one_label_in_the_app_and_the_cli(
    window, world: World, qtbot, tmp_path: Path
) -> None:
    label = person_label(world.group, None)
    assert label == f"Unnamed person {world.group}"
    view = window.show_view("People")
    grid = view.people
    qtbot.waitUntil(lambda: grid.model.rowCount() == 2, timeout=10_000)
    shown = {grid.model.index(r, 0).data(): grid.model.item(r).id for r in range(2)}
    assert shown[label] == world.group and shown["Ada"] == world.ada
    grid.search.setText("unnamed")  # the label is what the search matches
    assert grid.proxy.rowCount() == 1
    grid.search.clear()
    view.open_person(world.group)
    qtbot.waitUntil(lambda: view.person.header.title.text() == label, timeout=10_000)
    picker = PersonPicker(list(grid.model.items), title="Who?")
    qtbot.addWidget(picker)
    texts = [picker.list.item(i).text() for i in range(picker.list.count())]
    assert any(t.startswith(label) for t in texts)
    # the command line lists the same person under the same label
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli_main(["--library", str(world.library.path), "people"]) == 0
    assert any(line.rstrip().endswith(label) for line in out.getvalue().splitlines())


def test_photos_by_date_taken_with_year_and_month_headers(window, world: World, qtbot) -> None:
    view = window.show_view("Photos")
    model = view.model
    qtbot.waitUntil(lambda: model.total == len(DATES) and model.rowCount() > 0, timeout=10_000)
    rows = [model.item(r) for r in range(model.rowCount())]
    shown = [
        r.title if isinstance(r, Section) else (f"{r.taken_at:%Y-%m-%d}" if r.taken_at else "-")
        for r in rows
    ]
    assert shown == [
        "2024",
        "March",
        "2024-03-20",
        "2024-03-02",
        "January",
        "2024-01-05",
        "2023",
        "December",
        "2023-12-24",
        "2023-12-01",
        "No date",
        "-",
        "-",
    ]
    # the headers are rows of their own, a whole line wide, and never selected
    grid = view.grid
    qtbot.waitUntil(lambda: grid.visualRect(model.index(1, 0)).height() > 0)
    year = grid.visualRect(model.index(0, 0))
    month = grid.visualRect(model.index(1, 0))
    first = grid.visualRect(model.index(2, 0))
    second = grid.visualRect(model.index(3, 0))
    assert month.top() >= year.bottom() and first.top() >= month.bottom()
    assert first.top() == second.top() and second.left() > first.right()  # side by side
    assert year.width() > grid.viewport().width() * 0.9
    assert not model.flags(model.index(0, 0)) & model.flags(model.index(2, 0))
    grid.selectAll()
    assert all(not isinstance(v, Section) for v in grid.selected())
    # the viewer steps over the headers: from March's last photo to January's
    view.open_row(3)
    assert view.viewing == 3
    view.step(1)
    assert view.viewing == 5 and view.stack.currentIndex() == 1
    view.step(-1)
    assert view.viewing == 3


def test_a_persons_and_several_peoples_photos_in_the_same_order(
    window, world: World, qtbot
) -> None:
    view = window.show_view("Photos")
    view.set_people([(world.ada, "Ada")])
    model = view.model
    qtbot.waitUntil(lambda: model.total == 4 and len(model.items) == 4, timeout=10_000)
    ada = [p.taken_at for p in model.items]
    assert ada == sorted(ada, reverse=True)  # newest first
    assert [r.title for r in model.rows if isinstance(r, Section)] == [
        "2024",
        "March",
        "January",
        "2023",
        "December",
    ]
    view.set_people([(world.ada, "Ada"), (world.group, person_label(world.group, None))])
    qtbot.waitUntil(lambda: model.total == 2 and len(model.items) == 2, timeout=10_000)
    assert [p.taken_at for p in model.items] == [DATES[1], DATES[3]]
    assert view.header.subtitle.text() == f"2 photos with Ada and Unnamed person {world.group}"


def test_the_library_page_counts_live_during_a_job_at_most_once_a_second(
    window, world: World, qtbot, tmp_path: Path
) -> None:
    view = window.show_view("Library")
    qtbot.waitUntil(lambda: view.folder_model.rowCount() == 1, timeout=10_000)
    assert view.folder_model.index(0, 1).data() == str(len(DATES))
    library, root_id = world.library, view.folder_model.item(0).id
    folder = Path(view.folder_model.item(0).path)
    steps, done = 30, []
    reads: list[float] = []
    real_reload = view.reload

    def counted_reload() -> None:
        reads.append(time.monotonic())
        real_reload()

    view.reload = counted_reload  # type: ignore[method-assign]

    def job(reporter: Reporter, cancel: CancelToken) -> int:
        clock = PhaseClock("scan", "faces", "photo")
        for n in range(steps):
            with library.write() as s:
                _photo(s, root_id, folder, 100 + n, None)
            for _ in range(10):  # many events: the page must not read the library for each
                reporter(clock.event(n + 1, steps))
            time.sleep(0.06)
        return steps

    started = time.monotonic()
    window.ctx.runner.run(job, title="Scanning a test folder", on_done=done.append)
    want = str(len(DATES) + steps)

    def seen_live() -> bool:  # the new count is on screen while the job still runs
        return view.folder_model.index(0, 1).data() not in (None, str(len(DATES))) and not done

    qtbot.waitUntil(seen_live, timeout=20_000)
    assert "photos" in view.header.subtitle.text()
    qtbot.waitUntil(lambda: bool(done), timeout=60_000)
    elapsed = time.monotonic() - started
    during = [t for t in reads if t <= started + elapsed]
    assert len(during) <= elapsed / 1.0 + 2, f"{len(during)} reads in {elapsed:.1f} s"
    qtbot.waitUntil(lambda: view.folder_model.index(0, 1).data() == want, timeout=10_000)
    assert f"{int(want):,} photos" in view.header.subtitle.text()


def test_a_refresh_keeps_the_selection_and_the_scroll_position(
    window, world: World, qtbot, tmp_path: Path
) -> None:
    for n in range(60):
        (tmp_path / "more" / f"folder {n:02d}").mkdir(parents=True)
        add_root(world.library, tmp_path / "more" / f"folder {n:02d}")
    view = window.show_view("Library")
    window.ctx.notify("roots")
    model = view.folder_model
    qtbot.waitUntil(lambda: model.rowCount() == 61, timeout=10_000)
    chosen = next(r for r in model.rows if r.path.endswith("folder 40"))
    view.select_folder(chosen.id)
    bar = view.folders.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    bar.setValue(bar.maximum() // 2)
    scrolled = bar.value()
    held = model.index(model.rows.index(chosen), 0)  # what a caller holds on to
    persistent = QPersistentModelIndex(held)
    # the folder's state changes (its disk goes away) and the page reads the library again
    (tmp_path / "more" / "folder 40").rmdir()
    loads = view.loads
    window.ctx.notify("roots")
    qtbot.waitUntil(lambda: view.loads > loads, timeout=10_000)
    assert [r.id for r in view._selected_roots()] == [chosen.id]
    assert bar.value() == scrolled
    assert persistent.isValid() and persistent.data(ItemRole).id == chosen.id
    assert "not found" in model.index(persistent.row(), 4).data()
    # a folder removed above it: the rows below move up, the selection moves with its folder
    gone = next(r for r in model.rows if r.path.endswith("folder 03"))
    with world.library.write() as s:
        s.delete(s.get(Root, gone.id))
    loads = view.loads
    window.ctx.notify("roots")
    qtbot.waitUntil(lambda: view.loads > loads, timeout=10_000)
    assert model.rowCount() == 60
    assert [r.id for r in view._selected_roots()] == [chosen.id]
    assert persistent.isValid() and persistent.data(ItemRole).id == chosen.id
