"""The headless command line: ``facenet-photos COMMAND`` (or ``python -m facenet_core``)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from facenet_core import __version__

log = logging.getLogger("facenet_core")

EXIT_FAILED = 1


class CliError(Exception):
    """A failure to report as one line, without a traceback."""


def _add_detector_options(p: argparse.ArgumentParser, default_detector: str = "mtcnn") -> None:
    g = p.add_argument_group("detection")
    g.add_argument(
        "--detector",
        default=default_detector,
        choices=["hog", "mtcnn"],
        help=f"face detector (default {default_detector})",
    )
    g.add_argument(
        "--min-face-size",
        type=int,
        default=40,
        metavar="PX",
        help="MTCNN: smallest face side looked for, in pixels (default 40)",
    )
    g.add_argument(
        "--exact-pyramid",
        action="store_true",
        help="MTCNN: shrink every pyramid level from the photo itself (slower; the default "
        "shrinks each level from a larger one, measured as accurate)",
    )
    g.add_argument(
        "--landmarks",
        default="native",
        choices=["native", "dlib5"],
        help="MTCNN: align on its own five points (native, default) or on dlib's 5-point "
        "predictor run in the box",
    )
    g.add_argument(
        "--upsample",
        type=int,
        default=1,
        help="HOG: times to double the image before detecting; 1 finds faces from ~40 px",
    )
    g.add_argument(
        "--detect-max-side",
        type=int,
        default=1600,
        metavar="PX",
        help="downscale images whose longer side exceeds PX for detection (default 1600)",
    )


def _add_embed_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("embedding")
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1... (default: cuda if present)")
    g.add_argument("--batch-size", type=int, default=32, help="chips per forward pass (default 32)")
    flip = g.add_mutually_exclusive_group()
    flip.add_argument(
        "--flip",
        dest="flip",
        action="store_true",
        default=True,
        help="average each face with its mirror image (default; measured better on LFW)",
    )
    flip.add_argument(
        "--no-flip", dest="flip", action="store_false", help="embed faces as they are"
    )


def _detector_config(args: argparse.Namespace) -> Any:
    from facenet_core.detect import DetectorConfig

    return DetectorConfig(
        name=args.detector,
        upsample=args.upsample,
        max_side=args.detect_max_side,
        min_face_size=args.min_face_size,
        landmarks=args.landmarks,
        fast_pyramid=not args.exact_pyramid,
        device="cpu" if args.device is None else args.device,
    )


def _embedder(args: argparse.Namespace) -> Any:
    from facenet_core.embed import Embedder

    return Embedder.pretrained(device=args.device, batch_size=args.batch_size, flip=args.flip)


def _write_json(data: dict[str, Any], target: str | None) -> None:
    text = json.dumps(data, indent=2)
    if target in (None, "-"):
        print(text)
    else:
        Path(target).write_text(text + "\n")


def cmd_eval_lfw(args: argparse.Namespace) -> int:
    from facenet_core.lfw import evaluate_lfw
    from facenet_core.pipeline import FaceJob

    lfw_dir = Path(args.lfw_dir)
    pairs = Path(args.pairs) if args.pairs else lfw_dir / "pairs.txt"
    if not pairs.is_file():
        raise CliError(f"{pairs}: pairs file not found (give one with --pairs)")
    job = FaceJob(detector=_detector_config(args), centre_fallback=True)
    try:
        result = evaluate_lfw(lfw_dir, pairs, _embedder(args), job, workers=args.workers)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise CliError(str(exc).strip("'\"")) from exc
    r = result.report
    sem = f" +- {100 * r.accuracy_sem:.2f}" if r.accuracy_sem == r.accuracy_sem else ""
    print(f"pairs: {result.n_pairs}   images: {result.n_images}   protocol: {result.protocol}")
    print(f"accuracy:            {100 * r.accuracy:.2f}%{sem}")
    print(f"VAL @ FAR=1e-3:      {100 * r.val_at_far_1e3:.2f}%")
    print(f"quantized accuracy:  {100 * result.quantized.accuracy:.2f}% (128 bytes per face)")
    print(f"thresholds:          {', '.join(f'{t:.4f}' for t in r.thresholds)}")
    print(f"fallbacks:           {len(result.fallbacks)} images with no detected face")
    print(f"speed:               {result.images_per_s:.1f} images/s")
    if args.json:
        _write_json(result.to_json_dict(), args.json)
    return 0


def _library(args: argparse.Namespace) -> Path:
    from facenet_core.store import default_library_path

    return Path(args.library) if args.library else default_library_path()


def _open_library(args: argparse.Namespace) -> Any:
    from facenet_core.store import LibraryError, open_library

    try:
        return open_library(_library(args))
    except LibraryError as exc:
        raise CliError(str(exc)) from exc


def cmd_scan(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from facenet_core.pipeline import FaceJob
    from facenet_core.scan import Scanner

    for root in args.paths:
        if not Path(root).is_dir():
            raise CliError(f"{root}: not a folder")
    sessions = _open_library(args)
    job = FaceJob(detector=_detector_config(args), reduce_jpeg=True, thumbnails=True)
    library = _library(args)
    scanner = Scanner(
        sessions,
        _embedder(args),
        job,
        thumbnails_dir=library.with_name(library.name + ".thumbnails"),
        workers=args.workers,
    )
    bar = None
    interrupted = False
    try:
        for event in scanner.run(args.paths):
            if event.phase == "walk":
                print(f"\rfound {event.done} photos", end="", file=sys.stderr, flush=True)
                continue
            if bar is None:
                print(file=sys.stderr)
                bar = tqdm(total=event.total, desc="faces", unit="photo", dynamic_ncols=True)
            bar.n = event.done
            bar.set_postfix(faces=event.faces, refresh=False)
            bar.refresh()
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
    s = scanner.stats
    if bar is None:
        print(file=sys.stderr)
    print(
        f"{s.photos_added} added, {s.photos_unchanged} unchanged, {s.photos_moved} moved, "
        f"{s.photos_changed} changed, {s.photos_missing} missing, {s.photos_failed} failed; "
        f"{s.faces_added} faces in {s.seconds:.1f} s"
    )
    if s.photos_failed:
        print("failed photos and their reasons: facenet-photos status --failed")
    if args.json:
        _write_json(s.to_json_dict(), args.json)
    if interrupted:
        print("interrupted: run the same scan again to finish it", file=sys.stderr)
        return 130
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from facenet_core.store import Photo, PhotoStatus, status_counts

    sessions = _open_library(args)
    with sessions() as session:
        counts = status_counts(session)
        failed = (
            session.execute(
                select(Photo.path, Photo.error)
                .where(Photo.status == PhotoStatus.FAILED)
                .order_by(Photo.path)
            ).all()
            if args.failed
            else []
        )
    print(f"library: {_library(args)}")
    for key, value in counts.items():
        print(f"{key + ':':<14} {value}")
    for path, error in failed:
        print(f"failed: {path}: {error}")
    if args.json:
        _write_json(counts, args.json)
    return 0


def cmd_eval_detect(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from facenet_core.detect import make_detector
    from facenet_core.detect_eval import evaluate_detector
    from facenet_core.imageio import ImageLoadError

    for path in (Path(args.images), Path(args.truth)):
        if not path.exists():
            raise CliError(f"{path}: not found")
    detector = make_detector(_detector_config(args))
    bar = tqdm(desc=f"detect ({args.detector})", unit="photo")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        report = evaluate_detector(
            detector, Path(args.images), Path(args.truth), limit=args.limit, progress=progress
        )
    except (FileNotFoundError, ValueError, ImageLoadError) as exc:
        raise CliError(str(exc)) from exc
    finally:
        bar.close()
    data = report.to_json_dict()
    print(f"detector:       {args.detector}   photos: {data['images']}")
    print(f"recall >= 40px: {100 * data['recall_40']:.1f}%")
    print(f"recall >= 80px: {100 * data['recall_80']:.1f}%")
    print(f"precision:      {100 * data['precision']:.1f}%")
    print(f"median time:    {data['sec_per_image']:.3f} s per photo (detection only)")
    if args.json:
        _write_json(data, args.json)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    import numpy as np

    from facenet_core import calibration
    from facenet_core.align import face_chip
    from facenet_core.detect import make_detector
    from facenet_core.imageio import ImageLoadError, load_image

    detector = make_detector(_detector_config(args))
    chips = []
    for path in (args.image_a, args.image_b):
        try:
            image = load_image(path)
        except ImageLoadError as exc:
            raise CliError(f"{path}: {exc.reason}") from None
        faces = detector.detect(image)
        if not faces:
            raise CliError(
                f"{path}: no face found (try --upsample 2 for small faces, or a sharper photo)"
            )
        largest = max(faces, key=lambda d: d.width * d.height)
        chips.append(face_chip(image, largest))
    embedder = _embedder(args)
    a, b = embedder.embed(np.stack(chips))
    distance = float(np.sum((a - b) ** 2))
    threshold, _ = calibration.thresholds(
        embedder.model_version, _detector_config(args), embedder.flip
    )
    same = distance <= threshold
    if args.json:
        _write_json({"distance": distance, "threshold": threshold, "same": same}, "-")
    else:
        verdict = "same person" if same else "different people"
        print(f"{verdict}: squared distance {distance:.4f} (threshold {threshold:.4f})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facenet-photos",
        description="FaceNet Photos: organise photos by the people in them, offline.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    parser.add_argument(
        "--library",
        metavar="PATH",
        default=None,
        help="library database file (default: library.db in the user data folder)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--library",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="library database file (default: library.db in the user data folder)",
    )

    p = sub.add_parser(
        "scan",
        parents=[common],
        help="add folders of photos to the library (incremental, resumable)",
        description="Find every photo below the folders, detect, align and embed its faces, and "
        "store them. Unchanged photos are skipped, moved photos keep their faces and people, "
        "vanished photos are marked missing. Ctrl-C stops cleanly; scanning again resumes.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="folders to scan")
    p.add_argument("--json", metavar="FILE", help="also write the counts as JSON ('-' = stdout)")
    p.add_argument("--workers", type=int, default=None, help="detection processes (default: cores)")
    _add_detector_options(p)
    _add_embed_options(p)
    p.set_defaults(func=cmd_scan)

    p = sub.add_parser(
        "status", parents=[common], help="what the library holds (photos, faces, people)"
    )
    p.add_argument("--json", metavar="FILE", help="also write the counts as JSON ('-' = stdout)")
    p.add_argument("--failed", action="store_true", help="list failed photos with their reasons")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "eval-lfw",
        parents=[common],
        help="LFW verification accuracy, 10-fold protocol (FaceNet section 4)",
        description="Detect, align and embed every image named by the pairs, then score the "
        "pairs: 10-fold accuracy with thresholds from the other folds, VAL at FAR=1e-3, and the "
        "accuracy with 128-byte quantized embeddings. A pairs file with a single fold is scored "
        "at the shipped calibrated thresholds.",
    )
    p.add_argument("--lfw-dir", required=True, help="LFW folder (NAME/NAME_0001.jpg, or images/)")
    p.add_argument("--pairs", help="pairs file (default LFW_DIR/pairs.txt)")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON ('-' = stdout)")
    p.add_argument("--workers", type=int, default=None, help="detection processes (default: cores)")
    _add_detector_options(p)
    _add_embed_options(p)
    p.set_defaults(func=cmd_eval_lfw)

    p = sub.add_parser(
        "eval-detect",
        parents=[common],
        help="face detector recall and precision on WIDER FACE annotations",
        description="Recall at IoU >= 0.5 of ground-truth faces of at least 40 and 80 px "
        "(invalid faces ignored), precision (a detection matching no face at IoU >= 0.4 is "
        "false), and the median detection time per photo.",
    )
    p.add_argument("--images", required=True, help="folder the annotation paths are relative to")
    p.add_argument("--truth", required=True, help="WIDER FACE bounding-box annotation file")
    p.add_argument("--limit", type=int, default=None, help="evaluate N photos spread evenly")
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON ('-' = stdout)")
    p.add_argument("--device", default=None, help="cpu, cuda... (default cpu)")
    _add_detector_options(p)
    p.set_defaults(func=cmd_eval_detect)

    p = sub.add_parser(
        "verify",
        parents=[common],
        help="are the largest faces of two photos the same person?",
        description="Squared L2 distance between the largest faces of two photos, and the "
        "verdict at the calibrated threshold.",
    )
    p.add_argument("image_a", metavar="IMAGE_A")
    p.add_argument("image_b", metavar="IMAGE_B")
    p.add_argument("--json", action="store_true", help="print distance, threshold, same as JSON")
    _add_detector_options(p)
    _add_embed_options(p)
    p.set_defaults(func=cmd_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"facenet-photos {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"facenet-photos {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
