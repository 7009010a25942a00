"""The automatic people runs: re-cluster the library, and recognise new faces after a scan
(:mod:`.recognition`, re-exported here).

Re-clustering reads the faces (:mod:`.labels`), lets :func:`~.plan.plan_recluster` decide with
no database, and writes the plan. Both runs are long jobs of the usual shape (``job(library,
settings, *, reporter, cancel) -> Report``): they read, think (no lock held, so the user keeps
editing), then write. A run cancelled before it writes changes nothing and says so
(``cancelled=True``; :class:`~facenet_core.progress.Cancelled` never escapes); once writing has
begun it completes. The rules they keep, whatever the algorithm says:

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
  meanwhile always wins. Writes go in short transactions (:data:`~.labels.WRITE_BATCH` faces),
  so the app never waits long behind a big run; each leaves the library consistent on its own.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select

from facenet_core.people.labels import (
    apply_writes,
    drop_empty_people,
    for_model,
    read_faces,
    read_people,
    read_rejections,
)
from facenet_core.people.plan import plan_recluster
from facenet_core.people.recognition import RecognizeReport, recognize_new
from facenet_core.progress import Cancelled, CancelToken, PhaseClock, Reporter, ignore_progress
from facenet_core.settings import Settings
from facenet_core.store import Face, Library, Person, get_active_model_version

log = logging.getLogger(__name__)


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
        settings = for_model(settings, version.name)  # clustering in this model's distances
        faces = read_faces(session.connection(), version.id, "f.is_ignored = 0")
        rejected = read_rejections(session, faces.ids)
        people = read_people(session)
    reporter(PhaseClock("cluster", "read", "face").event(len(faces), len(faces)))
    if cancel.cancelled:
        return ClusterReport(seconds=time.perf_counter() - start, cancelled=True)

    try:
        plan = plan_recluster(faces, rejected, people, settings, reporter=reporter, cancel=cancel)
    except Cancelled:
        return ClusterReport(seconds=time.perf_counter() - start, cancelled=True)
    if cancel.cancelled:
        return ClusterReport(seconds=time.perf_counter() - start, cancelled=True)
    moved, new_ids = apply_writes(library, plan.writes, reporter, "cluster")
    with library.write() as session:
        deleted = drop_empty_people(session)
    log.info(
        "re-clustered %d faces: %d moved, %d new people, %d deleted",
        plan.considered,
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
