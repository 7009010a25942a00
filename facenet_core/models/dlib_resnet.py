"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) as a plain
``nn.Module``, rebuilt exactly from the weights in dlib's own file.

Structure (29 convolutions, 5.6M parameters): a 7x7/2 stem and a 3x3/2 max-pool, 14 residual
blocks in five levels (32, 64, 128, 256, 256 channels), a global average pool and a 256 -> 128
fully connected layer without bias. dlib's batch norms were folded into per-channel affine layers
when the network was saved; they stay affine (frozen statistics) here too.

Two details of dlib that matter for exactness:

- A *down* block convolves with stride 2 and **no padding**, and its skip path is a 2x2/2 average
  pool; when the two paths differ in size (channels or spatial), dlib adds them by taking the
  larger size in each dimension and treating missing entries as zero.
- The input is ``(pixel - mean) / 256`` per RGB channel with the means stored in the file; the
  module takes chips as floats in [0, 255] and does this itself, so the preprocessing travels with
  the weights.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from facenet_core.models.dlib_format import DlibFormatError, DlibNetwork, LayerRecord

CHIP_SIZE = 150
EMBEDDING_DIM = 128
INPUT = -1
"""The split point "the chip itself": training from there trains every layer."""

# (input channels, output channels, down) for the 14 residual blocks, input to output.
BLOCKS: tuple[tuple[int, int, bool], ...] = (
    *[(32, 32, False)] * 3,
    (32, 64, True),
    *[(64, 64, False)] * 3,
    (64, 128, True),
    *[(128, 128, False)] * 2,
    (128, 256, True),
    *[(256, 256, False)] * 2,
    (256, 256, True),
)


class Affine(nn.Module):
    """Per-channel ``gamma * x + beta`` (dlib's ``affine_`` layer, a frozen batch norm)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def add_zero_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``add_prev``: sum of two (N, C, H, W) tensors, the smaller zero-padded at the end."""
    if a.shape == b.shape:
        return a + b
    c = max(a.shape[1], b.shape[1])
    h = max(a.shape[2], b.shape[2])
    w = max(a.shape[3], b.shape[3])

    def grow(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))

    return grow(a) + grow(b)


class ResidualBlock(nn.Module):
    """conv3x3 -> affine -> relu -> conv3x3 -> affine, plus the (pooled) input, then relu."""

    def __init__(self, in_channels: int, out_channels: int, down: bool) -> None:
        super().__init__()
        self.down = down
        stride, pad = (2, 0) if down else (1, 1)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=pad)
        self.affine1 = Affine(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.affine2 = Affine(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.affine1(self.conv1(x)))
        y = self.affine2(self.conv2(y))
        skip = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(add_zero_padded(skip, y))


class DlibResNet(nn.Module):
    """150x150 RGB face chip (floats in [0, 255]) -> 128-D descriptor.

    ``forward(x)`` returns unit-length embeddings (the FaceNet contract); ``descriptor(x)`` returns
    dlib's raw, unnormalised descriptor.
    """

    mean: torch.Tensor

    def __init__(self, means: tuple[float, float, float] = (122.782, 117.001, 104.298)) -> None:
        super().__init__()
        self.mean: torch.Tensor
        self.register_buffer("mean", torch.tensor(means, dtype=torch.float32).view(1, 3, 1, 1))
        # the inference copy folds (x - mean) / 256 into the stem convolution (it has no padding)
        self.normalize_input = True
        self.stem_conv = nn.Conv2d(3, 32, 7, stride=2)
        self.stem_affine = Affine(32)
        self.blocks: list[ResidualBlock] = nn.ModuleList(  # type: ignore[assignment]
            ResidualBlock(i, o, d) for i, o, d in BLOCKS
        )
        self.fc = nn.Linear(256, EMBEDDING_DIM, bias=False)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """Everything before the pooling: the last feature map ``(N, 256, h, w)``."""
        if self.normalize_input:
            x = (x - self.mean) / 256.0
        x = F.relu(self.stem_affine(self.stem_conv(x)))
        x = F.max_pool2d(x, 3, 2)
        for block in self.blocks:
            x = block(x)
        return x

    def descriptor(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.trunk(x).mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.descriptor(x), dim=1)

    # -- split points, for training the top of the network on a frozen trunk ----------------
    #
    # Split ``s`` is the input of residual block ``s`` (0-13), or 14: the last block's output
    # (only the fc layer above it); ``INPUT`` (-1) is the chip itself (the whole network).
    # ``head(features(x, s), s) == forward(x)`` for every split.

    def features(self, x: torch.Tensor, split: int) -> torch.Tensor:
        """Activations at ``split`` of chips ``x`` (N, 3, 150, 150), floats in [0, 255]."""
        if split == INPUT:
            return x
        if self.normalize_input:
            x = (x - self.mean) / 256.0
        x = F.relu(self.stem_affine(self.stem_conv(x)))
        x = F.max_pool2d(x, 3, 2)
        return self.advance(x, 0, split)

    def advance(self, x: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        """Activations at split ``stop`` from those at split ``start`` (0 <= start <= stop)."""
        for block in self.blocks[start:stop]:
            x = block(x)
        return x

    def head(self, x: torch.Tensor, split: int) -> torch.Tensor:
        """Unit embeddings from the activations at ``split``."""
        if split == INPUT:
            return self.forward(x)
        x = self.advance(x, split, len(self.blocks))
        return F.normalize(self.fc(x.mean(dim=(2, 3))), dim=1)

    def head_parameters(self, split: int) -> list[nn.Parameter]:
        """The parameters above ``split``: the ones a run training from there updates."""
        if split == INPUT:
            return list(self.parameters())
        params = [p for block in self.blocks[split:] for p in block.parameters()]
        return [*params, *self.fc.parameters()]

    def fused_for_inference(self) -> DlibResNet:
        """A copy for inference only: every affine folded into the convolution before it, the
        input normalisation ``(x - mean) / 256`` folded into the stem convolution (exact: it
        pads nothing), and the weights in channels-last layout (about 1.5x faster on CPU; same
        outputs to 1e-6). Its input is the chip's pixels 0-255 in any float type: whole numbers
        that bfloat16 holds exactly, so a bfloat16 copy loses nothing at the input."""
        fused = copy.deepcopy(self).eval()
        with torch.no_grad():
            stem = fused.stem_conv
            assert stem.bias is not None
            mean = fused.mean.view(1, -1, 1, 1).to(stem.weight.dtype)
            stem.bias.sub_((stem.weight * mean).sum(dim=(1, 2, 3)) / 256.0)
            stem.weight.div_(256.0)
        fused.normalize_input = False
        pairs: list[tuple[nn.Module, str, str]] = [(fused, "stem_conv", "stem_affine")]
        for block in fused.blocks:
            pairs += [(block, "conv1", "affine1"), (block, "conv2", "affine2")]
        with torch.no_grad():
            for owner, conv_name, affine_name in pairs:
                conv, affine = getattr(owner, conv_name), getattr(owner, affine_name)
                if isinstance(affine, nn.Identity):
                    continue
                conv.weight.mul_(affine.weight.view(-1, 1, 1, 1))
                conv.bias.mul_(affine.weight).add_(affine.bias)
                setattr(owner, affine_name, nn.Identity())
        return fused.to(memory_format=torch.channels_last)

    @classmethod
    def from_dlib(cls, network: DlibNetwork) -> DlibResNet:
        """Build the module and copy every weight from a parsed dlib network."""
        means = tuple(float(v) for v in network.input.fields["means"])
        model = cls((means[0], means[1], means[2]))
        if network.input.fields["rows"] != CHIP_SIZE or network.input.fields["cols"] != CHIP_SIZE:
            raise DlibFormatError("expected a 150x150 input layer")
        layers = iter(network.layers)

        def take(*kinds: str) -> LayerRecord:
            rec = next(layers, None)
            if rec is None or rec.kind not in kinds:
                found = "end of network" if rec is None else rec.kind
                raise DlibFormatError(f"expected one of {kinds}, found {found}")
            return rec

        with torch.no_grad():
            _load_conv(model.stem_conv, take("con_4", "con_5"))
            _load_affine(model.stem_affine, take("affine_", "affine_2"))
            take("relu_", "relu_2")
            take("max_pool_2")
            for block in model.blocks:
                assert isinstance(block, ResidualBlock)
                _load_conv(block.conv1, take("con_4", "con_5"))
                _load_affine(block.affine1, take("affine_", "affine_2"))
                take("relu_", "relu_2")
                _load_conv(block.conv2, take("con_4", "con_5"))
                _load_affine(block.affine2, take("affine_", "affine_2"))
                if block.down:
                    pool = take("avg_pool_2")
                    if (pool.fields["rows"], pool.fields["stride_y"]) != (2, 2):
                        raise DlibFormatError("unexpected skip pool geometry")
                take("add_prev_")
                take("relu_", "relu_2")
            pool = take("avg_pool_2")
            if pool.fields["rows"] != 0:
                raise DlibFormatError("expected a global average pool before the head")
            fc = take("fc_2", "fc_3")
            assert fc.params is not None
            weight = fc.params.reshape(fc.fields["inputs"], fc.fields["outputs"])
            model.fc.weight.copy_(torch.from_numpy(weight.T.copy()))
        if next(layers, None) is not None:
            raise DlibFormatError("the network has more layers than the face ResNet")
        return model


def _load_conv(conv: nn.Conv2d, rec: LayerRecord) -> None:
    f = rec.fields
    kh, kw = conv.kernel_size
    expected = (conv.out_channels, kh, kw, conv.stride[0])
    found = (f["filters"], f["rows"], f["cols"], f["stride_y"])
    if expected != found:
        raise DlibFormatError(f"convolution mismatch: expected {expected}, found {found}")
    assert rec.params is not None and conv.bias is not None
    flat = torch.from_numpy(rec.params.reshape(-1))
    n_weight = conv.weight.numel()
    if flat.numel() != n_weight + conv.out_channels:
        raise DlibFormatError(f"convolution has {flat.numel()} parameters, expected more/less")
    conv.weight.copy_(flat[:n_weight].view_as(conv.weight))
    conv.bias.copy_(flat[n_weight:])


def _load_affine(affine: Affine, rec: LayerRecord) -> None:
    assert rec.params is not None
    if rec.fields["mode"] != 0:
        raise DlibFormatError("only per-channel affine layers are supported")
    flat = torch.from_numpy(rec.params.reshape(-1))
    k = affine.weight.numel()
    if flat.numel() != 2 * k:
        raise DlibFormatError(f"affine layer has {flat.numel()} parameters, expected {2 * k}")
    affine.weight.copy_(flat[:k])
    affine.bias.copy_(flat[k:])
