"""WIDER FACE parsing and detector metrics on hand-made boxes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facenet_core.evaluation.detection import (
    DetectionReport,
    MatchCounts,
    box_iou,
    evaluate_detector,
    greedy_match,
    match_image,
    parse_wider_annotations,
    select_evenly,
)
from facenet_core.imageio import ImageLoadError
from facenet_core.progress import CancelToken, Progress
from facenet_core.types import Detection

SAMPLE = """\
1--Handshaking/a.jpg
2
10 20 30 40 0 0 0 0 0 0
100 100 90 100 2 1 0 1 2 1
1--Handshaking/b.jpg
0
0 0 0 0 0 0 0 0 0 0
4--Dancing/c.jpg
1
5 5 50 20 1 0 1 0 0 0
"""


def test_parse_wider_annotations() -> None:
    images = parse_wider_annotations(SAMPLE)
    assert [image.path for image in images] == [
        "1--Handshaking/a.jpg",
        "1--Handshaking/b.jpg",
        "4--Dancing/c.jpg",
    ]
    first, second = images[0].faces
    assert first.box == (10, 20, 40, 60) and not first.invalid and first.size == 40
    assert second.box == (100, 100, 190, 200)
    assert second.invalid and second.blur == 2 and second.occlusion == 2 and second.pose == 1
    assert images[1].faces == ()
    assert images[2].faces[0].illumination == 1 and images[2].faces[0].size == 50


def test_parse_rejects_truncated_file() -> None:
    with pytest.raises(ValueError, match="announces 3 faces"):
        parse_wider_annotations("x/a.jpg\n3\n1 2 3 4 0 0 0 0 0 0\n", source="gt.txt")
    with pytest.raises(ValueError, match="face count"):
        parse_wider_annotations("x/a.jpg\nx/b.jpg\n")


def test_box_iou() -> None:
    iou = box_iou(
        np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    )
    np.testing.assert_allclose(iou, [[1.0, 50 / 150, 0.0]])
    assert box_iou(np.zeros((0, 4)), np.zeros((3, 4))).shape == (0, 3)


def test_greedy_match_takes_highest_iou_first() -> None:
    # Row 0 would grab column 0 if rows went in order; the best pair (1, 0) goes first instead.
    iou = np.array([[0.6, 0.55], [0.9, 0.1]])
    assert greedy_match(iou, 0.5) == [(1, 0), (0, 1)]
    assert greedy_match(iou, 0.58) == [(1, 0)]
    assert greedy_match(np.zeros((0, 2)), 0.5) == []


def test_match_image_recall_and_precision() -> None:
    truth = [
        (0, 0, 30, 30),  # 30 px: in neither recall class, but counts for precision
        (100, 0, 150, 50),  # 50 px: the >= 40 class
        (200, 0, 300, 100),  # 100 px: both classes
    ]
    detections = [
        (200, 0, 300, 100),  # exact: found
        (205, 5, 305, 105),  # duplicate of the same face: false positive
        (100, 0, 150, 30),  # IoU 0.6 with the 50 px face: found
        (0, 0, 30, 20),  # IoU 0.667 with the small face: true positive
        (500, 500, 540, 540),  # nothing there: false positive
    ]
    counts = match_image(truth, detections)
    assert counts == MatchCounts(
        faces_40=2,
        found_40=2,
        faces_80=1,
        found_80=1,
        detections=5,
        true_positives=3,
        ignored_detections=0,
    )
    assert counts.false_positives == 2


def test_recall_needs_iou_half_while_precision_accepts_0_4() -> None:
    truth = [(0, 0, 100, 100)]
    detection = [(0, 0, 100, 45)]  # IoU 0.45
    counts = match_image(truth, detection)
    assert (counts.faces_40, counts.found_40, counts.faces_80, counts.found_80) == (1, 0, 1, 0)
    assert (counts.detections, counts.true_positives) == (1, 1)
    assert match_image(truth, [(0, 0, 100, 35)]).true_positives == 0  # IoU 0.35


def test_invalid_faces_are_ignored_entirely() -> None:
    truth = [(0, 0, 100, 100), (200, 0, 300, 100)]
    counts = match_image(truth, [(200, 0, 300, 100)], invalid=[False, True])
    assert (counts.faces_40, counts.found_40) == (1, 0)
    assert (counts.detections, counts.true_positives, counts.ignored_detections) == (0, 0, 1)
    assert match_image(truth, [], invalid=[True, True]) == MatchCounts()
    with pytest.raises(ValueError, match="invalid flags"):
        match_image(truth, [], invalid=[True])


def test_no_truth_and_no_detections() -> None:
    assert match_image([], []) == MatchCounts()
    counts = match_image([], [(0, 0, 10, 10)])
    assert (counts.detections, counts.false_positives) == (1, 1)


def test_report_json_and_nan_for_empty_classes() -> None:
    report = DetectionReport(
        detector="x",
        images=3,
        counts=MatchCounts(faces_40=4, found_40=3, detections=5, true_positives=4),
        seconds=(0.3, 0.1, 0.2),
    )
    data = report.to_json_dict()
    assert list(data) == ["recall_40", "recall_80", "precision", "sec_per_image", "images"]
    assert data["recall_40"] == 0.75 and data["precision"] == 0.8
    assert data["sec_per_image"] == pytest.approx(0.2) and data["images"] == 3
    assert np.isnan(data["recall_80"])


def test_select_evenly() -> None:
    items = parse_wider_annotations(SAMPLE)
    assert select_evenly(items, None) == items
    assert [i.path for i in select_evenly(items, 2)] == [items[0].path, items[2].path]
    assert select_evenly(items, 10) == items


class _FakeDetector:
    """Returns fixed boxes per photo, looked up by the photo's width."""

    name = "fake"

    def __init__(self, boxes_by_width: dict[int, list[tuple[float, float, float, float]]]) -> None:
        self.boxes_by_width = boxes_by_width

    def detect(self, image: np.ndarray) -> list[Detection]:
        assert image.dtype == np.uint8 and image.shape[2] == 3
        return [
            Detection(box=box, score=0.9, landmarks=np.zeros((5, 2), np.float32), scheme="mtcnn5")
            for box in self.boxes_by_width[image.shape[1]]
        ]


def test_evaluate_detector_end_to_end(tmp_path: Path) -> None:
    images = tmp_path / "images"
    (images / "ev").mkdir(parents=True)
    cv2.imwrite(str(images / "ev" / "one.jpg"), np.zeros((200, 300, 3), np.uint8))
    cv2.imwrite(str(images / "ev" / "two.jpg"), np.zeros((200, 400, 3), np.uint8))
    truth = tmp_path / "gt.txt"
    truth.write_text(
        "ev/one.jpg\n2\n10 10 50 50 0 0 0 0 0 0\n100 10 90 90 0 0 0 0 0 0\n"
        "ev/two.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n"
    )
    detector = _FakeDetector({300: [(10, 10, 60, 60)], 400: [(0, 0, 20, 20)]})
    seen: list[tuple[int, int]] = []
    report = evaluate_detector(
        detector, images, truth, reporter=lambda e: seen.append((e.done, e.total))
    )
    assert seen == [(1, 2), (2, 2)]
    assert report.images == 2 and report.detector == "fake"
    assert report.recall_40 == 0.5 and report.recall_80 == 0.0 and report.precision == 0.5
    assert len(report.seconds) == 2 and report.sec_per_image >= 0
    assert evaluate_detector(detector, images, truth, limit=1).images == 1


def test_evaluate_detector_names_missing_photo(tmp_path: Path) -> None:
    truth = tmp_path / "gt.txt"
    truth.write_text("ev/none.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n")
    with pytest.raises(ImageLoadError, match=r"none\.jpg: file not found"):
        evaluate_detector(_FakeDetector({}), tmp_path, truth)


def test_a_cancelled_detector_evaluation_returns_the_photos_scored_so_far(tmp_path: Path) -> None:
    """The one cancellation convention: the job stops on request and says so in its result;
    ``Cancelled`` never escapes it."""
    images = tmp_path / "images"
    (images / "ev").mkdir(parents=True)
    for name in ("one", "two", "three"):
        cv2.imwrite(str(images / "ev" / f"{name}.jpg"), np.zeros((200, 300, 3), np.uint8))
    truth = tmp_path / "gt.txt"
    truth.write_text(
        "".join(f"ev/{name}.jpg\n1\n10 10 50 50 0 0 0 0 0 0\n" for name in ("one", "two", "three"))
    )
    cancel = CancelToken()

    def stop_after_first(event: Progress) -> None:
        cancel.cancel()

    detector = _FakeDetector({300: [(10, 10, 60, 60)]})
    report = evaluate_detector(detector, images, truth, reporter=stop_after_first, cancel=cancel)
    assert report.cancelled and report.images == 1 and len(report.seconds) == 1
    assert report.recall_40 == 1.0
    assert not evaluate_detector(detector, images, truth).cancelled
