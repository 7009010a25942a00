"""Model versions on disk and in the library: list them, name one, make one the version in use.

:func:`use_model_version` restores any recorded version in one step: it is activated (its
embeddings are still stored), faces that lack one are embedded, and the people re-clustered.
No user edit (names, confirmations, rejections, ignored faces) is touched by any of this: only
embeddings and the active flag change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, select

from facenet_core.errors import UserError
from facenet_core.library.reembed import ReembedResult, count_lacking, reembed, version_info
from facenet_core.models.registry import FACE_MODELS, load_model, pretrained_info
from facenet_core.people.jobs import recluster as recluster_people
from facenet_core.progress import Cancelled, CancelToken, Reporter, ignore_progress
from facenet_core.settings import Settings
from facenet_core.store import Embedding, Library, ModelVersion, activate_model_version
from facenet_core.store.queries import ensure_model_version, get_active_model_version
from facenet_core.vision.engines import Engines, shared_engines


class NoModelVersion(UserError, LookupError):
    """The library has no (active, or named) model version."""


class Recluster(Protocol):
    """The people re-cluster job (``facenet_core.people``): regroups faces by the active
    version's embeddings, keeping every user edit."""

    def __call__(
        self,
        library: Library,
        settings: Settings,
        *,
        reporter: Reporter = ...,
        cancel: CancelToken | None = ...,
    ) -> Stoppable: ...


class Stoppable(Protocol):
    """A long job's result: whether it stopped on request."""

    @property
    def cancelled(self) -> bool: ...


@dataclass
class Refreshed:
    """What :func:`refresh` did: the re-embedding, the re-clustering in words (``done`` or why
    it was skipped), and whether either stopped on request."""

    reembed: ReembedResult
    reclustered: str
    cancelled: bool


def _regroup(
    library: Library,
    settings: Settings,
    reporter: Reporter,
    cancel: CancelToken,
    recluster: Recluster | None,
) -> tuple[str, bool]:
    report = (recluster or recluster_people)(library, settings, reporter=reporter, cancel=cancel)
    if report.cancelled:
        return "stopped: run facenet-photos cluster to regroup", True
    return "done", False


def refresh(
    library: Library,
    settings: Settings,
    version_id: int,
    engines: Engines,
    reporter: Reporter,
    cancel: CancelToken,
    recluster: Recluster | None,
) -> Refreshed:
    """Embed the faces lacking an embedding of the (now active) version, then re-cluster."""
    done = reembed(
        library, settings, version_id=version_id, engines=engines, reporter=reporter, cancel=cancel
    )
    if done.cancelled or done.remaining - done.missing > 0:
        skipped = "skipped: re-embedding is not finished (run facenet-photos reembed)"
        return Refreshed(done, skipped, done.cancelled)
    clustered, stopped = _regroup(library, settings, reporter, cancel, recluster)
    return Refreshed(done, clustered, stopped)


# -- versions -------------------------------------------------------------------------------


@dataclass
class VersionRow:
    """One model version as ``models`` lists it."""

    id: int
    version: str
    active: bool
    parent_id: int | None
    created_at: str
    fine_tuned: bool
    embeddings: int
    notes: str | None
    metrics: dict[str, Any] | None


def list_versions(library: Library) -> list[VersionRow]:
    with library.session() as session:
        counts = dict(
            session.execute(
                select(Embedding.model_version_id, func.count()).group_by(
                    Embedding.model_version_id
                )
            ).all()
        )
        rows = session.scalars(select(ModelVersion).order_by(ModelVersion.id)).all()
        return [
            VersionRow(
                id=v.id,
                version=f"{v.name}@{v.weights_sha256[:12]}",
                active=bool(v.is_active),
                parent_id=v.parent_id,
                created_at=v.created_at.isoformat(timespec="seconds"),
                fine_tuned=v.weights_path is not None,
                embeddings=int(counts.get(v.id, 0)),
                notes=v.notes,
                metrics=v.metrics,
            )
            for v in rows
        ]


def find_version(library: Library, text: str) -> int:
    """The id of the version named by ``text``: its id, ``name@sha`` or a sha256 prefix (at
    least 6 characters), or ``previous`` (the active version's parent)."""
    text = text.strip()
    with library.session() as session:
        versions = session.scalars(select(ModelVersion)).all()
        if text == "previous":
            active = next((v for v in versions if v.is_active), None)
            if active is None or active.parent_id is None:
                raise NoModelVersion("the active model version has no previous version")
            return active.parent_id
        if text.isdigit() and any(v.id == int(text) for v in versions):
            return int(text)
        prefix = text.split("@", 1)[1] if "@" in text else text
        found = [
            v for v in versions if len(prefix) >= 6 and v.weights_sha256.startswith(prefix.lower())
        ]
        if len(found) == 1:
            return found[0].id
    if len(found) > 1:
        raise NoModelVersion(f"{text!r} names {len(found)} versions; give more of the sha256")
    raise NoModelVersion(f"no model version {text!r} (see facenet-photos models)")


@dataclass
class UseResult:
    """What :func:`use_model_version` did: the version now in use and the one before it; the
    re-embedding (None: every face had an embedding of it) and re-clustering; ``cancelled``:
    stopped on request after the switch (running it again finishes the work)."""

    version: str
    previous: str | None
    reembed: ReembedResult | None
    reclustered: str
    cancelled: bool = False

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "previous": self.previous,
            "reembed": None if self.reembed is None else self.reembed.to_json_dict(),
            "reclustered": self.reclustered,
            "cancelled": self.cancelled,
        }


def use_model_version(
    library: Library,
    settings: Settings,
    version_id: int,
    *,
    engines: Engines | None = None,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
    recluster: Recluster | None = None,
) -> UseResult:
    """Make ``version_id`` the active version: its stored embeddings become current at once;
    faces that have none under it are embedded (resumable), then the people re-clustered.
    Holds the library's writer lock. Cancelling stops the re-embedding or re-clustering (the
    switch itself is done) and returns a result marked ``cancelled``."""
    with library.writer("use-model"):
        return _use_model_version(
            library,
            settings,
            version_id,
            engines=engines,
            reporter=reporter,
            cancel=cancel,
            recluster=recluster,
        )


def _use_model_version(
    library: Library,
    settings: Settings,
    version_id: int,
    *,
    engines: Engines | None,
    reporter: Reporter,
    cancel: CancelToken | None,
    recluster: Recluster | None,
) -> UseResult:
    engines = engines or shared_engines()
    cancel = cancel or CancelToken()
    with library.write() as session:
        version = session.get(ModelVersion, version_id)
        if version is None:
            raise NoModelVersion(f"no model version #{version_id}")
        previous = get_active_model_version(session)
        previous_name = (
            None if previous is None else f"{previous.name}@{previous.weights_sha256[:12]}"
        )
        name = f"{version.name}@{version.weights_sha256[:12]}"
        load_model(version_info(version))  # refuse before switching if the weights are gone
        activate_model_version(session, version)
    with library.session() as session:
        lacking = count_lacking(session, version_id)
    try:
        if lacking == 0:
            clustered, stopped = _regroup(library, settings, reporter, cancel, recluster)
            return UseResult(name, previous_name, None, clustered, stopped)
        done = refresh(library, settings, version_id, engines, reporter, cancel, recluster)
    except Cancelled:  # the switch is made; what follows it stopped
        return UseResult(name, previous_name, None, "stopped", True)
    return UseResult(name, previous_name, done.reembed, done.reclustered, done.cancelled)


def use_face_model(
    library: Library,
    settings: Settings,
    face_model: str,
    *,
    engines: Engines | None = None,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
    recluster: Recluster | None = None,
) -> UseResult:
    """Switch the library to the shipped weights of a "Face model" (``accurate``: the fused
    model; ``fast``: dlib's ResNet): its version is recorded (a child of the active one) if it
    is new, then made active by :func:`use_model_version`, so every face is re-embedded from
    its stored landmarks (resumable) and the people re-clustered, every user edit kept. The
    version used before stays recorded with its embeddings: ``use-model previous`` restores
    it at once."""
    info = pretrained_info(face_model)
    with library.write() as session:
        version = ensure_model_version(
            session,
            info.name,
            info.sha256,
            parent=get_active_model_version(session),
            notes=f"face model: {face_model} ({FACE_MODELS[face_model]})",
        )
        version_id = version.id
    return use_model_version(
        library,
        settings,
        version_id,
        engines=engines,
        reporter=reporter,
        cancel=cancel,
        recluster=recluster,
    )
