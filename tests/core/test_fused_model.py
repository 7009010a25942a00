"""The accurate face model (dlib's ResNet + SFace, fused 256-D) end to end: the embedder, the
scan storing 256-byte codes, grouping and recognition at the fused model's thresholds, and
the re-embedding upgrade of a library made with the fast model (every user edit kept)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import select

from facenet_core import calibration
from facenet_core.imageio import load_image
from facenet_core.library import scan as run_scan
from facenet_core.models.registry import (
    DLIB_RESNET,
    FUSED,
    ModelLoadError,
    fused_info,
    fused_sha256,
    load_model,
    model_info,
    pretrained_info,
    save_fine_tuned,
)
from facenet_core.models.sface import load_sface, sface_embeddings
from facenet_core.paths import sha256_file
from facenet_core.people.edits import name_person
from facenet_core.people.labels import for_model
from facenet_core.quantize import from_bytes
from facenet_core.settings import Settings
from facenet_core.store import Embedding, Face, Library, ModelVersion, Person
from facenet_core.store.queries import get_active_model_version
from facenet_core.training.versions import use_face_model, use_model_version
from facenet_core.vision.align import arcface_chips, face_chips
from facenet_core.vision.detectors import DetectorConfig, make_detector
from facenet_core.vision.embed import SFACE_CPU_IMAGES, Embedder, FusedEmbedder
from facenet_core.vision.faces import PHOTOS_PER_TASK, FaceFinder, FaceJob, find_faces
from tests.helpers import people_by_file

ACCURATE = Settings(device="cpu", flip=False, workers=0, face_model="accurate")
FAST = Settings(device="cpu", flip=False, workers=0, face_model="fast")


def test_fused_thresholds_come_from_the_fused_calibration() -> None:
    """Every distance rule of the fused model is its own calibration's, not dlib's."""
    version = f"{FUSED}@{'0' * 12}"
    assert calibration.thresholds(version, "yunet-onet", True) == (0.7743, 0.7263)
    # settings never calibrated for it use its one entry rather than dlib's scale or a crash
    assert calibration.thresholds(version, "hog", False)[0] == 0.7743
    scale = calibration.distance_scale(version)
    assert (scale.centre, scale.width) == (0.7514, 0.0298)
    scaled = for_model(Settings(cluster_threshold=0.15), FUSED).cluster_threshold
    assert scaled == pytest.approx(0.15 * 0.7743 / 0.1690)
    assert for_model(Settings(cluster_threshold=0.15), DLIB_RESNET).cluster_threshold == 0.15
    # a model without an entry keeps the fast model's scale (as every model had before)
    assert calibration.distance_scale("some-other-model@1").factor == 1.0


def test_fused_versions_are_known_and_fine_tuned_ones_checked(tmp_path: Path) -> None:
    """A fine-tuned fused version is its dlib branch's file; its sha256 names that file and the
    stock SFace, and a file that is not the recorded one is refused with the reason."""
    info = fused_info()
    assert pretrained_info("accurate") == info and pretrained_info("fast").name == DLIB_RESNET
    assert model_info(FUSED, info.sha256, None).version == info.version
    dlib = load_model(info)
    with torch.no_grad():
        dlib.fc.weight.mul_(1.01)  # another dlib branch than the shipped one
    saved = save_fine_tuned(dlib, tmp_path, FUSED)
    assert saved.fine_tuned and saved.name == FUSED
    assert saved.sha256 == fused_sha256(sha256_file(saved.source)) != sha256_file(saved.source)
    again = model_info(FUSED, saved.sha256, saved.source)
    assert again.fine_tuned and again.version == saved.version
    loaded = load_model(again)
    assert torch.equal(loaded.fc.weight, dlib.fc.weight)
    with pytest.raises(ModelLoadError, match="not the recorded weights"):
        load_model(model_info(FUSED, fused_sha256("0" * 64), saved.source))


def test_fused_embedder_is_both_networks_side_by_side(lfw_images: list[Path]) -> None:
    """(N, 256) unit rows: the first half is dlib's descriptor, the second SFace's on the
    ArcFace chips, each weighted 1/sqrt(2)."""
    detector = make_detector(DetectorConfig(device="cpu"))
    chips, faces = [], []
    for path in lfw_images[:3]:
        image = load_image(path)
        found = detector.detect(image)[:1]
        chips.append(face_chips(image, found))
        faces.append(arcface_chips(image, found))
    chip, face = np.concatenate(chips), np.concatenate(faces)
    fused = FusedEmbedder(fused_info(), device="cpu", flip=False, precision="fp32")
    out = fused.embed(chip, face)
    assert out.shape == (len(chip), 256) and fused.wants_arcface
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    dlib = Embedder.pretrained(device="cpu", flip=False).embed(chip)
    np.testing.assert_allclose(out[:, :128] * np.sqrt(2), dlib, atol=1e-4)
    import torch

    with torch.inference_mode():
        x = torch.from_numpy(face).permute(0, 3, 1, 2).float()
        sface = sface_embeddings(load_sface(), x, flip=False).numpy()
    np.testing.assert_allclose(out[:, 128:] * np.sqrt(2), sface, atol=1e-4)
    # without the photo's ArcFace chips it warps them from today's chips: close, not equal
    approx = fused.embed(chip)
    assert np.all(np.sum(approx * out, axis=1) > 0.8)


def test_sface_runs_in_small_batches_on_the_cpu_with_the_same_numbers() -> None:
    """On a CPU SFace's chunk is a few faces (its early feature maps fall out of the cache in
    larger batches), and the chunking changes no number: 10 faces embedded together are the
    10 faces embedded one batch of 10 at a time."""
    rng = np.random.default_rng(3)
    chips = rng.integers(0, 256, (10, 150, 150, 3), dtype=np.uint8)
    faces = rng.integers(0, 256, (10, 112, 112, 3), dtype=np.uint8)
    fused = FusedEmbedder(fused_info(), device="cpu", batch_size=32, flip=True, precision="bf16")
    assert fused.sface_batch == SFACE_CPU_IMAGES // 2 < len(faces)
    chunked = fused.embed(chips, faces)
    fused.sface_batch = 32  # one pass for all ten
    np.testing.assert_allclose(fused.embed(chips, faces), chunked, rtol=0, atol=1e-6)


def test_worker_threads_embed_several_photos_at_once_with_each_photos_numbers(
    lfw_images: list[Path],
) -> None:
    """The scan's worker threads embed the faces of a few photos in one pass; every photo gets
    the embeddings it gets alone, in order."""
    config = DetectorConfig(device="cpu")
    detector = make_detector(config)
    fused = FusedEmbedder(fused_info(), device="cpu", flip=False, precision="bf16")
    job = FaceJob(detector=config, arcface=True)
    paths = lfw_images[:5]
    together = list(find_faces(paths, job, workers=2, detector=detector, embedder=fused))
    assert PHOTOS_PER_TASK > 1 and [p.path for p in together] == paths
    alone = FaceFinder(job, detector, None)
    for photo in together:
        single = alone(photo.path)
        assert photo.embeddings is not None and len(photo.embeddings) == len(single.chips) >= 1
        expected = fused.embed(single.chips, single.arcface_chips)
        np.testing.assert_allclose(photo.embeddings, expected, rtol=0, atol=1e-6)


@pytest.fixture
def two_people(tmp_path: Path, lfw_mini: Path) -> Path:
    """Four photos each of two people, and one of a third."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("Angelina_Jolie", "Arnold_Schwarzenegger"):
        for src in sorted((lfw_mini / "images" / name).glob("*.jpg"))[:4]:
            shutil.copy(src, folder / src.name)
    src = sorted((lfw_mini / "images" / "Ann_Veneman").glob("*.jpg"))[0]
    shutil.copy(src, folder / src.name)
    return folder


def test_scan_with_the_accurate_model_groups_and_recognises(
    tmp_path: Path, two_people: Path, lfw_mini: Path
) -> None:
    """256-byte codes are stored; at the fused model's own thresholds each person's photos form
    one group (at dlib's 0.15 on fused distances nobody would), and a new photo of a named
    person is recognised."""
    with Library.open(tmp_path / "lib" / "library.db", create=True) as lib:
        run_scan(lib, [two_people], ACCURATE)
        with lib.session() as session:
            version = get_active_model_version(session)
            assert version is not None and version.name == FUSED
            vectors = session.scalars(select(Embedding.vector)).all()
            assert len(vectors) >= 9 and {len(v) for v in vectors} == {256}
            assert all(abs(np.linalg.norm(from_bytes(v)) - 1) < 1e-5 for v in vectors)
        people = people_by_file(lib)
        jolie, arnold = people["Angelina_Jolie"], people["Arnold_Schwarzenegger"]
        assert len(jolie) == 1 and len(arnold) == 1 and None not in jolie | arnold
        assert jolie != arnold
        (jolie_id,) = jolie
        name_person(lib, int(jolie_id), "Angelina")  # type: ignore[arg-type]
        extra = sorted((lfw_mini / "images" / "Angelina_Jolie").glob("*.jpg"))[4]
        shutil.copy(extra, two_people / extra.name)
        run_scan(lib, [two_people], ACCURATE)
        with lib.session() as session:
            face = session.scalars(
                select(Face)
                .join(Face.photo)
                .where(Face.photo.has(path=str(two_people / extra.name)))
            ).one()
            assert face.person_id == jolie_id and face.assignment in ("auto", "suggested")


def test_reembed_upgrades_a_fast_library_keeping_edits(tmp_path: Path, two_people: Path) -> None:
    """A library scanned with the fast model, one person named, is switched to the accurate
    model by the re-embedding job: every face gets a 256-byte code, the name and its faces stay,
    and the fast version is restored at once (its embeddings were kept)."""
    with Library.open(tmp_path / "lib" / "library.db", create=True) as lib:
        run_scan(lib, [two_people], FAST)
        before = people_by_file(lib)
        (arnold_id,) = before["Arnold_Schwarzenegger"]
        name_person(lib, int(arnold_id), "Arnold")  # type: ignore[arg-type]
        # scanning again with the setting "accurate" keeps the library's model meanwhile
        with lib.session() as session:
            fast_version = get_active_model_version(session)
            assert fast_version is not None and fast_version.name == DLIB_RESNET
            fast_id = fast_version.id
        used = use_face_model(lib, ACCURATE, "accurate")
        assert used.reembed is not None and used.reembed.embedded >= 9
        assert used.reembed.remaining == 0 and used.reclustered == "done"
        with lib.session() as session:
            active = get_active_model_version(session)
            assert active is not None and active.name == FUSED and active.parent_id == fast_id
            lengths = session.scalars(
                select(Embedding.vector).where(Embedding.model_version_id == active.id)
            ).all()
            assert len(lengths) == used.reembed.embedded and {len(v) for v in lengths} == {256}
            person = session.get(Person, arnold_id)
            assert person is not None and person.name == "Arnold"
            assert session.scalar(select(ModelVersion).where(ModelVersion.id == fast_id))
        after = people_by_file(lib)
        assert after["Arnold_Schwarzenegger"] == {arnold_id}
        assert len(after["Angelina_Jolie"]) == 1 and None not in after["Angelina_Jolie"]
        back = use_model_version(lib, FAST, fast_id)
        assert back.reembed is None  # its embeddings were kept
        assert people_by_file(lib)["Arnold_Schwarzenegger"] == {arnold_id}
