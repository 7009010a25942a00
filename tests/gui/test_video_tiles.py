"""Videos in the app: a video's tile in Photos carries a play badge and its length, and the
viewer shows its middle frame with each track's box labelled with when that face is seen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from app.viewer import clock_time, track_label
from facenet_core.library import scan
from facenet_core.settings import Settings
from facenet_core.store import Library
from tests.core.test_video_scan import SEGMENT_S, _photos, write_video
from tests.gui.conftest import window_fixture

pytestmark = pytest.mark.slow

SETTINGS = Settings(device="cpu", flip=False, workers=1)


def test_clock_time_and_track_labels_read_like_a_player() -> None:
    assert [clock_time(s) for s in (0.5, 7.9, 65.0, 3723.0)] == ["0:00", "0:07", "1:05", "1:02:03"]
    assert track_label("Ada", None) == "Ada"
    assert track_label("Ada", (3.5, 5.5)) == "Ada · 0:03–0:05"
    assert track_label("Ada", (3.5, 3.5)) == "Ada · 0:03"


@pytest.fixture
def window(qtbot, tmp_path: Path, lfw_mini: Path):
    videos = tmp_path / "videos"
    videos.mkdir()
    a, b = _photos(lfw_mini, "Tom_Hanks"), _photos(lfw_mini, "Yao_Ming")
    write_video(videos / "family.mp4", [a[3], b[3], a[4]])
    library = Library.open(tmp_path / "lib" / "library.db", create=True)
    scan(library, [videos], SETTINGS, recognize=False)
    yield from window_fixture(qtbot, library, (1000, 700))


def test_a_video_tile_has_a_badge_and_the_viewer_times_each_face(qtbot, window) -> None:
    photos = window.show_view("Photos")
    # one photo (the grid shows it under its date heading: total counts photos only)
    qtbot.waitUntil(
        lambda: photos.model.total == 1 and len(photos.model.items) == 1, timeout=20_000
    )
    row = photos._photo_row(0, 1)
    item = photos.model.item(row)
    assert item.media_kind == "video" and item.duration_s == pytest.approx(3 * SEGMENT_S, 0.05)
    grid = photos.grid
    qtbot.waitUntil(lambda: window.ctx.thumbs.photo is not None, timeout=5_000)
    qtbot.wait(1500)  # the thumbnail (the middle frame) is made off the GUI thread
    tile: QImage = grid.viewport().grab().toImage()
    if os.environ.get("FACENET_SHOTS"):
        tile.save(str(Path(os.environ["FACENET_SHOTS"]) / "video-tile.png"))
    photos.open_row(row)
    canvas = photos.canvas
    qtbot.waitUntil(lambda: len(canvas.faces) == 3, timeout=20_000)
    qtbot.waitUntil(lambda: canvas.pixmap is not None, timeout=20_000)
    labels = sorted(f.label for f in canvas.faces)
    assert labels == [
        "Who is this? · 0:00–0:02",
        "Who is this? · 0:03–0:05",
        "Who is this? · 0:06–0:08",
    ]
    assert canvas.photo_size == (640, 480)
    if os.environ.get("FACENET_SHOTS"):
        canvas.grab().save(str(Path(os.environ["FACENET_SHOTS"]) / "video-viewer.png"))
