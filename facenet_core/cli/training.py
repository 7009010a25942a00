"""Training commands: ``train``, ``models``, ``use-model`` and ``reembed``."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from facenet_core.cli.commands import add_command
from facenet_core.cli.common import (
    CLUSTER,
    DETECTION,
    EXIT_INTERRUPTED,
    CliError,
    ProgressBar,
    add_json_option,
    add_settings_options,
    busy_error,
    ctrl_c_cancels,
    open_library,
    say,
    settings_from,
    write_json,
)
from facenet_core.evaluation.guard import GUARD_ENV, GuardSetError, default_guard_dir
from facenet_core.evaluation.guard import load_guard as load_guard_pairs
from facenet_core.library.reembed import reembed
from facenet_core.models.registry import DLIB_RESNET, ModelLoadError
from facenet_core.progress import CancelToken
from facenet_core.settings import Settings
from facenet_core.store import Library, LibraryBusy, get_active_model_version
from facenet_core.training.config import TrainConfig
from facenet_core.training.data import NotEnoughFaces
from facenet_core.training.decision import Check, Decision
from facenet_core.training.finetune import (
    DatasetResult,
    FinetuneResult,
    finetune_dataset,
    finetune_library,
)
from facenet_core.training.measure import GuardSet
from facenet_core.training.versions import (
    NoModelVersion,
    find_version,
    list_versions,
    use_face_model,
    use_model_version,
)

TRAINING = [
    "epochs",
    "learning_rate",
    "top_blocks",
    "margin",
    "anchor",
    "scale",
    "holdout",
    "faces_per_person",
    "train_batch_size",
    "semihard_fallback",
    "seed",
]


# -- the guard set --------------------------------------------------------------------------


def load_guard(args: argparse.Namespace, settings: Settings, model_version: str) -> GuardSet | None:
    """The guard set the options name (``--guard-dir``, ``--guard-pairs``, ``--no-guard``)."""
    if args.no_guard:
        return None
    folder = Path(args.guard_dir) if args.guard_dir else default_guard_dir()
    if folder is None:
        raise CliError(
            "no guard set to check against forgetting: give --guard-dir DIR (LFW-style: "
            f"DIR/images/NAME/NAME_0001.jpg and pairs_fold1.txt; or set {GUARD_ENV}), "
            "or --no-guard to train without one"
        )
    pairs = Path(args.guard_pairs) if args.guard_pairs else None
    bar = ProgressBar()
    try:
        found = load_guard_pairs(folder, settings, model_version, pairs=pairs, reporter=bar)
    except GuardSetError as exc:
        hint = "" if pairs else " (give --guard-pairs FILE)"
        raise CliError(f"{exc}{hint}") from exc
    finally:
        bar.close()
    return GuardSet.of(found)


@contextmanager
def _library_job(
    library: Library, bar: ProgressBar, *user_errors: type[Exception]
) -> Iterator[None]:
    """What a training command working on ``library`` may meet, as one-line errors: another
    writer (exit status 75), or one of ``user_errors`` (a model version or weight file that is
    not there, too few faces). Closes ``bar`` and then the library however the block ends."""
    try:
        yield
    except LibraryBusy as exc:
        raise busy_error(exc) from None
    except user_errors as exc:
        raise CliError(str(exc)) from exc
    finally:
        bar.close()
        library.close()


def _pct(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{100 * value:.2f}%"


def check_words(check: Check) -> str:
    """One check of the promotion decision (:mod:`facenet_core.training.decision`) in the
    command line's words; a failed check starts with ``FAILED:``."""
    b, a = _pct(check.before), _pct(check.after)
    if check.name == "val":
        text = {
            "improved": f"VAL at FAR=1e-3 on held-out faces rose {b} -> {a}",
            "already_perfect": "VAL at FAR=1e-3 on the held-out faces was already 100%: nothing "
            "to improve (confirm more faces, or faces the model gets wrong)",
            "unmeasured": "VAL could not be measured (the held-out faces have no same-person pair)",
        }.get(check.outcome, f"VAL at FAR=1e-3 did not improve ({b} -> {a})")
    elif check.name == "nearest":
        text = (
            f"nearest-person accuracy dropped ({b} -> {a})"
            if check.outcome == "dropped"
            else f"nearest-person accuracy {b} -> {a}"
        )
    elif check.outcome == "unchecked":
        text = "no guard set was checked"
    elif check.outcome == "dropped":
        limit = 100 * (check.limit or 0.0)
        text = (
            f"the guard dropped by more than {limit:.1f} pp ({b} -> {a}): the network started "
            "to forget"
        )
    else:
        text = f"guard accuracy {b} -> {a}"
    return text if check.passed else f"FAILED: {text}"


def decision_lines(decision: Decision) -> list[str]:
    """Every check of ``decision`` in words, in the decision's order."""
    return [check_words(c) for c in decision.checks]


def _figures(args: argparse.Namespace, result: FinetuneResult | DatasetResult) -> None:
    """The held-out figures, the distance scale and the guard, before -> after."""
    before, after = result.before, result.after
    say(args, f"VAL @ FAR=1e-3 (held out): {_pct(before['val'])} -> {_pct(after['val'])}")
    say(args, f"nearest-person accuracy:   {_pct(before['nearest'])} -> {_pct(after['nearest'])}")
    _distance_scale(args, before, after)
    if result.guard is not None:
        say(
            args,
            f"guard ({result.guard}):  {_pct(result.guard_before)} -> {_pct(result.guard_after)}",
        )


def _distance_scale(
    args: argparse.Namespace, before: dict[str, float], after: dict[str, float]
) -> None:
    d_before, d_after = before.get("d_diff"), after.get("d_diff")
    if d_before and d_after and d_before == d_before and d_after == d_after:
        say(
            args,
            f"distance scale (held-out faces of different people): {d_before:.4f} -> "
            f"{d_after:.4f} (x{d_after / d_before:.3f}; the calibrated thresholds assume x1)",
        )


# -- commands -------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    """Fine-tune the active model on the library's confirmed faces (a share of each person's held
    out), measure VAL at FAR=1e-3 and nearest-person accuracy on the held-out faces and a guard
    set's accuracy before and after, and promote the new model only if it is better (then back
    up the library, re-embed every face and re-cluster). Ctrl-C saves a checkpoint; the same
    command resumes. With --dataset DIR: train on DIR/<person>/<photos> instead and write the
    weights to --output."""
    if args.dataset:
        return _train_dataset(args)
    if args.output or args.from_scratch:
        raise CliError("--output and --from-scratch go with --dataset (training outside a library)")
    library = open_library(args)
    bar = ProgressBar()
    cancel = CancelToken()
    with _library_job(library, bar, NotEnoughFaces, NoModelVersion, ModelLoadError):
        settings = settings_from(args, library.settings())
        with library.session() as session:
            active = get_active_model_version(session)
            version = f"{active.name}@{active.weights_sha256}" if active else DLIB_RESNET
        guard = load_guard(args, settings, version)
        with ctrl_c_cancels(cancel, "and saving a checkpoint; run the same command to resume"):
            result = finetune_library(
                library,
                settings,
                guard=guard,
                reporter=bar,
                cancel=cancel,
            )
    if result.decision is None:  # stopped before the decision: the checkpoint resumes
        print("\ninterrupted: run the same command to resume from the checkpoint", file=sys.stderr)
        return EXIT_INTERRUPTED
    c = result.counts
    say(
        args,
        f"trained on {c['faces_train']} faces of {c['people_trained']} people "
        f"(+{c['faces_negative_only']} negative-only faces), {c['faces_held_out']} held out; "
        f"{result.training['steps']} steps of {result.training['batch_size']} faces on "
        f"{result.training['device']}",
    )
    _figures(args, result)
    verdict = "PROMOTED" if result.promoted else "NOT promoted (the active model is unchanged)"
    say(args, f"{verdict}: {result.new_version}")
    reasons = decision_lines(result.decision)
    for reason in reasons:
        say(args, f"  - {reason}")
    if result.promoted:
        say(args, f"backup of the library before the change: {result.backup}")
        if result.reembed is not None:
            r = result.reembed
            say(
                args, f"re-embedded {r.embedded} faces ({r.failed} unreadable, {r.missing} missing)"
            )
        say(args, f"people re-clustered: {result.reclustered}")
        say(args, "restore the previous model with: facenet-photos use-model previous")
    say(args, f"{result.seconds:.0f} s")
    data = result.to_json_dict()
    write_json(
        {
            "promoted": result.promoted,
            "before": data["before"],
            "after": data["after"],
            "guard_before": data["guard_before"],
            "guard_after": data["guard_after"],
            "seconds": result.seconds,
            **{k: v for k, v in data.items() if k not in ("promoted", "seconds")},
            "reasons": reasons,
        },
        args.json,
    )
    if result.cancelled:  # stopped after the promotion: re-embedding or regrouping
        finish = (
            "run facenet-photos reembed to finish"
            if result.reembed is not None and result.reembed.cancelled
            else "run facenet-photos cluster to regroup the people"
        )
        print(f"interrupted: {finish}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _train_dataset(args: argparse.Namespace) -> int:
    if not args.output:
        raise CliError("--dataset needs --output FILE (where the trained weights go)")
    folder = Path(args.dataset)
    if not folder.is_dir():
        raise CliError(f"{folder}: not a folder")
    settings = settings_from(args)
    config = (
        TrainConfig.paper(epochs=settings.epochs, seed=settings.seed)
        if args.from_scratch
        else TrainConfig.from_settings(settings)
    )
    guard = load_guard(args, settings, DLIB_RESNET)
    bar = ProgressBar()
    cancel = CancelToken()
    try:
        with ctrl_c_cancels(cancel, "and saving a checkpoint; run the same command to resume"):
            result = finetune_dataset(
                folder,
                settings,
                Path(args.output),
                guard=guard,
                config=config,
                reporter=bar,
                cancel=cancel,
            )
    except (NotEnoughFaces, NotADirectoryError) as exc:
        raise CliError(str(exc)) from exc
    finally:
        bar.close()
    if result.decision is None:
        print("\ninterrupted: run the same command to resume from the checkpoint", file=sys.stderr)
        return EXIT_INTERRUPTED
    _figures(args, result)
    say(args, f"{'better' if result.improved else 'NOT better'}; weights: {result.output}")
    reasons = decision_lines(result.decision)
    for reason in reasons:
        say(args, f"  - {reason}")
    data = result.to_json_dict()
    # nothing is promoted outside a library: "improved" is the decision's verdict
    write_json(
        {**data, "promoted": None, "improved": result.improved, "reasons": reasons}, args.json
    )
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    library = open_library(args)
    try:
        rows = list_versions(library)
    finally:
        library.close()
    if not rows:
        say(args, "no model versions yet: scan some photos first")
    for row in rows:
        mark = "*" if row.active else " "
        kind = "fine-tuned" if row.fine_tuned else "pretrained"
        parent = f" from #{row.parent_id}" if row.parent_id else ""
        say(
            args,
            f"{mark} #{row.id:<3} {row.version}  {kind}{parent}  {row.created_at}  "
            f"{row.embeddings} embeddings",
        )
        decision = None if row.metrics is None else Decision.from_json_dict(row.metrics)
        if decision is not None:
            say(args, f"        {'promoted' if decision.promoted else 'not promoted'}:")
            for line in decision_lines(decision):
                say(args, f"          - {line}")
        elif row.notes:
            say(args, f"        {row.notes}")
    if rows:
        say(args, "(* active; restore another with: facenet-photos use-model ID)")
    write_json([dataclasses.asdict(r) for r in rows], args.json)
    return 0


def cmd_use_model(args: argparse.Namespace) -> int:
    """Activate VERSION (an id from 'models', a sha256 prefix, or 'previous'). Its stored
    embeddings become current at once; faces without one are embedded."""
    library = open_library(args)
    bar = ProgressBar()
    cancel = CancelToken()
    with _library_job(library, bar, NoModelVersion, ModelLoadError):
        settings = settings_from(args, library.settings())
        version_id = find_version(library, args.version)
        with ctrl_c_cancels(cancel, "after the current batch; run the same command to finish"):
            result = use_model_version(library, settings, version_id, reporter=bar, cancel=cancel)
    say(args, f"active model: {result.version} (was {result.previous})")
    if result.reembed is not None:
        r = result.reembed
        say(args, f"embedded {r.embedded} faces that had no embedding under it")
    say(args, f"people re-clustered: {result.reclustered}")
    write_json(result.to_json_dict(), args.json)
    return EXIT_INTERRUPTED if result.cancelled else 0


def cmd_reembed(args: argparse.Namespace) -> int:
    """Embed every face lacking an embedding of the active model. With --face-model: switch the
    library to that model first (accurate: the fused model, fast: dlib's ResNet), re-embed every
    face from its stored landmarks and re-cluster, keeping every name and edit; the model used
    before stays a version to restore (use-model previous)."""
    library = open_library(args)
    bar = ProgressBar()
    cancel = CancelToken()
    with _library_job(library, bar, LookupError, ModelLoadError):
        settings = settings_from(args, library.settings())
        if args.face_model is not None:
            with ctrl_c_cancels(cancel, "after the current batch; run reembed again to finish"):
                used = use_face_model(
                    library, settings, args.face_model, reporter=bar, cancel=cancel
                )
            if used.reembed is None:
                say(args, f"active model: {used.version} (was {used.previous})")
                write_json(used.to_json_dict(), args.json)
                return EXIT_INTERRUPTED if used.cancelled else 0
            result = used.reembed
            say(
                args,
                f"active model: {used.version} (was {used.previous}); people re-clustered:"
                f" {used.reclustered}",
            )
        else:
            with ctrl_c_cancels(cancel, "after the current batch; run reembed again to finish"):
                result = reembed(library, settings, reporter=bar, cancel=cancel)
    say(
        args,
        f"{result.version}: embedded {result.embedded} faces; {result.failed} unreadable, "
        f"{result.missing} on missing photos, {result.remaining} still without an embedding "
        f"({result.seconds:.1f} s)",
    )
    write_json(result.to_json_dict(), args.json)
    return EXIT_INTERRUPTED if result.cancelled else 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = add_command(sub, common, "train", cmd_train)
    p.add_argument("--dataset", metavar="DIR", help="train on DIR/<person>/<photos> instead")
    p.add_argument("--output", metavar="FILE", help="with --dataset: where the weights go")
    p.add_argument(
        "--from-scratch",
        action="store_true",
        help="with --dataset: the paper's recipe (every layer from random weights, AdaGrad at "
        "0.05); needs a large dataset and a GPU",
    )
    p.add_argument("--guard-dir", metavar="DIR", help="LFW-style guard set (default: lfw-mini)")
    p.add_argument("--guard-pairs", metavar="FILE", help="its pairs (default: pairs_fold1.txt)")
    p.add_argument("--no-guard", action="store_true", help="train without a guard set")
    add_json_option(p)
    add_settings_options(p, [*TRAINING, "device", "flip", "workers", *DETECTION])

    p = add_command(sub, common, "models", cmd_models)
    add_json_option(p)

    p = add_command(sub, common, "use-model", cmd_use_model)
    p.add_argument("version", metavar="VERSION")
    add_json_option(p)
    add_settings_options(p, ["device", "flip", "workers"])

    p = add_command(sub, common, "reembed", cmd_reembed)
    p.add_argument(
        "--face-model",
        choices=("accurate", "fast"),
        default=None,
        help="switch the library to this face model (default: keep the active one)",
    )
    add_json_option(p)
    add_settings_options(p, ["device", "flip", "batch_size", "workers", *CLUSTER])
