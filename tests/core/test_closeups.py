"""Close-up portraits: a face filling most of the frame, its chin cut by the border, is found
(the level rules once lost it between two levels), and the second look finds no face where
there is none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from facenet_core.evaluation.detection import box_iou
from facenet_core.imageio import load_image
from facenet_core.types import Box
from facenet_core.vision.detectors import DetectorConfig, YunetDetector, make_detector


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def detector():
    """The default detector (YuNet with O-Net's points), as a scan makes it."""
    return make_detector(DetectorConfig(device="cpu"))


def close_up(image: np.ndarray, box: Box, size: tuple[int, int], fill: float, chin: float):
    """``image`` enlarged so that the face ``box`` is ``fill`` of the frame's height, centred
    sideways, its lower ``chin`` (share of the box height) cut by the bottom border; edge pixels
    repeated beyond the photo. Returns the frame and the face's box in it (clipped)."""
    width, height = size
    x1, y1, x2, y2 = box
    scale = fill * height / (y2 - y1)
    big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    left = round((x1 + x2) / 2 * scale - width / 2)
    top = round(y2 * scale - chin * (y2 - y1) * scale - height)
    rows = np.clip(np.arange(top, top + height), 0, big.shape[0] - 1)
    cols = np.clip(np.arange(left, left + width), 0, big.shape[1] - 1)
    frame = np.ascontiguousarray(big[rows][:, cols])
    expected = (
        max(x1 * scale - left, 0.0),
        max(y1 * scale - top, 0.0),
        min(x2 * scale - left, float(width)),
        min(y2 * scale - top, float(height)),
    )
    return frame, expected


@pytest.mark.parametrize(
    "name", ["Jacques_Chirac/Jacques_Chirac_0008.jpg", "Bill_Gates/Bill_Gates_0006.jpg"]
)
def test_a_close_up_with_its_chin_cut_is_found(detector, lfw_mini: Path, name: str) -> None:
    """A 665 x 443 frame, the face 70% of its height, 6% of it cut: at the first level (0.75)
    YuNet's box of it is 240 px or more, handed on; on the quarter level below 60 px, dropped.
    It was lost between the two."""
    image = load_image(lfw_mini / "images" / name)
    faces = YunetDetector(device="cpu").detect(image)
    assert faces, "the face of the original 250 x 250 photo"
    face = max(faces, key=lambda d: d.width)
    frame, expected = close_up(image, face.box, (665, 443), fill=0.7, chin=0.06)
    found = detector.detect(frame)
    assert found, "no face in the close-up"
    iou = box_iou(np.array([expected]), np.array([d.box for d in found]))[0]
    assert iou.max() >= 0.5, f"best IoU {iou.max():.2f} with the expected box"


@pytest.mark.parametrize("size", [(665, 443), (340, 500), (1280, 1740)])
def test_blank_and_noise_photos_have_no_face(
    detector, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    """Nothing is found on the levels, so each photo gets the second look, which finds
    nothing either."""
    yunet = detector.yunet
    looks: list[int] = []

    def second_look(photos, found):
        result = YunetDetector.second_look(yunet, photos, found)
        looks.append(-1 if result is None else int(result.scores.shape[0]))
        return result

    monkeypatch.setattr(yunet, "second_look", second_look)
    width, height = size
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    smooth = cv2.GaussianBlur(noise, (0, 0), 8)  # blobs of the size of a close-up's features
    for image in (np.full((height, width, 3), 128, np.uint8), noise, smooth):
        assert detector.detect(image) == []
    assert looks == [0, 0, 0], "a second look ran on each photo and found no face"
