"""128-byte embeddings: exact size, round trips, distances preserved on real faces."""

from __future__ import annotations

import numpy as np
import pytest

from facenet_core.quantize import EMBEDDING_BYTES, dequantize, from_bytes, quantize, to_bytes


def random_unit(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, 128)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_exactly_128_bytes_and_back() -> None:
    e = random_unit(1)[0]
    blob = to_bytes(e)
    assert isinstance(blob, bytes) and len(blob) == EMBEDDING_BYTES
    back = from_bytes(blob)
    assert back.dtype == np.float32 and back.shape == (128,)
    assert np.linalg.norm(back) == pytest.approx(1.0, abs=1e-6)
    assert np.abs(back - e).max() < 4 / 256
    assert to_bytes(back) == blob  # stable: re-encoding a decoded vector changes nothing


def test_wrong_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        from_bytes(b"\x00" * 127)
    with pytest.raises(ValueError):
        to_bytes(np.zeros(64, np.float32))


def test_out_of_range_components_clip_instead_of_wrapping() -> None:
    e = np.zeros((1, 128), np.float32)
    e[0, 0], e[0, 1] = 0.9, -0.9
    q = quantize(e)
    assert q[0, 0] == 127 and q[0, 1] == -128


def test_distances_preserved_on_real_faces(real_chips, embedder) -> None:
    emb = embedder.embed(real_chips)
    q = dequantize(quantize(emb))
    i, j = np.triu_indices(len(emb), 1)
    d = np.sum((emb[i] - emb[j]) ** 2, axis=1)
    dq = np.sum((q[i] - q[j]) ** 2, axis=1)
    # a few thousandths, against a same/different threshold near 0.175
    assert np.abs(d - dq).max() < 1e-2
    assert np.abs(d - dq).mean() < 2e-3
    # the order of neighbours is kept almost everywhere
    assert np.corrcoef(d, dq)[0, 1] > 0.999


def test_fused_256_byte_codes_round_trip_and_other_lengths_are_refused() -> None:
    """The accurate model's fused vectors are stored as 256 bytes; a length that is neither
    model's is refused both ways."""
    x = np.random.default_rng(3).normal(size=256).astype(np.float32)
    e = x / np.linalg.norm(x)
    blob = to_bytes(e)
    assert len(blob) == 256
    back = from_bytes(blob)
    assert back.shape == (256,) and np.abs(back - e).max() < 4 / 256
    with pytest.raises(ValueError):
        from_bytes(bytes(255))
    with pytest.raises(ValueError):
        to_bytes(np.zeros(200, np.float32))
