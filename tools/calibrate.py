"""Print a ``CALIBRATIONS`` entry (``facenet_core/calibration.py``) from a full-LFW run.

    python -m facenet_core eval-lfw --lfw-dir ~/datasets/lfw --json run.json [settings]
    python tools/calibrate.py run.json

    python tools/calibrate.py --embeddings EMB.npy --lfw-dir ~/datasets/lfw --alignment yunet-onet

The thresholds are those fitted on LFW folds 2-10 only (the 5,400 pairs outside fold 1, which is
``lfw-mini``): the best-accuracy threshold and the largest threshold with FAR <= 1e-3 on them.
In the 10-fold protocol these are exactly the thresholds that score fold 1, so they are read
from the run (``thresholds[0]`` and ``val_thresholds[0]`` of ``eval-lfw --json``), or
recomputed from cached embeddings (``tools/compare_alignment.py --cache``: rows in the sorted
order of the image keys the pairs name).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from facenet_core.evaluation.verification import kfold_report, read_pairs, squared_distances


def entry(
    model: str, alignment: str, flip: bool, figures: tuple[float, float, float, float, float]
) -> str:
    accuracy, sem, val, threshold, far_threshold = figures
    return (
        f'    ("{model}", "{alignment}", {flip}): Calibration(\n'
        f"        {threshold:.4f}, {far_threshold:.4f}, "
        f'"10-fold accuracy {100 * accuracy:.2f}% +- {100 * sem:.2f}, '
        f'VAL@FAR=1e-3 {100 * val:.2f}%"\n'
        "    ),"
    )


def from_json(path: Path) -> str:
    run = json.loads(path.read_text())
    if len(run["thresholds"]) != 10:
        raise SystemExit(f"{path}: not a 10-fold run of the full LFW")
    figures = (
        run["accuracy"],
        run["accuracy_sem"],
        run["val_at_far_1e3"],
        run["thresholds"][0],
        run["val_thresholds"][0],
    )
    model = str(run["model_version"]).split("@", 1)[0]
    return entry(model, run["alignment"], bool(run["flip"]), figures)


def from_embeddings(path: Path, lfw_dir: Path, alignment: str, flip: bool, model: str) -> str:
    pairs = read_pairs(lfw_dir / "pairs.txt")
    keys = sorted({p.left for p in pairs} | {p.right for p in pairs})
    index = {key: i for i, key in enumerate(keys)}
    emb = np.load(path)
    if len(emb) != len(keys):
        raise SystemExit(f"{path}: {len(emb)} rows, the pairs name {len(keys)} images")
    left = np.array([index[p.left] for p in pairs])
    right = np.array([index[p.right] for p in pairs])
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    r = kfold_report(squared_distances(emb[left], emb[right]), same, folds)
    figures = (r.accuracy, r.accuracy_sem, r.val_at_far_1e3, r.thresholds[0], r.val_thresholds[0])
    return entry(model, alignment, flip, figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", type=Path, help="eval-lfw --json output (full LFW)")
    parser.add_argument("--embeddings", type=Path, help="cached embeddings instead of a run")
    parser.add_argument("--lfw-dir", type=Path, help="with --embeddings: the LFW folder")
    parser.add_argument("--alignment", help="with --embeddings: the calibration key's alignment")
    parser.add_argument("--no-flip", dest="flip", action="store_false")
    parser.add_argument("--model", default="dlib-resnet-v1")
    args = parser.parse_args()
    if args.embeddings is not None:
        if args.lfw_dir is None or args.alignment is None:
            parser.error("--embeddings needs --lfw-dir and --alignment")
        print(from_embeddings(args.embeddings, args.lfw_dir, args.alignment, args.flip, args.model))
    elif args.run is not None:
        print(from_json(args.run))
    else:
        parser.error("give an eval-lfw --json file or --embeddings")


if __name__ == "__main__":
    main()
