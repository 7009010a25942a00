"""The automatic runs' reading and writing: faces with their labels in, label writes out.

Both runs (:mod:`.jobs`, :mod:`.recognition`) read with no transaction held for long (a raw
cursor: a million faces in a few seconds), decide in memory (:mod:`.plan`), and write here in
short transactions of :data:`WRITE_BATCH` faces, each face only if its labels are still what was
read, so that an edit the user makes meanwhile always wins and never waits long for the lock.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, delete, insert, select, update
from sqlalchemy.orm import Session

from facenet_core.calibration import distance_scale
from facenet_core.people.plan import FaceRows, LabelWrite
from facenet_core.progress import PhaseClock, Reporter
from facenet_core.quantize import dequantize
from facenet_core.settings import Settings
from facenet_core.store import Assignment, Face, FaceRejection, Library, Person
from facenet_core.store.chunks import chunks
from facenet_core.store.db import let_others_write
from facenet_core.types import EMBEDDING_DIM

NONE = Assignment.NONE.value


def for_model(settings: Settings, model_name: str) -> Settings:
    """``settings`` with the clustering strictness in the distances of ``model_name``: the
    setting is in the fast model's units (its range and default were tuned on dlib's squared
    distances); another model's is multiplied by the ratio of the two models' calibrated
    thresholds (:func:`facenet_core.calibration.distance_scale`), so 0.15 means as strict for
    both."""
    factor = distance_scale(model_name).factor
    if factor == 1.0:
        return settings
    # a derived value, past the setting's range (which is the user's, in the fast model's
    # units): set on a copy without the range check
    scaled = copy.copy(settings)
    object.__setattr__(scaled, "cluster_threshold", settings.cluster_threshold * factor)
    return scaled


def read_faces(connection: Connection, version_id: int, where: str = "", **params: Any) -> FaceRows:
    """Every face with an embedding of the active version (raw cursor: a million rows in a few
    seconds). ``where`` adds SQL conditions on ``f``, the faces table. ``photo_ids`` is the key
    of the rule that a person appears once per photo: the photo's id, but a distinct negative
    number for each face of a video (its tracks may all be one person)."""
    # the once-per-photo rule's key: a photo's id, or for a video's face (a track) minus the
    # face's own id, so that two tracks of one video (a cut, then a return) may be one person
    sql = (
        "SELECT f.id, CASE WHEN p.media_kind = 'video' THEN -f.id ELSE f.photo_id END,"
        " f.person_id, f.assignment, f.assignment_confidence,"
        " f.is_ignored, min(f.x2 - f.x1, f.y2 - f.y1), f.det_score, e.vector"
        " FROM faces f JOIN embeddings e ON e.face_id = f.id AND e.model_version_id = :version"
        " JOIN photos p ON p.id = f.photo_id"
        f" {'WHERE ' + where if where else ''} ORDER BY f.id"
    )
    raw = connection.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    cursor.execute(sql.replace(":version", str(int(version_id))), params)
    rows = cursor.fetchall()
    cursor.close()
    n = len(rows)
    if not n:
        empty_i = np.zeros(0, np.int64)
        return FaceRows(
            empty_i,
            empty_i,
            empty_i,
            np.zeros(0, object),
            np.zeros(0),
            np.zeros(0, bool),
            np.zeros(0),
            np.zeros(0),
            np.zeros((0, EMBEDDING_DIM), np.float32),
        )
    cols = list(zip(*rows, strict=True))
    # one version's vectors all have its model's length (128, or 256 for the fused model)
    codes = np.frombuffer(b"".join(cols[8]), dtype=np.int8).reshape(n, len(cols[8][0]))
    return FaceRows(
        ids=np.asarray(cols[0], np.int64),
        photo_ids=np.asarray(cols[1], np.int64),
        person_ids=np.asarray([-1 if p is None else p for p in cols[2]], np.int64),
        kinds=np.asarray(cols[3], object),
        confidence=np.asarray([np.nan if c is None else c for c in cols[4]], np.float64),
        ignored=np.asarray(cols[5], bool),
        sizes=np.asarray(cols[6], np.float64),
        scores=np.asarray(cols[7], np.float64),
        embeddings=dequantize(codes),
    )


def read_rejections(session: Session, face_ids: np.ndarray) -> dict[int, frozenset[int]]:
    """face id -> people it was rejected from (for the given faces)."""
    wanted = set(face_ids.tolist())
    out: dict[int, set[int]] = defaultdict(set)
    for face_id, person_id in session.execute(
        select(FaceRejection.face_id, FaceRejection.person_id)
    ):
        if face_id in wanted:
            out[face_id].add(person_id)
    return {f: frozenset(p) for f, p in out.items()}


def read_people(session: Session) -> dict[int, tuple[str | None, bool, int]]:
    """person id -> (name, hidden, confirmed faces)."""
    return {
        pid: (name or None, bool(hidden), confirmed)
        for pid, name, hidden, confirmed in session.execute(
            select(Person.id, Person.name, Person.is_hidden, Person.confirmed_count)
        )
    }


WRITE_BATCH = 500
"""Faces written per transaction. 5,000 took ~0.35 s on the reference machine, and 2,000 held
the lock up to 1.8 s on the 2-core dev machine under load, so a user's edit waited that long;
500 keep the wait short even there, and the run pauses between two batches so a waiting edit
goes first. Committing more often costs little: the work is per face, not per commit."""


def apply_writes(
    library: Library,
    writes: list[LabelWrite],
    reporter: Reporter,
    task: str,
    finish: Callable[[Session], None] | None = None,
) -> tuple[int, dict[int, int]]:
    """Write the labels in short transactions, each face only if it is still as read (the
    user's edits meanwhile win). A new person (``new_person <= -2``) is created with the first
    of its faces still free. ``finish`` runs in the last transaction. Once writing has begun it
    is not cancelled: every batch leaves the library consistent on its own. Returns (faces
    written, new person key -> id)."""
    clock = PhaseClock(task, "write", "face")
    writes = sorted(writes, key=lambda w: w.face_id)
    new_ids: dict[int, int] = {}
    done = 0
    batches = [writes[i : i + WRITE_BATCH] for i in range(0, len(writes), WRITE_BATCH)] or [[]]
    for n, batch in enumerate(batches):
        if n:
            let_others_write()  # a user's edit waiting for the lock goes first
        with library.write() as session:
            done += _apply_batch(session, batch, new_ids)
            if finish is not None and n == len(batches) - 1:
                finish(session)
        reporter(clock.event(min(len(writes), (n + 1) * WRITE_BATCH), len(writes)))
    return done, new_ids


def _apply_batch(session: Session, writes: list[LabelWrite], new_ids: dict[int, int]) -> int:
    current: dict[int, tuple[int, str, bool]] = {}
    ids = [w.face_id for w in writes]
    for chunk in chunks(ids):
        for face_id, person_id, kind, ignored in session.execute(
            select(Face.id, Face.person_id, Face.assignment, Face.is_ignored).where(
                Face.id.in_(chunk)
            )
        ):
            current[face_id] = (-1 if person_id is None else person_id, kind, bool(ignored))
    still = [
        w
        for w in writes
        if current.get(w.face_id) == (w.old_person, w.old_kind, False)
        and (w.old_person, w.old_kind) != (w.new_person, w.new_kind)
    ]
    keys = sorted({w.new_person for w in still if w.new_person <= -2} - set(new_ids), reverse=True)
    if keys:
        rows = session.execute(
            insert(Person).returning(Person.id, sort_by_parameter_order=True),
            [{"name": None} for _ in keys],
        )
        new_ids.update(zip(keys, [r[0] for r in rows], strict=True))
    existing = set(session.scalars(select(Person.id)))
    params = []
    for w in still:
        person = new_ids.get(w.new_person, w.new_person)
        if person >= 0 and person not in existing:
            person = -1  # deleted meanwhile
        params.append(
            {
                "id": w.face_id,
                "person_id": person if person >= 0 else None,
                "assignment": w.new_kind if person >= 0 else NONE,
                "assignment_confidence": w.confidence if person >= 0 else None,
            }
        )
    if params:
        session.execute(update(Face), params)  # executemany, by primary key
    return len(params)


def drop_empty_people(session: Session) -> int:
    """Delete unnamed, visible people without any face; returns how many."""
    empty = and_(
        (Person.name.is_(None)) | (Person.name == ""),
        Person.is_hidden.is_(False),
        Person.face_count == 0,
        Person.suggestion_count == 0,
    )
    ids = list(session.scalars(select(Person.id).where(empty)))
    for chunk in chunks(ids):
        session.execute(delete(Person).where(Person.id.in_(chunk)))
    return len(ids)
