"""The shared thumbnail loader: faces are cut and decoded off the GUI thread, cached, remade
from the photo when the file is lost, and a face whose photo is gone gets a placeholder."""

from __future__ import annotations

import shutil
import threading

from PIL import Image

from app.tasks import TaskRunner
from app.thumbs import FaceRef, PhotoRef, ThumbnailLoader, shaped
from facenet_core.progress import CancelToken, Reporter
from facenet_core.thumbnails import thumbnail_path


def test_faces_load_off_thread_and_lost_files_are_remade(qtbot, tmp_path, lfw_images) -> None:
    photo = tmp_path / "photo.jpg"
    shutil.copy(lfw_images[0], photo)
    runner = TaskRunner()
    folder = tmp_path / "thumbs"
    loader = ThumbnailLoader(runner, folder)
    box = (70.0, 70.0, 180.0, 180.0)  # LFW faces sit in the middle of the 250 px photo
    refs = [FaceRef(i, str(photo), box) for i in range(1, 6)]
    gone = FaceRef(99, str(tmp_path / "deleted.jpg"), box)
    worker_threads: set[bool] = set()
    original = loader._q.work

    def spy(reporter: Reporter, cancel: CancelToken) -> None:
        worker_threads.add(threading.current_thread() is threading.main_thread())
        original(reporter, cancel)

    loader._q.work = spy  # type: ignore[method-assign]
    assert all(loader.face(ref, 96) is None for ref in [*refs, gone])  # all on their way
    qtbot.waitUntil(lambda: loader.pending() == 0, timeout=20_000)
    qtbot.wait(50)
    assert worker_threads == {False}
    for ref in refs:
        pixmap = loader.face(ref, 96)
        assert pixmap is not None and pixmap.width() == round(96 * pixmap.devicePixelRatio())
        assert thumbnail_path(folder, ref.face_id).is_file()  # made from the photo
    assert loader.face(gone, 96) is None and loader.face_missing(99, 96)
    # a corner of a circle thumbnail is transparent, its middle is the face
    image = loader.face(refs[0], 96).toImage()
    assert image.pixelColor(1, 1).alpha() == 0 and image.pixelColor(48, 48).alpha() == 255
    assert loader.photo(PhotoRef(1, str(photo)), 120) is None
    qtbot.waitUntil(lambda: loader.photo(PhotoRef(1, str(photo)), 120) is not None, timeout=20_000)
    runner.wait(5000)


def test_requests_are_served_newest_first_and_the_queue_is_bounded(qtbot, tmp_path) -> None:
    runner = TaskRunner()
    loader = ThumbnailLoader(runner, tmp_path, workers=0, max_queue=3)  # nothing runs
    for i in range(10):
        loader.face(FaceRef(i, "nowhere.jpg", (0, 0, 1, 1)), 64)
    assert loader.queued() == ["f7:64:circle", "f8:64:circle", "f9:64:circle"]
    loader.face(FaceRef(7, "nowhere.jpg", (0, 0, 1, 1)), 64)  # painted again: served first
    assert loader.queued()[-1] == "f7:64:circle"


def test_shaping_keeps_the_centre_square(tmp_path) -> None:
    wide = Image.new("RGB", (300, 100), "blue")
    wide.paste((255, 0, 0), (100, 0, 200, 100))  # the centre square is red
    path = tmp_path / "wide.png"
    wide.save(path)
    out = shaped(path, 50, "rounded", 2.0)
    assert (out.width(), out.height(), out.devicePixelRatio()) == (100, 100, 2.0)
    centre = out.pixelColor(50, 50)
    assert centre.red() > 240 and centre.blue() < 15 and centre.alpha() == 255
    assert out.pixelColor(0, 0).alpha() < 40  # a rounded corner
    circle = shaped(path, 50, "circle")
    assert circle.pixelColor(2, 2).alpha() == 0 and circle.pixelColor(25, 2).alpha() > 0


def test_a_thumbnail_that_failed_is_tried_again_after_forget_missing(
    qtbot, tmp_path, lfw_images
) -> None:
    """A photo that was gone (an unplugged drive) gets a placeholder and is not asked for again
    on every repaint; once a rescan has run (the window calls ``forget_missing``), it is."""
    photo = tmp_path / "drive" / "photo.jpg"
    runner = TaskRunner()
    loader = ThumbnailLoader(runner, tmp_path / "thumbs")
    ref = PhotoRef(7, str(photo))
    assert loader.photo(ref, 80) is None
    qtbot.waitUntil(lambda: loader.photo_missing(7, 80), timeout=20_000)
    photo.parent.mkdir()
    shutil.copy(lfw_images[0], photo)  # the drive is back
    assert loader.photo(ref, 80) is None
    qtbot.wait(100)
    assert loader.pending() == 0 and loader.photo_missing(7, 80)  # not asked again by itself
    with qtbot.waitSignal(loader.updated, timeout=5000):  # the views repaint and ask again
        loader.forget_missing()
    assert not loader.photo_missing(7, 80)
    qtbot.waitUntil(lambda: loader.photo(ref, 80) is not None, timeout=20_000)
    runner.wait(5000)
