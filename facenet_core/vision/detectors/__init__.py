"""Face detectors behind one small interface (:class:`FaceDetector`), built by
:func:`make_detector` from a :class:`DetectorConfig`.

- :mod:`.yunet`: YuNet in PyTorch, one pass per batch of photos (the default: see
  docs/benchmarks/2026-11-29-wider-detection.md);
- :mod:`.mtcnn`: MTCNN in PyTorch (P-Net, R-Net, O-Net cascade over an image pyramid);
- :mod:`.hog`: dlib's HOG detector with dlib's 5-point landmarks;
- :mod:`.mtcnn_dlib5`: MTCNN's (or YuNet's) boxes with dlib's landmarks;
- :mod:`.yunet_onet`: YuNet's boxes with MTCNN's O-Net points (``--landmarks onet``).
"""

from __future__ import annotations

from facenet_core.types import Detection
from facenet_core.vision.detectors.base import DetectorConfig, FaceDetector
from facenet_core.vision.detectors.hog import HogDetector
from facenet_core.vision.detectors.mtcnn import MtcnnDetector
from facenet_core.vision.detectors.mtcnn_dlib5 import YUNET_TO_HOG_BOX, MtcnnDlib5Detector
from facenet_core.vision.detectors.yunet import YunetDetector
from facenet_core.vision.detectors.yunet_onet import YunetOnetDetector

__all__ = [
    "Detection",
    "DetectorConfig",
    "FaceDetector",
    "HogDetector",
    "MtcnnDetector",
    "MtcnnDlib5Detector",
    "YunetDetector",
    "YunetOnetDetector",
    "make_detector",
]

DETECTORS = ("yunet", "mtcnn", "hog")


def make_detector(config: DetectorConfig) -> FaceDetector:
    """The detector named by ``config.name``, on the device the policy picks for it."""
    if config.name == "yunet":
        yunet = YunetDetector(
            config.score_threshold,
            min_face_size=config.min_face_size,
            max_side=config.max_side,
            device=config.device,
        )
        if config.landmarks == "dlib5":
            return MtcnnDlib5Detector(yunet, YUNET_TO_HOG_BOX, side_of="height")
        return YunetOnetDetector(yunet) if config.landmarks == "onet" else yunet
    if config.name == "hog":
        return HogDetector(config)
    if config.name == "mtcnn":
        mtcnn = MtcnnDetector(
            min_face_size=config.min_face_size,
            max_side=config.max_side,
            device=config.device,
            fast_pyramid=config.fast_pyramid,
        )
        if config.landmarks == "dlib5":
            return MtcnnDlib5Detector(mtcnn)
        return mtcnn
    raise ValueError(f"unknown detector {config.name!r}; choose one of {', '.join(DETECTORS)}")
