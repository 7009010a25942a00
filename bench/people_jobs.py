"""Re-clustering and recognising new faces on a synthetic library (default 100,000 faces).

    python bench/people_jobs.py [--faces 100000] [--new 1000] [--library PATH] [--json FILE]

The library (built by ``people_queries.build``: 1,000 named people and 30,000 identities in
all, heavy-tailed sizes, 2.5 faces per photo, stored 128-byte embeddings) starts as before any
clustering: only the user's confirmed faces (10%) have a person. Timed, each on the same file:

1. ``recluster``, first run (every face placed; people created);
2. ``recluster`` again (nothing should move: stable ids);
3. ``recognize_new`` once, which looks at every face still unassigned (its first run);
4. ``--new`` faces of known identities and strangers added, then ``recognize_new`` again (what
   a scan runs at its end).

Each run's phases (read, cluster, write...) are timed from its progress events. Prints seconds
and what each run did.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from people_queries import LANDMARKS, build, finish

from facenet_core.people.jobs import recluster, recognize_new
from facenet_core.progress import Progress
from facenet_core.settings import Settings
from facenet_core.store import Library


class Phases:
    """Seconds spent in each phase, from the progress events."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.last = self.start
        self.phase: str | None = None
        self.seconds: dict[str, float] = {}

    def __call__(self, event: Progress) -> None:
        now = time.perf_counter()
        if self.phase is not None:
            self.seconds[self.phase] = self.seconds.get(self.phase, 0.0) + now - self.last
        self.phase, self.last = event.phase, now

    def done(self) -> dict[str, float]:
        self(Progress(task="", phase="(end)", done=0))
        self.seconds.pop("(end)", None)
        return {k: round(v, 2) for k, v in self.seconds.items()}


def add_new_faces(path: Path, n: int, seed: int = 1) -> None:
    """``n`` new faces in new photos: half of known identities (near existing faces), half of
    strangers, in pairs of the same stranger."""
    rng = np.random.default_rng(seed)
    conn = sqlite3.connect(path)
    with conn:
        (max_face,) = conn.execute("SELECT max(id) FROM faces").fetchone()
        (max_photo,) = conn.execute("SELECT max(id) FROM photos").fetchone()
        known = conn.execute(
            "SELECT e.vector FROM embeddings e ORDER BY random() LIMIT ?", (n // 2,)
        ).fetchall()
        vectors = [np.frombuffer(v, np.int8).astype(np.float32) / 256 for (v,) in known]
        strangers = rng.normal(size=(n - len(vectors) + 1) // 2 + 1, scale=1.0)
        centres = rng.normal(size=(len(strangers), 128))
        for i in range(n - len(vectors)):
            vectors.append(centres[i // 2] / np.linalg.norm(centres[i // 2]))
        for i, v in enumerate(vectors):
            v = v + rng.normal(scale=0.25 / 11.3, size=128)
            v /= np.linalg.norm(v)
            photo = max_photo + 1 + i
            face = max_face + 1 + i
            conn.execute(
                "INSERT INTO photos (id, path, size, mtime_ns, content_hash, status)"
                " VALUES (?, ?, 1, 0, '', 'done')",
                (photo, f"/new/{i}.jpg"),
            )
            conn.execute(
                "INSERT INTO faces (id, photo_id, x1, y1, x2, y2, landmarks, landmark_scheme,"
                " detector, det_score) VALUES (?, ?, 10, 10, 90, 90, ?, 'mtcnn5', 'mtcnn', 0.99)",
                (face, photo, LANDMARKS),
            )
            codes = np.clip(np.rint(v * 256), -128, 127).astype(np.int8)
            conn.execute("INSERT INTO embeddings VALUES (?, 1, ?)", (face, codes.tobytes()))
    conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=1_000)
    parser.add_argument("--library", type=Path, help="where to build the library (a new file)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    path = args.library or Path(tempfile.mkdtemp()) / "jobs.db"
    start = time.perf_counter()
    build(path, args.faces, embeddings=True, fresh=True)
    print(f"built {path} ({args.faces} faces) in {time.perf_counter() - start:.1f} s")
    settings = Settings()
    results: dict[str, Any] = {"faces": args.faces}
    library = Library.open(path)
    for name in ("recluster (first)", "recluster (again)"):
        phases = Phases()
        report = recluster(library, settings, reporter=phases)
        results[name] = {**report.to_json_dict(), "phases": phases.done()}
        print(f"{name:<20} {report.seconds:8.1f} s  {phases.done()}  {report}")
    phases = Phases()
    report = recognize_new(library, settings, reporter=phases)
    results["recognize_new (first)"] = {**report.to_json_dict(), "phases": phases.done()}
    print(f"{'recognize_new (first)':<20} {report.seconds:8.1f} s  {phases.done()}  {report}")
    library.close()
    add_new_faces(path, args.new)
    library = Library.open(path)
    phases = Phases()
    report = recognize_new(library, settings, reporter=phases)
    results["recognize_new (new faces)"] = {**report.to_json_dict(), "phases": phases.done()}
    print(f"{'recognize_new (new)':<20} {report.seconds:8.1f} s  {phases.done()}  {report}")
    return finish(library, results, args.json)


if __name__ == "__main__":
    sys.exit(main())
