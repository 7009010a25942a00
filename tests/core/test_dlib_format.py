"""The dlib serialization reader: primitives by hand, the real model file end to end."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from facenet_core.models.dlib_format import DlibFormatError, _Reader, parse_network, read_network
from facenet_core.models.files import dlib_model_path


def enc_int(value: int) -> bytes:
    magnitude = abs(value)
    body = magnitude.to_bytes(max(1, (magnitude.bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if value < 0 else 0)]) + body


def enc_float(mantissa: int, exponent: int) -> bytes:
    return enc_int(mantissa) + enc_int(exponent)


def test_integers_small_large_negative() -> None:
    data = enc_int(0) + enc_int(7) + enc_int(300) + enc_int(-5) + enc_int(2**40)
    r = _Reader(data)
    assert [r.integer() for _ in range(5)] == [0, 7, 300, -5, 2**40]
    assert r.at_end()


def test_zero_is_01_00() -> None:
    assert _Reader(b"\x01\x00").integer() == 0


def test_floats_and_specials() -> None:
    data = (
        enc_float(3, -1)
        + enc_float(-5, 2)
        + enc_float(1, 32000)
        + enc_float(1, 32001)
        + enc_float(1, 32002)
    )
    r = _Reader(data)
    assert r.float() == 1.5
    assert r.float() == -20.0
    assert r.float() == math.inf
    assert r.float() == -math.inf
    assert math.isnan(r.float())


def test_string_bool_tensor() -> None:
    values = np.arange(6, dtype="<f4")
    data = (
        enc_int(5)
        + b"con_5"
        + b"1"
        + b"0"
        + enc_int(2)
        + b"".join(enc_int(d) for d in (1, 2, 3, 1))
        + values.tobytes()
    )
    r = _Reader(data)
    assert r.string() == "con_5"
    assert r.boolean() is True
    assert r.boolean() is False
    t = r.tensor()
    assert t.shape == (1, 2, 3, 1)
    np.testing.assert_array_equal(t.reshape(-1), values)


def test_truncated_and_bad_data_raise_clear_errors() -> None:
    with pytest.raises(DlibFormatError, match="unexpected end"):
        _Reader(b"\x02\x01").integer()
    with pytest.raises(DlibFormatError, match="control byte"):
        _Reader(b"\x0f").integer()
    with pytest.raises(DlibFormatError, match="bool"):
        _Reader(b"x").boolean()
    with pytest.raises(DlibFormatError, match="loss layer version"):
        parse_network(enc_int(7))


def test_real_resnet_file_parses_to_the_documented_structure() -> None:
    net = read_network(dlib_model_path("dlib_face_recognition_resnet_model_v1.dat"))
    assert net.loss.kind == "loss_metric_2"
    assert net.loss.fields["distance_threshold"] == pytest.approx(0.6)
    assert net.loss.fields["margin"] == pytest.approx(0.04)
    assert net.input.fields["means"] == pytest.approx((122.782, 117.001, 104.298), abs=1e-3)
    assert len(net.wrapper_versions) == 130
    kinds = [layer.kind for layer in net.layers]
    assert kinds.count("con_4") == 29
    assert kinds.count("add_prev_") == 14
    assert kinds[-1] == "fc_2"
    n_params = sum(layer.params.size for layer in net.layers if layer.params is not None)
    assert n_params == 5_614_592


def test_a_truncated_model_file_is_rejected(tmp_path) -> None:
    data = dlib_model_path("dlib_face_recognition_resnet_model_v1.dat").read_bytes()
    with pytest.raises(DlibFormatError):
        parse_network(data[: len(data) // 2])
    with pytest.raises(DlibFormatError, match="unread bytes"):
        parse_network(data + struct.pack("<I", 0))
