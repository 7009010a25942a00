"""MTCNN rebuilt from the ``mtcnn`` wheel's weights: loading, conventions, geometry, real faces."""

from __future__ import annotations

import hashlib
import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import facenet_core.vision.detectors.mtcnn as mtcnn_module
from facenet_core.evaluation.detection import box_iou
from facenet_core.models.files import WeightsIntegrityError
from facenet_core.vision.detectors.mtcnn import (
    WEIGHT_SHA256,
    MtcnnDetector,
    MtcnnNetworks,
    ONet,
    PNet,
    RNet,
    build_mtcnn_networks,
    crop_patches,
    load_keras_arrays,
    load_weight_arrays,
    mtcnn_weights_dir,
    nms,
    pyramid_scales,
    to_network_input,
)
from tests.helpers import assert_batch_finds_what_one_at_a_time_finds, files_installed

LFW_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "lfw-mini"


WEIGHTS_INSTALLED = files_installed(
    lambda: [mtcnn_weights_dir() / f"{name}.lz4" for name in WEIGHT_SHA256]
)
pytestmark = pytest.mark.usefixtures("one_torch_thread")
needs_weights = pytest.mark.skipif(
    not WEIGHTS_INSTALLED,
    reason="the 'mtcnn' wheel (weights only) is not installed",
)


@pytest.fixture(scope="module")
def lfw_images() -> list[np.ndarray]:
    """The first 20 LFW images (250 x 250, one aligned face each), as RGB."""
    folder = LFW_DIR / "images"
    if not folder.is_dir():
        pytest.skip(f"LFW test images not found at {folder} (shared datasets not staged)")
    paths = sorted(folder.glob("*/*.jpg"))[:20]
    if len(paths) < 20:
        pytest.skip(f"fewer than 20 LFW images in {folder}")
    images = []
    for path in paths:
        bgr = cv2.imread(str(path))
        assert bgr is not None, path
        images.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return images


@pytest.fixture(scope="module")
def networks() -> Iterator[MtcnnNetworks]:
    if not WEIGHTS_INSTALLED:
        pytest.skip("the 'mtcnn' wheel (weights only) is not installed")
    yield build_mtcnn_networks(device="cpu")


@pytest.fixture(scope="module")
def detector(networks: MtcnnNetworks) -> MtcnnDetector:
    return MtcnnDetector(networks=networks)


# -- weights ------------------------------------------------------------------------------------


@needs_weights
def test_recorded_sha256_matches_installed_files() -> None:
    for name, expected in WEIGHT_SHA256.items():
        data = (mtcnn_weights_dir() / f"{name}.lz4").read_bytes()
        assert hashlib.sha256(data).hexdigest() == expected


@needs_weights
def test_tampered_weight_file_is_rejected(tmp_path: Path) -> None:
    for name in WEIGHT_SHA256:
        shutil.copy(mtcnn_weights_dir() / f"{name}.lz4", tmp_path / f"{name}.lz4")
    assert len(load_weight_arrays("rnet", tmp_path)) == 16  # an intact copy loads

    target = tmp_path / "rnet.lz4"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))

    with pytest.raises(WeightsIntegrityError, match=r"rnet\.lz4"):
        load_weight_arrays("rnet", tmp_path)
    with pytest.raises(WeightsIntegrityError):
        build_mtcnn_networks(tmp_path, device="cpu")


def test_missing_weight_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"mtcnn==1\.0\.0"):
        load_weight_arrays("pnet", tmp_path)


def test_network_shapes() -> None:
    with torch.inference_mode():
        regression, probability = PNet().eval()(torch.zeros(2, 3, 12, 12))
        assert regression.shape == (2, 4, 1, 1) and probability.shape == (2, 1, 1)
        regression, probability = PNet().eval()(torch.zeros(1, 3, 31, 40))
        # conv 3 -> 29 x 38, ceil pool -> 15 x 19, two convs -> 11 x 15
        assert regression.shape == (1, 4, 11, 15) and probability.shape == (1, 11, 15)
        regression, probability = RNet().eval()(torch.zeros(3, 3, 24, 24))
        assert regression.shape == (3, 4) and probability.shape == (3,)
        regression, landmarks, probability = ONet().eval()(torch.zeros(3, 3, 48, 48))
        assert regression.shape == (3, 4) and landmarks.shape == (3, 10)
        assert probability.shape == (3,)


@needs_weights
def test_heads_are_mapped_by_shape_not_position() -> None:
    arrays = load_weight_arrays("onet")
    trunk, heads = arrays[:15], arrays[15:]
    pairs = [heads[i : i + 2] for i in range(0, len(heads), 2)]
    shuffled = trunk + [a for pair in reversed(pairs) for a in pair]
    reference, other = ONet().eval(), ONet().eval()
    load_keras_arrays(reference, arrays)
    load_keras_arrays(other, shuffled)
    x = torch.randn(4, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        for a, b in zip(reference(x), other(x), strict=True):
            torch.testing.assert_close(a, b)


@needs_weights
def test_wrong_arrays_are_refused() -> None:
    arrays = load_weight_arrays("rnet")
    with pytest.raises(ValueError):
        load_keras_arrays(ONet(), arrays)
    with pytest.raises(ValueError):
        load_keras_arrays(RNet(), arrays[:-2])


# -- input convention on real faces ----------------------------------------------------------------


def _jittered_face_crops(images: list[np.ndarray], size: int) -> np.ndarray:
    """Square crops around the (centred) LFW face, jittered in place and scale like the
    candidates P-Net and R-Net pass on; outside the photo is mid grey."""
    rng = np.random.default_rng(0)
    crops = []
    for image in images:
        padded = np.pad(image, ((200, 200), (200, 200), (0, 0)), constant_values=128)
        for _ in range(5):
            side = 110 * rng.uniform(0.7, 1.5)
            cx = 125 + rng.uniform(-0.15, 0.15) * side
            cy = 125 + rng.uniform(-0.15, 0.15) * side
            x, y, s = int(cx - side / 2) + 200, int(cy - side / 2) + 200, int(side)
            patch = padded[y : y + s, x : x + s]
            crops.append(cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA))
    return np.stack(crops)


def _mean_face_probability(net: RNet | ONet, crops: np.ndarray) -> float:
    with torch.inference_mode():
        return float(net(to_network_input(crops))[-1].mean())


@pytest.mark.parametrize("stage", ["rnet", "onet"])
def test_input_convention_on_real_faces(
    stage: str, networks: MtcnnNetworks, lfw_images: list[np.ndarray]
) -> None:
    """RGB, (pixel - 127.5) / 128, not transposed: BGR costs a little, transposing a lot."""
    net = networks.rnet if stage == "rnet" else networks.onet
    crops = _jittered_face_crops(lfw_images, 24 if stage == "rnet" else 48)
    correct = _mean_face_probability(net, crops)
    bgr = _mean_face_probability(net, crops[..., ::-1])
    transposed = _mean_face_probability(net, crops.transpose(0, 2, 1, 3))
    assert correct > 0.85
    assert bgr < correct - 0.02
    assert transposed < correct - 0.25


@pytest.mark.parametrize("stage", ["rnet", "onet"])
def test_flatten_order_is_width_height_channels(
    stage: str,
    networks: MtcnnNetworks,
    lfw_images: list[np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    net = networks.rnet if stage == "rnet" else networks.onet
    crops = _jittered_face_crops(lfw_images, 24 if stage == "rnet" else 48)
    correct = _mean_face_probability(net, crops)
    monkeypatch.setattr(
        mtcnn_module, "_flatten_whc", lambda x: x.permute(0, 2, 3, 1).flatten(1)
    )  # height, width, channels: the quiet mistake
    assert _mean_face_probability(net, crops) < correct - 0.04


# -- geometry ------------------------------------------------------------------------------------


def test_pyramid_honours_min_face_size() -> None:
    scales = pyramid_scales(250, 400, min_face_size=40)
    assert scales[0] == pytest.approx(12 / 40)
    assert all(b == pytest.approx(a * 0.709) for a, b in itertools.pairwise(scales))
    assert 250 * scales[-1] >= 12 > 250 * scales[-1] * 0.709
    assert len(pyramid_scales(250, 400, min_face_size=100)) < len(scales)
    assert pyramid_scales(1000, 1000, min_face_size=300)  # no level-count bug for big minimums
    assert pyramid_scales(30, 30, min_face_size=40) == []


def _reference_crop(image: np.ndarray, box: tuple[float, ...], size: int) -> np.ndarray:
    """TensorFlow ``crop_and_resize`` on a box divided by the image size, written out plainly."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = (box[0] / width, box[1] / height, box[2] / width, box[3] / height)
    out = np.zeros((size, size, image.shape[2]))
    for i in range(size):
        in_y = y1 * (height - 1) + i * (y2 - y1) * (height - 1) / (size - 1)
        for j in range(size):
            in_x = x1 * (width - 1) + j * (x2 - x1) * (width - 1) / (size - 1)
            if not (0 <= in_y <= height - 1 and 0 <= in_x <= width - 1):
                continue
            top, left = int(np.floor(in_y)), int(np.floor(in_x))
            bottom, right = min(top + 1, height - 1), min(left + 1, width - 1)
            fy, fx = in_y - top, in_x - left
            upper = image[top, left] * (1 - fx) + image[top, right] * fx
            lower = image[bottom, left] * (1 - fx) + image[bottom, right] * fx
            out[i, j] = upper * (1 - fy) + lower * fy
    return out


def test_crops_follow_the_reference_geometry() -> None:
    rng = np.random.default_rng(1)
    image = rng.normal(size=(37, 53, 3)).astype(np.float32)
    boxes = [(3.2, 4.7, 20.9, 30.1), (-6.0, -3.9, 15.0, 17.5), (40.3, 25.0, 70.0, 54.7)]
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None]
    patches = crop_patches(tensor, torch.tensor(boxes, dtype=torch.float32), 7)
    for patch, box in zip(patches, boxes, strict=True):
        expected = _reference_crop(image, box, 7)
        np.testing.assert_allclose(patch.permute(1, 2, 0).numpy(), expected, atol=1e-4)


def test_greedy_and_package_nms_differ_on_chains() -> None:
    # B overlaps A, C overlaps B but not A: greedy keeps C (its suppressor B was dropped);
    # the wheel's rule drops C because a better box (B) overlaps it.
    boxes = torch.tensor([[0, 0, 10, 10], [4, 0, 14, 10], [8, 0, 18, 10]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.3, "union", "greedy").tolist() == [0, 2]
    assert nms(boxes, scores, 0.3, "union", "package").tolist() == [0]
    # Intersection over the smaller box: a box inside another is suppressed.
    nested = torch.tensor([[0, 0, 20, 20], [2, 2, 8, 8]], dtype=torch.float32)
    assert nms(nested, torch.tensor([0.9, 0.95]), 0.7, "min", "greedy").tolist() == [1]
    assert nms(nested, torch.tensor([0.9, 0.95]), 0.7, "union", "greedy").tolist() == [1, 0]


# -- the detector on real faces --------------------------------------------------------------------


def test_one_dominant_central_face_per_lfw_photo(
    detector: MtcnnDetector, lfw_images: list[np.ndarray]
) -> None:
    for image in lfw_images:
        faces = detector.detect(image)
        assert faces, "no face found in an LFW photo"
        assert [f.score for f in faces] == sorted((f.score for f in faces), reverse=True)
        large = [f for f in faces if f.width >= 60]
        assert len(large) == 1
        face = large[0]
        assert face.score > 0.95
        cx, cy = face.center
        assert abs(cx - 125) < 25 and abs(cy - 125) < 25
        assert 60 <= face.width <= 160 and 60 <= face.height <= 180
        assert face.scheme == "mtcnn5"


def test_landmarks_are_plausible(detector: MtcnnDetector, lfw_images: list[np.ndarray]) -> None:
    for image in lfw_images:
        face = detector.detect(image)[0]
        points = face.landmarks
        assert points.shape == (5, 2) and points.dtype == np.float32
        x1, y1, x2, y2 = face.box
        assert np.all((points[:, 0] > x1) & (points[:, 0] < x2))
        assert np.all((points[:, 1] > y1) & (points[:, 1] < y2))
        left_eye, right_eye, nose, mouth_left, mouth_right = points
        assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
        assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_detect_batch_equals_detect(detector: MtcnnDetector, lfw_images: list[np.ndarray]) -> None:
    images = list(lfw_images[:4])
    images.append(cv2.resize(lfw_images[4], (320, 410), interpolation=cv2.INTER_LINEAR))
    images.append(np.pad(lfw_images[5], ((30, 0), (0, 90), (0, 0)), constant_values=90))
    images.append(np.full((120, 160, 3), 128, dtype=np.uint8))  # no face at all
    batched = detector.detect_batch(images)
    assert len(batched) == len(images)
    assert batched[-1] == []
    assert_batch_finds_what_one_at_a_time_finds(detector, images, batched, 1e-2, 1e-4)


def test_max_side_reports_original_pixels(
    networks: MtcnnNetworks, lfw_images: list[np.ndarray]
) -> None:
    image = lfw_images[0]
    big = cv2.resize(image, (500, 500), interpolation=cv2.INTER_CUBIC)
    small_face = MtcnnDetector(networks=networks).detect(image)[0]
    shrunk = MtcnnDetector(networks=networks, max_side=250).detect(big)[0]
    np.testing.assert_allclose(shrunk.box, np.array(small_face.box) * 2, atol=6)
    np.testing.assert_allclose(shrunk.landmarks, small_face.landmarks * 2, atol=6)


def test_fast_pyramid_finds_the_same_faces(
    networks: MtcnnNetworks, lfw_images: list[np.ndarray]
) -> None:
    exact = MtcnnDetector(networks=networks, min_face_size=20)
    fast = MtcnnDetector(networks=networks, min_face_size=20, fast_pyramid=True)
    for image in lfw_images[:5]:
        a, b = exact.detect(image)[0], fast.detect(image)[0]
        assert box_iou(np.array([a.box]), np.array([b.box]))[0, 0] > 0.8


def test_rejects_bad_input_and_settings(detector: MtcnnDetector) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        detector.detect(np.zeros((50, 50), dtype=np.uint8))
    with pytest.raises(ValueError, match="RGB uint8"):
        detector.detect(np.zeros((50, 50, 3), dtype=np.float32))
    with pytest.raises(ValueError):
        MtcnnDetector(networks=detector.networks, min_face_size=0)
    with pytest.raises(ValueError):
        MtcnnDetector(networks=detector.networks, nms="soft")  # type: ignore[arg-type]
    assert detector.detect_batch([]) == []
    assert detector.detect(np.zeros((8, 8, 3), dtype=np.uint8)) == []
