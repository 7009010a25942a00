"""Videos in the app, through the real window on a real MP4 (OpenCV writes it from lfw-mini
faces: Tom Hanks, a cut to Yao Ming, a cut back to Tom Hanks) and two photos of Tom Hanks:

- a video's tile in Photos carries a play badge and its length;
- the viewer shows each of the video's faces on its own best frame (the stored ``frame_s``,
  decoded off the GUI thread and kept), with that face's box, and a strip of the video's faces
  with when each is seen to move between them;
- the video opens in the system's player from the viewer and from the grid's context menu;
- a person's page shows a video's faces with a play badge and the time of their frame, and
  hovering one names the video and when the face is seen.

``FACENET_SHOTS=docs/screenshots`` saves the pictures the user guide shows."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QHelpEvent, QImage
from PySide6.QtWidgets import QApplication, QToolTip
from sqlalchemy import select

import app.delegates
from app.viewer import clock_time, track_label, track_span
from facenet_core.imageio import open_video_frame
from facenet_core.library import scan
from facenet_core.people import edits
from facenet_core.settings import Settings
from facenet_core.store import Face, Library, Person, Photo
from tests.core.test_video_scan import SEGMENT_S, _photos, write_video
from tests.gui.conftest import window_fixture

pytestmark = pytest.mark.slow

SETTINGS = Settings(device="cpu", flip=False, workers=1)
TOM = "Tom Hanks"


def shot(widget, name: str) -> None:  # type: ignore[no-untyped-def]
    """Save a picture of ``widget`` for the user guide when FACENET_SHOTS names a folder."""
    folder = os.environ.get("FACENET_SHOTS")
    if folder:
        widget.grab().save(str(Path(folder) / name))


def record_badges(monkeypatch) -> list[float | None]:  # type: ignore[no-untyped-def]
    """The times the delegates' video badges are painted with, from now on (still painted)."""
    calls: list[float | None] = []
    original = app.delegates._video_badge

    def record(painter, target, seconds, **kw):  # type: ignore[no-untyped-def]
        calls.append(seconds)
        original(painter, target, seconds, **kw)

    monkeypatch.setattr(app.delegates, "_video_badge", record)
    return calls


def test_clock_time_and_track_labels_read_like_a_player() -> None:
    assert [clock_time(s) for s in (0.5, 7.9, 65.0, 3723.0)] == ["0:00", "0:07", "1:05", "1:02:03"]
    assert track_label("Ada", None) == "Ada"
    assert track_label("Ada", (3.5, 5.5)) == "Ada · 0:03–0:05"
    assert track_label("Ada", (3.5, 3.5)) == "Ada · 0:03"
    assert track_span((42.2, 47.0)) == "0:42–0:47"


@pytest.fixture
def library(tmp_path: Path, lfw_mini: Path):
    """The video and two photos of Tom Hanks, scanned; his two tracks and his photo faces
    given to a person named Tom Hanks (as a user would, through the core's edits)."""
    videos = tmp_path / "videos"
    videos.mkdir()
    a, b = _photos(lfw_mini, "Tom_Hanks"), _photos(lfw_mini, "Yao_Ming")
    write_video(videos / "family.mp4", [a[3], b[3], a[4]])
    for photo in a[:2]:
        shutil.copy(photo, videos / photo.name)
    lib = Library.open(tmp_path / "lib" / "library.db", create=True)
    scan(lib, [videos], SETTINGS, recognize=False)
    with lib.session() as s:
        tracks = s.scalars(
            select(Face).where(Face.track_start_s.is_not(None)).order_by(Face.track_start_s)
        ).all()
        assert len(tracks) == 3, "the video gives three tracks (see tests/core/test_video_scan)"
        tom = [tracks[0].id, tracks[2].id]
        for photo in s.scalars(select(Photo).where(Photo.media_kind == "photo")):
            faces = s.scalars(select(Face).where(Face.photo_id == photo.id)).all()
            tom.append(max(faces, key=lambda f: (f.x2 - f.x1) * (f.y2 - f.y1)).id)
    change = edits.move_faces(lib, tom, None)
    assert change.person_id is not None
    edits.name_person(lib, change.person_id, TOM)
    yield lib


@pytest.fixture
def window(qtbot, library: Library):
    yield from window_fixture(qtbot, library)


def _open_video(qtbot, window):  # type: ignore[no-untyped-def]
    photos = window.show_view("Photos")
    qtbot.waitUntil(
        lambda: photos.model.total == 3 and len(photos.model.items) == 3, timeout=20_000
    )
    row = next(
        r
        for r in range(photos.model.rowCount())
        if getattr(photos.model.item(r), "media_kind", "") == "video"
    )
    return photos, row


def test_a_video_tile_has_a_badge_and_its_length(qtbot, window, monkeypatch) -> None:
    photos, row = _open_video(qtbot, window)
    item = photos.model.item(row)
    assert item.duration_s == pytest.approx(3 * SEGMENT_S, 0.05)
    assert Path(item.path).name == "family.mp4"
    calls = record_badges(monkeypatch)
    photos.grid.viewport().repaint()
    assert calls == [item.duration_s], "only the video's tile has the badge, with its length"
    qtbot.wait(1500)  # the tiles' thumbnails are made off the GUI thread
    shot(window, "photos-video.png")


def _frame_matches(canvas, expected: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    """Mean absolute difference between the canvas's picture and a frame (0-255)."""
    image = canvas.pixmap.toImage().convertToFormat(QImage.Format.Format_RGB888)
    assert (image.width(), image.height()) == (expected.shape[1], expected.shape[0])
    data = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())[
        :, : image.width() * 3
    ]
    shown = data.reshape(image.height(), image.width(), 3).astype(np.int16)
    return float(np.abs(shown - expected.astype(np.int16)).mean())


def test_the_viewer_shows_each_video_face_on_its_own_frame(qtbot, window) -> None:
    photos, row = _open_video(qtbot, window)
    video = photos.model.item(row).path
    photos.open_row(row)
    strip, canvas = photos.track_strip, photos.canvas
    qtbot.waitUntil(lambda: photos.tracks.rowCount() == 3, timeout=20_000)
    assert strip.isVisible() and photos.play_button.isVisible()
    tracks = photos.tracks.items
    assert [track_span(f.track) for f in tracks] == ["0:00–0:02", "0:03–0:05", "0:06–0:08"]
    frames = {f.id: open_video_frame(video, f.frame_s).image for f in tracks}
    # each face is shown on its own frame, with its own box only, labelled with when it is seen
    for n in (0, 2, 1):
        face = tracks[n]
        assert face.track[0] <= face.frame_s <= face.track[1]
        rect = strip.visualRect(photos.tracks.index(n, 0))
        qtbot.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.waitUntil(lambda f=face: photos.shown_at == f.frame_s, timeout=20_000)
        assert [b.id for b in canvas.faces] == [face.id]
        assert canvas.faces[0].box == face.box
        assert canvas.faces[0].label.endswith(" · " + track_span(face.track))
        assert canvas.faces[0].label.startswith(TOM if n != 1 else "Who is this?")
        own = _frame_matches(canvas, frames[face.id])
        other = _frame_matches(canvas, frames[tracks[(n + 1) % 3].id])
        assert own < 6 < other, (own, other)  # its own frame (JPEG noise), not another's
        if n == 2:  # Tom Hanks again, after the cut back
            shot(window, "viewer-video.png")
    # going back to a face seen a moment ago: its frame is kept, shown at once
    first = tracks[0]
    strip.setCurrentIndex(photos.tracks.index(0, 0))
    assert photos.shown_at == first.frame_s and [b.id for b in canvas.faces] == [first.id]
    # no face is drawn by hand on a video's frame
    assert not canvas.drawing_enabled


def test_a_video_opens_in_the_system_player(qtbot, window, monkeypatch) -> None:
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    photos, row = _open_video(qtbot, window)
    video = photos.model.item(row)
    # from the grid's context menu
    menu = photos.photo_menu(row, video)
    titles = [a.text() for a in menu.actions()]
    assert titles == ["Open", "Open in System Player"]
    menu.actions()[1].trigger()
    assert opened == [QUrl.fromLocalFile(video.path)]
    photo_row = next(r for r in range(photos.model.rowCount()) if photos._photo_row(r, 1) != row)
    photo = photos.model.item(photos._photo_row(photo_row, 1))
    assert photos.photo_menu(photo_row, photo).actions()[1].text() == "Open in Default App"
    # from the viewer
    photos.open_row(row)
    qtbot.waitUntil(lambda: photos.shown is not None and photos.shown.photo.id == video.id)
    qtbot.mouseClick(photos.play_button, Qt.MouseButton.LeftButton)
    assert opened[-1] == QUrl.fromLocalFile(video.path) and len(opened) == 2
    assert opened[-1].toLocalFile() == video.path


def test_a_persons_page_shows_video_faces_with_a_badge_and_a_tooltip(
    qtbot, window, monkeypatch
) -> None:
    people = window.show_view("People")
    with window.library.session() as s:
        tom = s.scalars(select(Person.id).where(Person.name == TOM)).one()
    people.open_person(tom)
    page = people.person
    qtbot.waitUntil(lambda: page.faces.rowCount() == 4 and page.person is not None, timeout=20_000)
    faces = page.faces.items
    videos = [f for f in faces if f.track is not None]
    assert len(videos) == 2 and all(Path(f.photo_path).name == "family.mp4" for f in videos)
    calls = record_badges(monkeypatch)
    page.grid.viewport().repaint()
    # the badge of each video face (and of no photo face) gives the time of its frame
    assert sorted(calls) == sorted(f.frame_s for f in videos)
    assert {clock_time(s) for s in calls} <= {"0:00", "0:01", "0:02", "0:06", "0:07", "0:08"}
    # hovering a video face names the video and when the face is seen; a photo face says nothing
    for face in faces:
        n = faces.index(face)
        centre = page.grid.visualRect(page.faces.index(n, 0)).center()
        QToolTip.hideText()
        qtbot.waitUntil(lambda: not QToolTip.isVisible())
        event = QHelpEvent(QEvent.Type.ToolTip, centre, page.grid.viewport().mapToGlobal(centre))
        QApplication.sendEvent(page.grid.viewport(), event)
        if face.track is None:
            assert not QToolTip.isVisible()
        else:
            assert QToolTip.text() == f"Seen in the video family.mp4 · {track_span(face.track)}"
    QToolTip.hideText()
    page.grid.setCurrentIndex(page.faces.index(faces.index(videos[0]), 0))
    qtbot.wait(1500)  # the thumbnails are read off the GUI thread
    shot(window, "person-video.png")
