"""Plot ``eval-robustness --json`` output beside the FaceNet paper's Table 4 (a PNG drawn with
Pillow: matplotlib is not a dependency of this project).

    python bench/robustness_plot.py RESULT.json [RESULT.json ...] --out OUT.png [--markdown]

Several results (e.g. the JPEG and the size conditions run as two processes) are merged by
condition; a condition in more than one must have the same figures in each (the pipeline is
deterministic), else the script stops.

``--markdown`` also prints the table of docs/benchmarks/2026-12-07-robustness.md from the same
JSON (rows: conditions; VAL of each model, the paper's figure, pair accuracy, faces missed).
Two panels, VAL at FAR = 1e-3 against JPEG quality and against face size, one line per face
model (``fast``, ``accurate``), a dotted line at each model's VAL on the original photos, and the
paper's NN1 figures (its hold-out set, not LFW: compare the shape of the curves, not the levels).
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

PAPER_JPEG = {10: 67.3, 20: 81.4, 30: 83.9, 50: 85.5, 70: 86.1, 90: 86.5}
"""FaceNet (Schroff et al., CVPR 2015) Table 4, left: VAL at 1e-3 by JPEG quality (NN1), entered
by hand from the published paper (the project's copy has the table as an image only)."""
PAPER_SIZE = {40: 37.8, 80: 79.5, 120: 84.5, 160: 85.7, 256: 86.4}
"""Table 4, right: by image size (the paper lists pixel counts 1,600 to 65,536: 40 x 40 to
256 x 256 face thumbnails)."""

COLOURS = {"fast": (31, 119, 180), "accurate": (214, 95, 14), "paper": (120, 120, 120)}
W, H = 1200, 520
PANEL_W, TOP, BOTTOM, LEFT = 520, 60, 440, 80


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size)


def series(result: dict[str, Any], kind: str, model: str) -> dict[int, float]:
    """``{quality or px: VAL %}`` of one model over one kind of condition."""
    out = {}
    for c in result["conditions"]:
        name = c["condition"]
        if name.startswith(kind + "-") and c[model]["val_at_far_1e3"] is not None:
            out[int(name.split("-")[1])] = 100 * c[model]["val_at_far_1e3"]
    return out


def original(result: dict[str, Any], model: str) -> float | None:
    for c in result["conditions"]:
        if c["condition"] == "original" and c[model]["val_at_far_1e3"] is not None:
            return 100 * float(c[model]["val_at_far_1e3"])
    return None


def dashed(draw: ImageDraw.ImageDraw, points: Sequence[tuple[float, float]], colour, dash=8):
    """A dashed polyline (Pillow draws only solid lines)."""
    for (x1, y1), (x2, y2) in itertools.pairwise(points):
        length = ((x2 - x1) ** 2 + (y2 - y1) ** 2) ** 0.5
        steps = max(1, int(length // dash))
        for s in range(0, steps, 2):
            a, b = s / steps, min(1.0, (s + 1) / steps)
            draw.line(
                [
                    (x1 + (x2 - x1) * a, y1 + (y2 - y1) * a),
                    (x1 + (x2 - x1) * b, y1 + (y2 - y1) * b),
                ],
                fill=colour,
                width=2,
            )


def panel(
    draw: ImageDraw.ImageDraw,
    x0: int,
    title: str,
    xlabel: str,
    xs: Sequence[int],
    lines: dict[str, dict[int, float]],
    baselines: dict[str, float | None],
    y_low: float,
) -> None:
    """One chart: axes from ``y_low`` to 100 %, the x ticks at ``xs`` spaced by value."""
    left, right = x0 + LEFT, x0 + PANEL_W
    lo, hi = min(xs), max(xs)

    def px(v: float) -> float:
        return left + (v - lo) / (hi - lo) * (right - left)

    def py(v: float) -> float:
        return BOTTOM - (max(v, y_low) - y_low) / (100 - y_low) * (BOTTOM - TOP)

    small, normal = font(14), font(17)
    draw.text((left, TOP - 40), title, fill="black", font=normal)
    for v in range(int(y_low), 101, 10):
        draw.line([(left, py(v)), (right, py(v))], fill=(225, 225, 225))
        draw.text((left - 8, py(v)), f"{v}%", fill="black", font=small, anchor="rm")
    draw.rectangle([left, TOP, right, BOTTOM], outline="black")
    for v in xs:
        draw.line([(px(v), BOTTOM), (px(v), BOTTOM + 5)], fill="black")
        draw.text((px(v), BOTTOM + 8), str(v), fill="black", font=small, anchor="mt")
    draw.text(((left + right) / 2, BOTTOM + 32), xlabel, fill="black", font=small, anchor="mt")
    for model, base in baselines.items():
        if base is not None:
            dashed(draw, [(left, py(base)), (right, py(base))], COLOURS[model], dash=3)
    for model, points in lines.items():
        pts = [(px(k), py(v)) for k, v in sorted(points.items()) if lo <= k <= hi]
        if model == "paper":
            dashed(draw, pts, COLOURS[model])
        elif len(pts) > 1:
            draw.line(pts, fill=COLOURS[model], width=3)
        for x, y in pts:
            draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=COLOURS[model])


def merged(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One result with every condition of ``results`` once (in the default order: original,
    JPEG, sizes), checking that a condition run twice gave the same VAL both times."""
    by_name: dict[str, dict[str, Any]] = {}
    for result in results:
        for c in result["conditions"]:
            seen = by_name.setdefault(c["condition"], c)
            for model in ("fast", "accurate"):
                if seen[model]["val_at_far_1e3"] != c[model]["val_at_far_1e3"]:
                    raise SystemExit(f"{c['condition']}: the runs disagree ({model})")

    def order(name: str) -> tuple[int, int]:
        kind, _, value = name.partition("-")
        return ({"original": 0, "jpeg": 1, "size": 2}.get(kind, 3), int(value or 0))

    return {**results[0], "conditions": [by_name[n] for n in sorted(by_name, key=order)]}


def markdown(result: dict[str, Any]) -> str:
    """The benchmark's table: one row per condition."""

    def pct(x: float | None, digits: int = 1) -> str:
        return "n/a" if x is None else f"{100 * x:.{digits}f}%"

    rows = [
        "| condition | VAL fast | VAL accurate | paper (NN1) | pair acc. fast | pair acc. accurate "
        "| faces missed | median face px |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in result["conditions"]:
        name = c["condition"]
        kind, _, value = name.partition("-")
        paper = (PAPER_JPEG if kind == "jpeg" else PAPER_SIZE if kind == "size" else {}).get(
            int(value) if value else -1
        )
        fast, accurate = c["fast"], c["accurate"]
        rows.append(
            f"| {name} | {pct(fast['val_at_far_1e3'], 2)} | {pct(accurate['val_at_far_1e3'], 2)} "
            f"| {'' if paper is None else f'{paper:.1f}%'} | {pct(fast['pairs_accuracy'], 2)} "
            f"| {pct(accurate['pairs_accuracy'], 2)} | {c['missed']} of {c['images']} "
            f"| {c['median_face_side']:.0f} |"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, nargs="+", help="eval-robustness --json output")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--markdown", action="store_true", help="print the table too")
    args = parser.parse_args(argv)
    result = merged([json.loads(path.read_text()) for path in args.results])
    if args.markdown:
        print(markdown(result))
    models = ("fast", "accurate")
    vals = [v for m in models for k in ("jpeg", "size") for v in series(result, k, m).values()]
    y_low = min(30.0, 10 * (min(vals, default=100) // 10))
    image = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(image)
    baselines = {m: original(result, m) for m in models}
    panel(
        draw,
        0,
        "VAL @ FAR=1e-3 by JPEG quality",
        "JPEG quality (both photos re-encoded)",
        [10, 20, 30, 50, 70, 90],
        {**{m: series(result, "jpeg", m) for m in models}, "paper": PAPER_JPEG},
        baselines,
        y_low,
    )
    panel(
        draw,
        PANEL_W + 80,
        "VAL @ FAR=1e-3 by face size",
        "face box side before detection, px (paper: thumbnail side)",
        [40, 60, 80, 120, 160],
        {**{m: series(result, "size", m) for m in models}, "paper": PAPER_SIZE},
        baselines,
        y_low,
    )
    legend = font(14)
    x = 100
    for label, colour in (
        ("fast (dlib ResNet)", COLOURS["fast"]),
        ("accurate (dlib + SFace)", COLOURS["accurate"]),
        ("FaceNet NN1, paper's hold-out set", COLOURS["paper"]),
        ("dotted: each model on the original photos", (0, 0, 0)),
    ):
        if label.startswith("dotted"):
            dashed(draw, [(x, H - 20), (x + 24, H - 20)], colour, dash=3)
        else:
            draw.line([(x, H - 20), (x + 24, H - 20)], fill=colour, width=3)
        draw.text((x + 30, H - 20), label, fill="black", font=legend, anchor="lm")
        x += 40 + int(draw.textlength(label, font=legend))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
