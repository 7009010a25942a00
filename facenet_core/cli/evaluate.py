"""Measuring commands: ``eval-lfw``, ``eval-robustness``, ``eval-video``, ``eval-clusters``,
``eval-detect`` and ``verify``.

The evaluation modules import torch and the detectors: each command imports them when it runs,
so that building this group's parser (``--help``) stays instant. The first Ctrl-C stops an
evaluation cleanly (its result says ``cancelled``); a second interrupts at once.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from facenet_core.cli.commands import add_command
from facenet_core.cli.common import (
    ALL_ENGINE,
    CLUSTERING,
    DETECTION,
    EMBEDDING,
    EXIT_INTERRUPTED,
    CliError,
    ProgressBar,
    add_json_option,
    add_settings_options,
    ctrl_c_cancels,
    say,
    settings_from,
    write_json,
)
from facenet_core.imageio import ImageLoadError, load_image
from facenet_core.models.registry import embedding_dim
from facenet_core.progress import CancelToken


@contextmanager
def _evaluating(
    bar: ProgressBar, cancel: CancelToken, how: str, *more_errors: type[Exception]
) -> Iterator[None]:
    """Run an evaluation: the first Ctrl-C stops it cleanly (``how``: when), a file that is not
    there, data it cannot read (ValueError) or ``more_errors`` end it with a one-line error, and
    the bar is closed however it ends, so the error line is not drawn over a half bar."""
    user_errors: tuple[type[Exception], ...] = (FileNotFoundError, ValueError, *more_errors)
    try:
        with ctrl_c_cancels(cancel, how):
            yield
    except user_errors as exc:
        # a KeyError's text is the key in quotes: say the key itself
        raise CliError(str(exc.args[0] if isinstance(exc, KeyError) else exc)) from exc
    finally:
        bar.close()


def _pairs_file(folder: Path, given: str | None) -> Path:
    """The pairs file of an evaluation (``--pairs``, else ``folder/pairs.txt``), once both the
    folder and the file are known to exist: a wrong path is a one-line error, not a traceback."""
    pairs = Path(given) if given else folder / "pairs.txt"
    if not folder.is_dir():
        raise CliError(f"{folder}: not a folder")
    if not pairs.is_file():
        raise CliError(f"{pairs}: pairs file not found (give one with --pairs)")
    return pairs


def _lfw_inputs(args: argparse.Namespace) -> tuple[Path, Path]:
    """``--lfw-dir`` and its pairs file, checked before any model loads."""
    lfw_dir = Path(args.lfw_dir)
    return lfw_dir, _pairs_file(lfw_dir, args.pairs)


def cmd_eval_lfw(args: argparse.Namespace) -> int:
    """Detect, align and embed every image named by the pairs, then score the pairs: 10-fold
    accuracy with thresholds from the other folds, VAL at FAR=1e-3, and the accuracy with the
    stored quantized embeddings (128 bytes per face, 256 for the accurate model). A pairs file
    with a single fold is scored at the shipped calibrated thresholds."""
    lfw_dir, pairs = _lfw_inputs(args)
    settings = settings_from(args)
    from facenet_core.evaluation.lfw import evaluate_lfw

    bar, cancel = ProgressBar(), CancelToken()
    with _evaluating(bar, cancel, "after the current image", KeyError):
        result = evaluate_lfw(lfw_dir, pairs, settings, reporter=bar, cancel=cancel)
    if result.cancelled:
        say(args, "cancelled: no pairs were scored")
        return EXIT_INTERRUPTED
    r = result.report
    sem = f" +- {100 * r.accuracy_sem:.2f}" if r.accuracy_sem == r.accuracy_sem else ""
    say(args, f"pairs: {result.n_pairs}   images: {result.n_images}   protocol: {result.protocol}")
    say(args, f"accuracy:            {100 * r.accuracy:.2f}%{sem}")
    say(args, f"VAL @ FAR=1e-3:      {100 * r.val_at_far_1e3:.2f}%")
    say(
        args,
        (
            f"quantized accuracy:  {100 * result.quantized.accuracy:.2f}%"
            f" ({embedding_dim(str(result.settings['model_version']))} bytes per face)"
        ),
    )
    say(args, f"thresholds:          {', '.join(f'{t:.4f}' for t in r.thresholds)}")
    say(args, f"fallbacks:           {len(result.fallbacks)} images with no detected face")
    say(args, f"speed:               {result.images_per_s:.1f} images/s")
    write_json(result.to_json_dict(), args.json)
    return 0


def _numbers(text: str) -> list[int]:
    """``1,2,5`` as numbers (argparse type)."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected numbers like 1,2") from None


def cmd_eval_robustness(args: argparse.Namespace) -> int:
    """Degrade every image named by the kept pairs (re-encoded as JPEG at quality Q, or resized
    so that the face box found on the original, sqrt(w*h), is N px), detect and align once per
    image, and embed with both face models (fast and accurate). Per condition and model: VAL at
    FAR=1e-3 over all pairs of those images (same person positive, the paper's protocol),
    accuracy on the listed pairs (k-fold, or the calibrated thresholds for one fold), and the
    images where no face was found."""
    lfw_dir, pairs = _lfw_inputs(args)
    settings = settings_from(args)
    from facenet_core.evaluation.robustness import (
        Condition,
        default_conditions,
        evaluate_robustness,
    )

    try:
        conditions = (
            [Condition.parse(c.strip()) for c in args.conditions.split(",") if c.strip()]
            if args.conditions
            else default_conditions()
        )
    except ValueError as exc:
        raise CliError(str(exc)) from exc
    bar, cancel = ProgressBar(), CancelToken()
    with _evaluating(bar, cancel, "after the current image", KeyError):
        result = evaluate_robustness(
            lfw_dir,
            pairs,
            settings,
            conditions=conditions,
            folds=args.folds,
            per_fold=args.per_fold,
            reporter=bar,
            cancel=cancel,
        )
    n = result.subset
    say(args, f"images: {n['n_images']}   people: {n['n_people']}   pairs: {n['n_pairs']}")
    say(args, f"protocol: {result.protocol}")
    say(args, "condition     VAL fast  VAL accurate  acc fast  acc accurate  missed  face px")
    for c in result.conditions:
        fast, best = c.models["fast"], c.models["accurate"]
        say(
            args,
            f"{c.condition:<12}  {100 * fast.all_pairs.val:7.2f}%"
            f"  {100 * best.all_pairs.val:11.2f}%  {100 * fast.pairs.accuracy:7.2f}%"
            f"  {100 * best.pairs.accuracy:11.2f}%"
            f"  {len(c.missed):6d}  {c.median_face_side:7.1f}",
        )
    if result.cancelled:
        say(args, "cancelled: the conditions above were scored, the rest were not")
    write_json(result.to_json_dict(), args.json)
    return EXIT_INTERRUPTED if result.cancelled else 0


def cmd_eval_clusters(args: argparse.Namespace) -> int:
    """Scan the images listed in a truth file (PATH<TAB>PERSON, paths relative to --images) into a
    temporary library, cluster every face found, and score the face nearest each image's centre
    against its person (other faces are clustered, not scored). An image with no face found
    counts as a face left unclustered."""
    images, truth = Path(args.images), Path(args.truth)
    if not images.is_dir():
        raise CliError(f"{images}: not a folder")
    if not truth.is_file():
        raise CliError(f"{truth}: truth file not found")
    settings = settings_from(args)
    from facenet_core.evaluation.clusters import evaluate_clusters

    bar, cancel = ProgressBar(), CancelToken()
    with _evaluating(bar, cancel, "after the current photos"):
        result = evaluate_clusters(images, truth, settings, reporter=bar, cancel=cancel)
    if result.cancelled:
        say(args, "cancelled during the scan: nothing was clustered")
        return EXIT_INTERRUPTED
    r = result
    say(args, f"images: {r.images}   faces found: {r.all_faces}   people: {r.true_people}")
    say(args, f"clusters:        {r.clusters} (threshold {r.threshold:.3f})")
    say(
        args,
        f"BCubed F1:       {100 * r.bcubed.f1:.2f}%  (precision "
        f"{100 * r.bcubed.precision:.2f}%, recall {100 * r.bcubed.recall:.2f}%)",
    )
    say(
        args,
        f"pairwise F1:     {100 * r.pairwise.f1:.2f}%  (precision "
        f"{100 * r.pairwise.precision:.2f}%, recall {100 * r.pairwise.recall:.2f}%)",
    )
    say(args, f"without a face:  {len(r.images_without_face)} images (scored as unclustered)")
    say(args, f"time:            scan {r.seconds_scan:.1f} s, clustering {r.seconds_cluster:.2f} s")
    write_json(result.to_json_dict(), args.json)
    return 0


def cmd_eval_detect(args: argparse.Namespace) -> int:
    """Recall at IoU >= 0.5 of ground-truth faces of at least 40 and 80 px (invalid faces ignored),
    precision (a detection matching no face at IoU >= 0.4 is false), and the median detection
    time per photo."""
    for path in (Path(args.images), Path(args.truth)):
        if not path.exists():
            raise CliError(f"{path}: not found")
    settings = settings_from(args)
    from facenet_core.evaluation.detection import (
        evaluate_detector,
        read_wider_annotations,
        select_evenly,
    )
    from facenet_core.vision.engines import shared_engines

    try:  # the annotations and their photos are checked before any model loads
        annotations = select_evenly(read_wider_annotations(Path(args.truth)), args.limit)
    except (OSError, ValueError) as exc:
        raise CliError(f"{args.truth}: not a WIDER FACE annotation file ({exc})") from exc
    absent = [a.path for a in annotations if not (Path(args.images) / a.path).is_file()]
    if absent:
        raise CliError(f"{len(absent)} annotated photos are not in {args.images}, e.g. {absent[0]}")
    engines = shared_engines()
    detector = engines.detector(engines.detector_config(settings))
    bar, cancel = ProgressBar(), CancelToken()
    with _evaluating(bar, cancel, "after the current photo", ImageLoadError):
        report = evaluate_detector(
            detector,
            Path(args.images),
            Path(args.truth),
            limit=args.limit,
            reporter=bar,
            cancel=cancel,
        )
    data = report.to_json_dict()
    stopped = (
        f" (cancelled after {report.images} of {len(annotations)})" if report.cancelled else ""
    )
    say(args, f"detector:       {settings.detector}   photos: {data['images']}{stopped}")
    say(args, f"recall >= 40px: {100 * data['recall_40']:.1f}%")
    say(args, f"recall >= 80px: {100 * data['recall_80']:.1f}%")
    say(args, f"precision:      {100 * data['precision']:.1f}%")
    say(args, f"median time:    {data['sec_per_image']:.3f} s per photo (detection only)")
    write_json(data, args.json)
    return EXIT_INTERRUPTED if report.cancelled else 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Squared L2 distance between the largest faces of two photos, and the verdict at the
    calibrated threshold."""
    settings = settings_from(args)
    import numpy as np

    from facenet_core import calibration
    from facenet_core.vision.align import arcface_chip, face_chip
    from facenet_core.vision.engines import shared_engines

    images = []
    for path in (args.image_a, args.image_b):  # check the files before any model loads
        try:
            images.append(load_image(path))
        except ImageLoadError as exc:
            raise CliError(f"{path}: {exc.reason}") from None
    engines = shared_engines()
    config = engines.detector_config(settings)
    detector = engines.detector(config)
    chips = []
    arcface: list[np.ndarray] = []
    for path, image in zip((args.image_a, args.image_b), images, strict=True):
        faces = detector.detect(image)
        if not faces:
            hint = (
                "--upsample 2 finds smaller faces"
                if settings.detector == "hog"
                else "--min-face-size 20 finds smaller faces"
            )
            raise CliError(f"{path}: no face found ({hint}, or try a sharper photo)")
        largest = max(faces, key=lambda d: d.width * d.height)
        chips.append(face_chip(image, largest))
        arcface.append(arcface_chip(image, largest))
    embedder = engines.embedder(settings)
    a, b = embedder.embed(np.stack(chips), np.stack(arcface))
    distance = float(np.sum((a - b) ** 2))
    threshold, _ = calibration.thresholds(embedder.model_version, config.alignment, embedder.flip)
    same = distance <= threshold
    verdict = "same person" if same else "different people"
    say(args, f"{verdict}: squared distance {distance:.4f} (threshold {threshold:.4f})")
    write_json({"distance": distance, "threshold": threshold, "same": same}, args.json)
    return 0


def cmd_eval_video(args: argparse.Namespace) -> int:
    """Score pairs of videos by the mean squared distance over all pairs of their first K frames
    with a face (FaceNet on YouTube Faces), by their mean embeddings (what a scan stores), and
    by one frame each; 10-fold accuracy. --make-from LFW_DIR first builds a synthetic clip set
    from real photos (documented in docs/design/video.md)."""
    folder = Path(args.folder)
    from facenet_core.evaluation.video import describe, evaluate_videos, make_synthetic_clips

    if args.make_from:
        pairs = make_synthetic_clips(Path(args.make_from), folder, seed=args.seed)
        say(args, f"wrote synthetic clips and {pairs}")
    pairs = _pairs_file(folder, args.pairs)
    settings = settings_from(args)
    bar, cancel = ProgressBar(), CancelToken()
    with _evaluating(bar, cancel, "after the current clip"):
        result = evaluate_videos(
            folder, pairs, settings, k=args.frames, reporter=bar, cancel=cancel
        )
    if result.cancelled:
        say(args, "cancelled: no pairs were scored")
        return EXIT_INTERRUPTED
    for text in describe(result):
        say(args, text)
    if args.json:
        from dataclasses import asdict

        write_json(asdict(result), args.json)
    return 0


def _add_lfw_options(p: argparse.ArgumentParser) -> None:
    """``--lfw-dir`` and ``--pairs`` (read by :func:`_lfw_inputs`)."""
    p.add_argument("--lfw-dir", required=True, help="LFW folder (NAME/NAME_0001.jpg, or images/)")
    p.add_argument("--pairs", help="pairs file (default LFW_DIR/pairs.txt)")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = add_command(sub, common, "eval-lfw", cmd_eval_lfw)
    _add_lfw_options(p)
    add_json_option(p)
    add_settings_options(p, ALL_ENGINE)

    p = add_command(sub, common, "eval-robustness", cmd_eval_robustness)
    _add_lfw_options(p)
    p.add_argument(
        "--folds", type=_numbers, metavar="K,...", help="keep these folds, from 1 (default all)"
    )
    p.add_argument(
        "--per-fold",
        type=int,
        metavar="N",
        help="keep the first N matched and N mismatched pairs of each fold (default all)",
    )
    p.add_argument(
        "--conditions",
        metavar="C,...",
        help="original, jpeg-Q, size-N (default: original, jpeg-10,20,30,50,70,90, "
        "size-40,60,80,120,160)",
    )
    add_json_option(p)
    add_settings_options(p, [*DETECTION, "flip", "batch_size", "precision", "device", "workers"])

    p = add_command(sub, common, "eval-clusters", cmd_eval_clusters)
    p.add_argument("--images", required=True, help="folder the truth file's paths are relative to")
    p.add_argument("--truth", required=True, help="PATH<TAB>PERSON lines")
    add_json_option(p)
    add_settings_options(p, [*ALL_ENGINE, *CLUSTERING])

    p = add_command(sub, common, "eval-video", cmd_eval_video)
    p.add_argument("folder", metavar="FOLDER", help="the clips (and pairs.txt)")
    p.add_argument("--pairs", help="pairs file: LEFT RIGHT SAME FOLD (default FOLDER/pairs.txt)")
    p.add_argument(
        "--frames", type=int, default=100, metavar="K", help="first K frames with a face"
    )
    p.add_argument("--make-from", metavar="LFW_DIR", help="write synthetic clips into FOLDER first")
    p.add_argument("--seed", type=int, default=0, help="of the synthetic clips")
    add_json_option(p)
    add_settings_options(p, [*DETECTION, *EMBEDDING])

    p = add_command(sub, common, "eval-detect", cmd_eval_detect)
    p.add_argument("--images", required=True, help="folder the annotation paths are relative to")
    p.add_argument("--truth", required=True, help="WIDER FACE bounding-box annotation file")
    p.add_argument("--limit", type=int, default=None, help="evaluate N photos spread evenly")
    add_json_option(p)
    add_settings_options(p, [*DETECTION, "device"])

    p = add_command(sub, common, "verify", cmd_verify)
    p.add_argument("image_a", metavar="IMAGE_A")
    p.add_argument("image_b", metavar="IMAGE_B")
    add_json_option(p)
    add_settings_options(p, [*DETECTION, *EMBEDDING])
