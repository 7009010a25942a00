"""What reading face tags adds per photo, against decoding the same photo, in one run.

    python bench/tags_read_cost.py FOLDER [--limit N] [--repeat R]

For every JPEG/PNG/HEIC/WebP/TIFF under FOLDER: the time of ``read_face_tags`` (container walk,
XMP parse, sidecar/Takeout/Picasa look-ups) and of ``open_photo`` (the decode every scan does,
a lower bound of a scan's per-photo work, which adds detection and embedding). The median of
``--repeat`` passes is kept (the file cache is warm after the first). Prints both per photo and
the ratio; a ratio under 5% of decoding alone is under 5% of a scan.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facenet_core.imageio import open_photo
from facenet_core.tags import read_face_tags

SUFFIXES = {".jpg", ".jpeg", ".png", ".heic", ".webp", ".tif", ".tiff"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    paths = sorted(p for p in args.folder.rglob("*") if p.suffix.lower() in SUFFIXES)
    if args.limit:
        paths = paths[: args.limit]
    sizes = {}
    for p in paths:  # warm the file cache and learn the displayed sizes
        photo = open_photo(p)
        sizes[p] = (photo.width, photo.height)
    read_runs, decode_runs = [], []
    regions = names = 0
    for _ in range(args.repeat):
        start = time.perf_counter()
        regions = names = 0
        for p in paths:
            tags = read_face_tags(p, sizes[p], 1)
            regions += len(tags.regions)
            names += len(tags.names)
        read_runs.append(time.perf_counter() - start)
        start = time.perf_counter()
        for p in paths:
            open_photo(p)
        decode_runs.append(time.perf_counter() - start)
    read, decode = statistics.median(read_runs), statistics.median(decode_runs)
    n = len(paths)
    print(f"photos: {n}, regions found: {regions}, names found: {names}")
    print(f"read_face_tags: {read / n * 1e3:.3f} ms/photo")
    print(f"open_photo (decode): {decode / n * 1e3:.3f} ms/photo")
    print(f"tags / decode: {read / decode:.1%}")


if __name__ == "__main__":
    main()
