"""The batched scan pipeline for a GPU: many photos in flight, the device never waiting on the
Python work of one photo.

::

    CPU threads (pool)   open the photo (libjpeg DCT scaling), cap its size, make YuNet's levels
    collator thread      take ready photos in order, B at a time; pad each level rank into one
                         pinned batch; pin each photo for the upload
    device thread        upload (non-blocking) -> YuNet, one pass per level rank -> decode, NMS
                         -> template chips of every face from its photo, on the device
                         -> embed once at least E chips wait (large batches)
    CPU threads (pool)   face thumbnails (JPEG), while the device goes on
    the caller           receives each photo's faces *with their embeddings*, in input order,
                         and stores them (``library.ingest``: large SQLite transactions)

Bounded queues between the stages keep memory flat however many photos are scanned. The chips
are those of the CPU path to within one grey level (:func:`~facenet_core.vision.align.
template_chips_tensor`); the detections are the same (``YunetDetector.detect_batch`` equals one
photo at a time). It runs on any torch device, so it is tested on CPU tensors.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from facenet_core.imageio import ImageLoadError, LoadedPhoto, open_photo
from facenet_core.thumbnails import face_thumbnail
from facenet_core.types import Detection
from facenet_core.vision.align import (
    ARCFACE_SIZE,
    ARCFACE_TEMPLATE,
    template_chips_tensor,
    template_for,
)
from facenet_core.vision.detectors.base import DetectorConfig
from facenet_core.vision.detectors.yunet import PreparedPhoto, YunetDetector, rows_per_photo
from facenet_core.vision.detectors.yunet_onet import YunetOnetDetector
from facenet_core.vision.device import resolve_device
from facenet_core.vision.embed import AnyEmbedder, FusedEmbedder
from facenet_core.vision.faces import FaceJob, PhotoFaces, default_workers

log = logging.getLogger(__name__)

PHOTO_BATCH = 32
"""Photos detected together (one forward pass per level rank)."""
EMBED_BATCH = 1024
"""Chips gathered before the embedding network runs."""


def uses_batched_pipeline(config: DetectorConfig) -> bool:
    """Whether a scan with this detector runs the batched pipeline: YuNet on a GPU (or any
    device but the CPU, where threads of one photo each are faster), with its own or O-Net's
    points (dlib's predictor runs on the CPU, one photo at a time)."""
    if config.name != "yunet" or config.landmarks == "dlib5":
        return False
    return resolve_device(config.device).type != "cpu"


@dataclass
class _Loaded:
    """One photo after the CPU threads: decoded and prepared, or an error."""

    path: Path
    photo: LoadedPhoto | None = None
    prepared: PreparedPhoto | None = None
    error: str | None = None


@dataclass
class _Batch:
    """Photos ready for the device: their level batches and pinned pixels."""

    items: list[_Loaded]
    level_batches: list[tuple[list[int], Tensor]]  # over the items that loaded
    pixels: list[Tensor]  # (H, W, 3) uint8 per loaded item


@dataclass
class _Pending:
    """A photo whose faces are found and whose chips wait for the embedding network."""

    result: PhotoFaces
    chips: Tensor | None = None  # (k, 3, 150, 150) on the device
    arcface: Tensor | None = None  # (k, 3, 112, 112) on the device, for the fused model
    thumbnails: Future[list[bytes]] | None = None
    embeddings: list[np.ndarray] = field(default_factory=list)


class _Stop(Exception):
    """The consumer went away: threads wind down."""


_END = object()


class BatchedFaceFinder:
    """Finds, aligns and embeds the faces of many photos with one detector and one embedder on
    one device (see the module docstring). ``detector``: YuNet, or YuNet with O-Net's points
    (then O-Net runs on the device too, on each photo's faces); ``workers``: CPU threads for
    decoding and thumbnails; ``photo_batch``: photos per detection pass; ``embed_batch``: chips
    per embedding call."""

    def __init__(
        self,
        job: FaceJob,
        detector: YunetDetector | YunetOnetDetector,
        embedder: AnyEmbedder,
        *,
        workers: int | None = None,
        photo_batch: int = PHOTO_BATCH,
        embed_batch: int = EMBED_BATCH,
    ) -> None:
        if detector.device != embedder.device:
            raise ValueError(f"detector on {detector.device}, embedder on {embedder.device}")
        self.job = job
        self.refiner = detector if isinstance(detector, YunetOnetDetector) else None
        self.detector = detector.yunet if isinstance(detector, YunetOnetDetector) else detector
        self.embedder = embedder
        self.workers = max(1, workers if workers else default_workers())
        self.photo_batch = max(1, photo_batch)
        self.embed_batch = max(1, embed_batch)
        self.template = template_for("mtcnn5" if self.refiner else self.detector.scheme)

    # -- stage 1: CPU threads -----------------------------------------------------------------

    def _load(self, path: Path) -> _Loaded:
        reduce_to = self.job.detector.max_side if self.job.reduce_jpeg else None
        try:
            photo = open_photo(path, reduce_to=reduce_to)
        except ImageLoadError as exc:
            return _Loaded(path, error=exc.reason)
        try:
            prepared = self.detector.prepare(photo.image)
        except Exception as exc:  # a photo the detector cannot take must not stop the scan
            return _Loaded(path, error=f"face detection failed ({exc})")
        return _Loaded(path, photo, prepared)

    def _thumbnails(self, image: np.ndarray, detections: list[Detection]) -> list[bytes]:
        return [face_thumbnail(image, d.box) for d in detections]

    # -- stage 2: collator --------------------------------------------------------------------

    def _collate(self, items: list[_Loaded]) -> _Batch:
        ready = [item for item in items if item.prepared is not None]
        pin = self.detector.device.type == "cuda"
        prepared = [item.prepared for item in ready if item.prepared is not None]
        batches = self.detector.level_batches(prepared, pin) if prepared else []
        pixels = []
        for item in ready:
            assert item.photo is not None
            image = item.photo.image
            if pin:  # one copy, straight into page-locked memory
                tensor = torch.empty(image.shape, dtype=torch.uint8, pin_memory=True)
                tensor.numpy()[...] = image
            else:
                tensor = torch.from_numpy(np.require(image, requirements="W"))
            pixels.append(tensor)
        return _Batch(items, batches, pixels)

    # -- stage 3: the device ------------------------------------------------------------------

    def _detect_and_align(self, batch: _Batch, pool: ThreadPoolExecutor) -> list[_Pending]:
        """Faces, chips (on the device) and thumbnail jobs of one batch, in its order."""
        ready = [item for item in batch.items if item.prepared is not None]
        prepared = [item.prepared for item in ready if item.prepared is not None]
        rows: list[np.ndarray] | None = None
        if prepared:
            try:
                with torch.inference_mode():
                    rows = rows_per_photo(
                        self.detector.find(prepared, batch.level_batches), len(prepared)
                    )
            except Exception as exc:  # e.g. out of memory on a huge batch: one at a time
                log.warning("batched detection failed (%s); detecting one photo at a time", exc)
        pending: list[_Pending] = []
        position = 0
        for item in batch.items:
            if item.prepared is None or item.photo is None:
                pending.append(_Pending(PhotoFaces(item.path, error=item.error)))
                continue
            index = position
            position += 1
            try:
                if rows is not None:
                    photo_rows = rows[index]
                else:
                    with torch.inference_mode():
                        found = self.detector.find([item.prepared])
                        photo_rows = rows_per_photo(found, 1)[0]
                detections = self.detector.to_detections(photo_rows, item.prepared)
                pixels = batch.pixels[index].to(self.detector.device, non_blocking=True)
                if self.refiner is not None:
                    detections = self.refiner.refine_pixels(pixels, detections)
                landmarks = np.stack([d.landmarks for d in detections]) if detections else None
                chips = (
                    template_chips_tensor(pixels.permute(2, 0, 1), landmarks, self.template)
                    if landmarks is not None
                    else None
                )
                arcface = (
                    template_chips_tensor(
                        pixels.permute(2, 0, 1), landmarks, ARCFACE_TEMPLATE, ARCFACE_SIZE
                    )
                    if landmarks is not None and self.embedder.wants_arcface
                    else None
                )
            except Exception as exc:
                failed = PhotoFaces(item.path, error=f"face detection failed ({exc})")
                pending.append(_Pending(failed))
                continue
            photo = item.photo
            result = PhotoFaces(
                path=item.path,
                width=photo.width,
                height=photo.height,
                taken_at=photo.taken_at,
                detections=[d.scaled(1.0 / photo.scale) for d in detections],
            )
            entry = _Pending(result, chips, arcface)
            if self.job.thumbnails and detections:
                entry.thumbnails = pool.submit(self._thumbnails, photo.image, detections)
            pending.append(entry)
        return pending

    def _embed(self, waiting: list[_Pending]) -> None:
        """Embed the chips of ``waiting`` photos in one call (the embedder batches them)."""
        with_chips = [p for p in waiting if p.chips is not None]
        if not with_chips:
            return
        chips = torch.cat([p.chips for p in with_chips if p.chips is not None])
        faces = [p.arcface for p in with_chips if p.arcface is not None]
        if isinstance(self.embedder, FusedEmbedder):  # SFace reads the ArcFace chips too
            vectors = self.embedder.embed_tensor(chips, torch.cat(faces)).cpu().numpy()
        else:
            vectors = self.embedder.embed_tensor(chips).cpu().numpy()
        offset = 0
        for entry in with_chips:
            assert entry.chips is not None
            count = entry.chips.shape[0]
            entry.result.embeddings = vectors[offset : offset + count]
            offset += count
            entry.chips = None
            entry.arcface = None

    # -- the pipeline -------------------------------------------------------------------------

    def __call__(self, paths: Iterable[Path]) -> Iterator[PhotoFaces]:
        """Faces (with embeddings, and thumbnails when the job asks) of every photo, in order."""
        stop = threading.Event()
        failures: list[BaseException] = []
        to_device: queue.Queue[object] = queue.Queue(maxsize=2)
        results: queue.Queue[object] = queue.Queue(maxsize=4 * self.photo_batch)
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="faces-cpu")

        def put(q: queue.Queue[object], value: object) -> None:
            while not stop.is_set():
                try:
                    q.put(value, timeout=0.1)
                    return
                except queue.Full:
                    continue
            raise _Stop

        def get(q: queue.Queue[object]) -> object:
            while not stop.is_set():
                try:
                    return q.get(timeout=0.1)
                except queue.Empty:
                    continue
            raise _Stop

        def fail(exc: BaseException) -> None:
            failures.append(exc)
            stop.set()

        def collator() -> None:
            try:
                ahead = 4 * self.photo_batch
                futures: list[Future[_Loaded]] = []
                source = iter(paths)
                exhausted = False
                while not exhausted or futures:
                    while not exhausted and len(futures) < ahead:
                        try:
                            futures.append(pool.submit(self._load, Path(next(source))))
                        except StopIteration:
                            exhausted = True
                    take = futures[: self.photo_batch]
                    del futures[: self.photo_batch]
                    if take:
                        put(to_device, self._collate([f.result() for f in take]))
                put(to_device, _END)
            except _Stop:
                pass
            except BaseException as exc:  # reported to the consumer
                fail(exc)

        def device() -> None:
            waiting: list[_Pending] = []
            try:
                while True:
                    item = get(to_device)
                    if item is _END:
                        break
                    assert isinstance(item, _Batch)
                    waiting += self._detect_and_align(item, pool)
                    chips = sum(p.chips.shape[0] for p in waiting if p.chips is not None)
                    if chips >= self.embed_batch or len(waiting) >= 8 * self.photo_batch:
                        self._embed(waiting)
                        for entry in waiting:
                            put(results, entry)
                        waiting = []
                self._embed(waiting)
                for entry in waiting:
                    put(results, entry)
                put(results, _END)
            except _Stop:
                pass
            except BaseException as exc:
                fail(exc)

        threads = [
            threading.Thread(target=collator, name="faces-collator", daemon=True),
            threading.Thread(target=device, name="faces-device", daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            while True:
                try:
                    item = results.get(timeout=0.1)
                except queue.Empty:
                    if failures:
                        raise failures[0] from None
                    continue
                if item is _END:
                    break
                assert isinstance(item, _Pending)
                if item.thumbnails is not None:
                    item.result.thumbnails = item.thumbnails.result()
                if item.result.error is None and item.result.embeddings is None:
                    item.result.embeddings = np.zeros((0, self.embedder.dim), np.float32)
                yield item.result
        finally:
            stop.set()
            while True:  # unblock a producer waiting on a full queue
                try:
                    to_device.get_nowait()
                except queue.Empty:
                    break
            for thread in threads:
                thread.join(timeout=30)
            pool.shutdown(wait=True, cancel_futures=True)
