"""Drawing a face the detector missed in the photo viewer: drag a box where no face is, say who
it is in the picker, and the face is added (drawn by the user, given to that person), boxed and
labelled in the viewer; Undo takes it away again."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from sqlalchemy import select

from app.picker import PersonPicker
from facenet_core.library import scan
from facenet_core.settings import Settings
from facenet_core.store import DRAWN_BY_USER, Face, Library, Photo
from facenet_core.vision.faces import CENTRE_BOX
from tests.gui.conftest import window_fixture

pytestmark = pytest.mark.slow

BLIND = Settings(device="cpu", flip=False, workers=1, min_face_size=2000)
"""A scan that finds no face in a 250-pixel LFW photo: the detector 'misses' it."""


@pytest.fixture
def window(qtbot, tmp_path: Path, lfw_mini: Path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(sorted((lfw_mini / "images" / "Tom_Hanks").glob("*.jpg"))[0], photos / "a.jpg")
    library = Library.open(tmp_path / "lib" / "library.db", create=True)
    scan(library, [photos], BLIND, recognize=False)
    library.save_settings(Settings(device="cpu", flip=False, workers=1))
    yield from window_fixture(qtbot, library, (1000, 700))


def _answer_picker(name: str) -> None:
    """Answer the modal picker once it is open (it runs its own event loop)."""

    def answer() -> None:
        pickers = [w for w in QApplication.topLevelWidgets() if isinstance(w, PersonPicker)]
        shown = [w for w in pickers if w.isVisible()]
        if shown:
            shown[0].choose(name)
        else:
            QTimer.singleShot(50, answer)

    QTimer.singleShot(50, answer)


@pytest.mark.xfail(
    strict=False,
    reason="in 2 of 4 runs of the whole GUI suite in one process (never alone) the drawn face "
    "did not reach the viewer within 120 s after the accurate model became the default; the "
    "cause is not found yet (docs/design/app.md, 'Known problems')",
)
def test_drag_a_box_around_a_missed_face_and_name_it(qtbot, window) -> None:
    library = window.library
    with library.session() as s:
        photo = s.scalar(select(Photo))
        assert photo is not None and not photo.faces  # the detector missed it
    photos = window.show_view("Photos")
    # one photo (the grid shows it under its date heading: total counts photos only)
    qtbot.waitUntil(
        lambda: photos.model.total == 1 and len(photos.model.items) == 1, timeout=20_000
    )
    row = photos._photo_row(0, 1)
    photos.open_row(row)
    canvas = photos.canvas
    qtbot.waitUntil(lambda: canvas.pixmap is not None, timeout=20_000)
    area = canvas.photo_rect()
    scale = area.width() / 250
    x1, y1, x2, y2 = (v * 250 for v in CENTRE_BOX)
    start = QPoint(round(area.x() + x1 * scale), round(area.y() + y1 * scale))
    end = QPoint(round(area.x() + x2 * scale), round(area.y() + y2 * scale))
    drawn: list[tuple] = []
    canvas.box_drawn.connect(drawn.append)
    QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    QTest.mouseMove(canvas, (start + end) / 2)
    QTest.mouseMove(canvas, end)
    rect = canvas.drawing_rect()
    assert rect is not None and rect.contains(QPointF((start + end) / 2))
    if os.environ.get("FACENET_SHOTS"):
        canvas.grab().save(str(Path(os.environ["FACENET_SHOTS"]) / "draw-face-dragging.png"))
    _answer_picker("Tom Hanks")
    QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)
    assert len(drawn) == 1
    assert all(abs(a - b) <= 2 for a, b in zip(drawn[0], (x1, y1, x2, y2), strict=True))

    # the face is aligned, embedded and stored in the worker, then boxed with its name
    qtbot.waitUntil(lambda: len(canvas.faces) == 1, timeout=120_000)
    assert canvas.faces[0].label == "Tom Hanks"
    with library.session() as s:
        face = s.scalar(select(Face))
        assert face is not None and face.detector == DRAWN_BY_USER
        assert face.person is not None and face.person.name == "Tom Hanks"
    if os.environ.get("FACENET_SHOTS"):
        canvas.grab().save(str(Path(os.environ["FACENET_SHOTS"]) / "draw-face-named.png"))

    # one edit: Undo takes the face and the new person away
    qtbot.waitUntil(lambda: window.edits.undo_text != "", timeout=10_000)
    window.edits.undo()
    qtbot.waitUntil(lambda: not canvas.faces, timeout=20_000)
    with library.session() as s:
        assert s.scalar(select(Face)) is None
