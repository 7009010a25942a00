"""Videos in a scan: a real MP4 written here by OpenCV from lfw-mini faces (one person, a cut to
another, a cut back to the first) becomes three tracks, three faces, joined to the right people;
the first person's two tracks both end as hers (the once-per-photo rule does not split a video's
tracks); a video that cannot be decoded is recorded as failed with its reason; an unchanged video
is not read again."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from facenet_core.library import scan
from facenet_core.library.chips import FaceRef, rebuild_chips
from facenet_core.library.thumbs import sync_thumbnails
from facenet_core.progress import CancelToken, ignore_progress
from facenet_core.quantize import from_bytes
from facenet_core.settings import Settings
from facenet_core.store import Assignment, Face, Library, MediaKind, Person, Photo, PhotoStatus
from facenet_core.thumbnails import photo_preview, thumbnail_path
from facenet_core.vision.engines import shared_engines
from facenet_core.vision.video import VideoSampling, sample_times

SETTINGS = Settings(device="cpu", flip=False, workers=1)
A, B = "Tom_Hanks", "Yao_Ming"
FPS = 10
SEGMENT_S = 3


def _photos(lfw_mini: Path, name: str) -> list[Path]:
    return sorted((lfw_mini / "images" / name).glob("*.jpg"))


def _face_frame(photo: Path, step: int, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """The photo's central face, 300 pixels high, on a grey frame, moved a little each step
    (a hand-held camera), as BGR."""
    image = cv2.imread(str(photo))
    face = cv2.resize(image[40:210, 40:210], (300, 300), interpolation=cv2.INTER_AREA)
    frame = np.full((size[1], size[0], 3), 90, np.uint8)
    x, y = 160 + 2 * (step % 10), 90 + (step % 7)
    frame[y : y + 300, x : x + 300] = face
    return frame


def write_video(path: Path, segments: list[Path]) -> None:
    """An MP4 (OpenCV's ``mp4v``) showing each photo's face for SEGMENT_S seconds, cut to the
    next."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (640, 480))
    assert writer.isOpened()
    for photo in segments:
        for step in range(SEGMENT_S * FPS):
            writer.write(_face_frame(photo, step))
    writer.release()


@pytest.fixture
def library(lfw_mini: Path, tmp_path: Path):
    """A and B known from three photos each (their faces confirmed), and a folder with a video
    of A, a cut to B, a cut back to A, and a broken video."""
    seen = tmp_path / "seen"
    seen.mkdir()
    for name in (A, B):
        for path in _photos(lfw_mini, name)[:3]:
            shutil.copy(path, seen / path.name)
    videos = tmp_path / "videos"
    videos.mkdir()
    a, b = _photos(lfw_mini, A), _photos(lfw_mini, B)
    write_video(videos / "family.mp4", [a[3], b[3], a[4]])
    (videos / "broken.mov").write_bytes(b"\x00\x00\x00\x18ftypqt  " + b"not really a video" * 50)
    with Library.open(tmp_path / "lib" / "library.db", create=True) as lib:
        scan(lib, [seen], SETTINGS, recognize=False)
        with lib.write() as s:
            people = {n: Person(name=n) for n in (A, B)}
            s.add_all(people.values())
            s.flush()
            for photo in s.scalars(select(Photo)):
                face = max(photo.faces, key=lambda f: (f.x2 - f.x1) * (f.y2 - f.y1))
                face.person_id = people[A if Path(photo.path).name.startswith(A) else B].id
                face.assignment = Assignment.CONFIRMED
        yield lib, videos


def test_sampling_is_one_frame_a_second_at_most_n_spread_over_the_video() -> None:
    assert sample_times(9.0, VideoSampling(fps=1.0, max_frames=20)) == [i + 0.5 for i in range(9)]
    spread = sample_times(600.0, VideoSampling(fps=1.0, max_frames=20))
    assert len(spread) == 20 and spread[0] == 15.0 and spread[-1] == 585.0


def test_a_video_becomes_one_face_per_track_joined_to_the_right_people(library) -> None:
    lib, videos = library
    result = scan(lib, [videos], SETTINGS)
    assert result.videos_detected == 1 and result.video_frames == 3 * SEGMENT_S
    assert result.photos_failed == 1
    with lib.session() as s:
        video = s.scalar(select(Photo).where(Photo.path.endswith("family.mp4")))
        assert video is not None and video.media_kind == MediaKind.VIDEO
        assert video.status == PhotoStatus.DONE
        assert video.duration_s == pytest.approx(3 * SEGMENT_S, abs=0.2)
        assert (video.width, video.height) == (640, 480)
        faces = sorted(video.faces, key=lambda f: f.track_start_s or 0)
        # three tracks: A, then (a cut) B, then (a cut back) A again
        assert len(faces) == 3
        spans = [(f.track_start_s, f.track_end_s) for f in faces]
        assert spans == [(0.5, 2.5), (3.5, 5.5), (6.5, 8.5)]
        for face in faces:
            assert face.track_start_s <= face.frame_s <= face.track_end_s
        track_ids = [f.id for f in faces]
        names = [f.person.name if f.person else None for f in faces]
        assert names == [A, B, A]  # both of A's tracks are A's: the rule does not split them
        broken = s.scalar(select(Photo).where(Photo.path.endswith("broken.mov")))
        assert broken is not None and broken.status == PhotoStatus.FAILED
        assert broken.media_kind == MediaKind.VIDEO
        assert broken.error is not None and "cannot decode the video" in broken.error
    # re-embedding (a new model) rebuilds each track's chip from its best frame
    with lib.session() as s:
        refs = [
            FaceRef.from_rows(f, f.photo)
            for f in s.scalars(select(Face).where(Face.id.in_(track_ids)))
        ]
        stored = {
            f.id: from_bytes(f.embeddings[0].vector)
            for f in s.scalars(select(Face).where(Face.id.in_(track_ids)))
        }
    (rebuilt,) = list(rebuild_chips(refs, workers=0))
    assert rebuilt.error is None
    again = shared_engines().embedder(SETTINGS).embed(rebuilt.chips)
    for ref, vector in zip(rebuilt.refs, again, strict=True):
        assert float(np.sum((stored[ref.face_id] - vector) ** 2)) < 0.1  # same person, same place
    # a lost thumbnail of a track is made again, from its best frame
    thumb = thumbnail_path(lib.thumbnails_dir, track_ids[1])
    assert thumb.is_file()
    thumb.unlink()
    assert sync_thumbnails(lib, ignore_progress, CancelToken())[0] == 1 and thumb.is_file()
    # the video's middle frame stands for it (the Photos grid, the viewer)
    preview = cv2.imdecode(np.frombuffer(photo_preview(video.path, 320), np.uint8), 1)
    assert preview.shape == (240, 320, 3)
    # incremental: an unchanged video is not read again
    again = scan(lib, [videos], SETTINGS)
    assert again.videos_detected == 0 and again.video_frames == 0
    with lib.session() as s:
        assert len(s.scalars(select(Face).where(Face.photo_id == video.id)).all()) == 3


def test_a_frame_budget_reads_at_most_that_many_frames(library) -> None:
    lib, videos = library
    (videos / "broken.mov").unlink()
    few = Settings(device="cpu", flip=False, workers=1, video_max_frames=3)
    result = scan(lib, [videos], few, recognize=False)
    assert result.video_frames == 3
    with lib.session() as s:
        faces = s.scalars(select(Face).where(Face.track_start_s.is_not(None))).all()
        # one frame in each segment (1.5, 4.5 and 7.5 s): A's two frames, one sample apart,
        # are one track (a track may miss one sample), B's frame another
        spans = sorted((f.track_start_s, f.track_end_s) for f in faces)
        assert spans == [(1.5, 7.5), (4.5, 4.5)]


def test_a_time_budget_stops_reading_after_the_first_frame_at_least(library) -> None:
    from facenet_core.vision.engines import shared_engines
    from facenet_core.vision.video import VideoFaceFinder

    _, videos = library
    engines = shared_engines()
    detector = engines.detector(engines.detector_config(SETTINGS))
    finder = VideoFaceFinder(detector, engines.embedder(SETTINGS), VideoSampling(max_seconds=0.0))
    found = finder(videos / "family.mp4")
    assert found.error is None and found.frames == 1 and len(found.detections) == 1
    assert found.spans == [(0.5, 0.5, 0.5)]
    broken = finder(videos / "broken.mov")
    assert broken.error is not None and broken.media == "video"
