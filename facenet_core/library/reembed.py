"""Re-embedding every face with a model version: a long job, resumable, with no re-detection.

After a fine-tuned version is promoted (or an older one restored whose embeddings are missing),
every face needs an embedding *under that version*. The queue is simply the faces that lack one:
each batch of faces is embedded and committed together, so a crash or a cancel loses at most one
batch, and running the job again carries on where it stopped. Chips are re-made from the stored
landmarks (:mod:`.chips`); faces whose photo is missing or unreadable stay in the queue and are
counted, never guessed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from facenet_core.errors import UserError
from facenet_core.library.chips import (
    FaceRef,
    PhotoChips,
    face_rows,
    photo_chips,
    photo_groups,
    rebuild_chips,
)
from facenet_core.library.compute import compute_on
from facenet_core.models.registry import DLIB_RESNET, FACE_MODELS, FUSED, ModelInfo, model_info
from facenet_core.progress import CancelToken, PhaseClock, Reporter, ignore_progress
from facenet_core.quantize import to_bytes
from facenet_core.settings import Settings
from facenet_core.store import Embedding, Face, Library, ModelVersion, PhotoStatus
from facenet_core.store.queries import get_active_model_version
from facenet_core.vision.engines import Engines, shared_engines
from facenet_core.vision.faces import FaceJob

if TYPE_CHECKING:
    from facenet_core.vision.ray_source import Cluster, RayFaceSource

log = logging.getLogger(__name__)


class NoModelToEmbed(UserError, LookupError):
    """There is no such model version (or no active one) to embed faces with."""


BATCH_FACES = 64
"""Faces embedded and committed together."""


@dataclass
class ReembedResult:
    """``embedded`` faces this run; ``failed``: faces whose photo could not be read (they stay in
    the queue); ``missing``: faces of photos whose file is gone; ``remaining``: faces still
    without an embedding for the version."""

    version: str
    embedded: int = 0
    failed: int = 0
    missing: int = 0
    remaining: int = 0
    seconds: float = 0.0
    cancelled: bool = False

    def to_json_dict(self) -> dict[str, Any]:
        return asdict(self)


def version_info(version: ModelVersion) -> ModelInfo:
    """The :class:`ModelInfo` to load a stored model version's weights with."""
    return model_info(version.name, version.weights_sha256, version.weights_path)


def embedding_model(active: ModelVersion | None, settings: Settings) -> ModelInfo | None:
    """The weights a library's new faces are embedded with: its active version's whenever that
    is fine-tuned or another model than the "Face model" setting names (new faces are compared
    with the stored ones, so they must share their model: a library made with the fast model
    stays fast after the default became accurate, until ``reembed --face-model`` switches it),
    else None (the setting's shipped weights; a library never scanned gets those)."""
    if active is None:
        return None
    wanted = FACE_MODELS.get(settings.face_model, DLIB_RESNET)
    if active.weights_path or active.name != wanted:
        return version_info(active)
    return None


def kept_face_model(active: ModelVersion | None, settings: Settings) -> str | None:
    """The "Face model" choice (``fast``/``accurate``) a library keeps although the setting
    names another, so the user can be told how to switch; None when they agree."""
    if active is None or active.name == FACE_MODELS.get(settings.face_model, DLIB_RESNET):
        return None
    return next((k for k, v in FACE_MODELS.items() if v == active.name), None)


def lacking(version_id: int) -> Any:
    """SQL condition: the face has no embedding for ``version_id``."""
    return ~exists().where(Embedding.face_id == Face.id, Embedding.model_version_id == version_id)


def count_lacking(session: Session, version_id: int) -> int:
    """Faces without an embedding for ``version_id`` (the re-embedding queue's length)."""
    query = select(func.count()).select_from(Face).where(lacking(version_id))
    return int(session.scalar(query) or 0)


def reembed(
    library: Library,
    settings: Settings,
    *,
    version_id: int | None = None,
    engines: Engines | None = None,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> ReembedResult:
    """Embed every face lacking an embedding for ``version_id`` (default: the active version).

    Cancelling stops after the current batch (the result says ``cancelled``); run it again to
    finish. Raises :class:`~facenet_core.models.registry.ModelLoadError` when the version's
    weights cannot be loaded, and ``LookupError`` when there is no such version. Holds the
    library's writer lock."""
    with library.writer("reembed"), compute_on(settings) as cluster:
        return _reembed(library, settings, version_id, engines, reporter, cancel, cluster)


def _reembed(
    library: Library,
    settings: Settings,
    version_id: int | None,
    engines: Engines | None,
    reporter: Reporter,
    cancel: CancelToken | None,
    cluster: Cluster | None = None,
) -> ReembedResult:
    started = time.perf_counter()
    engines = engines or shared_engines()
    cancel = cancel or CancelToken()
    with library.session() as session:
        version = (
            get_active_model_version(session)
            if version_id is None
            else session.get(ModelVersion, version_id)
        )
        if version is None:
            raise NoModelToEmbed("no such model version" if version_id else "no active model")
        vid = version.id
        info = version_info(version)
        rows = session.execute(face_rows().where(lacking(vid))).all()
        queue = [FaceRef.from_rows(face, photo) for face, photo in rows]
        missing_ids = {face.id for face, photo in rows if photo.status == PhotoStatus.MISSING.value}
    result = ReembedResult(version=info.version, missing=len(missing_ids))
    todo = [ref for ref in queue if ref.face_id not in missing_ids]
    total = len(todo)
    clock = PhaseClock("reembed", "embed", "face")
    reporter(clock.event(0, total))
    if todo:
        source: RayFaceSource | None = None
        photos: Iterator[PhotoChips]
        if cluster is None:
            embedder = engines.embedder(settings, info)
            workers = settings.workers if settings.workers is not None else 2
            photos = rebuild_chips(todo, workers=workers, arcface=embedder.wants_arcface)
        else:
            # the workers re-make the chips from the photos and embed them; they read the photos
            # where the storage is shared (the scan's check), or get their bytes from here
            job = FaceJob(detector=engines.detector_config(settings))
            source = cluster.source(settings, info, job)
            source.start()
            source.send = settings.cluster_photos == "send" or (
                settings.cluster_photos == "auto" and not source.reads_shared(todo[0].path)
            )
            # the workers' embedder makes each ArcFace chip from the photo when it wants one
            photos = source.embedded_chips(
                photo_groups(todo), partial(photo_chips, arcface=info.name == FUSED)
            )
        batch_refs: list[FaceRef] = []
        batch_chips: list[np.ndarray] = []
        batch_arcface: list[np.ndarray] = []
        done = 0

        def flush() -> None:
            nonlocal done
            if not batch_refs:
                return
            arcface = np.concatenate(batch_arcface) if batch_arcface else None
            vectors = (
                np.concatenate(batch_chips)
                if source is not None
                else embedder.embed(np.concatenate(batch_chips), arcface)
            )
            with library.write() as session:
                existing = set(
                    session.scalars(
                        select(Embedding.face_id).where(
                            Embedding.model_version_id == vid,
                            Embedding.face_id.in_([r.face_id for r in batch_refs]),
                        )
                    )
                )
                alive = set(
                    session.scalars(
                        select(Face.id).where(Face.id.in_([r.face_id for r in batch_refs]))
                    )
                )
                for ref, vec in zip(batch_refs, vectors, strict=True):
                    if ref.face_id in alive and ref.face_id not in existing:
                        row = Embedding(face_id=ref.face_id, model_version_id=vid)
                        row.vector = to_bytes(vec)
                        session.add(row)
            result.embedded += len(batch_refs)
            done += len(batch_refs)
            batch_refs.clear()
            batch_chips.clear()
            batch_arcface.clear()
            reporter(clock.event(done + result.failed, total, failed=result.failed))

        try:
            for photo in photos:
                if photo.error is not None:
                    result.failed += len(photo.refs)
                    log.warning("re-embedding: %s: %s", photo.refs[0].path, photo.error)
                    continue
                batch_refs.extend(photo.refs)
                # from a cluster: the embeddings (made there), else the chips to embed here
                made = photo.embeddings if photo.embeddings is not None else photo.chips
                batch_chips.append(made)
                if photo.arcface is not None and photo.embeddings is None:
                    batch_arcface.append(photo.arcface)
                if len(batch_refs) >= BATCH_FACES:
                    flush()
                if cancel.cancelled:
                    break
            flush()
        finally:
            if source is not None:
                source.stop()
        result.cancelled = cancel.cancelled
    with library.session() as session:
        result.remaining = count_lacking(session, vid)
    result.seconds = time.perf_counter() - started
    return result
