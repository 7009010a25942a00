"""MTCNN face detection in PyTorch, rebuilt from the weights in the ``mtcnn`` wheel.

MTCNN (Zhang, Zhang, Li, Qiao, 2016) is a cascade of three small networks:

- **P-Net** (proposal) slides a 12 x 12 window over an image pyramid and proposes face boxes;
- **R-Net** (refine) re-scores 24 x 24 crops of those boxes and corrects them;
- **O-Net** (output) re-scores 48 x 48 crops once more, corrects the boxes and finds five landmarks.

The weights are the original ones, shipped by the PyPI wheel ``mtcnn`` 1.0.0 (MIT) as joblib
files of Keras-layout float32 arrays. That package's *Python module* needs TensorFlow, so it is
never imported here: only its weight files are read, after their sha256 has been checked against
the constants below (joblib files are pickles, so an unchecked file could run code).

Conventions that matter and fail silently when wrong (docs/design/models.md; each is tested):

- input is RGB, scaled as ``(pixel - 127.5) / 128``, in the normal row-major (not transposed)
  layout: :func:`to_network_input` is the one function that does this;
- every max-pool rounds its output size up (``ceil_mode=True``);
- before the dense layers the feature map is flattened in width, height, channel order.

:class:`MtcnnDetector` follows the reference pipeline of the wheel (box geometry, regression,
crops, landmark decoding, thresholds) with two deliberate differences: the pyramid honours the
minimum face size (the wheel's level count ignores it), and NMS is standard greedy NMS by default
(the wheel's variant is available as ``nms="package"``).
"""

from __future__ import annotations

import importlib.util
import io
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import cv2
import joblib
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import batched_nms, box_area, box_iou
from torchvision.ops import nms as torchvision_nms

from facenet_core.geometry import downscale
from facenet_core.models.files import WeightsIntegrityError, read_checked_weights
from facenet_core.types import Detection
from facenet_core.vision.detectors.base import check_rgb
from facenet_core.vision.device import resolve_device

logger = logging.getLogger(__name__)

NetworkName = Literal["pnet", "rnet", "onet"]
NmsStyle = Literal["greedy", "package"]
OverlapMode = Literal["union", "min"]

#: sha256 of the weight files of the ``mtcnn`` 1.0.0 wheel (``mtcnn/assets/weights/*.lz4``).
WEIGHT_SHA256: Final[dict[NetworkName, str]] = {
    "pnet": "ea6b0c3e685ebee3165326ad6484acc95f2ef78f1c94fbf40a55704fa989f7b5",
    "rnet": "cb00e6460f3c98b0bfafaba3c0a0ded4bdf6e62cee7174d969e8670d7e757fee",
    "onet": "94f6ea2f4cf985275ee958cdd762d17b6009348a4fb9d8c6be39ba73ffd22ca3",
}

#: Side of P-Net's window: the smallest face P-Net sees at a pyramid level.
PNET_WINDOW: Final = 12
#: P-Net's output stride in the pixels of its pyramid level.
PNET_STRIDE: Final = 2
RNET_INPUT: Final = 24
ONET_INPUT: Final = 48

# IoU thresholds of the reference pipeline: P-Net within a level, P-Net across levels, R-Net,
# O-Net (the last one is intersection over the smaller box).
_NMS_PNET_LEVEL: Final = 0.5
_NMS_PNET_ALL: Final = 0.7
_NMS_RNET: Final = 0.7
_NMS_ONET: Final = 0.7
# With ``fast_pyramid``, a level is shrunk from an earlier level at least this much larger.
_FAST_PYRAMID_RATIO: Final = 2.0
# Upper bound on pyramid levels per photo (for the per-level NMS group ids).
_MAX_LEVELS: Final = 4096


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------


class PNet(nn.Module):
    """Proposal network: fully convolutional, one output cell per 12 x 12 window (stride 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, 3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, 3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, 3)
        self.prelu3 = nn.PReLU(32)
        self.box_head = nn.Conv2d(32, 4, 1)
        self.score_head = nn.Conv2d(32, 2, 1)

    def trunk(self) -> list[tuple[nn.Module, nn.PReLU]]:
        """The (conv, PReLU) pairs in the order their arrays come in the weight file."""
        return [(self.conv1, self.prelu1), (self.conv2, self.prelu2), (self.conv3, self.prelu3)]

    def heads(self) -> dict[int, nn.Module]:
        """Output layers keyed by their output width (how their arrays are recognised)."""
        return {4: self.box_head, 2: self.score_head}

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Map ``(N, 3, H, W)`` network input to box regression ``(N, 4, h, w)`` and face
        probability ``(N, h, w)``, with ``h = ceil((H - 2) / 2) - 4`` (likewise ``w``)."""
        x = self.prelu1(self.conv1(x))
        x = self.pool1(x)
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        regression = self.box_head(x)
        probability = torch.softmax(self.score_head(x), dim=1)[:, 1]
        return regression, probability


def _flatten_whc(x: Tensor) -> Tensor:
    """Flatten ``(N, C, H, W)`` in width, height, channel order, as the dense weights expect."""
    return x.permute(0, 3, 2, 1).flatten(1)


class RNet(nn.Module):
    """Refinement network on 24 x 24 crops."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, 3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, 3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, 2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.box_head = nn.Linear(128, 4)
        self.score_head = nn.Linear(128, 2)

    def trunk(self) -> list[tuple[nn.Module, nn.PReLU]]:
        """The (layer, PReLU) pairs in the order their arrays come in the weight file."""
        return [
            (self.conv1, self.prelu1),
            (self.conv2, self.prelu2),
            (self.conv3, self.prelu3),
            (self.dense4, self.prelu4),
        ]

    def heads(self) -> dict[int, nn.Module]:
        """Output layers keyed by their output width (how their arrays are recognised)."""
        return {4: self.box_head, 2: self.score_head}

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Map ``(N, 3, 24, 24)`` crops to box regression ``(N, 4)`` and face probability
        ``(N,)``."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.dense4(_flatten_whc(x)))
        probability = torch.softmax(self.score_head(x), dim=1)[:, 1]
        return self.box_head(x), probability


class ONet(nn.Module):
    """Output network on 48 x 48 crops: box regression, five landmarks and a face score."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, 3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, 2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.box_head = nn.Linear(256, 4)
        self.landmark_head = nn.Linear(256, 10)
        self.score_head = nn.Linear(256, 2)

    def trunk(self) -> list[tuple[nn.Module, nn.PReLU]]:
        """The (layer, PReLU) pairs in the order their arrays come in the weight file."""
        return [
            (self.conv1, self.prelu1),
            (self.conv2, self.prelu2),
            (self.conv3, self.prelu3),
            (self.conv4, self.prelu4),
            (self.dense5, self.prelu5),
        ]

    def heads(self) -> dict[int, nn.Module]:
        """Output layers keyed by their output width (how their arrays are recognised)."""
        return {4: self.box_head, 10: self.landmark_head, 2: self.score_head}

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Map ``(N, 3, 48, 48)`` crops to box regression ``(N, 4)``, landmarks ``(N, 10)``
        (five x's then five y's, as fractions of the crop) and face probability ``(N,)``."""
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = self.prelu5(self.dense5(_flatten_whc(x)))
        probability = torch.softmax(self.score_head(x), dim=1)[:, 1]
        return self.box_head(x), self.landmark_head(x), probability


@dataclass(frozen=True, slots=True)
class MtcnnNetworks:
    """The three networks of the cascade, in evaluation mode on one device."""

    pnet: PNet
    rnet: RNet
    onet: ONet

    @property
    def device(self) -> torch.device:
        return next(self.pnet.parameters()).device


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------


def mtcnn_weights_dir() -> Path:
    """Folder of the ``mtcnn`` wheel's weight files, found without importing the package
    (importing it would need TensorFlow)."""
    spec = importlib.util.find_spec("mtcnn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The MTCNN weights come from the PyPI package 'mtcnn' (1.0.0), which is not "
            "installed: run 'pip install mtcnn==1.0.0' (TensorFlow is not needed)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / "weights"


def load_weight_arrays(name: NetworkName, weights_dir: Path | None = None) -> list[np.ndarray]:
    """Read one network's Keras-layout arrays, refusing any file whose sha256 is not recorded.

    The bytes are hashed and then unpickled from memory, so the file that was checked is the
    file that is loaded.
    """
    folder = mtcnn_weights_dir() if weights_dir is None else Path(weights_dir)
    path = folder / f"{name}.lz4"
    data = read_checked_weights(path, WEIGHT_SHA256[name], "mtcnn==1.0.0", "MTCNN weight file")
    arrays = joblib.load(io.BytesIO(data))
    if not isinstance(arrays, list) or not all(isinstance(a, np.ndarray) for a in arrays):
        raise WeightsIntegrityError(f"{path} does not hold a list of numpy arrays.")
    return [np.asarray(a, dtype=np.float32) for a in arrays]


def _copy_into(parameter: Tensor, array: np.ndarray, where: str) -> None:
    value = torch.from_numpy(np.ascontiguousarray(array))
    if tuple(value.shape) != tuple(parameter.shape):
        raise ValueError(
            f"{where}: array of shape {array.shape} does not fit {tuple(parameter.shape)}"
        )
    with torch.no_grad():
        parameter.copy_(value)


def _load_layer(layer: nn.Module, kernel: np.ndarray, bias: np.ndarray, where: str) -> None:
    """Keras conv kernels (kh, kw, in, out) become (out, in, kh, kw) by a plain permute (no
    spatial swap); Keras dense kernels (in, out) are transposed."""
    if isinstance(layer, nn.Conv2d):
        torch_kernel = kernel.transpose(3, 2, 0, 1)
    elif isinstance(layer, nn.Linear):
        torch_kernel = kernel.T
    else:  # pragma: no cover - the networks above only hold these two layer kinds
        raise TypeError(f"{where}: cannot load arrays into {type(layer).__name__}")
    _copy_into(layer.weight, torch_kernel, f"{where} kernel")
    if layer.bias is None:  # pragma: no cover - every layer above has a bias
        raise TypeError(f"{where}: the layer has no bias to load")
    _copy_into(layer.bias, bias, f"{where} bias")


def load_keras_arrays(net: PNet | RNet | ONet, arrays: Sequence[np.ndarray]) -> None:
    """Fill ``net`` from the wheel's arrays: per trunk layer kernel, bias and PReLU slope; then
    the heads as (kernel, bias) pairs, each recognised by its output width rather than by its
    position (ports disagree on the order of the heads)."""
    name = type(net).__name__
    index = 0
    for layer, prelu in net.trunk():
        if index + 3 > len(arrays):
            raise ValueError(f"{name}: weight file ends early at array {index}")
        kernel, bias, slope = arrays[index : index + 3]
        _load_layer(layer, kernel, bias, f"{name} array {index}")
        _copy_into(prelu.weight, slope.reshape(-1), f"{name} PReLU array {index + 2}")
        index += 3
    heads = net.heads()
    remaining = arrays[index:]
    if len(remaining) != 2 * len(heads):
        raise ValueError(f"{name}: expected {2 * len(heads)} head arrays, got {len(remaining)}")
    loaded: set[int] = set()
    for offset in range(0, len(remaining), 2):
        kernel, bias = remaining[offset], remaining[offset + 1]
        width = int(kernel.shape[-1])
        if width not in heads or width in loaded:
            raise ValueError(f"{name}: unexpected head array of shape {kernel.shape}")
        _load_layer(heads[width], kernel, bias, f"{name} array {index + offset}")
        loaded.add(width)


def build_onet(weights_dir: Path | None = None, device: torch.device | str | None = None) -> ONet:
    """O-Net alone (sha256-checked weights, eval mode, on ``device``): the landmark stage that
    refines another detector's boxes (:mod:`.yunet_onet`)."""
    onet = ONet()
    load_keras_arrays(onet, load_weight_arrays("onet", weights_dir))
    onet.eval().requires_grad_(False).to(resolve_device(device))
    return onet.to(memory_format=torch.channels_last)


def build_mtcnn_networks(
    weights_dir: Path | None = None, device: torch.device | str | None = None
) -> MtcnnNetworks:
    """P-Net, R-Net and O-Net with the wheel's sha256-checked weights, in eval mode on
    ``device`` (``None``: CUDA when available, else CPU)."""
    target = resolve_device(device)
    nets: dict[NetworkName, PNet | RNet | ONet] = {"pnet": PNet(), "rnet": RNet(), "onet": ONet()}
    for key, net in nets.items():
        load_keras_arrays(net, load_weight_arrays(key, weights_dir))
        net.eval().requires_grad_(False).to(target)
        net.to(memory_format=torch.channels_last)
    pnet, rnet, onet = nets["pnet"], nets["rnet"], nets["onet"]
    assert isinstance(pnet, PNet) and isinstance(rnet, RNet) and isinstance(onet, ONet)
    return MtcnnNetworks(pnet=pnet, rnet=rnet, onet=onet)


# --------------------------------------------------------------------------------------------
# Preprocessing and geometry
# --------------------------------------------------------------------------------------------


def normalize_pixels(image: np.ndarray) -> np.ndarray:
    """RGB ``uint8`` (or float) pixels to the networks' scale, ``(pixel - 127.5) / 128``, as
    float32. Black is about -1, white about +1, mid grey 0."""
    array = np.array(image, dtype=np.float32)  # a copy, scaled in place
    array -= 127.5
    array *= 1.0 / 128.0  # exact: 128 is a power of two
    return array


def to_network_input(images: np.ndarray, device: torch.device | str = "cpu") -> Tensor:
    """The one preprocessing function of these weights: RGB images ``(N, H, W, 3)`` or one
    ``(H, W, 3)``, uint8, to a normalised ``(N, 3, H, W)`` float tensor (rows stay rows: the
    image is not transposed)."""
    array = normalize_pixels(images)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"expected RGB images (N, H, W, 3), got shape {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array)).permute(0, 3, 1, 2).to(device)


def pyramid_scales(
    height: int, width: int, min_face_size: float, factor: float = 0.709
) -> list[float]:
    """Scales of the image pyramid: ``(12 / min_face_size) * factor**k`` for k = 0, 1, ... while
    the short side at that scale still holds P-Net's 12-pixel window. Level 0 maps the smallest
    wanted face onto P-Net's window; each further level finds faces ``1 / factor`` times larger."""
    scales: list[float] = []
    scale = PNET_WINDOW / float(min_face_size)
    short_side = min(height, width)
    while short_side * scale >= PNET_WINDOW:
        scales.append(scale)
        scale *= factor
    return scales


def _to_tensor(array: np.ndarray, device: torch.device) -> Tensor:
    """An ``(H, W, 3)`` float array as a ``(1, 3, H, W)`` tensor in channels-last memory (no
    copy on the CPU): the layout in which the CPU runs these small convolutions and pools
    fastest."""
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None]
    return tensor.to(device).contiguous(memory_format=torch.channels_last)


def _level_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """Pixel size (height, width) of a pyramid level, rounded up as in the original MTCNN."""
    return max(1, math.ceil(height * scale)), max(1, math.ceil(width * scale))


def square_boxes(boxes: Tensor) -> Tensor:
    """Grow each ``(x1, y1, x2, y2)`` box into the square of its longer side, same centre."""
    width = boxes[:, 2] - boxes[:, 0]
    height = boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(width, height)
    x1 = boxes[:, 0] + (width - side) * 0.5
    y1 = boxes[:, 1] + (height - side) * 0.5
    return torch.stack([x1, y1, x1 + side, y1 + side], dim=1)


def apply_regression(boxes: Tensor, regression: Tensor) -> Tensor:
    """Move each box side by its regression value times the box size, the size counted as
    ``x2 - x1 + 1`` (the reference convention for R-Net and O-Net)."""
    width = boxes[:, 2] - boxes[:, 0] + 1.0
    height = boxes[:, 3] - boxes[:, 1] + 1.0
    return boxes + regression * torch.stack([width, height, width, height], dim=1)


def decode_landmarks(boxes: Tensor, landmarks: Tensor) -> Tensor:
    """O-Net's landmarks (five x's, then five y's, as fractions of the crop) to image pixels
    on the box O-Net was shown: ``w * l + x1 - 1``, with ``w = x2 - x1 + 1``. Returns
    ``(N, 5, 2)``."""
    width = (boxes[:, 2] - boxes[:, 0] + 1.0)[:, None]
    height = (boxes[:, 3] - boxes[:, 1] + 1.0)[:, None]
    xs = width * landmarks[:, :5] + boxes[:, 0:1] - 1.0
    ys = height * landmarks[:, 5:] + boxes[:, 1:2] - 1.0
    return torch.stack([xs, ys], dim=2)


def crop_patches(
    image: Tensor,
    boxes: Tensor,
    size: int,
    origin: tuple[int, int] = (0, 0),
    full_size: tuple[int, int] | None = None,
) -> Tensor:
    """Bilinear ``size x size`` crops of ``boxes`` from one normalised image ``(1, 3, H, W)``.

    Geometry of the reference (TensorFlow ``crop_and_resize`` on boxes divided by the image
    size): sample ``k`` of a box lies at ``(x1 + k * (x2 - x1) / (size - 1)) * (W - 1) / W``,
    both box corners included; a sample outside ``[0, W - 1] x [0, H - 1]`` is 0, i.e. mid grey.
    Implemented with ``grid_sample(align_corners=True)``, whose normalised coordinate of that
    sample is exactly ``2 * (x1 + k * (x2 - x1) / (size - 1)) / W - 1``.

    ``image`` may be only the region of a larger photo of ``full_size`` (height, width) whose
    top-left pixel is ``origin`` (x, y): the samples are those of the whole photo (``boxes`` in
    its pixels), provided the region holds every in-photo pixel the boxes' samples touch.
    """
    count = boxes.shape[0]
    if count == 0:
        return image.new_zeros((0, image.shape[1], size, size))
    _, channels, height, width = image.shape
    steps = torch.arange(size, dtype=boxes.dtype, device=boxes.device) / (size - 1)
    gx = 2.0 * (boxes[:, 0:1] + steps * (boxes[:, 2:3] - boxes[:, 0:1])) / width - 1.0
    gy = 2.0 * (boxes[:, 1:2] + steps * (boxes[:, 3:4] - boxes[:, 1:2])) / height - 1.0
    if full_size is not None:
        full_h, full_w = full_size
        # sample positions in the photo's pixels, then in the region's normalised coordinates
        px = (boxes[:, 0:1] + steps * (boxes[:, 2:3] - boxes[:, 0:1])) * (full_w - 1) / full_w
        py = (boxes[:, 1:2] + steps * (boxes[:, 3:4] - boxes[:, 1:2])) * (full_h - 1) / full_h
        gx = 2.0 * (px - origin[0]) / max(width - 1, 1) - 1.0
        gy = 2.0 * (py - origin[1]) / max(height - 1, 1) - 1.0
    grid = torch.stack(
        torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1
    )  # (N, size, size, 2) as (x, y)
    patches = F.grid_sample(
        image,
        grid.reshape(1, count * size, size, 2),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=True,
    )
    patches = patches.reshape(channels, count, size, size).permute(1, 0, 2, 3)
    inside_x = (gx >= -1.0) & (gx <= 1.0)
    inside_y = (gy >= -1.0) & (gy <= 1.0)
    inside = inside_y[:, :, None] & inside_x[:, None, :]
    return patches * inside[:, None].to(patches.dtype)


# --------------------------------------------------------------------------------------------
# Non-maximum suppression
# --------------------------------------------------------------------------------------------


def _overlap_matrix(a: Tensor, b: Tensor, mode: OverlapMode) -> Tensor:
    """Intersection over union (``"union"``) or over the smaller box (``"min"``); box areas
    are ``(x2 - x1) * (y2 - y1)``."""
    if mode == "union":
        return box_iou(a, b)
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area_a, area_b = box_area(a), box_area(b)
    return inter / torch.minimum(area_a[:, None], area_b[None, :]).clamp(min=1e-12)


def nms(
    boxes: Tensor,
    scores: Tensor,
    threshold: float,
    mode: OverlapMode = "union",
    style: NmsStyle = "greedy",
) -> Tensor:
    """Indices of the boxes kept by non-maximum suppression, best score first.

    A box is suppressed when its overlap with a better box is greater than ``threshold``.
    ``"greedy"``: only boxes that are themselves kept suppress (standard NMS; torchvision's for
    IoU). ``"package"``: any better box suppresses, even one already suppressed (the ``mtcnn``
    wheel's rule; it removes more boxes).
    """
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    if style == "greedy" and mode == "union":
        return torchvision_nms(boxes, scores, threshold)
    order = torch.argsort(scores, descending=True, stable=True)
    ordered = boxes[order]
    count = ordered.shape[0]
    if style == "package":
        suppressed = torch.zeros(count, dtype=torch.bool, device=boxes.device)
        chunk = 1024
        later = torch.arange(count, device=boxes.device)
        for start in range(0, count, chunk):
            rows = ordered[start : start + chunk]
            overlap = _overlap_matrix(rows, ordered, mode)
            row_index = torch.arange(start, start + rows.shape[0], device=boxes.device)
            after = later[None, :] > row_index[:, None]
            suppressed |= ((overlap > threshold) & after).any(dim=0)
        return order[~suppressed]
    # Greedy NMS by intersection over the smaller box: few boxes reach this (O-Net's output).
    overlap = _overlap_matrix(ordered, ordered, mode).cpu()
    removed = torch.zeros(count, dtype=torch.bool)
    keep: list[int] = []
    for i in range(count):
        if removed[i]:
            continue
        keep.append(i)
        removed |= overlap[i] > threshold
    return order[torch.tensor(keep, dtype=torch.long, device=boxes.device)]


def grouped_nms(
    boxes: Tensor,
    scores: Tensor,
    groups: Tensor,
    threshold: float,
    mode: OverlapMode = "union",
    style: NmsStyle = "greedy",
) -> Tensor:
    """:func:`nms` applied separately within each group id; kept indices, best score first."""
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    if style == "greedy" and mode == "union":
        return batched_nms(boxes, scores, groups, threshold)
    kept = [
        members[nms(boxes[members], scores[members], threshold, mode, style)]
        for members in (torch.nonzero(groups == g).flatten() for g in torch.unique(groups))
    ]
    keep = torch.cat(kept)
    return keep[torch.argsort(scores[keep], descending=True, stable=True)]


# --------------------------------------------------------------------------------------------
# The detector
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Prepared:
    """One photo ready for the cascade: its normalised tensor and how it maps back."""

    tensor: Tensor  # (1, 3, h, w) normalised, on the device
    array: np.ndarray  # (h, w, 3) normalised float32, for the pyramid
    scale_x: float  # original x = detected x * scale_x
    scale_y: float
    levels: list[np.ndarray] = field(default_factory=list)  # pyramid levels made so far


@dataclass(slots=True)
class _Candidates:
    """Candidate faces of all photos in a batch, after one stage."""

    boxes: Tensor  # (N, 4) x1, y1, x2, y2 in the (possibly downscaled) photo's pixels
    scores: Tensor  # (N,)
    image_ids: Tensor  # (N,) long: which photo
    landmarks: Tensor | None = None  # (N, 5, 2), after O-Net

    def select(self, index: Tensor) -> _Candidates:
        return _Candidates(
            self.boxes[index],
            self.scores[index],
            self.image_ids[index],
            None if self.landmarks is None else self.landmarks[index],
        )


class MtcnnDetector:
    """MTCNN face detector (P-Net, R-Net, O-Net cascade) implementing ``FaceDetector``.

    ``min_face_size`` is the smallest face side, in pixels of the photo as detected (after the
    ``max_side`` downscale), that the pyramid looks for. ``thresholds`` are the face
    probabilities (strictly greater than) that P-Net, R-Net and O-Net candidates must reach.
    Photos whose longer side exceeds ``max_side`` are shrunk first (``None``: never); boxes and
    landmarks are reported in the original pixels. ``nms`` picks standard greedy NMS or the
    ``mtcnn`` wheel's stricter variant. ``crop_batch`` caps how many crops go through R-Net or
    O-Net in one forward pass. ``fast_pyramid`` shrinks each pyramid level from an earlier
    level at least twice its size instead of from the photo: about a quarter faster on a CPU, and
    within noise of the exact pyramid on WIDER photos (one face fewer of 586 in a 200-photo test).
    """

    name = "mtcnn"

    def __init__(
        self,
        min_face_size: float = 40,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.8),
        pyramid_factor: float = 0.709,
        device: torch.device | str | None = None,
        max_side: int | None = 1600,
        nms: NmsStyle = "greedy",
        networks: MtcnnNetworks | None = None,
        weights_dir: Path | None = None,
        crop_batch: int = 1024,
        fast_pyramid: bool = False,
    ) -> None:
        if min_face_size <= 0:
            raise ValueError(f"min_face_size must be positive, got {min_face_size}")
        if not 0.0 < pyramid_factor < 1.0:
            raise ValueError(f"pyramid_factor must lie in (0, 1), got {pyramid_factor}")
        if len(thresholds) != 3 or not all(0.0 <= t < 1.0 for t in thresholds):
            raise ValueError(f"thresholds must be three probabilities in [0, 1), got {thresholds}")
        if max_side is not None and max_side < PNET_WINDOW:
            raise ValueError(f"max_side must be at least {PNET_WINDOW}, got {max_side}")
        if nms not in ("greedy", "package"):
            raise ValueError(f"nms must be 'greedy' or 'package', got {nms!r}")
        self.min_face_size = float(min_face_size)
        self.fast_pyramid = bool(fast_pyramid)
        self.thresholds = (float(thresholds[0]), float(thresholds[1]), float(thresholds[2]))
        self.pyramid_factor = float(pyramid_factor)
        self.max_side = max_side
        self.nms_style: NmsStyle = nms
        self.crop_batch = max(1, int(crop_batch))
        if networks is None:
            networks = build_mtcnn_networks(weights_dir, device)
        elif device is not None and networks.device != torch.device(device):
            raise ValueError(f"networks live on {networks.device}, not on the requested {device}")
        self.networks = networks
        self.device = networks.device

    # -- public API ---------------------------------------------------------------------------

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in one RGB ``uint8`` ``H x W x 3`` photo, best score first."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Faces in each of several photos; R-Net and O-Net see the crops of all photos in
        shared batches, P-Net sees same-sized pyramid levels of all photos in one batch."""
        if len(images) == 0:
            return []
        with torch.inference_mode():
            prepared = [self._prepare(image) for image in images]
            candidates = self._proposal_stage(prepared)
            logger.debug("P-Net kept %d candidates", candidates.boxes.shape[0])
            candidates = self._refine_stage(prepared, candidates)
            logger.debug("R-Net kept %d candidates", candidates.boxes.shape[0])
            candidates = self._output_stage(prepared, candidates)
            logger.debug("O-Net kept %d faces", candidates.boxes.shape[0])
            return self._to_detections(prepared, candidates, len(images))

    # -- steps --------------------------------------------------------------------------------

    def _prepare(self, image: np.ndarray) -> _Prepared:
        """Check the photo, shrink it to ``max_side`` (area interpolation) and normalise it."""
        check_rgb(image)
        height, width = image.shape[:2]
        work, _ = downscale(image, self.max_side)
        array = normalize_pixels(work)
        tensor = _to_tensor(array, self.device)
        return _Prepared(
            tensor=tensor,
            array=array,
            scale_x=width / work.shape[1],
            scale_y=height / work.shape[0],
        )

    def _proposal_stage(self, prepared: Sequence[_Prepared]) -> _Candidates:
        """P-Net over each photo's pyramid.

        Every output cell above the first threshold proposes the box its 12 x 12 window covers
        in the level's pixels (``2*i + 1`` to ``2*i + 12``), moved by 11 times the regression and
        divided by the level's scale. NMS at IoU 0.5 within each level, then 0.7 across the
        levels of a photo; survivors are made square for R-Net.
        """
        # Group pyramid levels of identical size so that same-sized photos share a P-Net pass.
        by_size: dict[tuple[int, int], list[tuple[int, int, float]]] = {}
        for image_id, item in enumerate(prepared):
            height, width = item.array.shape[:2]
            scales = pyramid_scales(height, width, self.min_face_size, self.pyramid_factor)
            for level, scale in enumerate(scales):
                size = _level_size(height, width, scale)
                by_size.setdefault(size, []).append((image_id, level, scale))

        boxes: list[Tensor] = []
        scores: list[Tensor] = []
        groups: list[Tensor] = []
        threshold = self.thresholds[0]
        for (level_h, level_w), members in by_size.items():
            levels = [self._level_tensor(prepared[i], level_h, level_w) for i, _, _ in members]
            batch = levels[0] if len(levels) == 1 else torch.cat(levels)
            regression, probability = self.networks.pnet(batch)
            for row, (image_id, level, scale) in enumerate(members):
                ys, xs = torch.nonzero(probability[row] > threshold, as_tuple=True)
                if ys.numel() == 0:
                    continue
                cell = torch.stack([xs, ys, xs, ys], dim=1).to(batch.dtype) * PNET_STRIDE
                window = cell + cell.new_tensor([1.0, 1.0, float(PNET_WINDOW), float(PNET_WINDOW)])
                offsets = regression[row][:, ys, xs].T * float(PNET_WINDOW - 1)
                boxes.append((window + offsets) / scale)
                scores.append(probability[row, ys, xs])
                groups.append(torch.full_like(ys, image_id * _MAX_LEVELS + level))
        if not boxes:
            return self._empty()
        all_boxes = torch.cat(boxes)
        all_scores = torch.cat(scores)
        all_groups = torch.cat(groups)
        keep = grouped_nms(
            all_boxes, all_scores, all_groups, _NMS_PNET_LEVEL, "union", self.nms_style
        )
        image_ids = all_groups[keep] // _MAX_LEVELS
        all_boxes, all_scores = all_boxes[keep], all_scores[keep]
        keep = grouped_nms(all_boxes, all_scores, image_ids, _NMS_PNET_ALL, "union", self.nms_style)
        return _Candidates(square_boxes(all_boxes[keep]), all_scores[keep], image_ids[keep])

    def _level_tensor(self, item: _Prepared, level_h: int, level_w: int) -> Tensor:
        """One pyramid level: the normalised photo resized with area interpolation (OpenCV's
        ``INTER_AREA`` matches the reference; PyTorch's "area" mode does not)."""
        height, width = item.array.shape[:2]
        if (level_h, level_w) == (height, width):
            return item.tensor
        source = item.array
        if self.fast_pyramid:
            for made in item.levels:  # largest first: keep the smallest that is big enough
                height_ok = made.shape[0] >= _FAST_PYRAMID_RATIO * level_h
                if height_ok and made.shape[1] >= _FAST_PYRAMID_RATIO * level_w:
                    source = made
        level = cv2.resize(source, (level_w, level_h), interpolation=cv2.INTER_AREA)
        if self.fast_pyramid:
            item.levels.append(level)
        return _to_tensor(level, self.device)

    def _crops(self, prepared: Sequence[_Prepared], candidates: _Candidates, size: int) -> Tensor:
        """Crops of every candidate from its own photo, in candidate order."""
        crops = candidates.boxes.new_empty((candidates.boxes.shape[0], 3, size, size))
        for image_id in torch.unique(candidates.image_ids).tolist():
            members = torch.nonzero(candidates.image_ids == image_id).flatten()
            crops[members] = crop_patches(
                prepared[image_id].tensor, candidates.boxes[members], size
            )
        return crops

    def _refine_stage(self, prepared: Sequence[_Prepared], candidates: _Candidates) -> _Candidates:
        """R-Net on 24 x 24 crops: new score, regression on the box, second threshold, NMS at
        IoU 0.7 within each photo, square again for O-Net."""
        if candidates.boxes.shape[0] == 0:
            return candidates
        crops = self._crops(prepared, candidates, RNET_INPUT)
        outputs = [self.networks.rnet(chunk) for chunk in crops.split(self.crop_batch)]
        regression = torch.cat([o[0] for o in outputs])
        probability = torch.cat([o[1] for o in outputs])
        boxes = apply_regression(candidates.boxes, regression)
        passed = torch.nonzero(probability > self.thresholds[1]).flatten()
        refined = _Candidates(boxes[passed], probability[passed], candidates.image_ids[passed])
        keep = grouped_nms(
            refined.boxes, refined.scores, refined.image_ids, _NMS_RNET, "union", self.nms_style
        )
        refined = refined.select(keep)
        refined.boxes = square_boxes(refined.boxes)
        return refined

    def _output_stage(self, prepared: Sequence[_Prepared], candidates: _Candidates) -> _Candidates:
        """O-Net on 48 x 48 crops: landmarks decoded on the box O-Net saw, then regression,
        third threshold, and NMS by intersection over the smaller box at 0.7 within a photo."""
        if candidates.boxes.shape[0] == 0:
            return candidates
        crops = self._crops(prepared, candidates, ONET_INPUT)
        outputs = [self.networks.onet(chunk) for chunk in crops.split(self.crop_batch)]
        regression = torch.cat([o[0] for o in outputs])
        landmarks = torch.cat([o[1] for o in outputs])
        probability = torch.cat([o[2] for o in outputs])
        points = decode_landmarks(candidates.boxes, landmarks)
        boxes = apply_regression(candidates.boxes, regression)
        passed = torch.nonzero(probability > self.thresholds[2]).flatten()
        faces = _Candidates(
            boxes[passed], probability[passed], candidates.image_ids[passed], points[passed]
        )
        keep = grouped_nms(
            faces.boxes, faces.scores, faces.image_ids, _NMS_ONET, "min", self.nms_style
        )
        return faces.select(keep)

    def _to_detections(
        self, prepared: Sequence[_Prepared], faces: _Candidates, count: int
    ) -> list[list[Detection]]:
        """Clip boxes to the photo, map boxes and landmarks back to original pixels, sort."""
        results: list[list[Detection]] = [[] for _ in range(count)]
        if faces.boxes.shape[0] == 0 or faces.landmarks is None:
            return results
        boxes = faces.boxes.double().cpu().numpy()
        scores = faces.scores.double().cpu().numpy()
        points = faces.landmarks.double().cpu().numpy()
        image_ids = faces.image_ids.cpu().numpy()
        for box, score, landmarks, image_id in zip(boxes, scores, points, image_ids, strict=True):
            item = prepared[int(image_id)]
            height, width = item.array.shape[:2]
            x1, x2 = np.clip(box[[0, 2]], 0.0, width) * item.scale_x
            y1, y2 = np.clip(box[[1, 3]], 0.0, height) * item.scale_y
            if x2 <= x1 or y2 <= y1:
                continue
            mapped = (landmarks * np.array([item.scale_x, item.scale_y])).astype(np.float32)
            results[int(image_id)].append(
                Detection(
                    box=(float(x1), float(y1), float(x2), float(y2)),
                    score=float(score),
                    landmarks=mapped,
                    scheme="mtcnn5",
                )
            )
        for found in results:
            found.sort(key=lambda detection: detection.score, reverse=True)
        return results

    def _empty(self) -> _Candidates:
        return _Candidates(
            torch.zeros((0, 4), device=self.device),
            torch.zeros(0, device=self.device),
            torch.zeros(0, dtype=torch.long, device=self.device),
        )
