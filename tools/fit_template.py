"""Fit an alignment template: where a detector's five points land in dlib's own 150 x 150 chips.

    python tools/fit_template.py [--detector yunet] [--lfw-mini DIR]

For every lfw-mini image where both dlib's HOG detector (with dlib's 5-point predictor) and the
chosen detector find the face nearest the centre, the detector's five points are mapped through
the transform dlib's ``get_face_chip(size=150, padding=0.25)`` applies to that face; the mean of
the mapped points is the template (``MTCNN_TEMPLATE`` and ``YUNET_TEMPLATE`` in
``facenet_core/vision/align.py`` were made this way). A similarity transform of the detector's
points onto that template then makes chips that coincide with dlib's on average, the chips the
embedding network was trained on. Prints the template, the spread of the points, and the mean
offset from the MTCNN template.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import dlib
import numpy as np

from facenet_core.imageio import load_image
from facenet_core.types import CHIP_PADDING, CHIP_SIZE, Detection
from facenet_core.vision.align import MTCNN_TEMPLATE
from facenet_core.vision.detectors import DetectorConfig, HogDetector, make_detector

LFW_MINI = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "lfw-mini"


def dlib_chip_transform(detection: Detection) -> np.ndarray:
    """The 2 x 3 affine map from image pixels to the pixels of dlib's chip of a ``dlib5`` face
    (dlib's ``get_mapping_to_chip``: the chip rectangle's corners, rotated about its centre,
    onto the chip's corners)."""
    x1, y1, x2, y2 = (round(v) for v in detection.box)
    points = dlib.points([dlib.point(round(x), round(y)) for x, y in detection.landmarks])
    shape = dlib.full_object_detection(dlib.rectangle(x1, y1, x2 - 1, y2 - 1), points)
    details = dlib.get_face_chip_details(shape, size=CHIP_SIZE, padding=CHIP_PADDING)
    rect = details.rect
    left, top, right, bottom = rect.left(), rect.top(), rect.right(), rect.bottom()
    centre = np.array([(left + right) / 2.0, (top + bottom) / 2.0])
    c, s = np.cos(details.angle), np.sin(details.angle)
    rotation = np.array([[c, -s], [s, c]])
    source = np.array([[left, top], [right, top], [right, bottom]], np.float64)
    source = (source - centre) @ rotation.T + centre
    target = np.array(
        [[0, 0], [details.cols - 1, 0], [details.cols - 1, details.rows - 1]], np.float64
    )
    # the exact affine through three point pairs
    a = np.hstack([source, np.ones((3, 1))])
    return np.linalg.solve(a, target).T


def nearest_centre(faces: list[Detection], shape: tuple[int, ...]) -> Detection | None:
    if not faces:
        return None
    cy, cx = shape[0] / 2.0, shape[1] / 2.0
    return min(faces, key=lambda d: (d.center[0] - cx) ** 2 + (d.center[1] - cy) ** 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", default="yunet")
    parser.add_argument("--lfw-mini", type=Path, default=LFW_MINI)
    args = parser.parse_args()
    hog = HogDetector()
    other = make_detector(DetectorConfig(name=args.detector, device="cpu"))
    mapped: list[np.ndarray] = []
    check: list[np.ndarray] = []
    for path in sorted((args.lfw_mini / "images").glob("*/*.jpg")):
        image = load_image(path)
        ref = nearest_centre(hog.detect(image), image.shape)
        face = nearest_centre(other.detect(image), image.shape)
        if ref is None or face is None:
            continue
        overlap_x = min(ref.box[2], face.box[2]) - max(ref.box[0], face.box[0])
        if overlap_x <= 0:  # not the same face
            continue
        m = dlib_chip_transform(ref)
        mapped.append(face.landmarks.astype(np.float64) @ m[:, :2].T + m[:, 2])
        check.append(ref.landmarks.astype(np.float64) @ m[:, :2].T + m[:, 2])
    points = np.stack(mapped)
    template = points.mean(axis=0)
    print(f"{len(points)} faces found by both HOG and {args.detector} in {args.lfw_mini}")
    print("template (x, y) per point:")
    print(np.array2string(template, precision=3, separator=", "))
    print("spread (std, px):", np.array2string(points.std(axis=0), precision=2))
    print(
        "dlib's own points in its chips, spread (std, px; ~0 checks the chip transform):",
        np.array2string(np.stack(check).std(axis=0).max(), precision=3),
    )
    offset = np.array2string(template - MTCNN_TEMPLATE, precision=2)
    print("offset from MTCNN_TEMPLATE (px):", offset)


if __name__ == "__main__":
    main()
