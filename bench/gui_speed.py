"""GUI speed on a large synthetic library: the People page opening a library of 10,000 faces,
and scrolling a person with 5,000 faces from top to bottom (longest event-loop stall).

    QT_QPA_PLATFORM=offscreen python bench/gui_speed.py [--faces 10000] [--big 5000]

Rows are written in bulk (no detection); face thumbnails are real LFW crops from
../shared/datasets/lfw-mini, reused, so decoding costs what it costs for real. The stall is the
longest gap between the ticks of a 10 ms timer, minus 10 ms.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtWidgets import QApplication  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from app.resources import apply_style  # noqa: E402
from tests.gui.speed import open_people, scroll_person  # noqa: E402
from tests.gui.synthetic import build  # noqa: E402

LFW_MINI = REPO.parent / "shared" / "datasets" / "lfw-mini"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=10_000)
    parser.add_argument("--people", type=int, default=400)
    parser.add_argument("--big", type=int, default=5_000, help="faces of the largest person")
    args = parser.parse_args()
    images = sorted((LFW_MINI / "images").glob("*/*.jpg"))[::11]
    if not images:
        print(f"needs real faces in {LFW_MINI}", file=sys.stderr)
        return 2
    app = QApplication([])
    apply_style(app)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        syn = build(
            Path(tmp) / "library.db",
            images,
            faces=args.faces,
            people=args.people,
            big_person_faces=args.big,
        )
        built = time.perf_counter() - start
        print(f"built {args.faces:,} faces, {args.people} people in {built:.1f} s")
        window = MainWindow(syn.library, restore_state=False)
        window.resize(1180, 780)
        window.show()
        app.processEvents()
        seconds = open_people(window)
        print(
            f"People page, {args.faces:,} faces / {args.people} people: "
            f"shown in {seconds * 1000:.0f} ms"
        )
        result = scroll_person(window, syn.big_person)
        print(
            f"person with {result.faces:,} faces scrolled top to bottom in {result.seconds:.1f} s:"
            f" worst stall {result.worst_stall_ms:.1f} ms, p99 {result.p99_stall_ms:.1f} ms"
            f" ({result.ticks} ticks); the GUI thread's longest own work between ticks"
            f" {result.worst_busy_ms:.1f} ms CPU; {result.thumbnails_decoded:,} thumbnails decoded"
        )
        window.close()
        syn.library.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
