"""The PyTorch rebuild of dlib's ResNet against dlib itself, on real face chips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facenet_core.models.dlib_resnet import DlibResNet, add_zero_padded
from facenet_core.models.files import dlib_model_path
from facenet_core.models.registry import load_dlib_resnet


@pytest.fixture(scope="module")
def dlib_descriptors(real_chips: np.ndarray) -> np.ndarray:
    import dlib

    rec = dlib.face_recognition_model_v1(
        str(dlib_model_path("dlib_face_recognition_resnet_model_v1.dat"))
    )
    return np.array([np.array(rec.compute_face_descriptor(chip)) for chip in real_chips])


def test_descriptors_match_dlib_on_real_chips(real_chips, dlib_descriptors, embedder) -> None:
    x = torch.from_numpy(real_chips).permute(0, 3, 1, 2).float()
    with torch.inference_mode():
        ours = embedder.model.descriptor(x).numpy()
    assert np.abs(ours - dlib_descriptors).max() <= 1e-4
    # and the FaceNet contract: forward() is the same direction at unit length
    with torch.inference_mode():
        unit = embedder.model(x).numpy()
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)
    expected = dlib_descriptors / np.linalg.norm(dlib_descriptors, axis=1, keepdims=True)
    assert np.abs(unit - expected).max() <= 1e-4


def test_batch_size_does_not_change_results(real_chips, embedder) -> None:
    from facenet_core.vision.embed import Embedder

    one = Embedder(embedder.model, embedder.info, device="cpu", batch_size=1, flip=False)
    many = Embedder(embedder.model, embedder.info, device="cpu", batch_size=32, flip=False)
    np.testing.assert_allclose(one.embed(real_chips[:8]), many.embed(real_chips[:8]), atol=1e-5)


def test_flip_embedding_is_unit_and_mirror_invariant(real_chips, embedder) -> None:
    from facenet_core.vision.embed import Embedder

    flip = Embedder(embedder.model, embedder.info, device="cpu", flip=True)
    a = flip.embed(real_chips[:6])
    b = flip.embed(np.ascontiguousarray(real_chips[:6, :, ::-1]))
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_zero_padded_addition_matches_dlib_rule() -> None:
    a = torch.ones(1, 2, 4, 4)
    b = torch.full((1, 3, 3, 3), 2.0)
    out = add_zero_padded(a, b)
    assert out.shape == (1, 3, 4, 4)
    assert out[0, 0, 0, 0] == 3.0  # both
    assert out[0, 0, 3, 3] == 1.0  # only a
    assert out[0, 2, 0, 0] == 2.0  # only b
    assert out[0, 2, 3, 3] == 0.0  # neither


def test_converted_weights_are_cached_and_reused(tmp_path, real_chips) -> None:
    model, info = load_dlib_resnet(cache=tmp_path)
    cached = list(tmp_path.glob("*.pt"))
    assert [p.name for p in cached] == [f"{info.name}-{info.sha256}.pt"]
    again, _ = load_dlib_resnet(cache=tmp_path)
    x = torch.from_numpy(real_chips[:2]).permute(0, 3, 1, 2).float()
    with torch.inference_mode():
        assert torch.equal(model(x), again(x))


def test_a_damaged_cache_file_is_converted_again(tmp_path, real_chips) -> None:
    _, info = load_dlib_resnet(cache=tmp_path)
    path = tmp_path / f"{info.name}-{info.sha256}.pt"
    path.write_bytes(b"not a checkpoint")
    model, _ = load_dlib_resnet(cache=tmp_path)
    reference = DlibResNet()
    reference.load_state_dict(torch.load(path, weights_only=True))
    x = torch.from_numpy(real_chips[:2]).permute(0, 3, 1, 2).float()
    with torch.inference_mode():
        assert torch.equal(model.eval()(x), reference.eval()(x))


def test_model_version_names_the_weights() -> None:
    _, info = load_dlib_resnet()
    assert info.version.startswith("dlib-resnet-v1@")
    assert len(info.sha256) == 64
