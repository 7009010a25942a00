"""What a video costs a scan: a synthetic 60-second 1080p video against 20 photos.

    python bench/video_scan.py [--lfw ../shared/datasets/lfw-mini] [--seconds 60] [--fps 30]
        [--photos 20] [--max-frames 20] [--video-fps 1.0] [--out OUT_DIR]

Writes (outside the repository, into ``--out``) an MP4 (OpenCV ``mp4v``) of ``--seconds`` at
``--fps``, 1920 x 1080, showing LFW faces enlarged to 400 pixels, one person per 10-second shot,
moving a little every frame; and a folder of ``--photos`` LFW photos. Each is scanned into a
fresh library in this process (models loaded and warmed first, so neither pays for loading), with
the default settings unless told; prints the seconds of each, the frames the video scan read and
the ratio.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from facenet_core.library import scan  # noqa: E402
from facenet_core.settings import Settings  # noqa: E402
from facenet_core.store import Library  # noqa: E402


def write_video(path: Path, photos: list[Path], seconds: int, fps: int) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (1920, 1080))
    shot = 10 * fps
    for n in range(seconds * fps):
        photo = cv2.imread(str(photos[(n // shot) % len(photos)]))
        face = cv2.resize(photo, (400, 400), interpolation=cv2.INTER_LINEAR)
        frame = np.full((1080, 1920, 3), 70, np.uint8)
        x, y = 760 + 3 * (n % 20), 340 + 2 * (n % 15)
        frame[y : y + 400, x : x + 400] = face
        writer.write(frame)
    writer.release()


def timed_scan(folder: Path, settings: Settings) -> tuple[float, dict[str, int]]:
    with (
        tempfile.TemporaryDirectory() as tmp,
        Library.open(Path(tmp) / "library.db", create=True) as library,
    ):
        start = time.perf_counter()
        result = scan(library, [folder], settings, recognize=False)
        return time.perf_counter() - start, result.counts()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lfw", default=str(REPO.parent / "shared" / "datasets" / "lfw-mini"))
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument(
        "--photo-dir",
        default=None,
        help="take the photos from this folder (e.g. WIDER FACE's, about 1024 px wide: photos "
        "as people take them) instead of LFW's 250-pixel crops",
    )
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--video-fps", type=float, default=None)
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "video-bench"))
    parser.add_argument("--keep-video", action="store_true", help="reuse --out's video")
    args = parser.parse_args()
    lfw = sorted((Path(args.lfw) / "images").glob("*/*.jpg"))
    out = Path(args.out)
    for sub in ("photos", "warm") if args.keep_video else ("photos", "warm", "video"):
        shutil.rmtree(out / sub, ignore_errors=True)
        (out / sub).mkdir(parents=True)
    if not args.keep_video:
        start = time.perf_counter()
        write_video(out / "video" / "clip.mp4", lfw[::50][:6], args.seconds, args.fps)
        print(
            f"wrote a {args.seconds} s {args.fps} fps 1080p video"
            f" in {time.perf_counter() - start:.1f} s"
        )
    if args.photo_dir:
        pool = sorted(Path(args.photo_dir).glob("**/*.jpg"))
        chosen = pool[:: max(1, len(pool) // args.photos)][: args.photos]
    else:
        chosen = lfw[1::37][: args.photos]
    for photo in chosen:
        shutil.copy(photo, out / "photos" / photo.name)
    shutil.copy(lfw[5], out / "warm" / lfw[5].name)
    values: dict[str, object] = {}
    if args.max_frames is not None:
        values["video_max_frames"] = args.max_frames
    if args.video_fps is not None:
        values["video_fps"] = args.video_fps
    settings = Settings(**values)  # type: ignore[arg-type]
    timed_scan(out / "warm", settings)  # models loaded and warmed
    photos_s, photo_counts = timed_scan(out / "photos", settings)
    video_s, video_counts = timed_scan(out / "video", settings)
    print(
        f"{args.photos} photos: {photos_s:.2f} s ({photo_counts['faces_added']} faces)   "
        f"video: {video_s:.2f} s ({video_counts['video_frames']} frames read, "
        f"{video_counts['faces_added']} tracks)   video / photos = {video_s / photos_s:.2f}"
    )


if __name__ == "__main__":
    main()
