"""Loose speed checks on a large synthetic library (bench/gui_speed.py prints the figures): the
People page shows 10,000 faces' people well within a second, and a person with 5,000 faces
scrolls to the end with the GUI thread never busy for long."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.gui.conftest import show_main_window, shut_down
from tests.gui.speed import open_people, scroll_person
from tests.gui.synthetic import build

pytestmark = pytest.mark.slow


@pytest.fixture
def big_window(qtbot, tmp_path: Path, lfw_mini: Path):
    images = sorted((lfw_mini / "images").glob("*/*.jpg"))[::11]
    syn = build(tmp_path / "library.db", images, faces=10_000, people=400, big_person_faces=5_000)
    window = show_main_window(qtbot, syn.library)
    yield window, syn
    shut_down(window, syn.library, qtbot)


def test_people_page_and_scrolling_a_big_person(big_window, record_property) -> None:
    window, syn = big_window
    seconds = open_people(window)
    record_property("people_page_10000_faces_ms", round(seconds * 1000))
    print(f"\nPeople page with 10,000 faces / 400 people shown in {seconds * 1000:.0f} ms")
    assert seconds < 1.0
    assert window.people_view.people.proxy.rowCount() == 400

    result = scroll_person(window, syn.big_person)
    record_property("scroll_5000_worst_stall_ms", round(result.worst_stall_ms, 1))
    record_property("scroll_5000_worst_gui_work_ms", round(result.worst_busy_ms, 1))
    print(
        f"scrolled {result.faces:,} faces in {result.seconds:.1f} s: worst stall "
        f"{result.worst_stall_ms:.1f} ms (p99 {result.p99_stall_ms:.1f} ms), the GUI thread's "
        f"longest own work between ticks {result.worst_busy_ms:.1f} ms"
    )
    assert result.faces == 5_000
    # the GUI thread's own work stays far below 50 ms per tick; wall-clock gaps on 2 cores
    # shared with other jobs also hold the time spent waiting for a CPU (95-280 ms measured)
    assert result.worst_busy_ms < 50
    assert result.worst_stall_ms < 1500
