"""What training relies on in the network and the registry: split points that reproduce the full
network, fine-tuned weights saved and loaded by their sha256, the embedder of a model version,
and the figures (VAL, nearest person, BCubed) computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from facenet_core.metrics import all_pairs, bcubed, nearest_person_accuracy, val_at_far
from facenet_core.models.dlib_resnet import INPUT
from facenet_core.models.registry import (
    ModelLoadError,
    dlib_resnet_info,
    load_dlib_resnet,
    load_model,
    model_info,
    save_fine_tuned,
)
from facenet_core.settings import Settings
from facenet_core.training.loop import FeatureBank, embed_bank
from facenet_core.vision.embed import Embedder
from facenet_core.vision.engines import Engines

CPU = torch.device("cpu")


def test_every_split_point_reproduces_the_network(real_chips: np.ndarray) -> None:
    model, _ = load_dlib_resnet()
    x = torch.from_numpy(real_chips[:6]).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        full = model(x)
        for split in (INPUT, 0, 5, 8, 11, 13, 14):
            out = model.head(model.features(x, split), split)
            assert torch.allclose(out, full, atol=1e-5), split
        moved = model.advance(model.features(x, 8), 8, 12)
        assert torch.allclose(moved, model.features(x, 12), atol=1e-5)
    assert len(model.head_parameters(14)) == 1  # the fc only
    # + one block: weight and bias of conv1, affine1, conv2, affine2
    assert len(model.head_parameters(13)) == 1 + 8
    assert len(model.head_parameters(INPUT)) == len(list(model.parameters()))


def test_the_feature_bank_gives_the_embedders_embeddings(real_chips, embedder) -> None:
    """Frozen-trunk features through the head == the embedder (fused, channels-last) output."""
    model, _ = load_dlib_resnet()
    bank = FeatureBank.from_chips(model, real_chips[:8], 11, CPU)
    for flip in (False, True):
        ours = embed_bank(model, bank, CPU, flip=flip)
        reference = Embedder(model, dlib_resnet_info(), device="cpu", flip=flip).embed(
            real_chips[:8]
        )
        assert np.abs(ours - reference).max() < 1e-5


def test_fine_tuned_weights_round_trip_and_are_checked(tmp_path, real_chips) -> None:
    model, _ = load_dlib_resnet()
    with torch.no_grad():
        model.fc.weight.mul_(1.01)
    info = save_fine_tuned(model, tmp_path / "models")
    assert info.fine_tuned and info.source == tmp_path / "models" / f"{info.sha256}.pt"
    again = save_fine_tuned(model, tmp_path / "models")  # same weights, same file
    assert again == info and len(list((tmp_path / "models").iterdir())) == 1
    loaded = load_model(model_info(info.name, info.sha256, str(info.source)))
    assert all(
        torch.equal(a, b)
        for a, b in zip(loaded.state_dict().values(), model.state_dict().values(), strict=True)
    )
    # the embedder of a version, through the engines cache
    engines = Engines()
    settings = Settings(device="cpu", flip=False, face_model="fast")  # the shipped dlib ResNet
    tuned = engines.embedder(settings, info)
    assert tuned is engines.embedder(settings, info) and tuned.model_version == info.version
    shipped = engines.embedder(settings)
    a, b = tuned.embed(real_chips[:4]), shipped.embed(real_chips[:4])
    assert not np.allclose(a, b) and np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    # a changed or missing file is refused with a reason
    info.source.write_bytes(info.source.read_bytes() + b"x")
    with pytest.raises(ModelLoadError, match="not the recorded weights"):
        load_model(info)
    info.source.unlink()
    with pytest.raises(ModelLoadError, match="missing"):
        load_model(info)
    with pytest.raises(ModelLoadError, match="other shipped weights"):
        load_model(model_info(info.name, "0" * 64, None))


def test_figures_by_hand() -> None:
    # four faces on a line: A A B B, distances chosen by hand
    emb = np.array([[1.0, 0.0], [0.96, 0.28], [0.6, 0.8], [0.0, 1.0]])
    labels = np.array([0, 0, 1, 1])
    dist, same = all_pairs(emb, labels)
    assert np.allclose(dist, [0.08, 0.8, 2.0, 0.4, 1.44, 0.4], atol=1e-9)
    assert same.tolist() == [True, False, False, False, False, True]
    # FAR = 1e-3 over 4 different pairs allows none: threshold just below 0.4 accepts A-A only
    assert val_at_far(emb, labels) == pytest.approx(0.5)
    assert nearest_person_accuracy(emb[[1, 2]], [0, 1], emb[[0, 3]], [0, 1]) == 1.0
    assert nearest_person_accuracy(emb[[2]], [0], emb[[0, 3]], [0, 1]) == 0.0
    assert math.isnan(val_at_far(emb[:2], labels[:2]))  # no different pair
    perfect = bcubed([5, 5, 7, 7], labels)
    assert perfect == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    merged = bcubed([1, 1, 1, 1], labels)  # precision 1/2 each, recall 1
    assert merged["precision"] == 0.5 and merged["recall"] == 1.0
    assert merged["f1"] == pytest.approx(2 / 3)
    split = bcubed([1, 2, 3, 3], labels)  # A split in two: recall 1/2 for A's, 1 for B's
    assert split["precision"] == 1.0 and split["recall"] == pytest.approx(0.75)
