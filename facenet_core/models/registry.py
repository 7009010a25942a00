"""Models by name and version: where their weights come from, how they are cached, what they are.

Pretrained weights come only from pip packages (never from a hub or URL). The dlib ResNet is
converted from its ``.dat`` file once and cached as a PyTorch ``state_dict`` in the user cache
folder, keyed by the sha256 of the source file, so a changed source file is converted again.

Fine-tuned weights are a ``state_dict`` file of the same network named by its own sha256
(``<data dir>/models/<sha256>.pt``); a library's :class:`~facenet_core.store.ModelVersion` row
records name, sha256 and path, and :func:`model_info` + :func:`load_model` bring it back. Every
weights file loads with ``weights_only=True`` and is checked against its recorded sha256.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from facenet_core.errors import UserError
from facenet_core.models.dlib_format import read_network
from facenet_core.models.dlib_resnet import DlibResNet
from facenet_core.models.files import dlib_model_path
from facenet_core.paths import atomic_write_bytes, cache_dir, sha256_file

log = logging.getLogger(__name__)

DLIB_RESNET = "dlib-resnet-v1"
FUSED = "fused-dlib-sface-v1"
"""The accurate model: dlib's ResNet and SFace, their unit vectors side by side (256-D)."""
FACE_MODELS = {"fast": DLIB_RESNET, "accurate": FUSED}
"""The "Face model" setting's choices and the model each one names."""
DIMENSIONS = {DLIB_RESNET: 128, FUSED: 256}


class ModelLoadError(UserError):
    """A model version's weights cannot be loaded; the message says why."""

    hint = "Choose another model version (or train a new one)."


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """Identity of a set of embedding weights; stored beside every embedding it makes.

    ``source``: the file the weights come from (the shipped ``.dat`` file, or a fine-tuned
    ``.pt`` file when ``fine_tuned``)."""

    name: str
    sha256: str
    source: Path
    fine_tuned: bool = False

    @property
    def version(self) -> str:
        """A short, stable identifier such as ``dlib-resnet-v1@1a2b3c4d5e6f``."""
        return f"{self.name}@{self.sha256[:12]}"


def dlib_resnet_info() -> ModelInfo:
    source = dlib_model_path("dlib_face_recognition_resnet_model_v1.dat")
    return ModelInfo(DLIB_RESNET, sha256_file(source), source)


def fused_info() -> ModelInfo:
    """The shipped fused model. Its sha256 names both weight files: the sha256 of the text
    ``<dlib .dat sha256>+<SFace .onnx sha256>``, so a change to either makes another version.
    ``source``: the dlib file (SFace's is checked against its own pinned sha256 on load)."""
    dlib_info = dlib_resnet_info()
    return ModelInfo(FUSED, fused_sha256(dlib_info.sha256), dlib_info.source)


def fused_sha256(dlib_sha256: str) -> str:
    """The sha256 naming a fused model: of the text ``<dlib weights' sha256>+<SFace's>``. The
    shipped model's dlib part is the ``.dat`` file; a fine-tuned one's is its ``.pt`` file (its
    SFace part is always the stock, frozen one, whose sha256 is pinned)."""
    from facenet_core.models.sface import WEIGHT_SHA256

    return hashlib.sha256(f"{dlib_sha256}+{WEIGHT_SHA256}".encode()).hexdigest()


def pretrained_info(face_model: str) -> ModelInfo:
    """The shipped weights of a "Face model" setting (``fast`` or ``accurate``)."""
    name = FACE_MODELS.get(face_model)
    if name is None:
        raise ValueError(f"unknown face model {face_model!r}: choose one of {sorted(FACE_MODELS)}")
    return fused_info() if name == FUSED else dlib_resnet_info()


def embedding_dim(name: str) -> int:
    """Components of the embeddings a model (by name, or ``name@sha``) makes."""
    return DIMENSIONS[name.split("@", 1)[0]]


def load_dlib_resnet(cache: Path | None = None) -> tuple[DlibResNet, ModelInfo]:
    """The pretrained dlib ResNet in eval mode, converted once and then read from the cache."""
    info = dlib_resnet_info()
    folder = cache if cache is not None else cache_dir()
    cached = folder / f"{info.name}-{info.sha256}.pt"
    model = DlibResNet()
    if cached.is_file():
        try:
            model.load_state_dict(torch.load(cached, map_location="cpu", weights_only=True))
            return model.eval(), info
        except Exception as exc:  # any unreadable cache file: convert again
            log.warning("converted weights %s are unreadable (%s); converting again", cached, exc)
    log.info("converting %s to PyTorch", info.source)
    model = DlibResNet.from_dlib(read_network(info.source))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    try:
        atomic_write_bytes(cached, buffer.getvalue())  # a crash never leaves half a cache file
    except OSError as exc:
        log.warning("could not cache converted weights in %s: %s", folder, exc)
    return model.eval(), info


def model_info(name: str, sha256: str, weights_path: str | Path | None) -> ModelInfo:
    """The :class:`ModelInfo` of a recorded model version (its ``weights_path`` is None for the
    weights that ship with the app)."""
    if name not in DIMENSIONS:
        raise ModelLoadError(
            f"unknown model {name!r}: this version of the app knows {', '.join(DIMENSIONS)}"
        )
    if weights_path is None:
        shipped = dlib_resnet_info()
        return ModelInfo(name, sha256, shipped.source)
    return ModelInfo(name, sha256, Path(weights_path), fine_tuned=True)


def load_model(info: ModelInfo, cache: Path | None = None) -> DlibResNet:
    """The network of a model version, in eval mode on the CPU (for the fused model: its dlib
    branch, after checking that this install's two weight files are the recorded ones; see
    :func:`load_sface` for the other).

    Raises :class:`ModelLoadError` when the weights are gone or are not the recorded ones."""
    if info.name == FUSED and not info.fine_tuned:
        shipped_fused = fused_info()
        if shipped_fused.sha256 != info.sha256:
            raise ModelLoadError(
                f"{info.version} was made with other shipped weights than this install has"
                f" ({shipped_fused.version}); activate a version made with them"
            )
        model, _ = load_dlib_resnet(cache)
        return model
    if not info.fine_tuned:
        model, shipped = load_dlib_resnet(cache)
        if shipped.sha256 != info.sha256:
            raise ModelLoadError(
                f"{info.version} was made with other shipped weights than this install has"
                f" ({shipped.version}); activate a version made with them"
            )
        return model
    if not info.source.is_file():
        raise ModelLoadError(
            f"the weights of {info.version} are missing ({info.source}); restore the file or"
            " activate another version (facenet-photos models)"
        )
    found = sha256_file(info.source)
    if info.name == FUSED:  # a fine-tuned dlib branch beside the stock SFace
        found = fused_sha256(found)
    if found != info.sha256:
        raise ModelLoadError(
            f"{info.source} is not the recorded weights of {info.version} (sha256 {found[:12]});"
            " the file was changed or damaged"
        )
    model = DlibResNet()
    try:
        state = torch.load(info.source, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:
        raise ModelLoadError(f"{info.source}: unreadable weights ({exc})") from exc
    return model.eval()


def save_fine_tuned(model: DlibResNet, folder: Path, name: str = DLIB_RESNET) -> ModelInfo:
    """Write ``model``'s weights to ``folder/<sha256>.pt`` (atomically) and describe them.

    For the fused model (``name`` FUSED) ``model`` is its fine-tuned dlib branch; the version's
    sha256 is :func:`fused_sha256` of the file's, which also names the stock SFace beside it."""
    buffer = io.BytesIO()
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    torch.save(state, buffer)
    data = buffer.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    path = folder / f"{sha}.pt"
    if not (path.is_file() and sha256_file(path) == sha):
        atomic_write_bytes(path, data)
    recorded = fused_sha256(sha) if name == FUSED else sha
    return ModelInfo(name, recorded, path, fine_tuned=True)
