"""A reader for dlib's serialized deep networks (``.dat`` files written by ``dlib::serialize``).

The byte format, as dlib writes it:

- **integer** (any width): a control byte whose low 4 bits give the number N (1..8) of
  little-endian magnitude bytes that follow; bit 0x80 marks a negative number.
- **float/double**: two integers, a signed mantissa then a signed exponent;
  ``value = mantissa * 2**exponent`` (exponents 32000/32001/32002 mean +inf/-inf/NaN).
- **string**: an integer length, then the raw bytes. **bool**: ASCII ``'1'`` or ``'0'``.
- **tensor**: integer version 2, four integers N, K, rows, cols, then N*K*rows*cols little-endian
  float32 values. An alias (shape-only) tensor is version 1 and the four dimensions.

A network is written outermost layer first: the loss layer (version and record), then one version
integer per wrapping layer (2 = ordinary layer, 1 = tag or skip, 3 = the innermost layer, which
also holds the input layer), then the input record, then each ordinary layer's record from the
input outwards. Tags and skips write no record, so the reader only returns the ordinary layers in
order; the caller knows the topology (see :mod:`facenet_core.models.dlib_resnet`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facenet_core.errors import UserError


class DlibFormatError(UserError, ValueError):
    """The file is not a dlib network of a kind this reader understands."""


@dataclass
class LayerRecord:
    """One ordinary layer: its dlib type tag (``con_5``, ``affine_``...), fields and parameters."""

    kind: str
    fields: dict[str, Any] = field(default_factory=dict)
    params: np.ndarray | None = None


@dataclass
class DlibNetwork:
    """What a dlib network file holds, in input-to-output order."""

    loss: LayerRecord
    input: LayerRecord
    layers: list[LayerRecord]
    wrapper_versions: list[int]


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DlibFormatError(f"unexpected end of file at byte {self.pos} (wanted {n} bytes)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def integer(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if not 1 <= size <= 8:
            raise DlibFormatError(f"bad integer control byte 0x{control:02x} at {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def float(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        if exponent == 32000:
            return math.inf
        if exponent == 32001:
            return -math.inf
        if exponent == 32002:
            return math.nan
        return math.ldexp(float(mantissa), exponent)

    def string(self) -> str:
        length = self.integer()
        return self._take(length).decode("latin-1")

    def boolean(self) -> bool:
        byte = self._take(1)
        if byte not in (b"0", b"1"):
            raise DlibFormatError(f"bad bool byte {byte!r} at {self.pos - 1}")
        return byte == b"1"

    def tensor(self) -> np.ndarray:
        version = self.integer()
        if version != 2:
            raise DlibFormatError(f"tensor version {version} at {self.pos}, expected 2")
        dims = tuple(self.integer() for _ in range(4))
        count = int(np.prod(dims))
        values = np.frombuffer(self._take(4 * count), dtype="<f4")
        return values.reshape(dims).astype(np.float32)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        version = self.integer()
        if version != 1:
            raise DlibFormatError(f"alias tensor version {version} at {self.pos}, expected 1")
        n, k, r, c = (self.integer() for _ in range(4))
        return (n, k, r, c)

    def at_end(self) -> bool:
        return self.pos == len(self.data)


def _read_multipliers(r: _Reader) -> dict[str, float]:
    names = ("lr_mult", "wd_mult", "bias_lr_mult", "bias_wd_mult")
    return {name: r.float() for name in names}


def _read_layer(r: _Reader) -> LayerRecord:
    kind = r.string()
    rec = LayerRecord(kind)
    f = rec.fields
    if kind in ("con_4", "con_5", "con_6"):
        rec.params = r.tensor()
        for name in ("filters", "rows", "cols", "stride_y", "stride_x", "pad_y", "pad_x"):
            f[name] = r.integer()
        r.alias_tensor()
        r.alias_tensor()
        f.update(_read_multipliers(r))
        f["use_bias"] = r.boolean() if kind in ("con_5", "con_6") else True
        f["use_relu"] = r.boolean() if kind == "con_6" else False
    elif kind in ("affine_", "affine_2"):
        rec.params = r.tensor()
        r.alias_tensor()
        r.alias_tensor()
        f["mode"] = r.integer()
        f["disabled"] = r.boolean() if kind == "affine_2" else False
    elif kind in ("relu_", "relu_2"):
        f["disabled"] = r.boolean() if kind == "relu_2" else False
    elif kind == "add_prev_":
        pass
    elif kind in ("max_pool_2", "avg_pool_2"):
        for name in ("rows", "cols", "stride_y", "stride_x", "pad_y", "pad_x"):
            f[name] = r.integer()
    elif kind in ("fc_2", "fc_3"):
        f["outputs"] = r.integer()
        f["inputs"] = r.integer()
        rec.params = r.tensor()
        r.alias_tensor()
        r.alias_tensor()
        f["bias_mode"] = r.integer()
        f.update(_read_multipliers(r))
        f["use_bias"] = r.boolean() if kind == "fc_3" else f["bias_mode"] != 1
    else:
        raise DlibFormatError(f"unsupported layer type {kind!r} at byte {r.pos}")
    return rec


def _read_loss(r: _Reader) -> LayerRecord:
    kind = r.string()
    if kind != "loss_metric_2":
        raise DlibFormatError(f"unsupported loss layer {kind!r}")
    return LayerRecord(kind, {"margin": r.float(), "distance_threshold": r.float()})


def _read_input(r: _Reader) -> LayerRecord:
    kind = r.string()
    if kind != "input_rgb_image_sized":
        raise DlibFormatError(f"unsupported input layer {kind!r}")
    means = (r.float(), r.float(), r.float())
    rows, cols = r.integer(), r.integer()
    return LayerRecord(kind, {"means": means, "rows": rows, "cols": cols})


def _skip_layer_state(r: _Reader) -> None:
    """The training state every ordinary layer carries: three bools and three empty tensors."""
    for _ in range(3):
        r.boolean()
    for _ in range(3):
        state = r.tensor()
        if state.size:
            raise DlibFormatError("unexpected non-empty layer state tensor")


def parse_network(data: bytes) -> DlibNetwork:
    """Parse a whole dlib network; every byte must be accounted for."""
    r = _Reader(data)
    loss_version = r.integer()
    if loss_version != 1:
        raise DlibFormatError(f"loss layer version {loss_version}, expected 1")
    loss = _read_loss(r)

    versions: list[int] = []
    while True:
        version = r.integer()
        if version not in (1, 2, 3):
            raise DlibFormatError(f"bad layer version {version} at byte {r.pos}")
        versions.append(version)
        if version == 3:
            break
    input_record = _read_input(r)

    layers = [_read_layer(r)]  # the innermost layer
    _skip_layer_state(r)
    r.integer()  # the innermost layer's sample expansion factor
    for version in reversed(versions[:-1]):
        if version == 2:
            layers.append(_read_layer(r))
            _skip_layer_state(r)
    if not r.at_end():
        raise DlibFormatError(f"{len(data) - r.pos} unread bytes after the network")
    return DlibNetwork(loss, input_record, layers, versions)


def read_network(path: Path) -> DlibNetwork:
    """Read a dlib network file from disk."""
    try:
        return parse_network(Path(path).read_bytes())
    except DlibFormatError as exc:
        raise DlibFormatError(f"{path}: {exc}") from exc
