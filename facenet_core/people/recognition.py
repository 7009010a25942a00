"""Recognising new faces after a scan, without clustering the whole library again.

A long job of the usual shape, like re-clustering (:mod:`.jobs`), with the same rules of the
user's word; it reads and writes through :mod:`.labels`. A job bookmark
(:data:`RECOGNIZE_MARK`) remembers the newest face dealt with, so each run looks only at the
faces added since.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from facenet_core.calibration import distance_scale
from facenet_core.people.cluster import ClusterInput, cluster_faces, cluster_mask
from facenet_core.people.labels import (
    apply_writes,
    for_model,
    read_faces,
    read_people,
    read_rejections,
)
from facenet_core.people.plan import FaceRows, LabelWrite
from facenet_core.people.recognize import recognize
from facenet_core.progress import CancelToken, PhaseClock, Reporter, ignore_progress
from facenet_core.settings import Settings
from facenet_core.store import Assignment, Face, JobState, Library, get_active_model_version
from facenet_core.store.models import utcnow

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
        scale = distance_scale(version.name)
        settings = for_model(settings, version.name)  # clustering in this model's distances
        bookmark = _mark(session)
        mark = 0 if everything else bookmark
        connection = session.connection()
        newest = session.scalar(select(Face.id).order_by(Face.id.desc()).limit(1)) or 0
        queries = read_faces(
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
        known = read_faces(connection, version.id, "f.person_id IS NOT NULL AND f.is_ignored = 0")
        rejected = read_rejections(session, queries.ids)
        people = read_people(session)
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
        centre=scale.centre,
        scale=scale.width,
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
    older: FaceRows | None = None
    if len(rest) >= 1:
        with library.session() as session:
            older = read_faces(
                session.connection(),
                version.id,
                "f.person_id IS NULL AND f.is_ignored = 0 AND f.id <= :mark",
                mark=mark,
            )
        new_groups, old_members = _new_groups(queries, rest, older, settings)
    reporter(clock.event(len(rest), len(rest)))
    if cancel.cancelled:
        return RecognizeReport(seconds=time.perf_counter() - start, cancelled=True)

    writes: list[LabelWrite] = []
    for i in range(n):
        if person[i] >= 0:
            writes.append(
                LabelWrite(int(queries.ids[i]), -1, NONE, int(person[i]), str(kind[i]), conf[i])
            )
    key_of: dict[int, int] = {}
    for g, (label, members) in enumerate(sorted(new_groups.items(), reverse=True)):
        key_of[label] = -2 - g
        for i in members:
            writes.append(LabelWrite(int(queries.ids[i]), -1, NONE, -2 - g, AUTO, None))
    for face_id, label in old_members.items():
        writes.append(LabelWrite(face_id, -1, NONE, key_of[label], AUTO, None))
    grouped = sum(len(m) for m in new_groups.values())
    _, new_ids = apply_writes(
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
    queries: FaceRows,
    known: FaceRows,
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
    queries: FaceRows, rest: np.ndarray, older: FaceRows, settings: Settings
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
