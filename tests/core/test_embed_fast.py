"""The fast embedder's code paths, on the CPU: bfloat16 weights, the folded input normalisation,
device tensors in and out, padding for one compiled shape, and the fallback when compiling
fails."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facenet_core.settings import Settings
from facenet_core.vision import embed as embed_module
from facenet_core.vision import engines
from facenet_core.vision.embed import Embedder
from facenet_core.vision.engines import embed_precision


def test_folded_input_normalisation_changes_nothing(real_chips, embedder) -> None:
    x = torch.from_numpy(real_chips[:6]).permute(0, 3, 1, 2).float()
    fused = embedder.model.fused_for_inference()
    assert fused.normalize_input is False
    with torch.inference_mode():
        np.testing.assert_allclose(fused(x).numpy(), embedder.model(x).numpy(), atol=2e-5)


def test_bf16_embeddings_stay_close_to_float32(real_chips, embedder) -> None:
    """bfloat16 trunk, float32 head: unit vectors within a few thousandths of float32's, and
    squared distances between faces (what verification thresholds) within 0.003."""
    low = Embedder(embedder.model, embedder.info, device="cpu", flip=True, precision="bf16")
    exact = Embedder(embedder.model, embedder.info, device="cpu", flip=True, precision="fp32")
    assert low.dtype == torch.bfloat16
    a, b = low.embed(real_chips[:12]), exact.embed(real_chips[:12])
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.abs(a - b).max() < 1e-2
    dist_a = ((a[:, None] - a[None]) ** 2).sum(-1)
    dist_b = ((b[:, None] - b[None]) ** 2).sum(-1)
    assert np.abs(dist_a - dist_b).max() < 3e-3
    assert dist_b[~np.eye(12, dtype=bool)].min() > 0.05  # the faces do differ


def test_embed_tensor_equals_embed(real_chips, embedder) -> None:
    chips = torch.from_numpy(real_chips[:5]).permute(0, 3, 1, 2)
    out = embedder.embed_tensor(chips)
    assert out.dtype == torch.float32 and out.shape == (5, 128)
    np.testing.assert_allclose(out.numpy(), embedder.embed(real_chips[:5]), atol=1e-6)
    assert embedder.embed_tensor(chips[:0]).shape == (0, 128)


def test_compile_failure_falls_back_to_the_plain_network(
    real_chips, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def broken_compile(net, **kwargs):  # compiles "fine", then fails on first use, as Inductor
        def run(x: torch.Tensor) -> torch.Tensor:
            calls.append(x.shape[0])
            raise RuntimeError("no Triton here")

        return run

    monkeypatch.setattr(embed_module.torch, "compile", broken_compile)
    fast = Embedder(
        embedder.model, embedder.info, device="cpu", flip=False, batch_size=4, compile=True
    )
    out = fast.embed(real_chips[:3])
    assert calls == [4]  # padded to the one compiled batch size, tried once
    assert not fast.compiled
    np.testing.assert_allclose(out, embedder.embed(real_chips[:3]), atol=1e-5)
    fast.embed(real_chips[:3])
    assert calls == [4]  # never tried again


def test_compiled_batches_are_padded_and_cut(real_chips, embedder, monkeypatch) -> None:
    seen: list[int] = []

    def fake_compile(net, **kwargs):
        def run(x: torch.Tensor) -> torch.Tensor:
            seen.append(x.shape[0])
            return net(x)

        return run

    monkeypatch.setattr(embed_module.torch, "compile", fake_compile)
    fast = Embedder(
        embedder.model, embedder.info, device="cpu", flip=True, batch_size=4, compile=True
    )
    out = fast.embed(real_chips[:6])  # batches of 4 and 2 chips, each doubled by the flip
    assert seen == [8, 8] and fast.compiled
    reference = Embedder(embedder.model, embedder.info, device="cpu", flip=True)
    np.testing.assert_allclose(out, reference.embed(real_chips[:6]), atol=1e-5)


def test_precision_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(engines, "cpu_has_native_bf16", lambda: False)
    assert embed_precision("auto", cpu) == "fp32"
    monkeypatch.setattr(engines, "cpu_has_native_bf16", lambda: True)
    assert embed_precision("auto", cpu) == "bf16"
    assert embed_precision("auto", torch.device("mps")) == "fp32"
    assert embed_precision("auto", cuda) == "bf16"
    assert embed_precision("fp32", cuda) == "fp32"
    assert embed_precision("bf16", cpu) == "bf16"
    assert Settings().precision == "auto"
