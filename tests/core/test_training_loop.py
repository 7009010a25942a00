"""The training loop on real faces (6 lfw-mini people x 8 photos, tiny runs): a run stopped
mid-way (cancel token, or SIGKILL of the process) resumes from its checkpoint and ends at exactly
the weights of an uninterrupted run with the same seed; anchoring keeps the distance scale."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from facenet_core.metrics import all_pairs
from facenet_core.models.registry import load_dlib_resnet
from facenet_core.progress import CancelToken
from facenet_core.settings import SPECS, Settings
from facenet_core.training.config import SETTING_OF, TrainConfig
from facenet_core.training.loop import FeatureBank, embed_bank, sface_vectors, train
from facenet_core.vision.device import torch_threads
from facenet_core.vision.embed import arcface_from_chip
from facenet_core.vision.faces import FaceJob, find_faces

REPO = Path(__file__).resolve().parents[2]


CONFIG = TrainConfig(
    epochs=4,
    top_blocks=1,
    batch_size=24,
    faces_per_person=4,
    learning_rate=1e-4,
    seed=5,
    checkpoint_every=2,
    fallback="hard",
    anchor=1.0,
)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def faces(lfw_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Chips and labels of 6 people x 8 photos, saved for the subprocess."""
    lines = (lfw_mini / "clusters.txt").read_text().split("\n")
    pairs = [ln.split("\t") for ln in lines if ln.strip()]
    people = sorted({name for _, name in pairs})[:6]
    paths = [lfw_mini / "images" / rel for rel, name in pairs if name in people]
    labels = [people.index(name) for _, name in pairs if name in people]
    chips = [photo.chips[0] for photo in find_faces(paths, FaceJob(centre_fallback=True), 0)]
    folder = tmp_path_factory.mktemp("resume")
    np.save(folder / "chips.npy", np.stack(chips))
    np.save(folder / "labels.npy", np.array(labels))
    return folder / "chips.npy", folder / "labels.npy"


def run(chips: Path, labels: Path, checkpoint: Path | None, cancel_at: int | None = None):
    model, _ = load_dlib_resnet()
    bank = FeatureBank.from_chips(model, np.load(chips), CONFIG.split, CPU)
    cancel = CancelToken()

    def on_step(step: int) -> None:
        if step == cancel_at:
            cancel.cancel()

    with torch_threads(1):
        result = train(
            model,
            bank,
            np.load(labels),
            CONFIG,
            device=CPU,
            checkpoint=checkpoint,
            cancel=cancel,
            on_step=on_step,
            data_key="test",
        )
    return model, result


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.slow
def test_cancel_then_resume_ends_at_the_uninterrupted_weights(faces, tmp_path) -> None:
    chips, labels = faces
    reference, full = run(chips, labels, None)
    assert full.steps == full.total_steps >= 8
    pretrained, _ = load_dlib_resnet()
    assert not same_weights(reference, pretrained)  # it did train

    ckpt = tmp_path / "run.ckpt"
    _, stopped = run(chips, labels, ckpt, cancel_at=5)  # returns, marked cancelled
    assert stopped.cancelled and stopped.steps == 5 < stopped.total_steps
    saved = torch.load(ckpt, weights_only=True)
    assert saved["step"] == 5 and saved["sampler"]["step"] == 5
    assert {"model", "optimiser", "rng", "config", "epoch"} <= saved.keys()
    resumed, result = run(chips, labels, ckpt)
    assert result.resumed_from == 5 and result.steps == full.total_steps
    assert not result.cancelled and not full.cancelled
    assert same_weights(resumed, reference)


SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    import numpy as np, torch
    sys.path.insert(0, {repo!r})
    from tests.core.test_training_loop import CONFIG, CPU
    from facenet_core.models.registry import load_dlib_resnet
    from facenet_core.training.loop import FeatureBank, train
    torch.set_num_threads(1)
    model, _ = load_dlib_resnet()
    bank = FeatureBank.from_chips(model, np.load({chips!r}), CONFIG.split, CPU)

    def on_step(step):
        if step == 7:
            os.kill(os.getpid(), signal.SIGKILL)

    train(model, bank, np.load({labels!r}), CONFIG, device=CPU, checkpoint=Path({ckpt!r}),
          on_step=on_step, data_key="test")
    """
)


@pytest.mark.slow
def test_sigkilled_run_resumes_from_its_last_checkpoint(faces, tmp_path) -> None:
    chips, labels = faces
    ckpt = tmp_path / "killed.ckpt"
    script = SCRIPT.format(repo=str(REPO), chips=str(chips), labels=str(labels), ckpt=str(ckpt))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    assert torch.load(ckpt, weights_only=True)["step"] == 6  # the last checkpoint before step 7
    resumed, result = run(chips, labels, ckpt)
    assert result.resumed_from == 6
    reference, _ = run(chips, labels, None)
    assert same_weights(resumed, reference)


@pytest.mark.slow
def test_a_checkpoint_of_another_run_is_not_resumed(faces, tmp_path) -> None:
    chips, labels = faces
    ckpt = tmp_path / "other.ckpt"
    assert run(chips, labels, ckpt, cancel_at=3)[1].cancelled
    model, _ = load_dlib_resnet()
    bank = FeatureBank.from_chips(model, np.load(chips), CONFIG.split, CPU)
    other = TrainConfig(**{**CONFIG.as_dict(), "seed": 6})
    with torch_threads(1):
        result = train(
            model, bank, np.load(labels), other, device=CPU, checkpoint=ckpt, data_key="test"
        )
    assert result.resumed_from == 0


def mean_distances(model, bank, labels) -> tuple[float, float]:
    emb = embed_bank(model, bank, CPU, flip=False)
    dist, same = all_pairs(emb, labels)
    return float(dist[same].mean()), float(dist[~same].mean())


@pytest.mark.slow
def test_anchoring_keeps_the_distance_scale_the_paper_loss_expands_it(faces) -> None:
    """In dlib's compact space the plain triplet loss spreads every face apart (the calibrated
    thresholds then mean something else); the anchor term holds the scale, and so does the
    scale term alone (which holds the batch's mean squared distance at the start's)."""
    chips, labels_file = faces
    labels = np.load(labels_file)
    pretrained, _ = load_dlib_resnet()
    bank = FeatureBank.from_chips(pretrained, np.load(chips), 11, CPU)
    _, start = mean_distances(pretrained, bank, labels)
    spread = {}
    for anchor, scale in ((0.0, 0.0), (10.0, 0.0), (0.0, 10.0)):
        model, _ = load_dlib_resnet()
        config = TrainConfig(
            epochs=10,
            top_blocks=3,
            batch_size=48,
            faces_per_person=8,
            learning_rate=1e-5,
            margin=0.2,
            anchor=anchor,
            scale=scale,
            extra=0.0,
        )
        events: list = []
        with torch_threads(1):
            train(model, bank, labels, config, device=CPU, reporter=events.append)
        last = events[-1].counters
        assert {"loss", "active", "semihard", "d_ap", "d_an", "drift", "lr", "step"} <= last.keys()
        assert (last["drift"] > 0) == (anchor > 0 or scale > 0)
        spread[anchor, scale] = mean_distances(model, bank, labels)[1] / start
    assert spread[0.0, 0.0] > 2.0  # the plain loss blew the space up (measured: x3.2)
    # anchored: about the same scale (measured: x1.09)
    assert abs(spread[10.0, 0.0] - 1.0) < 0.15
    # the scale term alone holds the whole batch's mean (measured: x1.13 between people)
    assert abs(spread[0.0, 10.0] - 1.0) < 0.15


def test_anchoring_is_refused_from_scratch() -> None:
    with pytest.raises(ValueError, match="anchor"):
        TrainConfig.paper(anchor=1.0)


def test_the_training_settings_defaults_are_the_config_defaults() -> None:
    """The app's Settings (group Training) and ``TrainConfig()`` describe the same measured run."""
    assert TrainConfig.from_settings(Settings()) == TrainConfig()
    changed = Settings().replace(scale=3.0, anchor=0.5, margin=0.1, epochs=2)
    config = TrainConfig.from_settings(changed)
    assert (config.scale, config.anchor, config.margin, config.epochs) == (3.0, 0.5, 0.1, 2)


def test_every_config_default_that_is_a_setting_is_the_registrys() -> None:
    """``TrainConfig`` types no second set of defaults: each field that is a user setting
    defaults to the settings registry's value, and no other field shares a setting's name
    without being mapped (``flip`` is training's mirroring, not the embedder's setting)."""
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert set(SETTING_OF) <= set(fields)
    for name, key in SETTING_OF.items():
        assert fields[name].default == SPECS[key].default, name
    assert (set(fields) & set(SPECS)) - set(SETTING_OF) == {"flip"}


def test_scale_is_refused_from_scratch() -> None:
    with pytest.raises(ValueError, match="scale"):
        TrainConfig.paper(scale=1.0)


def test_the_paper_recipe_has_neither_term() -> None:
    config = TrainConfig.paper()
    assert (config.anchor, config.scale, config.margin, config.optimiser) == (0, 0, 0.2, "adagrad")


def test_a_frozen_partner_makes_the_loss_see_the_fused_distance(faces) -> None:
    """The fused model: SFace's vectors ride along in the bank; the bank's embeddings are the
    fused ones (squared distance = the mean of the two halves'), mining and the loss see those
    distances, and only the dlib head's weights move."""
    chips, labels = np.load(faces[0]), np.load(faces[1])
    model, _ = load_dlib_resnet()
    bank = FeatureBank.from_chips(model, chips, CONFIG.split, CPU)
    arcface = np.stack([arcface_from_chip(c) for c in chips])
    with torch_threads(1):
        partner = sface_vectors(arcface, CPU)
    assert partner.shape == (len(chips), 128)
    fused_bank = bank.with_partner(partner)
    fused = embed_bank(model, fused_bank, CPU)
    dlib = embed_bank(model, bank, CPU)
    sface = partner.numpy()
    assert fused.shape == (len(chips), 256)
    np.testing.assert_allclose(np.linalg.norm(fused, axis=1), 1.0, atol=1e-5)
    d_fused, same = all_pairs(fused, labels)
    d_dlib, _ = all_pairs(dlib, labels)
    d_sface, _ = all_pairs(sface, labels)
    np.testing.assert_allclose(d_fused, (d_dlib + d_sface) / 2, atol=1e-5)
    assert d_sface[~same].mean() > 2 * d_dlib[~same].mean()  # SFace's scale is the larger

    config = dataclasses.replace(CONFIG, epochs=1, anchor=0.0)
    firsts = []
    for one in (bank, fused_bank):
        net, _ = load_dlib_resnet()
        before = {k: v.clone() for k, v in net.state_dict().items()}
        with torch_threads(1):
            result = train(net, one, labels, config, device=CPU, data_key="test")
        firsts.append(result.last)
        changed = {k for k, v in net.state_dict().items() if not torch.equal(v, before[k])}
        assert changed and all(k.startswith(("blocks.13", "fc")) for k in changed), changed
    # the anchor-negative distances mined are the fused ones, far larger than dlib's alone
    assert firsts[1]["d_an"] > 1.5 * firsts[0]["d_an"]
    assert torch.equal(fused_bank.partner, partner)  # SFace's half never changes


def test_the_margin_follows_the_models_distance_scale() -> None:
    """The margin is set in the fast model's distances; the fused model's are x4.58."""
    config = TrainConfig()
    assert config.in_scale_of("dlib-resnet-v1@abc") == config
    fused = config.in_scale_of("fused-dlib-sface-v1@abc")
    assert fused.margin == pytest.approx(config.margin * 0.7743 / 0.1690)
    assert dataclasses.replace(fused, margin=config.margin) == config
