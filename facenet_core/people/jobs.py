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
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select

from facenet_core.people.cluster import ClusterInput, cluster_faces, cluster_mask
from facenet_core.people.labels import _apply, _drop_empty_people, _people, _read_faces, _rejections
from facenet_core.people.plan import _photo_guard, _Write
from facenet_core.people.recognition import RecognizeReport, recognize_new
from facenet_core.progress import Cancelled, CancelToken, PhaseClock, Reporter, ignore_progress
from facenet_core.settings import Settings
from facenet_core.store import (
    Assignment,
    Face,
    Library,
    Person,
    get_active_model_version,
)

log = logging.getLogger(__name__)

NONE, AUTO, SUGGESTED, CONFIRMED = (
    Assignment.NONE.value,
    Assignment.AUTO.value,
    Assignment.SUGGESTED.value,
    Assignment.CONFIRMED.value,
)


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


__all__ = ["ClusterReport", "RecognizeReport", "recluster", "recognize_new"]
