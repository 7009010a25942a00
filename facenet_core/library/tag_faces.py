"""Faces made from tag regions no detector found: a person tagged there is a face all the same.

A region that matches no stored face (a profile, a blurred or tiny face the detector missed, a
face another program's detector found) becomes a face of its own: dlib's 5 landmarks found in
the region's box, aligned and embedded with the library's active model like every other face,
stored with ``detector = "tag:<format>"`` (``tag:mwg``, ``tag:iptc``...) so that where it came
from stays visible, and a detection score of 1 (someone drew it). The scan's last step makes its
thumbnail.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from facenet_core.imageio import ImageLoadError, open_photo
from facenet_core.library.reembed import version_info
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
from facenet_core.vision.align import face_chip
from facenet_core.vision.engines import Engines, shared_engines
from facenet_core.vision.landmarks import LandmarkPredictor

MIN_SIDE = 12
"""Regions with a shorter side (pixels) are too small to align: left without a face."""


class TagFaceMaker:
    """Makes faces from regions; loads the landmark predictor and the embedder on first use."""

    def __init__(self, library: Library, settings: Settings, engines: Engines | None = None):
        self.library = library
        self.settings = settings
        self.engines = engines or shared_engines()
        self._predictor: LandmarkPredictor | None = None

    def make(self, photo_id: int, path: Path, regions: Sequence[TagRegion]) -> list[int | None]:
        """The new face id of each region (None where no face could be made)."""
        with self.library.session() as session:
            version = get_active_model_version(session)
            if version is None:  # never scanned: no model to embed with
                return [None] * len(regions)
            version_id = version.id
            model = version_info(version) if version.weights_path else None
        try:
            photo = open_photo(path)
        except ImageLoadError:
            return [None] * len(regions)
        image = photo.image
        height, width = image.shape[:2]
        if self._predictor is None:
            self._predictor = LandmarkPredictor()
        detections, chips, index = [], [], []
        for i, region in enumerate(regions):
            x1, y1, x2, y2 = region.box
            box = (max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2))
            if box[2] - box[0] < MIN_SIDE or box[3] - box[1] < MIN_SIDE:
                continue
            det = self._predictor.detection(image, box, 1.0)
            detections.append((region, det))
            chips.append(face_chip(image, det))
            index.append(i)
        out: list[int | None] = [None] * len(regions)
        if not chips:
            return out
        embedder = self.engines.embedder(self.settings, model)
        vectors = embedder.embed(np.stack(chips))
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
