"""The automatic people runs: re-cluster the library, and recognise new faces after a scan.

Both are long jobs of the usual shape (``job(library, settings, *, reporter, cancel) ->
Report``): they read, think (no lock held, so the user keeps editing), then write. A run
cancelled before it writes changes nothing; once writing has begun it completes. The rules they
keep, whatever the algorithm says:

- Only automatic assignments are written. Confirmed faces never move; ignored faces and pending
  suggestions are left alone; faces too small or too doubtful to group (``cluster_mask``) are not
  touched by clustering.
- A face never goes to a person it was rejected from ("not this person").
- Never two faces of one photo in one person, unless the user said so.
- Named people are never renamed, merged away or emptied: their confirmed faces anchor them, and
  a named (or hidden) person without confirmed faces keeps its faces as anchors too.
- New clusters take over the existing unnamed person they overlap most, so unnamed people keep
  their ids across runs; the others become new people. People left empty and unnamed (and not
  hidden) are deleted.
- A write only lands on a face whose labels are still what the run read: an edit the user makes
  meanwhile always wins. Writes go in short transactions (:data:`WRITE_BATCH` faces), so the
  app never waits long behind a big run; each leaves the library consistent on its own.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, delete, func, insert, select, update
from sqlalchemy.orm import Session

from facenet_core.people.cluster import ClusterInput, cluster_faces, cluster_mask
from facenet_core.people.recognize import recognize
from facenet_core.progress import Cancelled, CancelToken, PhaseClock, Reporter, ignore_progress
from facenet_core.quantize import dequantize
from facenet_core.settings import Settings
from facenet_core.store import (
    Assignment,
    Face,
    FaceRejection,
    JobState,
    Library,
    Person,
    get_active_model_version,
)
from facenet_core.store.chunks import chunks
from facenet_core.store.db import let_others_write
from facenet_core.store.models import utcnow
from facenet_core.types import EMBEDDING_DIM

log = logging.getLogger(__name__)

NONE, AUTO, SUGGESTED, CONFIRMED = (
    Assignment.NONE.value,
    Assignment.AUTO.value,
    Assignment.SUGGESTED.value,
    Assignment.CONFIRMED.value,
)
RECOGNIZE_MARK = "recognize.last_face_id"
"""Job bookmark: the newest face that recognition of new faces has dealt with."""


@dataclass(frozen=True, slots=True)
class ClusterReport:
    """What a re-cluster did. ``people``/``named_people``: people in the library afterwards
    (hidden ones included); ``assigned_faces``: faces that belong to someone (automatic or
    confirmed); ``unassigned_faces``: faces of nobody, ignored ones left out; ``created`` /
    ``deleted``: people made and removed; ``moved``: faces whose automatic person changed."""

    people: int = 0
    named_people: int = 0
    assigned_faces: int = 0
    unassigned_faces: int = 0
    created: int = 0
    deleted: int = 0
    moved: int = 0
    seconds: float = 0.0
    cancelled: bool = False

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RecognizeReport:
    """What recognising new faces did: ``faces`` looked at, ``assigned`` to a known person
    without asking, ``suggested`` to one (a question for the user), ``joined`` to an existing
    unnamed group, ``grouped`` into ``new_people`` new unnamed groups, ``unassigned`` left as
    they were (like no one else yet)."""

    faces: int = 0
    assigned: int = 0
    suggested: int = 0
    joined: int = 0
    grouped: int = 0
    new_people: int = 0
    unassigned: int = 0
    seconds: float = 0.0
    cancelled: bool = False

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- reading --------------------------------------------------------------------------------------


@dataclass
class _Faces:
    """Faces with a current embedding, as arrays (one row per face, by face id)."""

    ids: np.ndarray
    photo_ids: np.ndarray
    person_ids: np.ndarray  # -1: none
    kinds: np.ndarray  # object array of assignment strings
    confidence: np.ndarray  # nan: none
    ignored: np.ndarray
    sizes: np.ndarray
    scores: np.ndarray
    embeddings: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


def _read_faces(connection: Connection, version_id: int, where: str = "", **params: Any) -> _Faces:
    """Every face with an embedding of the active version (raw cursor: a million rows in a few
    seconds). ``where`` adds SQL conditions on ``f``, the faces table."""
    sql = (
        "SELECT f.id, f.photo_id, f.person_id, f.assignment, f.assignment_confidence,"
        " f.is_ignored, min(f.x2 - f.x1, f.y2 - f.y1), f.det_score, e.vector"
        " FROM faces f JOIN embeddings e ON e.face_id = f.id AND e.model_version_id = :version"
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
        return _Faces(
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
    codes = np.frombuffer(b"".join(cols[8]), dtype=np.int8).reshape(n, EMBEDDING_DIM)
    return _Faces(
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


def _rejections(session: Session, face_ids: np.ndarray) -> dict[int, frozenset[int]]:
    """face id -> people it was rejected from (for the given faces)."""
    wanted = set(face_ids.tolist())
    out: dict[int, set[int]] = defaultdict(set)
    for face_id, person_id in session.execute(
        select(FaceRejection.face_id, FaceRejection.person_id)
    ):
        if face_id in wanted:
            out[face_id].add(person_id)
    return {f: frozenset(p) for f, p in out.items()}


def _people(session: Session) -> dict[int, tuple[str | None, bool, int]]:
    """person id -> (name, hidden, confirmed faces)."""
    return {
        pid: (name or None, bool(hidden), confirmed)
        for pid, name, hidden, confirmed in session.execute(
            select(Person.id, Person.name, Person.is_hidden, Person.confirmed_count)
        )
    }


# -- writing --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Write:
    face_id: int
    old_person: int  # -1: none
    old_kind: str
    new_person: int  # -1: none; <= -2: the new person of that cluster key
    new_kind: str
    confidence: float | None


WRITE_BATCH = 5_000
"""Faces written per transaction: each holds the write lock for well under a second, so the
user's edits (and the app) never wait long behind a big run."""


def _apply(
    library: Library,
    writes: list[_Write],
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


def _apply_batch(session: Session, writes: list[_Write], new_ids: dict[int, int]) -> int:
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


def _drop_empty_people(session: Session) -> int:
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


def _photo_guard(photo_ids: np.ndarray, persons: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Indices to unassign so that no person (``persons >= 0``) has two faces of one photo: in
    each (photo, person) the face of highest ``priority`` stays, and every face of priority 2
    (confirmed: the user said so) stays too."""
    assigned = np.flatnonzero(persons >= 0)
    if not len(assigned):
        return np.zeros(0, np.int64)
    order = np.lexsort((assigned, -priority[assigned], persons[assigned], photo_ids[assigned]))
    idx = assigned[order]
    drop = []
    prev: tuple[int, int] | None = None
    for i in idx.tolist():
        key = (int(photo_ids[i]), int(persons[i]))
        if key != prev:
            prev = key
        elif priority[i] < 2:
            drop.append(i)
    return np.asarray(drop, np.int64)


# -- re-cluster ------------------------------------------------------------------------------------


def recluster(
    library: Library,
    settings: Settings,
    *,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> ClusterReport:
    """Cluster every face again (the user's word kept, see the module's rules) and write the
    automatic assignments. ``settings``: ``cluster_threshold``, ``cluster_min_face_px``,
    ``cluster_min_score``."""
    start = time.perf_counter()
    cancel = cancel or CancelToken()
    reporter(PhaseClock("cluster", "read", "face").event(0, None, "reading faces"))
    with library.session() as session:
        version = get_active_model_version(session)
        if version is None:
            return _cluster_counts(library, ClusterReport(seconds=time.perf_counter() - start))
        faces = _read_faces(session.connection(), version.id, "f.is_ignored = 0")
        rejected = _rejections(session, faces.ids)
        people = _people(session)
    reporter(PhaseClock("cluster", "read", "face").event(len(faces), len(faces)))
    if cancel.cancelled:
        return ClusterReport(seconds=time.perf_counter() - start, cancelled=True)

    # who is fixed: confirmed faces; and the faces of named or hidden people that have no
    # confirmed face (so that the algorithm can never empty them)
    anchored_people = {
        pid
        for pid, (name, hidden, confirmed) in people.items()
        if (name or hidden) and not confirmed
    }
    kinds = faces.kinds
    confirmed = kinds == CONFIRMED
    anchored = (kinds == AUTO) & np.isin(faces.person_ids, list(anchored_people))
    suggested = kinds == SUGGESTED
    # suggestions are pending questions: left out of clustering, left where they are
    take = ~suggested
    index = np.flatnonzero(take)
    fixed = np.where(confirmed | anchored, faces.person_ids, -1)[index]
    position = {int(f): i for i, f in enumerate(faces.ids[index].tolist())}
    forbidden = {position[f]: people_ids for f, people_ids in rejected.items() if f in position}
    mask = cluster_mask(faces.sizes[index], faces.scores[index], settings)
    try:
        labels = cluster_faces(
            ClusterInput(
                embeddings=faces.embeddings[index],
                photo_ids=faces.photo_ids[index],
                fixed=fixed,
                forbidden=forbidden,
            ),
            settings.cluster_threshold,
            mask=mask,
            reporter=reporter,
            cancel=cancel,
        )
    except Cancelled:
        return ClusterReport(seconds=time.perf_counter() - start, cancelled=True)
    if cancel.cancelled:
        return ClusterReport(seconds=time.perf_counter() - start, cancelled=True)

    # new clusters take over the unnamed people they overlap most
    old_person = faces.person_ids[index]
    free_people = {
        pid for pid, (_, _, n_confirmed) in people.items() if n_confirmed == 0
    } - anchored_people
    overlap: dict[tuple[int, int], int] = defaultdict(int)
    for label, person in zip(labels.tolist(), old_person.tolist(), strict=True):
        if label < 0 and person in free_people:
            overlap[(label, person)] += 1
    mapping: dict[int, int] = {}
    taken_people: set[int] = set()
    for (label, person), _n in sorted(
        overlap.items(), key=lambda kv: (-kv[1], -kv[0][0], kv[0][1])
    ):
        if label not in mapping and person not in taken_people:
            mapping[label] = person
            taken_people.add(person)
    next_key = -2
    for label in sorted({int(x) for x in labels.tolist() if x < 0}, reverse=True):
        if label not in mapping:
            mapping[label] = next_key  # a new person, made at write time
            next_key -= 1
    target = np.asarray(
        [lab if lab > 0 else (mapping[lab] if lab < 0 else -1) for lab in labels.tolist()],
        np.int64,
    )
    clustered = mask | (fixed > 0)
    target = np.where(clustered, target, old_person)  # faces not grouped keep what they have
    # never a person the face was rejected from
    for i, f in enumerate(faces.ids[index].tolist()):
        no = rejected.get(f)
        if no and target[i] in no:
            target[i] = -1
    # never two faces of one photo in one person: the whole library's view (suggestions too)
    full_person = faces.person_ids.copy()
    full_person[index] = target  # new people (keys <= -2) are whole new clusters: no clash
    priority = np.where(confirmed, 2, np.where(suggested, 1, 0))
    for i in _photo_guard(faces.photo_ids, full_person, priority).tolist():
        if not confirmed[i] and not suggested[i]:
            local = position.get(int(faces.ids[i]))
            if local is not None:
                target[local] = -1

    writes: list[_Write] = []
    for i, (f, old, kind, new) in enumerate(
        zip(
            faces.ids[index].tolist(),
            old_person.tolist(),
            kinds[index].tolist(),
            target.tolist(),
            strict=True,
        )
    ):
        if kind == CONFIRMED or anchored[index[i]]:
            continue
        new_kind = AUTO if new != -1 else NONE
        if (old, kind) != (new, new_kind):
            conf = faces.confidence[index[i]]
            keep_conf = old == new and not np.isnan(conf)
            writes.append(_Write(f, old, kind, new, new_kind, float(conf) if keep_conf else None))
    if cancel.cancelled:
        return ClusterReport(seconds=time.perf_counter() - start, cancelled=True)
    moved, new_ids = _apply(library, writes, reporter, "cluster")
    with library.write() as session:
        deleted = _drop_empty_people(session)
    log.info(
        "re-clustered %d faces: %d moved, %d new people, %d deleted",
        len(index),
        moved,
        len(new_ids),
        deleted,
    )
    report = ClusterReport(created=len(new_ids), deleted=deleted, moved=moved)
    return _cluster_counts(library, report, time.perf_counter() - start)


def _cluster_counts(
    library: Library, report: ClusterReport, seconds: float | None = None
) -> ClusterReport:
    with library.session() as session:
        people = session.scalar(select(func.count()).select_from(Person)) or 0
        named = (
            session.scalar(
                select(func.count())
                .select_from(Person)
                .where(Person.name.is_not(None), func.trim(Person.name) != "")
            )
            or 0
        )
        assigned = session.scalar(select(func.sum(Person.face_count))) or 0
        unassigned = (
            session.scalar(
                select(func.count())
                .select_from(Face)
                .where(Face.person_id.is_(None), Face.is_ignored.is_(False))
            )
            or 0
        )
    return ClusterReport(
        people=people,
        named_people=named,
        assigned_faces=int(assigned),
        unassigned_faces=unassigned,
        created=report.created,
        deleted=report.deleted,
        moved=report.moved,
        seconds=report.seconds if seconds is None else seconds,
        cancelled=report.cancelled,
    )


# -- recognise new faces --------------------------------------------------------------------------


def _mark(session: Session) -> int:
    value = session.scalar(select(JobState.value).where(JobState.key == RECOGNIZE_MARK))
    return int(value) if isinstance(value, int | float) else 0


def _set_mark(session: Session, face_id: int) -> None:
    row = session.get(JobState, RECOGNIZE_MARK)
    if row is None:
        session.add(JobState(key=RECOGNIZE_MARK, value=int(face_id)))
    else:
        row.value, row.updated_at = int(face_id), utcnow()


def recognize_new(
    library: Library,
    settings: Settings,
    *,
    everything: bool = False,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> RecognizeReport:
    """Find people for the faces added since the last run (``everything``: for every unassigned
    face), without clustering the whole library again.

    1. k-NN against the confirmed faces (:func:`~facenet_core.people.recognize.recognize`): at
       least ``auto_confidence`` the face is assigned automatically, at least
       ``suggest_confidence`` it is suggested (with its confidence).
    2. Faces still unmatched join the nearest unnamed group (average squared distance to its
       faces under ``cluster_threshold``).
    3. The rest are clustered among themselves, with the older unassigned faces near them; each
       group of two or more becomes a new unnamed person.
    """
    start = time.perf_counter()
    cancel = cancel or CancelToken()
    with library.session() as session:
        version = get_active_model_version(session)
        if version is None:
            return RecognizeReport(seconds=time.perf_counter() - start)
        bookmark = _mark(session)
        mark = 0 if everything else bookmark
        connection = session.connection()
        newest = session.scalar(select(Face.id).order_by(Face.id.desc()).limit(1)) or 0
        queries = _read_faces(
            connection,
            version.id,
            "f.id > :mark AND f.id <= :newest AND f.person_id IS NULL AND f.is_ignored = 0",
            mark=mark,
            newest=newest,
        )
        if not len(queries):
            session.rollback()
            with library.write() as write:
                _set_mark(write, max(newest, bookmark))
            return RecognizeReport(seconds=time.perf_counter() - start)
        known = _read_faces(connection, version.id, "f.person_id IS NOT NULL AND f.is_ignored = 0")
        rejected = _rejections(session, queries.ids)
        people = _people(session)
    clock = PhaseClock("recognize", "known people", "face")
    reporter(clock.event(0, len(queries), f"recognising {len(queries)} new faces"))

    # people already in each photo (any assignment): a photo never holds a person twice
    in_photo: dict[int, set[int]] = defaultdict(set)
    for photo, person in zip(known.photo_ids.tolist(), known.person_ids.tolist(), strict=True):
        in_photo[photo].add(person)
    gallery = known.kinds == CONFIRMED
    taken = {
        i: frozenset(in_photo[p]) for i, p in enumerate(queries.photo_ids.tolist()) if p in in_photo
    }
    forbidden = {i: rejected[f] for i, f in enumerate(queries.ids.tolist()) if f in rejected}
    result = recognize(
        known.embeddings[gallery],
        known.person_ids[gallery],
        queries.embeddings,
        forbidden=forbidden,
        taken=taken,
        query_photos=queries.photo_ids,
        suggest_confidence=settings.suggest_confidence,
        auto_confidence=settings.auto_confidence,
    )
    reporter(clock.event(len(queries), len(queries)))
    if cancel.cancelled:
        return RecognizeReport(seconds=time.perf_counter() - start, cancelled=True)

    n = len(queries)
    person = np.full(n, -1, np.int64)
    kind = np.full(n, NONE, object)
    conf: list[float | None] = [None] * n
    for i in range(n):
        if result.suggest[i]:
            person[i] = result.person_ids[i]
            kind[i] = AUTO if result.auto[i] else SUGGESTED
            conf[i] = float(result.confidence[i])
            in_photo[int(queries.photo_ids[i])].add(int(person[i]))
    assigned = int(np.sum(kind == AUTO))
    suggested = int(np.sum(kind == SUGGESTED))

    # 2. the nearest unnamed group
    clock = PhaseClock("recognize", "unnamed groups", "face")
    left = np.flatnonzero(person < 0)
    grouped_mask = cluster_mask(queries.sizes, queries.scores, settings)
    left = left[grouped_mask[left]]
    joined = _join_groups(
        queries, known, people, left, in_photo, forbidden, settings.cluster_threshold, person, kind
    )
    reporter(clock.event(len(left), len(left)))
    if cancel.cancelled:
        return RecognizeReport(seconds=time.perf_counter() - start, cancelled=True)

    # 3. new groups among the rest (and the older unassigned faces near them)
    clock = PhaseClock("recognize", "new groups", "face")
    rest = left[person[left] < 0]
    new_groups: dict[int, list[int]] = {}
    old_members: dict[int, int] = {}
    older: _Faces | None = None
    if len(rest) >= 1:
        with library.session() as session:
            older = _read_faces(
                session.connection(),
                version.id,
                "f.person_id IS NULL AND f.is_ignored = 0 AND f.id <= :mark",
                mark=mark,
            )
        new_groups, old_members = _new_groups(queries, rest, older, settings)
    reporter(clock.event(len(rest), len(rest)))
    if cancel.cancelled:
        return RecognizeReport(seconds=time.perf_counter() - start, cancelled=True)

    writes: list[_Write] = []
    for i in range(n):
        if person[i] >= 0:
            writes.append(
                _Write(int(queries.ids[i]), -1, NONE, int(person[i]), str(kind[i]), conf[i])
            )
    key_of: dict[int, int] = {}
    for g, (label, members) in enumerate(sorted(new_groups.items(), reverse=True)):
        key_of[label] = -2 - g
        for i in members:
            writes.append(_Write(int(queries.ids[i]), -1, NONE, -2 - g, AUTO, None))
    for face_id, label in old_members.items():
        writes.append(_Write(face_id, -1, NONE, key_of[label], AUTO, None))
    grouped = sum(len(m) for m in new_groups.values())
    _, new_ids = _apply(
        library,
        writes,
        reporter,
        "recognize",
        finish=lambda session: _set_mark(session, max(newest, bookmark)),
    )
    unassigned = int(n - assigned - suggested - joined - grouped)
    log.info(
        "recognised %d new faces: %d assigned, %d suggested, %d joined groups, %d in %d new",
        n,
        assigned,
        suggested,
        joined,
        grouped,
        len(new_ids),
    )
    return RecognizeReport(
        faces=n,
        assigned=assigned,
        suggested=suggested,
        joined=joined,
        grouped=grouped,
        new_people=len(new_ids),
        unassigned=unassigned,
        seconds=time.perf_counter() - start,
    )


def _join_groups(
    queries: _Faces,
    known: _Faces,
    people: Mapping[int, tuple[str | None, bool, int]],
    left: np.ndarray,
    in_photo: dict[int, set[int]],
    forbidden: Mapping[int, frozenset[int]],
    threshold: float,
    person: np.ndarray,
    kind: np.ndarray,
) -> int:
    """Give each face in ``left`` the unnamed group (a person without confirmed faces, not
    hidden) of smallest average squared distance, if under ``threshold``; updates ``person``
    and ``kind``. Returns how many joined."""
    if not len(left):
        return 0
    groups = [
        pid
        for pid, (name, hidden, confirmed) in people.items()
        if not name and not hidden and not confirmed
    ]
    member = np.isin(known.person_ids, groups) & (known.kinds == AUTO)
    if not member.any():
        return 0
    ids = known.person_ids[member]
    order = np.argsort(ids, kind="stable")
    ids, vectors = ids[order], known.embeddings[member][order]
    group_ids, starts, sizes = np.unique(ids, return_index=True, return_counts=True)
    means = np.add.reduceat(vectors.astype(np.float64), starts, axis=0) / sizes[:, None]
    joined = 0
    x = queries.embeddings[left].astype(np.float64)
    for s in range(0, len(left), 4096):
        link = 2.0 - 2.0 * (x[s : s + 4096] @ means.T)  # average squared distance to a group
        for row, i in enumerate(left[s : s + 4096].tolist()):
            candidates = np.flatnonzero(link[row] < threshold)
            if not len(candidates):
                continue
            photo = int(queries.photo_ids[i])
            no = forbidden.get(i, frozenset())
            for c in candidates[np.argsort(link[row][candidates], kind="stable")].tolist():
                pid = int(group_ids[c])
                if pid in no or pid in in_photo[photo]:
                    continue
                person[i], kind[i] = pid, AUTO
                in_photo[photo].add(pid)
                joined += 1
                break
    return joined


def _new_groups(
    queries: _Faces, rest: np.ndarray, older: _Faces, settings: Settings
) -> tuple[dict[int, list[int]], dict[int, int]]:
    """Cluster the unmatched new faces ``rest`` with the older unassigned faces within the
    threshold of one of them. Returns (cluster label -> indices into ``queries``, older face id
    -> cluster label) for the clusters of two or more faces."""
    threshold = settings.cluster_threshold
    x_new = queries.embeddings[rest]
    near_old = np.zeros(0, np.int64)
    if len(older):
        older_ok = np.flatnonzero(cluster_mask(older.sizes, older.scores, settings))
        hits: set[int] = set()
        for s in range(0, len(older_ok), 65_536):
            block = older_ok[s : s + 65_536]
            d = 2.0 - 2.0 * (older.embeddings[block] @ x_new.T)
            hits.update(block[np.flatnonzero((d < threshold).any(axis=1))].tolist())
        near_old = np.asarray(sorted(hits), np.int64)
    emb = np.concatenate([x_new, older.embeddings[near_old]]) if len(near_old) else x_new
    photos = (
        np.concatenate([queries.photo_ids[rest], older.photo_ids[near_old]])
        if len(near_old)
        else queries.photo_ids[rest]
    )
    labels = cluster_faces(
        ClusterInput(
            embeddings=emb,
            photo_ids=photos,
            fixed=np.full(len(emb), -1, np.int64),
            forbidden={},
        ),
        threshold,
    )
    groups: dict[int, list[int]] = defaultdict(list)
    old_members: dict[int, int] = {}
    k = len(rest)
    for j, label in enumerate(labels.tolist()):
        if label >= 0:
            continue
        if j < k:
            groups[label].append(int(rest[j]))
        else:
            old_members[int(older.ids[near_old[j - k]])] = label
    # a group made only of older faces is left for the next re-cluster
    old_only = {lab for lab in set(old_members.values()) if lab not in groups}
    return dict(groups), {f: lab for f, lab in old_members.items() if lab not in old_only}
