"""YuNet's boxes with MTCNN's O-Net points (the default ``--landmarks onet``) and with dlib's
5 points: where the points land on real faces, the settings that pick them, the calibration key,
and the batched (GPU) pipeline running O-Net on the device."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from facenet_core import calibration
from facenet_core.imageio import load_image
from facenet_core.settings import Settings
from facenet_core.types import Detection
from facenet_core.vision.batched import BatchedFaceFinder, uses_batched_pipeline
from facenet_core.vision.detectors import (
    DetectorConfig,
    MtcnnDetector,
    MtcnnDlib5Detector,
    YunetDetector,
    YunetOnetDetector,
    make_detector,
)
from facenet_core.vision.detectors.mtcnn import crop_patches, mtcnn_weights_dir
from facenet_core.vision.detectors.yunet_onet import crop_region, onet_boxes
from facenet_core.vision.faces import FaceJob, find_faces
from tests.helpers import files_installed

pytestmark = [
    pytest.mark.skipif(
        not files_installed(lambda: [mtcnn_weights_dir() / "onet.lz4"]),
        reason="the 'mtcnn' wheel (O-Net's weights) is not installed",
    ),
    pytest.mark.usefixtures("one_torch_thread"),
]


@pytest.fixture(scope="module")
def yunet() -> YunetDetector:
    return YunetDetector(device="cpu")


@pytest.fixture(scope="module")
def refined(yunet: YunetDetector) -> YunetOnetDetector:
    return YunetOnetDetector(yunet)


def _central(faces: list[Detection], image: np.ndarray) -> Detection:
    cy, cx = image.shape[0] / 2, image.shape[1] / 2
    return min(faces, key=lambda d: (d.center[0] - cx) ** 2 + (d.center[1] - cy) ** 2)


def test_onet_points_in_yunet_boxes_land_on_mtcnns_points(
    lfw_images: list[Path], yunet: YunetDetector, refined: YunetOnetDetector
) -> None:
    """The reason for the default: O-Net in YuNet's box finds the points MTCNN finds for the
    same face (well within YuNet's own offsets from them), so MTCNN's template fits them."""
    mtcnn = MtcnnDetector(device="cpu")
    onet_error, yunet_error = [], []
    for path in lfw_images[:12]:
        image = load_image(path)
        mine, theirs, own = refined.detect(image), mtcnn.detect(image), yunet.detect(image)
        if not (mine and theirs and own):
            continue
        face, reference = _central(mine, image), _central(theirs, image)
        assert face.scheme == "mtcnn5"
        assert face.box == _central(own, image).box  # YuNet's box and score are kept
        onet_error.append(np.linalg.norm(face.landmarks - reference.landmarks, axis=1).mean())
        yunet_error.append(
            np.linalg.norm(_central(own, image).landmarks - reference.landmarks, axis=1).mean()
        )
    assert len(onet_error) >= 10
    assert np.median(onet_error) < 1.6  # pixels; about 1 measured
    assert np.median(onet_error) < 0.6 * np.median(yunet_error)  # YuNet's own: about 3


def test_onet_box_is_a_square_around_yunets_face() -> None:
    boxes = torch.tensor([[100.0, 50.0, 175.5, 150.0]])  # 75.5 x 100, YuNet's usual shape
    square = onet_boxes(boxes)[0]
    side = float(square[2] - square[0])
    assert side == pytest.approx(float(square[3] - square[1]))
    assert side == pytest.approx(93.0, abs=1e-4)
    assert float(square[0] + square[2]) / 2 == pytest.approx(137.75 - 0.024 * 75.5, abs=1e-4)


def test_no_faces_no_work(refined: YunetOnetDetector) -> None:
    assert refined.detect(np.zeros((64, 80, 3), np.uint8)) == []
    assert refined.refine(np.zeros((64, 80, 3), np.uint8), []) == []


def test_yunet_with_dlib5_points_match_hogs(
    lfw_images: list[Path], yunet: YunetDetector, hog
) -> None:
    """dlib's predictor in the HOG-equivalent of YuNet's box finds HOG's own points."""
    detector = make_detector(DetectorConfig(name="yunet", landmarks="dlib5", device="cpu"))
    assert isinstance(detector, MtcnnDlib5Detector) and detector.name == "yunet"
    errors = []
    for path in lfw_images[:8]:
        image = load_image(path)
        mine, theirs = detector.detect(image), hog.detect(image)
        if not (mine and theirs):
            continue
        face, reference = _central(mine, image), _central(theirs, image)
        assert face.scheme == "dlib5"
        errors.append(np.linalg.norm(face.landmarks - reference.landmarks, axis=1).mean())
    assert len(errors) >= 6
    assert np.median(errors) < 2.0


def test_the_default_is_yunet_with_onet_points_and_is_calibrated() -> None:
    settings = Settings()
    assert settings.landmarks == "onet"
    config = DetectorConfig.from_settings(settings)
    assert config.alignment == "yunet-onet"
    assert isinstance(make_detector(DetectorConfig(name="yunet", device="cpu")), YunetOnetDetector)
    native = DetectorConfig.from_settings(settings.replace(landmarks="native"))
    assert native.alignment == "yunet"
    plain = make_detector(DetectorConfig(name="yunet", landmarks="native", device="cpu"))
    assert type(plain) is YunetDetector
    # MTCNN's own points are O-Net's: one alignment whichever of the two is chosen
    for landmarks in ("onet", "native"):
        mtcnn = settings.replace(detector="mtcnn", landmarks=landmarks)
        assert DetectorConfig.from_settings(mtcnn).alignment == "mtcnn"
    assert DetectorConfig(name="yunet", landmarks="dlib5").alignment == "yunet-dlib5"
    # the default's own thresholds, not a neighbour's fallback
    for flip in (True, False):
        entry = calibration.CALIBRATIONS[("dlib-resnet-v1", "yunet-onet", flip)]
        found = calibration.thresholds("dlib-resnet-v1@abc", "yunet-onet", flip)
        assert found == (entry.accuracy, entry.far_1e3)
        assert 0.1 < entry.far_1e3 < entry.accuracy < 0.25
    assert calibration.thresholds("dlib-resnet-v1", "yunet", True) != calibration.thresholds(
        "dlib-resnet-v1", "mtcnn", True
    )


def test_the_batched_pipeline_takes_onet_points_but_not_dlibs() -> None:
    assert not uses_batched_pipeline(DetectorConfig(name="yunet", landmarks="dlib5", device="cpu"))
    if torch.cuda.is_available():
        assert uses_batched_pipeline(DetectorConfig(name="yunet", device="cuda"))
        assert not uses_batched_pipeline(
            DetectorConfig(name="yunet", landmarks="dlib5", device="cuda")
        )


@pytest.mark.slow
def test_batched_pipeline_refines_like_the_per_photo_path(
    tmp_path: Path, lfw_images: list[Path], refined: YunetOnetDetector, embedder
) -> None:
    """O-Net on the device tensor (the GPU scan) gives the per-photo path's points and chips."""
    paths = []
    for i, source in enumerate(lfw_images[:5]):
        paths.append(tmp_path / f"{i}.jpg")
        shutil.copyfile(source, paths[-1])
    job = FaceJob(detector=DetectorConfig(name="yunet", device="cpu"), reduce_jpeg=True)
    one_by_one = list(find_faces(paths, job, workers=0, detector=refined))
    finder = BatchedFaceFinder(job, refined, embedder, workers=1, photo_batch=2, embed_batch=3)
    faces = 0
    for alone, together in zip(one_by_one, finder(iter(paths)), strict=True):
        assert len(together.detections) == len(alone.detections) > 0
        for a, b in zip(alone.detections, together.detections, strict=True):
            assert a.scheme == b.scheme == "mtcnn5"
            np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-3)
        assert together.embeddings is not None
        assert np.abs(embedder.embed(alone.chips) - together.embeddings).max() < 2e-3
        faces += len(alone.detections)
    assert faces >= 5


def test_crops_from_the_faces_region_equal_crops_from_the_whole_photo() -> None:
    """O-Net reads only the part of the photo around the faces (speed), with the samples the
    whole photo gives, edges of the photo included (outside is mid grey)."""
    rng = np.random.default_rng(0)
    for _ in range(60):
        height, width = (int(v) for v in rng.integers(40, 500, 2))
        pixels = torch.from_numpy(rng.integers(0, 256, (height, width, 3)).astype(np.uint8))
        centres = rng.uniform(-40, [width + 40, height + 40], (3, 2))
        half = rng.uniform(3, 150, (3, 1)) * np.array([0.75, 1.0])
        squares = onet_boxes(torch.tensor(np.hstack([centres - half, centres + half])).float())
        whole = ((pixels.float() - 127.5) / 128).permute(2, 0, 1)[None]
        x0, y0, x1, y1 = crop_region(squares, height, width)
        region = whole[:, :, y0 : y1 + 1, x0 : x1 + 1]
        expected = crop_patches(whole, squares, 48)
        found = crop_patches(region, squares, 48, (x0, y0), (height, width))
        assert (found - expected).abs().max() < 1e-3
