"""People queries on a synthetic library of a million faces.

    python bench/people_queries.py [--faces 1000000] [--library PATH] [--json FILE]

Builds (or reuses, with ``--library`` pointing at an existing file) a library whose shape is a
large family archive: 2.5 faces per photo, 1,000 named people and 30,000 unnamed clusters with
heavy-tailed sizes, 10% of faces confirmed, 2% pending suggestions, 12% unassigned, 3% ignored.
Then times every query of ``facenet_core.people.queries`` (median of 5 runs, each in a fresh
session, after one warm-up run) and prints milliseconds per query.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from facenet_core.people import edits, history_trace
from facenet_core.people import queries as q
from facenet_core.store import Library

LANDMARKS = bytes(40)
NAMED = 1_000
UNNAMED = 30_000


def finish(library: Library, results: dict[str, Any], json_path: str | None) -> int:
    """End a benchmark run: close the library and write ``results`` to ``json_path`` (if any);
    the exit status."""
    library.close()
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2) + "\n")
    return 0


def build(
    path: Path, n_faces: int, seed: int = 0, embeddings: bool = False, fresh: bool = False
) -> np.ndarray:
    """Write a synthetic library of ``n_faces`` faces at ``path`` (a new file); returns each
    face's true identity. ``embeddings``: store an embedding per face (identity centre plus
    noise: squared distance ~0.12 within an identity, ~2 between); ``fresh``: only the
    confirmed (and ignored) faces are labelled, as before any clustering."""
    rng = np.random.default_rng(seed)
    Library.open(path, create=True).close()  # the real schema, migrated
    n_photos = max(1, int(n_faces / 2.5))
    n_people = NAMED + UNNAMED
    # heavy-tailed person sizes: a few people with tens of thousands of faces
    weights = 1.0 / np.arange(1, n_people + 1) ** 0.9
    rng.shuffle(weights[NAMED:])
    weights[:NAMED] *= 4  # named people are the frequent ones
    weights /= weights.sum()
    roll = rng.random(n_faces)
    person = rng.choice(n_people, size=n_faces, p=weights) + 1
    kind = np.full(n_faces, "auto", dtype=object)
    kind[roll < 0.10] = "confirmed"
    kind[(roll >= 0.10) & (roll < 0.12)] = "suggested"
    unassigned = (roll >= 0.12) & (roll < 0.24)
    ignored = (roll >= 0.24) & (roll < 0.27)
    # confirmed faces and suggestions belong to named people
    named_pick = rng.integers(1, NAMED + 1, size=n_faces)
    needs_named = (kind == "confirmed") | (kind == "suggested")
    person[needs_named] = named_pick[needs_named]
    kind[unassigned | ignored] = "none"
    if fresh:
        kind[kind != "confirmed"] = "none"
    photo = np.sort(rng.integers(1, n_photos + 1, size=n_faces))
    confidence = np.where(kind == "suggested", rng.uniform(0.5, 0.8, n_faces), np.nan)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    with conn:
        conn.executemany(
            "INSERT INTO people (id, name, is_hidden) VALUES (?, ?, ?)",
            (
                (
                    i,
                    f"Person {i:05d} {['Ann', 'Bob', 'Cy', 'Dee', 'Eve', 'Fay'][i % 6]}"
                    if i <= NAMED
                    else None,
                    int(i % 97 == 0),
                )
                for i in range(1, (NAMED if fresh else n_people) + 1)
            ),
        )
        conn.executemany(
            "INSERT INTO photos (id, path, size, mtime_ns, content_hash, width, height, status)"
            " VALUES (?, ?, 1000, 0, '', 1600, 1200, 'done')",
            ((i, f"/photos/{i // 1000:04d}/IMG_{i:07d}.jpg") for i in range(1, n_photos + 1)),
        )

        def rows() -> Iterator[tuple[Any, ...]]:
            for i in range(n_faces):
                assigned = kind[i] != "none"
                conf = confidence[i]
                yield (
                    i + 1,
                    int(photo[i]),
                    LANDMARKS,
                    int(person[i]) if assigned else None,
                    kind[i],
                    None if np.isnan(conf) else float(conf),
                    int(ignored[i]),
                )

        conn.executemany(
            "INSERT INTO faces (id, photo_id, x1, y1, x2, y2, landmarks, landmark_scheme,"
            " detector, det_score, person_id, assignment, assignment_confidence, is_ignored)"
            " VALUES (?, ?, 10, 10, 90, 90, ?, 'mtcnn5', 'mtcnn', 0.99, ?, ?, ?, ?)",
            rows(),
        )
        if embeddings:
            conn.execute(
                "INSERT INTO model_versions (id, name, weights_sha256, is_active)"
                " VALUES (1, 'synthetic', ?, 1)",
                ("0" * 64,),
            )
            centers = rng.normal(size=(n_people + 1, 128)).astype(np.float32)
            for start in range(0, n_faces, 100_000):
                stop = min(n_faces, start + 100_000)
                vec = centers[person[start:stop]] + 0.25 * rng.normal(
                    size=(stop - start, 128)
                ).astype(np.float32)
                vec /= np.linalg.norm(vec, axis=1, keepdims=True)
                codes = np.clip(np.rint(vec * 256), -128, 127).astype(np.int8)
                conn.executemany(
                    "INSERT INTO embeddings (face_id, model_version_id, vector) VALUES (?, 1, ?)",
                    ((start + j + 1, codes[j].tobytes()) for j in range(stop - start)),
                )
    conn.execute("ANALYZE")
    conn.close()
    return person


def timed(library: Library, fn: Callable[[Any], Any], runs: int = 5) -> tuple[float, Any]:
    """Median milliseconds of ``fn(session)`` over ``runs`` fresh sessions (after a warm-up)."""
    with library.session() as session:
        result = fn(session)
    times = []
    for _ in range(runs):
        with library.session() as session:
            start = time.perf_counter()
            fn(session)
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=1_000_000)
    parser.add_argument("--library", type=Path, help="library file to build or reuse")
    parser.add_argument("--json", metavar="FILE", help="also write the timings as JSON")
    args = parser.parse_args(argv)
    path = args.library or Path(tempfile.mkdtemp()) / "people.db"
    if not path.exists():
        start = time.perf_counter()
        build(path, args.faces)
        print(f"built {path} ({args.faces} faces) in {time.perf_counter() - start:.1f} s")
    library = Library.open(path)
    with library.session() as session:
        people = q.list_people(session, include_hidden=True)
    named = [p for p in people if p.name]
    big = max(named, key=lambda p: p.faces)
    second = sorted(named, key=lambda p: -p.faces)[1]
    third = sorted(named, key=lambda p: -p.faces)[2]
    small = min((p for p in named if p.faces >= 5), key=lambda p: p.faces)
    cases: list[tuple[str, Callable[[Any], Any]]] = [
        ("list_people (visible, min 1)", lambda s: q.list_people(s)),
        ("list_people (all, min 3)", lambda s: q.list_people(s, include_hidden=True, min_faces=3)),
        ("list_people (first 200)", lambda s: q.list_people(s, limit=200)),
        ("count_people", lambda s: q.count_people(s)),
        ("cover_faces (200 people)", lambda s: q.cover_faces(s, [p.id for p in people[:200]])),
        ("get_person (largest)", lambda s: q.get_person(s, big.id)),
        ("person_faces (largest, page 1)", lambda s: q.person_faces(s, big.id, limit=200)),
        (
            "person_faces (largest, offset 10000)",
            lambda s: q.person_faces(s, big.id, offset=10_000, limit=200),
        ),
        (
            "person_faces (largest, with suggestions)",
            lambda s: q.person_faces(s, big.id, kinds=("confirmed", "auto", "suggested")),
        ),
        ("photos_with_people (2 largest)", lambda s: q.photos_with_people(s, [big.id, second.id])),
        (
            "photos_with_people (3 largest)",
            lambda s: q.photos_with_people(s, [big.id, second.id, third.id]),
        ),
        (
            "photos_with_people (small + largest)",
            lambda s: q.photos_with_people(s, [small.id, big.id]),
        ),
        ("unassigned_faces (page 1)", lambda s: q.unassigned_faces(s)),
        ("unassigned_faces (offset 50000)", lambda s: q.unassigned_faces(s, offset=50_000)),
        ("ignored_faces (page 1)", lambda s: q.ignored_faces(s)),
        ("suggested_faces (everyone, page 1)", lambda s: q.suggested_faces(s)),
        ("suggested_faces (largest)", lambda s: q.suggested_faces(s, big.id)),
        ("suggestion_count (largest)", lambda s: q.suggestion_count(s, big.id)),
        ("search_people ('ann')", lambda s: q.search_people(s, "ann")),
        ("resolve_person (by name)", lambda s: q.resolve_person(s, big.name or "")),
        ("edit_history", lambda s: history_trace.edit_history(s)),
    ]
    results: dict[str, float] = {}
    with library.session() as session:
        faces = session.connection().exec_driver_sql("SELECT count(*) FROM faces").scalar()
    print(f"{faces} faces, {len(people)} people ({len(named)} named); largest: {big.faces} faces")
    for name, fn in cases:
        ms, result = timed(library, fn)
        results[name] = round(ms, 2)
        size = getattr(result, "total", None)
        size = size if size is not None else (len(result) if isinstance(result, list) else "")
        print(f"{name:<45} {ms:8.1f} ms   {size}")
    # edits at this scale (each then undone, so the library is as built)
    print("edits (each one transaction, then undone):")
    edit_cases: list[tuple[str, Callable[[], Any]]] = [
        ("rename the largest person", lambda: edits.name_person(library, big.id, "Renamed")),
        (
            f"merge the 2nd largest ({second.faces} faces) into the largest",
            lambda: edits.merge_people(library, [big.id, second.id]),
        ),
        (
            f"confirm all suggestions of the largest ({big.suggestions})",
            lambda: edits.confirm_suggestions(library, person_id=big.id),
        ),
        ("hide the largest (confirms its faces)", lambda: edits.hide_person(library, big.id)),
    ]
    for name, edit in edit_cases:
        start = time.perf_counter()
        change = edit()
        ms = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        edits.undo(library)
        undo_ms = (time.perf_counter() - start) * 1000
        results[f"edit: {name}"] = round(ms, 1)
        results[f"undo: {name}"] = round(undo_ms, 1)
        print(f"  {name:<60} {ms:8.1f} ms, undo {undo_ms:8.1f} ms  ({len(change.faces)} faces)")
    with library.session() as session:
        start = time.perf_counter()
        session.connection().exec_driver_sql(
            "SELECT person_id, assignment, count(*) FROM faces"
            " WHERE person_id IS NOT NULL GROUP BY person_id, assignment"
        ).all()
        counting = (time.perf_counter() - start) * 1000
    results["counting every person's faces in SQL (no stored counts)"] = round(counting, 1)
    print(f"(for comparison: counting every person's faces in SQL takes {counting:.1f} ms)")
    return finish(library, results, args.json)


if __name__ == "__main__":
    sys.exit(main())
