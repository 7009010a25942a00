"""The batched (GPU) scan pipeline, run on CPU tensors: the same faces, chips and embeddings as
the per-photo path; alignment on a torch device against OpenCV's."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from facenet_core.geometry import similarity_transform, similarity_transforms
from facenet_core.imageio import load_image
from facenet_core.vision.align import (
    MTCNN_TEMPLATE,
    YUNET_TEMPLATE,
    face_chip,
    pyr_down,
    template_chips_tensor,
)
from facenet_core.vision.batched import BatchedFaceFinder, uses_batched_pipeline
from facenet_core.vision.detectors import DetectorConfig, YunetDetector
from facenet_core.vision.faces import FaceJob, find_faces

WIDER = Path.home() / "datasets" / "wider-train" / "images"


@pytest.fixture(scope="module")
def detector() -> YunetDetector:
    return YunetDetector(device="cpu")


def test_batched_similarity_transforms_equal_umeyama() -> None:
    rng = np.random.default_rng(3)
    points = MTCNN_TEMPLATE[None] * rng.uniform(0.3, 4.0, (40, 1, 1))
    points = points + rng.normal(0, 4, (40, 5, 2)) + rng.uniform(-900, 900, (40, 1, 2))
    points[:8] = points[:8] @ np.array([[0.0, 1.0], [-1.0, 0.0]])  # faces on their side
    many = similarity_transforms(points, YUNET_TEMPLATE)
    one = np.stack([similarity_transform(p, YUNET_TEMPLATE) for p in points])
    np.testing.assert_allclose(many, one, atol=1e-9)


def test_pyr_down_is_opencvs(lfw_images: list[Path]) -> None:
    image = load_image(lfw_images[5])
    odd = np.ascontiguousarray(image[:247, :231])  # odd sides take the other border branch
    for array in (image, odd):
        ours = pyr_down(torch.from_numpy(array.copy()).permute(2, 0, 1).float())
        expected = cv2.pyrDown(array)
        np.testing.assert_array_equal(ours.permute(1, 2, 0).numpy().astype(np.uint8), expected)


def test_device_chips_match_the_cpu_chips(detector: YunetDetector, lfw_images: list[Path]) -> None:
    """Faces of every size, including large ones that dlib's rule shrinks first (pyramid)."""
    compared = 0
    for path in lfw_images[:10]:
        image = load_image(path)
        for scale in (1.0, 5.0):  # at 5x the face is ~500 px: two halvings before the warp
            photo = image if scale == 1.0 else cv2.resize(image, None, fx=scale, fy=scale)
            faces = detector.detect(photo)
            if not faces:
                continue
            cpu = np.stack([face_chip(photo, f) for f in faces]).astype(np.float32)
            landmarks = np.stack([f.landmarks for f in faces])
            tensor = torch.from_numpy(photo.copy()).permute(2, 0, 1)
            device = template_chips_tensor(tensor, landmarks, YUNET_TEMPLATE)
            difference = np.abs(cpu - device.permute(0, 2, 3, 1).numpy())
            assert difference.max() <= 1.0, path.name  # float rounding at a .5 boundary
            assert difference.mean() < 0.01, path.name
            compared += len(faces)
    assert compared >= 18


def _folder(tmp_path: Path, lfw_images: list[Path]) -> list[Path]:
    photos = [*lfw_images[:7], *sorted(WIDER.glob("*/*.jpg"))[::300][:3]]
    folder = tmp_path / "photos"
    folder.mkdir()
    paths = []
    for i, source in enumerate(photos):
        target = folder / f"{i:02d}.jpg"
        shutil.copyfile(source, target)
        paths.append(target)
    broken = folder / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    paths.insert(3, broken)
    return paths


@pytest.mark.slow
def test_batched_pipeline_finds_the_per_photo_faces(
    tmp_path: Path, lfw_images: list[Path], detector: YunetDetector, embedder
) -> None:
    paths = _folder(tmp_path, lfw_images)
    job = FaceJob(
        detector=DetectorConfig(name="yunet", device="cpu"), reduce_jpeg=True, thumbnails=True
    )
    one_by_one = list(find_faces(paths, job, workers=0, detector=detector))
    finder = BatchedFaceFinder(job, detector, embedder, workers=2, photo_batch=3, embed_batch=5)
    batched = list(finder(iter(paths)))
    assert [r.path for r in batched] == paths  # in input order
    faces = 0
    for alone, together in zip(one_by_one, batched, strict=True):
        assert (alone.error is None) == (together.error is None), alone.path
        if alone.error is not None:
            assert together.error == alone.error  # the broken file, with its reason
            continue
        assert (together.width, together.height) == (alone.width, alone.height)
        assert len(together.detections) == len(alone.detections)
        for a, b in zip(alone.detections, together.detections, strict=True):
            np.testing.assert_allclose(a.box, b.box, atol=1e-3)
            np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-3)
        assert together.embeddings is not None
        assert together.embeddings.shape == (len(alone.detections), 128)
        assert len(together.thumbnails) == len(alone.detections)
        if len(alone.chips):
            expected = embedder.embed(alone.chips)
            assert np.abs(expected - together.embeddings).max() < 2e-3
        faces += len(alone.detections)
    assert faces >= 9
    assert sum(r.error is not None for r in batched) == 1


def test_the_batched_pipeline_is_for_yunet_off_the_cpu() -> None:
    assert not uses_batched_pipeline(DetectorConfig(name="yunet", device="cpu"))
    assert not uses_batched_pipeline(DetectorConfig(name="mtcnn", device="cpu"))
    if torch.cuda.is_available():
        assert uses_batched_pipeline(DetectorConfig(name="yunet", device="cuda"))


@pytest.mark.slow
def test_batched_pipeline_runs_the_fused_model(
    tmp_path: Path, lfw_images: list[Path], detector: YunetDetector
) -> None:
    """The device path of the accurate model: ArcFace chips warped on the device beside
    today's, both networks in the embedding call; the same fused vectors as the per-photo path
    (within the device warp's one grey level)."""
    from facenet_core.models.registry import fused_info
    from facenet_core.vision.embed import FusedEmbedder

    fused = FusedEmbedder(fused_info(), device="cpu", flip=False, precision="fp32")
    paths = _folder(tmp_path, lfw_images)[:4]
    config = DetectorConfig(name="yunet", device="cpu")
    job = FaceJob(detector=config, reduce_jpeg=True, arcface=True)
    one_by_one = list(find_faces(paths, job, workers=0, detector=detector))
    finder = BatchedFaceFinder(job, detector, fused, workers=1, photo_batch=2, embed_batch=3)
    faces = 0
    for alone, together in zip(one_by_one, finder(iter(paths)), strict=True):
        if alone.error is not None or not len(alone.chips):
            continue
        assert together.embeddings is not None and together.embeddings.shape[1] == 256
        expected = fused.embed(alone.chips, alone.arcface_chips)
        assert np.abs(expected - together.embeddings).max() < 5e-3
        faces += len(alone.chips)
    assert faces >= 2
