"""Faces made from tag regions no detector found: a person tagged there is a face all the same.

A region that matches no stored face (a profile, a blurred or tiny face the detector missed, a
face another program's detector found) becomes a face of its own. The library's detector looks
again inside the region, enlarged and scaled so that the face is about :data:`LOOK_SIDE` pixels
(a face too small for the whole photo's detection size is found there); a detection whose centre
lies in the region gives the face its box and landmarks. Otherwise dlib's 5-point predictor finds
the landmarks in the region's own box (measured: loose regions can mislead it, see
docs/benchmarks/2026-12-07-face-tags-read.md). The face is aligned and embedded with the
library's active model like every other face,
stored with ``detector = "tag:<format>"`` (``tag:mwg``, ``tag:iptc``...) so that where it came
from stays visible, and a detection score of 1 (someone drew it). The scan's last step makes its
thumbnail.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from facenet_core.imageio import ImageLoadError, open_photo
from facenet_core.library.reembed import embedding_model
from facenet_core.quantize import to_bytes
from facenet_core.settings import Settings
from facenet_core.store import (
    Embedding,
    Face,
    Library,
    get_active_model_version,
    pack_landmarks,
)
from facenet_core.tags.model import TagRegion
from facenet_core.types import Box, Detection, box_iou
from facenet_core.vision.align import arcface_chips, face_chip
from facenet_core.vision.engines import Engines, shared_engines
from facenet_core.vision.landmarks import LandmarkPredictor

MIN_SIDE = 12
"""Regions with a shorter side (pixels) are too small to align: left without a face."""
LOOK_SIDE = 128
"""The region's shorter side, in pixels, when the detector looks inside it again."""
MARGIN = 0.25
"""How much of the region's size is added on every side for that second look."""
LOOK_MIN_FACE = 40


class TagFaceMaker:
    """Makes faces from regions; loads the landmark predictor and the embedder on first use."""

    def __init__(self, library: Library, settings: Settings, engines: Engines | None = None):
        self.library = library
        self.settings = settings
        self.engines = engines or shared_engines()
        self._predictor: LandmarkPredictor | None = None

    def detection(self, image: np.ndarray, box: Box) -> Detection:
        """The face in ``box``: the detector's, looking inside it again, else dlib's landmarks
        in the box itself."""
        x1, y1, x2, y2 = box
        height, width = image.shape[:2]
        mx, my = MARGIN * (x2 - x1), MARGIN * (y2 - y1)
        cx1, cy1 = max(0, int(x1 - mx)), max(0, int(y1 - my))
        cx2, cy2 = min(width, int(np.ceil(x2 + mx))), min(height, int(np.ceil(y2 + my)))
        scale = LOOK_SIDE / max(1.0, min(x2 - x1, y2 - y1))
        crop = image[cy1:cy2, cx1:cx2]
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = cv2.resize(
            crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        )
        config = dataclasses.replace(
            self.engines.detector_config(self.settings),
            min_face_size=LOOK_MIN_FACE,
            max_side=max(size),
        )
        best, best_iou = None, 0.0
        for found in self.engines.detector(config).detect(np.ascontiguousarray(crop)):
            back = found.scaled(1.0 / scale)
            bx1, by1, bx2, by2 = back.box
            det = Detection(
                box=(bx1 + cx1, by1 + cy1, bx2 + cx1, by2 + cy1),
                score=1.0,
                landmarks=(back.landmarks + np.array([cx1, cy1], np.float32)).astype(np.float32),
                scheme=back.scheme,
            )
            centre = det.center
            inside = x1 <= centre[0] <= x2 and y1 <= centre[1] <= y2
            overlap = box_iou(det.box, box)
            if inside and overlap > best_iou:
                best, best_iou = det, overlap
        if best is not None:
            return best
        if self._predictor is None:
            self._predictor = LandmarkPredictor()
        return self._predictor.detection(image, box, 1.0)

    def make(self, photo_id: int, path: Path, regions: Sequence[TagRegion]) -> list[int | None]:
        """The new face id of each region (None where no face could be made)."""
        with self.library.session() as session:
            version = get_active_model_version(session)
            if version is None:  # never scanned: no model to embed with
                return [None] * len(regions)
            version_id = version.id
            model = embedding_model(version, self.settings)
        try:
            photo = open_photo(path)
        except ImageLoadError:
            return [None] * len(regions)
        image = photo.image
        height, width = image.shape[:2]
        detections, chips, index = [], [], []
        for i, region in enumerate(regions):
            x1, y1, x2, y2 = region.box
            box = (max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2))
            if box[2] - box[0] < MIN_SIDE or box[3] - box[1] < MIN_SIDE:
                continue
            det = self.detection(image, box)
            detections.append((region, det))
            chips.append(face_chip(image, det))
            index.append(i)
        out: list[int | None] = [None] * len(regions)
        if not chips:
            return out
        embedder = self.engines.embedder(self.settings, model)
        # the fused model's ArcFace chips from the photo, as the scan makes them
        points = [det for _, det in detections]
        arcface = arcface_chips(image, points) if embedder.wants_arcface else None
        vectors = embedder.embed(np.stack(chips), arcface)
        with self.library.write() as session:
            faces = []
            for (region, det), vec in zip(detections, vectors, strict=True):
                face = Face(
                    photo_id=photo_id,
                    x1=det.box[0],
                    y1=det.box[1],
                    x2=det.box[2],
                    y2=det.box[3],
                    landmarks=pack_landmarks(det.landmarks.tolist()),
                    landmark_scheme=det.scheme,
                    detector=f"tag:{region.source}",
                    det_score=1.0,
                )
                face.embeddings.append(Embedding(model_version_id=version_id, vector=to_bytes(vec)))
                faces.append(face)
            session.add_all(faces)
            session.flush()
            for i, face in zip(index, faces, strict=True):
                out[i] = face.id
        return out
