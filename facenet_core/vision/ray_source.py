"""A face source on a Ray cluster: the per-photo work of a scan spread over many machines.

The scan's phase 2 (:mod:`facenet_core.library.ingest`) consumes a *face source*: photos in,
their :class:`~facenet_core.vision.faces.PhotoFaces` out, in order. :class:`RayFaceSource` is
one more such source. Each Ray worker is an actor (:class:`FaceWorker`) that loads the detector
and the embedder once, under the same device policy as this computer (on its GPU when Ray gave
it one), and runs the same code as a local scan on a batch of photos: the CPU threads of
:func:`~facenet_core.vision.faces.find_faces` with each photo's chips embedded where they were
made, or the batched pipeline on a GPU. Its results come back *with their embeddings* and
without their chips, so the writer only stores them, through the same ingest code, in the same
transactions: incremental, resumable, bad files recorded with their reason. This process stays
the library's one writer; a worker never touches the library.

Bounded: at most :data:`IN_FLIGHT` batches per worker are queued or running, so memory does not
grow with the number of photos, and results are taken in input order. A worker that dies (its
node lost, its process killed) is replaced, and its batches are sent again: the work is pure,
and a batch is stored only once it came back, so nothing is stored twice.

Ray is an optional extra: it is imported only when a scan is asked to run on a cluster, and its
absence is a :class:`ClusterError` that says how to add it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import socket
import sys
import tempfile
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from facenet_core.errors import UserError
from facenet_core.models.registry import ModelInfo
from facenet_core.settings import Settings
from facenet_core.types import CHIP_SIZE
from facenet_core.vision.faces import FaceJob, PhotoFaces

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install -e ".[cluster]"'
BATCH_PHOTOS = 8
"""Photos sent to a worker in one task: enough to amortise a call's cost (a few milliseconds),
few enough that a lost worker costs little work to redo."""
GPU_BATCH_PHOTOS = 64
"""Photos per task for a worker on a GPU (the batched pipeline detects 32 at a time)."""
IN_FLIGHT = 2
"""Batches queued or running per worker: one running, one waiting, so a worker never idles
while the writer takes a result."""
MAX_TRIES = 3
"""Times one batch is sent before the scan gives up (a photo that kills every worker)."""
CPUS_PER_WORKER = 4
"""CPU threads of one worker on a cluster without GPUs (one model copy per four cores)."""


class ClusterError(UserError, RuntimeError):
    """The cluster cannot do the work: Ray is missing, the cluster cannot be reached, or its
    workers lack this program or run other versions of it."""


def import_ray() -> ModuleType:
    """The ``ray`` module, or :class:`ClusterError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ClusterError(
            "computing on a Ray cluster needs Ray, which is not installed",
            hint=f"Install it with {INSTALL_HINT}.",
        ) from None
    return ray


def versions() -> dict[str, str]:
    """What must match between the writer and every worker: this program, Python, torch, Ray."""
    import ray
    import torch

    import facenet_core

    return {
        "facenet-photos": facenet_core.__version__,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "torch": torch.__version__.split("+")[0],
        "ray": ray.__version__,
    }


def file_digest(path: str) -> str | None:
    """The sha256 of a file's bytes, or None when it cannot be read here."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs to make the same faces as this computer: the settings, the model
    version to embed with (None: the shipped weights), the job and its CPU threads."""

    settings: Settings
    model: ModelInfo | None
    job: FaceJob
    threads: int


class FaceWorker:
    """One Ray worker (made a Ray actor by :class:`RayFaceSource`): loads the models once, then
    finds, aligns and embeds the faces of each batch it is given."""

    def __init__(self, config: WorkerConfig) -> None:
        import torch

        from facenet_core.vision.batched import uses_batched_pipeline
        from facenet_core.vision.engines import Engines

        self.config = config
        engines = Engines()
        settings = config.settings
        detector_config = engines.detector_config(settings)
        self.job = dataclasses.replace(config.job, detector=detector_config)
        self.embedder = engines.embedder(settings, config.model)
        self.detector = engines.detector(detector_config)
        self.batched = uses_batched_pipeline(detector_config)
        self.device = str(self.embedder.device)
        torch.set_num_threads(1 if detector_config.threaded else max(1, config.threads))

    def info(self) -> dict[str, Any]:
        """This worker's process, device and versions (the start-up check)."""
        return {"pid": os.getpid(), "device": self.device, "host": socket.gethostname()}

    def digest(self, path: str) -> str | None:
        """The sha256 of ``path`` as this worker reads it (None: it cannot): the storage check."""
        return file_digest(path)

    def faces(self, items: list[tuple[str, bytes | None]]) -> list[PhotoFaces]:
        """The faces of a batch of photos, each given by its path (read here) or its bytes,
        embedded, without their chips (the writer stores embeddings, not chips)."""
        with tempfile.TemporaryDirectory(prefix="facenet-") as folder:
            paths = []
            for i, (path, data) in enumerate(items):
                if data is None:
                    paths.append(Path(path))
                    continue
                local = Path(folder) / f"{i}{Path(path).suffix}"
                local.write_bytes(data)
                paths.append(local)
            found = list(self._find(paths))
        empty = np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), np.uint8)
        return [
            dataclasses.replace(r, path=Path(path), chips=empty)
            for (path, _), r in zip(items, found, strict=True)
        ]

    def embed_chips(
        self, items: list[tuple[Any, str, bytes | None]], make_chips: Callable[..., Any]
    ) -> list[Any]:
        """Re-embedding: for each ``(faces, path, bytes)``, the faces' chips re-made by
        ``make_chips(faces, path)`` (from the stored landmarks; an object with ``chips``,
        ``error`` and ``embeddings``) and embedded here; returned without the chips."""
        out = []
        with tempfile.TemporaryDirectory(prefix="facenet-") as folder:
            for i, (group, path, data) in enumerate(items):
                local = Path(path)
                if data is not None:
                    local = Path(folder) / f"{i}{Path(path).suffix}"
                    local.write_bytes(data)
                made = make_chips(group, local)
                if made.error is None:
                    made.embeddings = self.embedder.embed(made.chips, made.arcface)
                made.chips = made.chips[:0]
                out.append(made)
        return out

    def _find(self, paths: list[Path]) -> Iterator[PhotoFaces]:
        from facenet_core.vision.batched import BatchedFaceFinder
        from facenet_core.vision.detectors import YunetDetector, YunetOnetDetector
        from facenet_core.vision.faces import find_faces

        threads = self.config.threads
        if self.batched:
            assert isinstance(self.detector, YunetDetector | YunetOnetDetector)
            finder = BatchedFaceFinder(self.job, self.detector, self.embedder, workers=threads)
            yield from finder(paths)
            return
        threaded = self.job.detector.threaded
        for r in find_faces(
            paths,
            self.job,
            threads if threaded else 0,
            detector=self.detector,
            embedder=self.embedder,
        ):
            if r.error is None and r.embeddings is None:
                r.embeddings = self.embedder.embed(r.chips, r.arcface_chips)
            yield r


@dataclass
class _Task:
    """One batch of photos sent to a worker (each item a path, or a photo's faces)."""

    paths: list[Any]
    ref: Any
    worker: int
    generation: int
    tries: int = 1


class RayFaceSource:
    """A face source whose work runs on Ray workers (see the module docstring). ``workers``:
    the number of actors; ``gpus``: GPUs per actor (0: CPU threads, ``threads`` of them);
    ``send``: ship each photo's bytes instead of letting the workers read its path."""

    def __init__(
        self,
        config: WorkerConfig,
        workers: int,
        *,
        gpus: float = 0,
        send: bool = False,
        batch_photos: int | None = None,
    ) -> None:
        self.ray = import_ray()
        self.config = config
        self.count = workers
        self.gpus = gpus
        self.send = send
        self.batch_photos = batch_photos or (GPU_BATCH_PHOTOS if gpus else BATCH_PHOTOS)
        self.tag = uuid.uuid4().hex[:8]
        self.workers: list[Any] = []
        self.generations: list[int] = []
        self.load: list[int] = []
        self.replaced = 0
        self.batches = 0
        self._make_chips: Callable[..., Any] | None = None

    # -- workers ---------------------------------------------------------------------------

    def _new_worker(self, index: int, generation: int) -> Any:
        actor = self.ray.remote(FaceWorker).options(
            name=f"facenet-worker-{self.tag}-{index}.{generation}",
            num_cpus=self.config.threads if not self.gpus else 1,
            num_gpus=self.gpus,
            max_restarts=0,
            max_concurrency=1,
        )
        return actor.remote(self.config)

    def start(self) -> list[dict[str, Any]]:
        """Start the workers and wait until each has its models loaded; their info."""
        if self.workers:
            return []
        for i in range(self.count):
            self.workers.append(self._new_worker(i, 0))
            self.generations.append(0)
            self.load.append(0)
        try:
            infos: list[dict[str, Any]] = self.ray.get([w.info.remote() for w in self.workers])
        except Exception as exc:
            self.stop()
            raise ClusterError(
                f"the cluster's workers could not start: {_first_line(exc)}",
                hint="Install this project, at this version, on every node of the cluster.",
            ) from exc
        return infos

    def stop(self) -> None:
        """Stop every worker (after the scan, on Ctrl-C, on an error)."""
        for worker in self.workers:
            try:
                self.ray.kill(worker)
            except Exception as exc:  # already gone
                log.debug("worker already gone: %s", exc)
        self.workers.clear()

    def reads_shared(self, path: str) -> bool:
        """Whether the workers read ``path`` as the same bytes as this computer (storage is
        shared); asks the first worker."""
        self.start()
        mine = file_digest(path)
        theirs = self.ray.get(self.workers[0].digest.remote(path))
        return mine is not None and theirs == mine

    def _replace(self, index: int, generation: int) -> None:
        if self.generations[index] != generation:
            return  # replaced already, when an earlier batch of it failed
        log.warning("a cluster worker was lost; its photos are sent again")
        try:
            self.ray.kill(self.workers[index])
        except Exception as exc:
            log.debug("lost worker already gone: %s", exc)
        self.generations[index] += 1
        self.load[index] = 0
        self.workers[index] = self._new_worker(index, self.generations[index])
        self.replaced += 1

    # -- the face source -------------------------------------------------------------------

    def _submit(self, paths: list[Any], tries: int = 1) -> _Task:
        index = min(range(len(self.workers)), key=lambda i: self.load[i])
        worker = self.workers[index]
        if self._make_chips is None:
            items = [(str(p), self._read(Path(p))) for p in paths]
            ref = worker.faces.remote(items)
        else:
            groups = [(g, g[0].path, self._read(Path(g[0].path))) for g in paths]
            ref = worker.embed_chips.remote(groups, self._make_chips)
        self.load[index] += 1
        self.batches += 1
        return _Task(paths, ref, index, self.generations[index], tries)

    def _read(self, path: Path) -> bytes | None:
        if not self.send:
            return None
        try:
            return path.read_bytes()
        except OSError:
            return None  # the worker tries the path, and reports why it cannot read it

    def _take(self, inflight: deque[_Task]) -> list[Any]:
        """The results of the oldest batch, sent again elsewhere while its worker is lost."""
        while True:
            task = inflight[0]
            try:
                found: list[Any] = self.ray.get(task.ref)
            except self.ray.exceptions.RayActorError as exc:
                if task.tries >= MAX_TRIES:
                    raise ClusterError(
                        f"{len(task.paths)} photos lost {task.tries} workers: {_first_line(exc)}"
                    ) from exc
                self._replace(task.worker, task.generation)
                inflight[0] = self._submit(task.paths, task.tries + 1)
                continue
            inflight.popleft()
            if self.generations[task.worker] == task.generation:
                self.load[task.worker] -= 1
            return found

    def __call__(self, paths: Iterable[Path]) -> Iterator[PhotoFaces]:
        """The faces of ``paths`` in order (a :data:`~facenet_core.library.ingest.FaceSource`)."""
        self._make_chips = None
        yield from self._run(paths)

    def embedded_chips(
        self, groups: Iterable[list[Any]], make_chips: Callable[..., Any]
    ) -> Iterator[Any]:
        """Re-embedding: each group (the stored faces of one photo) with its chips re-made by
        ``make_chips(group, path)`` and embedded on a worker, in order."""
        self._make_chips = make_chips
        try:
            yield from self._run(groups)
        finally:
            self._make_chips = None

    def _run(self, paths: Iterable[Any]) -> Iterator[Any]:
        self.start()
        inflight: deque[_Task] = deque()
        try:
            for batch in _chunks(paths, self.batch_photos):
                inflight.append(self._submit(batch))
                while len(inflight) >= IN_FLIGHT * len(self.workers):
                    yield from self._take(inflight)
            while inflight:
                yield from self._take(inflight)
        finally:
            for task in inflight:  # cancelled or interrupted: stop what still runs
                try:
                    self.ray.cancel(task.ref)
                except Exception as exc:
                    log.debug("could not cancel a batch: %s", exc)


@dataclass
class Cluster:
    """A connected Ray cluster: how many workers it runs and how (from its resources)."""

    ray: ModuleType
    address: str
    workers: int
    threads: int
    gpus: float

    def source(self, settings: Settings, model: ModelInfo | None, job: FaceJob) -> RayFaceSource:
        """A face source on this cluster's workers (started when first used)."""
        config = WorkerConfig(settings, model, job, self.threads)
        return RayFaceSource(config, self.workers, gpus=self.gpus)


@contextlib.contextmanager
def connect(address: str) -> Iterator[Cluster]:
    """Ray, connected to ``address`` (``local:N``: a Ray instance of N one-thread workers
    started here, stopped at the end) and checked: reachable, with the same versions of this
    program, Python, torch and Ray on its workers. Each failure is a :class:`ClusterError` of
    one line, raised before any work starts. A Ray already connected in this process (a test,
    a notebook) is used as it is, and left connected."""
    ray = import_ray()
    started = False
    local = address.startswith("local:")
    if not ray.is_initialized():
        if local:
            ray.init(
                num_cpus=int(address.split(":", 1)[1]),
                num_gpus=0,
                include_dashboard=False,
                runtime_env={"env_vars": {"PYTHONPATH": _code_root()}},
                logging_level=logging.WARNING,
                log_to_driver=False,
            )
        else:
            _check_reachable(address)
            try:
                ray.init(
                    address=address,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                )
            except Exception as exc:
                raise ClusterError(
                    f"cannot connect to the Ray cluster at {address}: {_first_line(exc)}"
                ) from exc
        started = True
    try:
        _check_versions(ray)
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = int(resources.get("CPU", 1))
        if local:
            cluster = Cluster(ray, address, max(1, cpus), 1, 0)
        elif gpus:
            cluster = Cluster(ray, address, gpus, CPUS_PER_WORKER, 1)
        else:
            threads = min(CPUS_PER_WORKER, max(1, cpus))
            cluster = Cluster(ray, address, max(1, cpus // threads), threads, 0)
        yield cluster
    finally:
        if started:
            ray.shutdown()


def _code_root() -> str:
    """The folder this program is imported from, so that workers started here run this very
    code (an installed copy elsewhere must not shadow it)."""
    import facenet_core

    return str(Path(facenet_core.__file__).resolve().parents[1])


def _check_reachable(address: str) -> None:
    """A clear error, in seconds, for a cluster that is not there (Ray itself retries for a
    minute or more)."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=5):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ClusterError(
            f"cannot reach the Ray cluster at {address} ({reason})",
            hint="Check the address, or compute on this computer (--cluster here).",
        ) from None


def _check_versions(ray: ModuleType, mine: dict[str, str] | None = None) -> None:
    """The workers run this program at the same versions as the writer (``mine``: these
    versions), or a clear error."""
    try:
        theirs: dict[str, str] = ray.get(ray.remote(versions).remote(), timeout=120)
    except Exception as exc:
        raise ClusterError(
            f"the cluster's workers cannot run FaceNet Photos: {_first_line(exc)}",
            hint="Install this project, at this version, on every node of the cluster.",
        ) from exc
    mine = versions() if mine is None else mine
    differ = [f"{k} {theirs.get(k)} (here {v})" for k, v in mine.items() if theirs.get(k) != v]
    if differ:
        raise ClusterError(
            "the cluster's workers run other versions: " + ", ".join(differ),
            hint="Install the same versions on every node of the cluster.",
        )


def _chunks(paths: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for path in paths:
        batch.append(path)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # a Ray task error puts the remote traceback first and the cause last
    return (lines[-1] if lines else type(exc).__name__)[:300]
