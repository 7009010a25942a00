"""How well does clustering find the people? Pairwise and BCubed scores against a truth file.

:func:`evaluate_clusters` runs the product's own path: scan the images listed in a truth file
into a temporary library, cluster every face found, and score the labelled faces. The metrics
themselves are in :mod:`.cluster_metrics` (numpy only).
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from facenet_core.calibration import distance_scale
from facenet_core.evaluation.cluster_metrics import (
    Scores,
    bcubed_scores,
    noise_as_singletons,
    pairwise_scores,
)
from facenet_core.evaluation.lfw import nearest_centre
from facenet_core.library.scan import scan
from facenet_core.people.cluster import ClusterInput, cluster_faces, cluster_mask
from facenet_core.progress import (
    Cancelled,
    CancelToken,
    PhaseClock,
    Reporter,
    ignore_progress,
)
from facenet_core.quantize import dequantize, from_bytes, quantize
from facenet_core.settings import Settings
from facenet_core.store import Embedding, Face, Library, Photo, get_active_model_version
from facenet_core.types import EMBEDDING_DIM
from facenet_core.vision.engines import Engines, shared_engines
from facenet_core.vision.faces import FaceJob, find_faces

__all__ = [
    "ClusterEvaluation",
    "Scores",
    "bcubed_scores",
    "embed_centre_faces",
    "evaluate_clusters",
    "noise_as_singletons",
    "pairwise_scores",
    "read_truth",
]

log = logging.getLogger(__name__)


# -- truth files and labelled embeddings ------------------------------------------------------


def read_truth(path: Path) -> list[tuple[str, str]]:
    """``PATH<TAB>PERSON`` lines (PATH relative to the images folder); # starts a comment."""
    rows: list[tuple[str, str]] = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise ValueError(f"{path}:{number}: expected PATH<TAB>PERSON, got {line!r}")
        rows.append((parts[0], parts[1]))
    if not rows:
        raise ValueError(f"{path}: no labelled images")
    return rows


def embed_centre_faces(
    paths: Sequence[Path],
    settings: Settings,
    *,
    engines: Engines | None = None,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> tuple[np.ndarray, int]:
    """The embedding of the face nearest the centre of each image (as stored: 128 bytes, decoded
    again), and how many images fell back to the fixed centre box because no face was found.
    Used to cache embeddings of labelled faces for benchmarks. A step of a benchmark, not a
    job: it raises :class:`~facenet_core.progress.Cancelled` when cancelled."""
    engines = engines or shared_engines()
    cancel = cancel or CancelToken()
    config = engines.detector_config(settings)
    embedder = engines.embedder(settings)
    job = FaceJob(detector=config, centre_fallback=True, arcface=embedder.wants_arcface)
    shared = engines.detector(config) if config.name == "mtcnn" else None
    clock = PhaseClock("embed-faces", "faces", "image")
    out = np.zeros((len(paths), embedder.dim), dtype=np.float32)
    batch: list[np.ndarray] = []
    faces: list[np.ndarray] = []
    where: list[int] = []
    fallbacks = 0

    def flush() -> None:
        if batch:
            arcface = np.stack(faces) if faces else None
            out[where] = dequantize(quantize(embedder.embed(np.stack(batch), arcface)))
            batch.clear()
            faces.clear()
            where.clear()

    for i, photo in enumerate(find_faces(paths, job, settings.workers, detector=shared)):
        if photo.error is not None:
            raise RuntimeError(f"{photo.path}: {photo.error}")
        fallbacks += int(photo.fallback)
        batch.append(photo.chips[nearest_centre(photo)])
        if photo.arcface_chips is not None:
            faces.append(photo.arcface_chips[nearest_centre(photo)])
        where.append(i)
        if len(batch) >= 256:
            flush()
        if cancel.cancelled:
            raise Cancelled
        reporter(clock.event(i + 1, len(paths), fallbacks=fallbacks))
    flush()
    return out, fallbacks


# -- the product's path, end to end -----------------------------------------------------------


@dataclass
class ClusterEvaluation:
    """Scores of one clustering run on labelled images (see :func:`evaluate_clusters`)."""

    pairwise: Scores
    bcubed: Scores
    clusters: int
    """Clusters found among the labelled faces (each unclustered face counts as one)."""
    true_people: int
    labelled_faces: int
    all_faces: int
    images: int
    images_without_face: list[str]
    threshold: float
    seconds_scan: float
    seconds_cluster: float
    settings: dict[str, Any] = field(default_factory=dict)
    cancelled: bool = False
    """Stopped on request while scanning: nothing was clustered, the scores are NaN."""

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "pairwise_f1": self.pairwise.f1,
            "pairwise_precision": self.pairwise.precision,
            "pairwise_recall": self.pairwise.recall,
            "bcubed_f1": self.bcubed.f1,
            "bcubed_precision": self.bcubed.precision,
            "bcubed_recall": self.bcubed.recall,
            "clusters": self.clusters,
            "true_people": self.true_people,
            "labelled_faces": self.labelled_faces,
            "all_faces": self.all_faces,
            "images": self.images,
            "images_without_face": self.images_without_face,
            "threshold": self.threshold,
            "seconds_scan": self.seconds_scan,
            "seconds_cluster": self.seconds_cluster,
            "cancelled": self.cancelled,
            **self.settings,
        }


def evaluate_clusters(
    images_dir: Path,
    truth_file: Path,
    settings: Settings,
    *,
    engines: Engines | None = None,
    reporter: Reporter = ignore_progress,
    cancel: CancelToken | None = None,
) -> ClusterEvaluation:
    """Scan the images named by ``truth_file`` into a temporary library, cluster every face found
    (at ``settings.cluster_threshold``, leaving out faces below the clustering size and score
    limits), and score the face nearest each image's centre against its person. An image where
    no face was found counts as an unclustered face of its person (a miss, not skipped).
    Faces other than the central one are clustered too but not scored. Cancelling stops the
    scan and returns an evaluation marked ``cancelled`` (NaN scores, nothing clustered)."""
    images_dir = Path(images_dir)
    truth = read_truth(truth_file)
    missing = [rel for rel, _ in truth if not (images_dir / rel).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} images named by {truth_file} are not in {images_dir}, "
            f"e.g. {images_dir / missing[0]}"
        )
    cancel = cancel or CancelToken()
    with tempfile.TemporaryDirectory(prefix="facenet-eval-clusters-") as tmp:
        root = Path(tmp) / "photos"
        for rel, _ in truth:
            link = root / rel
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink((images_dir / rel).absolute(), link)
        library = Library.open(Path(tmp) / "library.db", create=True)
        try:
            start = time.perf_counter()
            result = scan(
                library,
                [root],
                settings,
                engines=engines,
                recognize=False,
                reporter=reporter,
                cancel=cancel,
            )
            if result.cancelled:
                nan = Scores(float("nan"), float("nan"), float("nan"))
                return ClusterEvaluation(
                    pairwise=nan,
                    bcubed=nan,
                    clusters=0,
                    true_people=len({person for _, person in truth}),
                    labelled_faces=0,
                    all_faces=0,
                    images=len(truth),
                    images_without_face=[],
                    threshold=settings.cluster_threshold,
                    seconds_scan=time.perf_counter() - start,
                    seconds_cluster=0.0,
                    settings=settings.as_dict(),
                    cancelled=True,
                )
            seconds_scan = time.perf_counter() - start
            faces = _library_faces(library)
            with library.session() as session:
                version = get_active_model_version(session)
                model = version.name if version is not None else "dlib-resnet-v1"
        finally:
            library.close()
    # the library knows each photo by its real path (the links' targets): match on that
    by_path: dict[str, list[int]] = {}
    for i, path in enumerate(faces.paths):
        by_path.setdefault(os.path.realpath(path), []).append(i)
    start = time.perf_counter()
    inp = ClusterInput(
        embeddings=faces.embeddings,
        photo_ids=faces.photo_ids,
        fixed=np.full(len(faces.paths), -1, dtype=np.int64),
        forbidden={},
    )
    # the setting is in the fast model's distances; the fused model's are scaled by its
    # calibration (as the library's own clustering does)
    threshold = settings.cluster_threshold * distance_scale(model).factor
    labels = cluster_faces(
        inp,
        threshold,
        mask=cluster_mask(faces.sizes, faces.scores, settings),
    )
    seconds_cluster = time.perf_counter() - start
    people: list[str] = []
    pred: list[int] = []
    no_face: list[str] = []
    for rel, person in truth:
        found = by_path.get(os.path.realpath(images_dir / rel))
        people.append(person)
        if not found:
            no_face.append(rel)
            pred.append(0)
            continue
        centre = min(found, key=lambda i: faces.centre_distance[i])
        pred.append(int(labels[centre]))
    pred_arr = np.asarray(pred, dtype=np.int64)
    return ClusterEvaluation(
        pairwise=pairwise_scores(people, pred_arr),
        bcubed=bcubed_scores(people, pred_arr),
        clusters=len(np.unique(noise_as_singletons(pred_arr))),
        true_people=len(set(people)),
        labelled_faces=len(truth) - len(no_face),
        all_faces=len(faces.paths),
        images=len(truth),
        images_without_face=no_face,
        threshold=threshold,
        seconds_scan=seconds_scan,
        seconds_cluster=seconds_cluster,
        settings=settings.as_dict(),
    )


@dataclass
class _Faces:
    paths: list[str]
    photo_ids: np.ndarray
    embeddings: np.ndarray
    sizes: np.ndarray
    scores: np.ndarray
    centre_distance: np.ndarray


def _library_faces(library: Library) -> _Faces:
    """Every face of the library with its current embedding, its photo, size and score."""
    with library.session() as session:
        version = get_active_model_version(session)
        rows = (
            session.execute(
                select(Face, Photo, Embedding.vector)
                .join(Photo, Face.photo_id == Photo.id)
                .join(Embedding, Embedding.face_id == Face.id)
                .where(Embedding.model_version_id == (version.id if version else -1))
                .order_by(Face.id)
            )
            .tuples()
            .all()
        )
        paths, photo_ids, vectors, sizes, scores, centre = [], [], [], [], [], []
        for face, photo, vector in rows:
            paths.append(photo.path)
            photo_ids.append(photo.id)
            vectors.append(from_bytes(vector))
            sizes.append(min(face.x2 - face.x1, face.y2 - face.y1))
            scores.append(face.det_score)
            cx, cy = (face.x1 + face.x2) / 2, (face.y1 + face.y2) / 2
            w, h = photo.width or 0, photo.height or 0
            centre.append((cx - w / 2) ** 2 + (cy - h / 2) ** 2)
    return _Faces(
        paths=paths,
        photo_ids=np.asarray(photo_ids, dtype=np.int64),
        embeddings=(
            np.stack(vectors) if vectors else np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        ),
        sizes=np.asarray(sizes, dtype=np.float64),
        scores=np.asarray(scores, dtype=np.float64),
        centre_distance=np.asarray(centre, dtype=np.float64),
    )
