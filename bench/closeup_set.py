"""A test set of close-up portraits: LFW faces and large WIDER faces enlarged to fill the frame.

    python bench/closeup_set.py --out ~/datasets/closeups
        [--lfw ~/datasets/lfw/images] [--wider ~/datasets/wider-train/images]
        [--truth ../shared/datasets/wider-train/wider_face_train_bbx_gt_subset.txt]
        [--lfw-count 240] [--wider-count 120] [--seed 17]

Phone photos, selfies and web portraits show one face filling much of the frame, often with
the chin or the forehead cut by the border; WIDER (small faces) and LFW (250 x 250, face about
110 px) never do. Each photo made here takes one source face and:

- scales it so that its box height is 40-90% of the frame height (uniform);
- frames it in a portrait (width 340-1280 px, height 1.47 x the width at 340 px down to 1.36 x
  at 1280 px, +-2%: 340 x 500 to 1280 x 1740) or a landscape frame (width 500-665 px, height
  0.666-0.678 x the width: 500 x 339 to 665 x 443), one photo in four landscape;
- cuts the chin (half the photos) or the forehead (a quarter) by 5-25% of the box height, the
  rest wholly inside; the face is moved sideways by up to 15% of the free width;
- fills what lies beyond the source photo by repeating its edge pixels (no black band, no
  mirrored second face), and saves a JPEG at quality 92.

Ground truth (``manifest.json``): the ``target`` box (x1, y1, x2, y2, clipped to the frame):
for LFW the box this project's YuNet finds on the original 250 x 250 photo (the face nearest
the centre), scaled; for WIDER its annotated box. ``others``: every other face known in the
source (YuNet's other faces on the LFW photo; WIDER's other annotated faces), scaled and
clipped, which a detector may find without a false box. Everything is drawn from one seeded
generator, so the same command writes the same set.

Sources: LFW people in sorted order sampled by the seed (one photo per person); WIDER faces of
the train subset (only that: the hidden test is never tuned on) at least 100 px high, not
invalid, unoccluded, typical pose, not heavily blurred.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

Box = tuple[float, float, float, float]

PORTRAIT_WIDTH = (340, 1280)
PORTRAIT_ASPECT = (1740 / 1280, 500 / 340)  # height / width
LANDSCAPE_WIDTH = (500, 665)
LANDSCAPE_ASPECT = (443 / 665, 339 / 500)
FILL = (0.40, 0.90)
CUT = (0.05, 0.25)
WIDER_MIN_HEIGHT = 100


@dataclass
class Closeup:
    """One photo of the set and its truth (boxes in the photo's pixels)."""

    file: str
    source: str
    width: int
    height: int
    fill: float
    cut: str  # "chin", "forehead" or "none"
    target: Box
    others: list[Box] = field(default_factory=list)


@dataclass(frozen=True)
class Framing:
    """Where a face goes: frame size, scale from the source, and the source pixel at (0, 0)."""

    width: int
    height: int
    scale: float
    origin: tuple[float, float]  # source pixel shown at the frame's top-left corner
    fill: float
    cut: str


def draw_framing(rng: np.random.Generator, box: Box) -> Framing:
    """A frame for a face with source box ``box``: size, fill, cut and position drawn."""
    x1, y1, x2, y2 = box
    if rng.random() < 0.25:
        width = int(rng.integers(LANDSCAPE_WIDTH[0], LANDSCAPE_WIDTH[1] + 1))
        height = round(width * rng.uniform(*LANDSCAPE_ASPECT))
    else:
        width = int(rng.integers(PORTRAIT_WIDTH[0], PORTRAIT_WIDTH[1] + 1))
        # 1.47 at 340 px wide to 1.36 at 1280 px (the sizes of the web portraits missed)
        along = (width - PORTRAIT_WIDTH[0]) / (PORTRAIT_WIDTH[1] - PORTRAIT_WIDTH[0])
        aspect = PORTRAIT_ASPECT[1] + along * (PORTRAIT_ASPECT[0] - PORTRAIT_ASPECT[1])
        height = round(width * aspect * rng.uniform(0.98, 1.02))
    fill = float(rng.uniform(*FILL))
    scale = fill * height / (y2 - y1)
    face_w, face_h = (x2 - x1) * scale, (y2 - y1) * scale
    pick = rng.random()
    cut_by = float(rng.uniform(*CUT)) * face_h
    if pick < 0.5:
        cut, top = "chin", height - face_h + cut_by
    elif pick < 0.75:
        cut, top = "forehead", -cut_by
    else:
        cut, top = "none", float(rng.uniform(0.0, max(height - face_h, 0.0)))
    free = max(width - face_w, 0.0)
    left = free / 2 + float(rng.uniform(-0.15, 0.15)) * free
    origin = (x1 - left / scale, y1 - top / scale)
    return Framing(width, height, scale, origin, fill, cut)


def render(image: np.ndarray, framing: Framing) -> np.ndarray:
    """The frame's pixels: the source scaled (cubic to enlarge, area to shrink) and shifted,
    edge pixels repeated beyond the source."""
    s = framing.scale
    method = cv2.INTER_CUBIC if s >= 1.0 else cv2.INTER_AREA
    big = cv2.resize(image, None, fx=s, fy=s, interpolation=method)
    x0 = round(framing.origin[0] * s)
    y0 = round(framing.origin[1] * s)
    rows = np.clip(np.arange(y0, y0 + framing.height), 0, big.shape[0] - 1)
    cols = np.clip(np.arange(x0, x0 + framing.width), 0, big.shape[1] - 1)
    return np.ascontiguousarray(big[rows][:, cols])


def map_box(box: Box, framing: Framing) -> Box | None:
    """A source box in the frame's pixels, clipped; ``None`` when less than a third of it is
    left inside."""
    s, (ox, oy) = framing.scale, framing.origin
    x1, y1, x2, y2 = ((box[0] - ox) * s, (box[1] - oy) * s, (box[2] - ox) * s, (box[3] - oy) * s)
    cx1, cy1 = max(x1, 0.0), max(y1, 0.0)
    cx2, cy2 = min(x2, float(framing.width)), min(y2, float(framing.height))
    if cx2 <= cx1 or cy2 <= cy1:
        return None
    if (cx2 - cx1) * (cy2 - cy1) < (x2 - x1) * (y2 - y1) / 3:
        return None
    return (round(cx1, 1), round(cy1, 1), round(cx2, 1), round(cy2, 1))


def lfw_sources(lfw: Path, count: int, rng: np.random.Generator) -> list[Path]:
    """One photo each of ``count`` LFW people drawn by ``rng``."""
    people = sorted(p for p in lfw.iterdir() if p.is_dir())
    chosen = sorted(rng.choice(len(people), size=min(count, len(people)), replace=False))
    paths = []
    for index in chosen:
        photos = sorted(people[index].glob("*.jpg"))
        paths.append(photos[int(rng.integers(len(photos)))])
    return paths


def wider_sources(
    truth: Path, count: int, rng: np.random.Generator
) -> list[tuple[str, Box, list[Box]]]:
    """``count`` large, clear WIDER faces drawn by ``rng``: photo path, box, the photo's other
    faces."""
    from facenet_core.evaluation.detection import read_wider_annotations

    candidates = []
    for photo in read_wider_annotations(truth):
        for i, face in enumerate(photo.faces):
            height = face.box[3] - face.box[1]
            clear = not face.invalid and face.occlusion == 0 and face.pose == 0 and face.blur < 2
            if clear and height >= WIDER_MIN_HEIGHT:
                others = [f.box for j, f in enumerate(photo.faces) if j != i]
                candidates.append((photo.path, face.box, others))
    picks = sorted(rng.choice(len(candidates), size=min(count, len(candidates)), replace=False))
    return [candidates[i] for i in picks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path.home() / "datasets" / "closeups")
    parser.add_argument("--lfw", type=Path, default=Path.home() / "datasets" / "lfw" / "images")
    parser.add_argument(
        "--wider", type=Path, default=Path.home() / "datasets" / "wider-train" / "images"
    )
    parser.add_argument(
        "--truth",
        type=Path,
        default=Path("../shared/datasets/wider-train/wider_face_train_bbx_gt_subset.txt"),
    )
    parser.add_argument("--lfw-count", type=int, default=240)
    parser.add_argument("--wider-count", type=int, default=120)
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()

    from facenet_core.imageio import load_image
    from facenet_core.vision.detectors.yunet import YunetDetector

    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    items: list[Closeup] = []

    def save(image: np.ndarray, source: str, framing: Framing, box: Box, others: list[Box]):
        target = map_box(box, framing)
        if target is None:
            return
        name = f"{len(items):04d}.jpg"
        frame = render(image, framing)
        cv2.imwrite(str(args.out / name), frame[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
        mapped = [m for m in (map_box(o, framing) for o in others) if m is not None]
        items.append(
            Closeup(
                name,
                source,
                framing.width,
                framing.height,
                round(framing.fill, 3),
                framing.cut,
                target,
                mapped,
            )
        )

    # the truth of LFW faces: this project's detector on the original photo, at its defaults
    detector = YunetDetector(device="cpu")
    for path in lfw_sources(args.lfw, args.lfw_count, rng):
        image = load_image(path)
        faces = detector.detect(image)
        if not faces:
            continue
        h, w = image.shape[:2]
        centre = np.array([w / 2, h / 2])
        faces.sort(key=lambda d: float(np.hypot(*(np.asarray(d.center) - centre))))
        box = faces[0].box
        others = [d.box for d in faces[1:]]
        save(image, f"lfw/{path.parent.name}/{path.name}", draw_framing(rng, box), box, others)
    for rel, box, others in wider_sources(args.truth, args.wider_count, rng):
        image = load_image(args.wider / rel)
        save(image, f"wider/{rel}", draw_framing(rng, box), box, others)

    manifest = {"seed": args.seed, "photos": [asdict(item) for item in items]}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    counts = {kind: sum(i.source.startswith(kind) for i in items) for kind in ("lfw", "wider")}
    print(f"{len(items)} close-ups ({counts['lfw']} LFW, {counts['wider']} WIDER) in {args.out}")


if __name__ == "__main__":
    main()
