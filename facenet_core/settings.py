"""Every user-facing setting, declared once: its type, default, allowed values, title and help.

:class:`Settings` is a frozen dataclass whose fields carry a :class:`SettingSpec` in their
metadata. From that one declaration come the command line's options (``cli/common.py``), the
option table in docs/cli.md (checked by a test) and the app's Settings view. Settings that change
what is stored (``STORED``: the detector and the alignment) are saved in the library, so a library
keeps the choices it was built with; window state is the app's own business (QSettings).

A leaf module: it imports nothing from the rest of the package. To add a setting, add one field
below with :func:`setting`; everything else picks it up.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from facenet_core.errors import UserError

Kind = Literal["bool", "int", "float", "choice", "device", "address"]

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
ADDRESS_PATTERN = re.compile(r"^(here|auto|local:[1-9]\d{0,2}|(ray://)?[A-Za-z0-9._-]+:\d{1,5})$")
"""Where a scan computes: ``here`` (this computer), ``local:N`` (a Ray instance of N workers
started on this computer), ``auto`` (the Ray cluster this computer is part of) or a Ray address
(``HOST:PORT``, ``ray://HOST:PORT``)."""


class SettingsError(UserError, ValueError):
    """A setting got a value outside what it allows; the message names the setting."""


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """What a setting is: ``key`` (the field name), ``kind``, allowed ``choices`` or range
    (``minimum``/``maximum``, inclusive), whether None is allowed (``optional``: None means
    "automatic"), a ``title`` and a one-line ``help`` for people, its ``group`` in the Settings
    view, and ``stored``: whether it changes what a scan stores (so it is kept in the library)."""

    key: str
    kind: Kind
    default: Any
    title: str
    help: str
    group: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    optional: bool = False
    stored: bool = False

    @property
    def flag(self) -> str:
        """The command-line option: ``--min-face-size`` for ``min_face_size``."""
        return "--" + self.key.replace("_", "-")

    def check(self, value: Any) -> Any:
        """``value`` if this setting allows it (ints widened to float where a float is wanted),
        else :class:`SettingsError` naming the setting and what it allows."""
        if value is None:
            if self.optional:
                return None
            raise SettingsError(f"{self.key}: a value is required")
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise SettingsError(f"{self.key}: expected true or false, got {value!r}")
            return value
        if self.kind in ("choice", "device", "address"):
            if not isinstance(value, str):
                raise SettingsError(f"{self.key}: expected text, got {value!r}")
            if self.kind == "choice" and value not in self.choices:
                raise SettingsError(
                    f"{self.key}: {value!r} is not one of {', '.join(self.choices)}"
                )
            if self.kind == "device" and not DEVICE_PATTERN.match(value):
                raise SettingsError(
                    f"{self.key}: {value!r} is not a device (auto, cpu, cuda, cuda:N or mps)"
                )
            if self.kind == "address" and not ADDRESS_PATTERN.match(value):
                raise SettingsError(
                    f"{self.key}: {value!r} is not a place to compute (here, local:N, auto, "
                    "HOST:PORT or ray://HOST:PORT)"
                )
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(f"{self.key}: expected a number, got {value!r}")
        if self.kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise SettingsError(f"{self.key}: expected a whole number, got {value!r}")
            value = int(value)
        else:
            value = float(value)
        if self.minimum is not None and value < self.minimum:
            raise SettingsError(f"{self.key}: {value} is below the minimum {self.minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise SettingsError(f"{self.key}: {value} is above the maximum {self.maximum:g}")
        return value

    def describe_range(self) -> str:
        """Allowed values in words, for help texts and the table in docs/cli.md."""
        if self.kind == "bool":
            return "on / off"
        if self.kind == "choice":
            return " / ".join(self.choices)
        if self.kind == "device":
            return "auto / cpu / cuda / cuda:N / mps"
        if self.kind == "address":
            return "here / local:N / auto / HOST:PORT / ray://HOST:PORT"
        low = "" if self.minimum is None else f"{self.minimum:g}"
        high = "" if self.maximum is None else f"{self.maximum:g}"
        text = f"{low} to {high}" if low and high else (f">= {low}" if low else f"<= {high}")
        return text + (" (empty: automatic)" if self.optional else "")


def setting(
    default: Any,
    *,
    kind: Kind,
    title: str,
    help: str,
    group: str,
    choices: tuple[str, ...] = (),
    minimum: float | None = None,
    maximum: float | None = None,
    optional: bool = False,
    stored: bool = False,
) -> Any:
    """A :class:`Settings` field with its spec (the key is filled in from the field's name)."""
    spec = SettingSpec(
        key="",
        kind=kind,
        default=default,
        title=title,
        help=help,
        group=group,
        choices=choices,
        minimum=minimum,
        maximum=maximum,
        optional=optional,
        stored=stored,
    )
    return field(default=default, metadata={"spec": spec})


@dataclass(frozen=True, slots=True)
class Settings:
    """The values of every setting; ``Settings()`` holds the defaults."""

    # -- detection (stored: a library records what its faces were found with) -----------------
    detector: str = setting(
        "yunet",
        kind="choice",
        choices=("yunet", "mtcnn", "hog"),
        title="Face detector",
        help="YuNet finds the most faces (WIDER recall 90.3% vs MTCNN's 85.7%, HOG's 64.1%), "
        "at the highest speed",
        group="Detection",
        stored=True,
    )
    min_face_size: int = setting(
        40,
        kind="int",
        minimum=12,
        maximum=2000,
        title="Smallest face (px)",
        help="smallest face side looked for, in pixels of the photo as detected (YuNet: sets "
        "its working scale, below 30 px it enlarges the photo; MTCNN: its pyramid)",
        group="Detection",
    )
    landmarks: str = setting(
        "onet",
        kind="choice",
        choices=("onet", "native", "dlib5"),
        title="Alignment points",
        help="five points the chips are aligned on: MTCNN's O-Net points (onet; for YuNet "
        "found in YuNet's box), the detector's own (native), or dlib's 5-point predictor in "
        "the detector's box (dlib5)",
        group="Detection",
        stored=True,
    )
    exact_pyramid: bool = setting(
        False,
        kind="bool",
        title="Exact image pyramid",
        help="MTCNN: shrink every pyramid level from the photo (slower; the default shrinks "
        "each level from a larger one, measured as accurate)",
        group="Detection",
    )
    upsample: int = setting(
        1,
        kind="int",
        minimum=0,
        maximum=3,
        title="HOG upsampling",
        help="HOG: times the image is doubled before detecting (1 finds faces from ~40 px)",
        group="Detection",
    )
    detect_max_side: int = setting(
        1600,
        kind="int",
        minimum=64,
        maximum=20000,
        title="Detection size limit (px)",
        help="photos with a longer side are downscaled for detection; boxes are mapped back",
        group="Detection",
    )
    # -- videos ----------------------------------------------------------------------------------
    video_fps: float = setting(
        1.0,
        kind="float",
        minimum=0.05,
        maximum=30.0,
        title="Video frames per second",
        help="frames of a video looked at per second of it (spread evenly when the limit below "
        "leaves fewer)",
        group="Videos",
    )
    video_max_frames: int = setting(
        20,
        kind="int",
        minimum=1,
        maximum=2000,
        title="Frames per video (most)",
        help="a video is read in at most this many frames, spread over its length: about the "
        "time of as many photos (docs/benchmarks/2026-12-07-video.md)",
        group="Videos",
    )
    video_max_seconds: float = setting(
        60.0,
        kind="float",
        minimum=1.0,
        maximum=3600.0,
        title="Time per video (most, s)",
        help="a video still being read after this many seconds keeps the tracks found so far",
        group="Videos",
    )
    # -- embedding -------------------------------------------------------------------------------
    face_model: str = setting(
        "accurate",
        kind="choice",
        choices=("accurate", "fast"),
        title="Face model",
        help="accurate: two networks (dlib's ResNet and SFace, 256-byte faces; LFW 99.70% vs "
        "99.18%), about three times the embedding time; fast: dlib's ResNet alone (128 bytes). "
        "A library keeps the model it was scanned with (new faces too): switch it with reembed "
        "--face-model",
        group="Embedding",
    )
    flip: bool = setting(
        True,
        kind="bool",
        title="Mirror averaging",
        help="average each face's embedding with its mirror image's (measured better on LFW)",
        group="Embedding",
        stored=True,
    )
    batch_size: int = setting(
        32,
        kind="int",
        minimum=1,
        maximum=4096,
        title="Batch size",
        help="face chips per forward pass of the embedding network (on a GPU at least 512)",
        group="Embedding",
    )
    precision: str = setting(
        "auto",
        kind="choice",
        choices=("auto", "fp32", "bf16"),
        title="Embedding precision",
        help="auto: bfloat16 on a CUDA GPU and on CPUs that compute it natively (AVX512-BF16, "
        "AMX; LFW within 0.03 pp of float32), float32 elsewhere",
        group="Embedding",
    )
    # -- people ----------------------------------------------------------------------------------
    cluster_threshold: float = setting(
        0.15,
        kind="float",
        minimum=0.05,
        maximum=0.6,
        title="Clustering strictness",
        help="largest average squared distance between the faces of two groups that may merge "
        "(lower: stricter, more and smaller groups), in the fast model's distances: the "
        "accurate model reads it on its own scale (x4.58, its calibrated threshold over dlib's)",
        group="People",
    )
    suggest_confidence: float = setting(
        0.8,
        kind="float",
        minimum=0.0,
        maximum=1.0,
        title="Suggestion threshold",
        help="recognition confidence from which a known person is suggested for a face",
        group="People",
    )
    auto_confidence: float = setting(
        0.98,
        kind="float",
        minimum=0.0,
        maximum=1.0,
        title="Auto-assign threshold",
        help="recognition confidence from which a face is given to a known person unasked",
        group="People",
    )
    min_cluster_faces: int = setting(
        3,
        kind="int",
        minimum=1,
        maximum=1000,
        title="Smallest group shown",
        help="unnamed groups with fewer faces are not shown among the people",
        group="People",
    )
    cluster_min_face_px: int = setting(
        30,
        kind="int",
        minimum=0,
        maximum=2000,
        title="Smallest face to group (px)",
        help="faces with a shorter side are not grouped (too small to tell people apart)",
        group="People",
    )
    cluster_min_score: float = setting(
        0.0,
        kind="float",
        minimum=0.0,
        maximum=100.0,
        title="Least detection score to group",
        help="faces the detector was less sure of are not grouped (MTCNN: 0 to 1)",
        group="People",
    )
    read_face_tags: bool = setting(
        True,
        kind="bool",
        title="Read face tags from photos",
        help="scan reads the face names other programs wrote into new and changed photos (XMP "
        "regions and People keywords, Google Takeout, Picasa) and names those faces; yours win",
        group="People",
    )
    keep_sidecars_in_sync: bool = setting(
        False,
        kind="bool",
        title="Keep sidecars in sync",
        help="after every edit of named people, write the XMP sidecars of the photos it touched "
        "again (as export-tags does; photos themselves are never changed)",
        group="People",
    )
    sidecar_naming: str = setting(
        "ext.xmp",
        kind="choice",
        choices=("ext.xmp", "xmp"),
        title="Sidecar file name",
        help="IMG.jpg.xmp (digiKam, Immich, ExifTool) or IMG.xmp (Lightroom, Capture One), for "
        "export-tags and keeping sidecars in sync",
        group="People",
    )
    # -- performance -----------------------------------------------------------------------------
    device: str = setting(
        "auto",
        kind="device",
        title="Compute device",
        help="auto picks CUDA, then Apple's MPS, then the CPU, for detection and embedding",
        group="Performance",
    )
    workers: int | None = setting(
        None,
        kind="int",
        minimum=0,
        maximum=64,
        optional=True,
        title="Worker threads",
        help="photos worked on at once (empty: one per core, at most 8; 0: one at a time)",
        group="Performance",
    )
    cluster: str = setting(
        "here",
        kind="address",
        title="Compute on",
        help="here: this computer; local:N: a Ray instance of N workers on this computer; auto "
        "or a Ray address: that cluster's workers find and embed the faces, this computer "
        'stores them (needs pip install -e ".[cluster]")',
        group="Performance",
    )
    cluster_photos: str = setting(
        "auto",
        kind="choice",
        choices=("auto", "shared", "send"),
        title="Photos on the cluster",
        help="shared: the workers read each photo at its path (shared storage); send: this "
        "computer sends each photo's bytes; auto: a check at the start picks",
        group="Performance",
    )

    # -- training (fine-tuning on the user's confirmed faces) -----------------------------------
    epochs: int = setting(
        60,
        kind="int",
        minimum=1,
        maximum=1000,
        title="Training epochs",
        help="fine-tuning passes over the confirmed faces (every person once per pass)",
        group="Training",
    )
    learning_rate: float = setting(
        1e-5,
        kind="float",
        minimum=1e-8,
        maximum=1.0,
        title="Learning rate",
        help="Adam's step size for fine-tuning (the paper's AdaGrad at 0.05 is for training "
        "from scratch and destroys the pretrained network)",
        group="Training",
    )
    top_blocks: int = setting(
        3,
        kind="int",
        minimum=0,
        maximum=14,
        title="Blocks trained",
        help="residual blocks trained below the final layer; the rest of the network is frozen",
        group="Training",
    )
    margin: float = setting(
        0.05,
        kind="float",
        minimum=0.001,
        maximum=2.0,
        title="Triplet margin",
        help="alpha of the triplet loss; FaceNet's 0.2 suits its distance scale (thresholds "
        "near 1.2), this network's is about 7 times tighter (threshold 0.18)",
        group="Training",
    )
    anchor: float = setting(
        1.0,
        kind="float",
        minimum=0.0,
        maximum=100.0,
        title="Stay near the current model",
        help="weight keeping each face's embedding near the current model's, so distances keep "
        "their scale and the calibrated thresholds stay valid (0: the paper's loss alone)",
        group="Training",
    )
    scale: float = setting(
        1.0,
        kind="float",
        minimum=0.0,
        maximum=1000.0,
        title="Keep the distance scale",
        help="weight holding the mean squared distance between faces at the current model's, so "
        "the calibrated thresholds (clustering, recognition, verification) stay valid (0: off)",
        group="Training",
    )
    holdout: float = setting(
        0.25,
        kind="float",
        minimum=0.1,
        maximum=0.5,
        title="Held-out share",
        help="share of each person's confirmed faces kept out of training to validate on",
        group="Training",
    )
    faces_per_person: int = setting(
        8,
        kind="int",
        minimum=2,
        maximum=200,
        title="Faces per person per batch",
        help="at most this many faces of one person in a training batch (FaceNet: about 40 in "
        "batches of 1,800; fine-tuning measured better with 8 in batches of 480)",
        group="Training",
    )
    train_batch_size: int | None = setting(
        None,
        kind="int",
        minimum=16,
        maximum=4096,
        optional=True,
        title="Training batch size",
        help="faces per training batch (empty: sized to the memory available, at most 480)",
        group="Training",
    )
    semihard_fallback: str = setting(
        "skip",
        kind="choice",
        choices=("skip", "hard", "hardest"),
        title="Without a semi-hard negative",
        help="what a face pair with no semi-hard negative trains on: nothing (skip), the "
        "mildest hard negative, or the hardest one",
        group="Training",
    )
    seed: int = setting(
        0,
        kind="int",
        minimum=0,
        maximum=999_999,
        title="Training seed",
        help="seed of the held-out choice, the batches and the mirroring (same seed, same run)",
        group="Training",
    )

    def __post_init__(self) -> None:
        for spec in SETTINGS:
            checked = spec.check(getattr(self, spec.key))
            object.__setattr__(self, spec.key, checked)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (each checked); unknown keys are an error."""
        unknown = sorted(set(changes) - set(SPECS))
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return {spec.key: getattr(self, spec.key) for spec in SETTINGS}

    def stored_values(self) -> dict[str, Any]:
        """The settings that change what a scan stores."""
        return {spec.key: getattr(self, spec.key) for spec in SETTINGS if spec.stored}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        """Settings from saved values; keys no longer known are skipped (older libraries)."""
        return cls().replace(**{k: v for k, v in values.items() if k in SPECS})


def _specs() -> Iterator[SettingSpec]:
    for f in dataclasses.fields(Settings):
        spec: SettingSpec = f.metadata["spec"]
        yield dataclasses.replace(spec, key=f.name)


SETTINGS: tuple[SettingSpec, ...] = tuple(_specs())
"""Every setting's spec, in declaration order (the order of the Settings view)."""
SPECS: dict[str, SettingSpec] = {spec.key: spec for spec in SETTINGS}


def markdown_table(specs: tuple[SettingSpec, ...] = SETTINGS) -> str:
    """docs/cli.md's option table, generated from the registry (a test keeps them equal)."""
    lines = ["| option | setting | values | default | meaning |", "|---|---|---|---|---|"]
    words = {True: "on", False: "off", None: "automatic"}
    for spec in specs:
        d = spec.default
        shown = words[d] if d is None or isinstance(d, bool) else str(d)
        flag = f"`{spec.flag}`" + (f" / `--no-{spec.flag[2:]}`" if spec.kind == "bool" else "")
        values = spec.describe_range().replace("|", "\\|")
        lines.append(f"| {flag} | {spec.title} | {values} | {shown} | {spec.help} |")
    return "\n".join(lines)
