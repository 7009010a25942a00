"""Helpers for the face-tag tests: the shared real files, ExifTool as the independent reader."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import SHARED

FACE_TAGS = SHARED / "datasets" / "face-tags"


def face_tags_dir() -> Path:
    if not (FACE_TAGS / "portrait.jpg").is_file():
        pytest.skip(f"face-tag files not available: {FACE_TAGS} is missing (shared datasets)")
    return FACE_TAGS


def exiftool() -> str:
    tool = shutil.which("exiftool")
    if tool is None:
        pytest.skip("ExifTool is not installed (Debian package libimage-exiftool-perl)")
    return tool


def run_exiftool(*args: str | Path) -> str:
    done = subprocess.run(
        [exiftool(), *map(str, args)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def exiftool_json(path: Path) -> dict:
    out = run_exiftool(
        "-j", "-struct", "-n", "-XMP-mwg-rs:RegionInfo", "-XMP-MP:RegionInfoMP",
        "-XMP-iptcExt:ImageRegion", "-XMP-iptcExt:PersonInImage", "-Orientation",
        "-ImageWidth", "-ImageHeight", path,
    )  # fmt: skip
    return json.loads(out)[0]


def display_point(orientation: int, x: float, y: float, w: float, h: float) -> tuple[float, float]:
    """A stored-frame pixel point in the displayed frame (stored size ``w`` x ``h``), written
    out in pixels from the EXIF definition rather than shared with the code under test."""
    table = {
        1: (x, y),
        2: (w - x, y),
        3: (w - x, h - y),
        4: (x, h - y),
        5: (y, x),
        6: (h - y, x),
        7: (h - y, w - x),
        8: (y, w - x),
    }
    return table[orientation]


def display_box(
    orientation: int, box: tuple[float, float, float, float], w: float, h: float
) -> tuple[float, float, float, float]:
    ax, ay = display_point(orientation, box[0], box[1], w, h)
    bx, by = display_point(orientation, box[2], box[3], w, h)
    return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)


def mwg_box(area: dict, w: float, h: float) -> tuple[float, float, float, float]:
    """The pixel box of an MWG region's ``Area`` as ExifTool reports it (centre and size,
    relative to the stored image of ``w`` x ``h`` pixels)."""
    return (
        (area["X"] - area["W"] / 2) * w,
        (area["Y"] - area["H"] / 2) * h,
        (area["X"] + area["W"] / 2) * w,
        (area["Y"] + area["H"] / 2) * h,
    )


def expected_regions(info: dict) -> list[tuple[str | None, tuple[float, float, float, float]]]:
    """Names and displayed pixel boxes of the face regions ExifTool reports, computed from its
    own numbers: MWG when present (centre-based), else IPTC person regions, else MP (left/top)."""
    w, h = info["ImageWidth"], info["ImageHeight"]
    o = int(info.get("Orientation", 1) or 1)
    out = []
    mwg = info.get("RegionInfo", {}).get("RegionList", [])
    if mwg:
        for r in mwg:
            if r.get("Type") != "Face":
                continue
            out.append((r.get("Name"), display_box(o, mwg_box(r["Area"], w, h), w, h)))
        return out
    iptc = [r for r in info.get("ImageRegion", []) if r.get("PersonInImage")]
    if iptc:
        for r in iptc:
            b = r["RegionBoundary"]
            shape = b.get("RbShape", "rectangle")
            if shape == "rectangle":
                box = (
                    b["RbX"] * w,
                    b["RbY"] * h,
                    (b["RbX"] + b["RbW"]) * w,
                    (b["RbY"] + b["RbH"]) * h,
                )
            elif shape == "circle":
                r_px = b["RbRx"] * w  # a relative radius is relative to the width
                box = (
                    b["RbX"] * w - r_px,
                    b["RbY"] * h - r_px,
                    b["RbX"] * w + r_px,
                    b["RbY"] * h + r_px,
                )
            else:
                xs = [v["RbX"] * w for v in b["RbVertices"]]
                ys = [v["RbY"] * h for v in b["RbVertices"]]
                box = (min(xs), min(ys), max(xs), max(ys))
            out.append((r["PersonInImage"][0], display_box(o, box, w, h)))
        return out
    for r in info.get("RegionInfoMP", {}).get("Regions", []):
        left, top, rw, rh = (float(v) for v in str(r["Rectangle"]).split(","))
        box = (left * w, top * h, (left + rw) * w, (top + rh) * h)
        out.append((r.get("PersonDisplayName"), display_box(o, box, w, h)))
    return out


def displayed_size(info: dict) -> tuple[int, int]:
    w, h = info["ImageWidth"], info["ImageHeight"]
    return (h, w) if int(info.get("Orientation", 1) or 1) in (5, 6, 7, 8) else (w, h)


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
