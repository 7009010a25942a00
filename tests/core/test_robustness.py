"""``eval-robustness`` (the paper's Table 4): the degradations really degrade, the all-pairs VAL
gives the known answer on hand-made embeddings, and the command runs end to end on real faces."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facenet_core.cli import main
from facenet_core.evaluation.robustness import (
    Condition,
    all_pairs_val,
    box_side,
    default_conditions,
    jpeg_bytes,
    resized_for_face,
    select_subset,
)
from facenet_core.imageio import open_photo
from facenet_core.settings import Settings


def test_conditions_parse_and_the_default_list_is_the_papers() -> None:
    assert Condition.parse("original") == Condition("original")
    assert Condition.parse("jpeg-20") == Condition("jpeg", 20)
    assert Condition.parse("size-120").name == "size-120"
    for bad in ("jpeg", "jpeg-0", "jpeg-96", "size-4", "blur-3", "size-x"):
        with pytest.raises(ValueError):
            Condition.parse(bad)
    names = [c.name for c in default_conditions()]
    assert names[0] == "original"
    assert [n for n in names if n.startswith("jpeg")] == [
        f"jpeg-{q}" for q in (10, 20, 30, 50, 70, 90)
    ]
    assert [n for n in names if n.startswith("size")] == [
        f"size-{n}" for n in (40, 60, 80, 120, 160)
    ]


def test_jpeg_reencoding_lowers_the_quality_it_is_asked_for(lfw_images: list[Path]) -> None:
    path = lfw_images[0]
    image = open_photo(path).image
    encoded = {q: jpeg_bytes(image, q) for q in (10, 50, 90)}
    assert all(data != path.read_bytes() for data in encoded.values())
    assert len(encoded[10]) < len(encoded[50]) < len(encoded[90])

    def dc_step(data: bytes) -> int:  # the luminance DC quantisation step the file carries
        with Image.open(io.BytesIO(data)) as img:
            assert img.format == "JPEG" and img.size == (image.shape[1], image.shape[0])
            return int(img.quantization[0][0])  # type: ignore[attr-defined]

    # the IJG quality scaling of the standard table's DC step (16): 16 * 5000 / q for q < 50,
    # 16 * (200 - 2q) / 100 above, rounded: so each file was encoded at the quality asked
    assert {q: dc_step(d) for q, d in encoded.items()} == {10: 80, 50: 16, 90: 3}
    err = {
        q: np.abs(np.asarray(Image.open(io.BytesIO(d)), np.float64) - image).mean()
        for q, d in encoded.items()
    }
    assert err[10] > err[50] > err[90] > 0


def test_shrinking_gives_the_face_size_asked(lfw_images: list[Path]) -> None:
    """Detected again in the resized photo, the face's box side is the size asked (10%)."""
    from facenet_core.vision.engines import shared_engines

    engines = shared_engines()
    detector = engines.detector(engines.detector_config(Settings(detector="yunet", device="cpu")))
    checked = 0
    for path in lfw_images[:3]:
        image = open_photo(path).image
        faces = detector.detect(image)
        if not faces:
            continue
        centre = np.array(image.shape[1::-1]) / 2
        face = min(faces, key=lambda d: float(np.sum((np.array(d.center) - centre) ** 2)))
        for target in (60, 160):
            small = resized_for_face(image, box_side(face.box), target)
            assert small.shape[0] == round(image.shape[0] * target / box_side(face.box))
            again = detector.detect(small)
            assert again, f"{path.name}: no face at {target} px"
            side = max(box_side(d.box) for d in again)
            assert side == pytest.approx(target, rel=0.10)
        checked += 1
    assert checked >= 2


def test_all_pairs_val_on_hand_made_embeddings() -> None:
    """1-D points: A at 0 and 0.1, B at 1.0 and 1.95, C at 3. Positives: A (0.01), B (0.9025);
    the 8 negatives' smallest squared distances are 0.81 (A1-B0) and 1.0 (A0-B0)."""
    emb = np.array([[0.0], [0.1], [1.0], [1.95], [3.0]])
    labels = np.array(["A", "A", "B", "B", "C"])
    strict = all_pairs_val(emb, labels, far=1e-3)  # no false accept allowed: below 0.81
    assert (strict.positives, strict.negatives) == (2, 8)
    assert strict.val == 0.5 and strict.far == 0.0
    assert 0.01 < strict.threshold < 0.81
    loose = all_pairs_val(emb, labels, far=1 / 8)  # one of 8 negatives may pass: below 1.0
    assert loose.val == 1.0 and loose.far == pytest.approx(1 / 8)
    assert 0.9025 < loose.threshold < 1.0
    assert math.isnan(all_pairs_val(emb[:2], labels[:2]).val)  # no negatives: undefined


def test_the_subset_keeps_the_first_pairs_of_each_fold(lfw_mini: Path) -> None:
    pairs = lfw_mini / "pairs_fold1.txt"
    subset = select_subset(lfw_mini, pairs, per_fold=3)
    assert len(subset.same) == 6 and subset.same.sum() == 3
    assert len(subset.paths) == len(set(subset.paths)) == len(subset.labels)
    assert all(p.is_file() for p in subset.paths)
    # a matched pair's images carry the same label, a mismatched pair's different ones
    assert all(
        (subset.labels[a] == subset.labels[b]) == s
        for a, b, s in zip(subset.left, subset.right, subset.same, strict=True)
    )
    with pytest.raises(ValueError, match="no pairs"):
        select_subset(lfw_mini, pairs, folds=[2])


def test_cli_scores_both_models_per_condition(lfw_mini: Path, tmp_path: Path) -> None:
    out = tmp_path / "robust.json"
    code = main(
        [
            "eval-robustness",
            "--lfw-dir",
            str(lfw_mini),
            "--pairs",
            str(lfw_mini / "pairs_fold1.txt"),
            "--per-fold",
            "2",
            "--conditions",
            "jpeg-20,size-80",
            "--device",
            "cpu",
            "--workers",
            "0",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert [c["condition"] for c in result["conditions"]] == ["original", "jpeg-20", "size-80"]
    assert result["n_pairs"] == 4 and result["n_images"] >= 4
    assert "all" in result["protocol"] and "single fold" in result["protocol"]
    assert set(result["models"]) == {"fast", "accurate"}
    assert result["models"]["fast"] != result["models"]["accurate"]
    by_name = {c["condition"]: c for c in result["conditions"]}
    for c in result["conditions"]:
        assert c["images"] == result["n_images"]
        assert 0 <= c["missed"] <= c["images"]
        for model in ("fast", "accurate"):
            assert 0.0 <= c[model]["val_at_far_1e3"] <= 1.0
            assert 0.0 <= c[model]["pairs_accuracy"] <= 1.0
        # the two models' thresholds differ: each condition was embedded by each model
        assert c["fast"]["threshold"] != c["accurate"]["threshold"]
    assert by_name["size-80"]["median_face_side"] == pytest.approx(80, rel=0.1)
    assert by_name["original"]["median_face_side"] > 95  # LFW's faces: ~100-120 px
