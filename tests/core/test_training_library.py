"""Fine-tuning from a library built from real faces: promotion, re-embedding, restoring the old
model, and the rule that no user edit (names, confirmations, rejections, ignored faces, hidden
people) is ever touched."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, func, select

from facenet_core.cli import main as cli_main
from facenet_core.library import reembed as reembed_module
from facenet_core.library import scan
from facenet_core.library.reembed import reembed
from facenet_core.paths import sha256_file
from facenet_core.progress import CancelToken
from facenet_core.store import (
    Assignment,
    Embedding,
    Face,
    FaceRejection,
    Library,
    ModelVersion,
    Person,
    Photo,
    get_active_model_version,
)
from facenet_core.training import decision, finetune
from facenet_core.training.config import TrainConfig
from facenet_core.training.data import NotEnoughFaces, library_faces, shortfall
from facenet_core.training.finetune import finetune_library
from facenet_core.training.measure import GuardSet
from facenet_core.training.versions import find_version, list_versions, use_model_version
from tests.helpers import FAST_CPU_SETTINGS as SETTINGS
from tests.helpers import TINY_TRAINING as TINY
from tests.helpers import central_face, lfw_people, small_guard

TRAINED = 4  # people with 8 confirmed faces
NEGATIVE = 2  # people with 3 confirmed faces (negatives only)


def forced_promotion(*figures: Any) -> decision.Decision:
    """The real checks, promoted whatever they say: the held-out figures of 4 well-known
    people are often perfect already, so a tiny run cannot be "better"."""
    return decision.Decision(True, decision.decide(*figures).checks)


@pytest.fixture(scope="module")
def source_library(lfw_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scanned library: 4 people x 8 confirmed faces, 2 people x 3 confirmed, and user edits
    of every kind (a rejection, an ignored face, an automatic assignment, a hidden person)."""
    people = lfw_people(lfw_mini)
    names = sorted(people)[: TRAINED + NEGATIVE + 1]
    root = tmp_path_factory.mktemp("photos")
    for i, name in enumerate(names):
        count = 8 if i < TRAINED else 3
        for path in people[name][:count]:
            shutil.copy(path, root / path.name)
    path = tmp_path_factory.mktemp("lib") / "library.db"
    with Library.open(path, create=True) as lib:
        scan(lib, [root], SETTINGS)
        with lib.write() as s:
            persons = {n: Person(name=n.replace("_", " ")) for n in names}
            persons[names[-1]].is_hidden = True
            s.add_all(persons.values())
            s.flush()
            for photo in s.scalars(select(Photo)):
                owner = next(n for n in names if Path(photo.path).name.startswith(n))
                face = central_face(photo)
                if owner == names[-1]:  # the last person: automatic, not confirmed
                    face.person_id = persons[owner].id
                    face.assignment, face.assignment_confidence = Assignment.AUTO, 0.8
                    continue
                face.person_id, face.assignment = persons[owner].id, Assignment.CONFIRMED
            extra = s.scalars(select(Face).where(Face.person_id.is_(None))).first()
            some = s.scalars(select(Face).where(Face.assignment == Assignment.CONFIRMED)).first()
            assert some is not None
            s.add(FaceRejection(face_id=some.id, person_id=persons[names[1]].id))
            if extra is not None:
                extra.is_ignored = True
            else:  # every photo had one face: ignore the hidden person's automatic face instead
                s.scalars(
                    select(Face).where(Face.assignment == Assignment.AUTO)
                ).first().is_ignored = True
    return path


@pytest.fixture
def library(source_library: Path, tmp_path: Path):
    """A fresh copy of the scanned library for each test."""
    path = tmp_path / "library.db"
    shutil.copy(source_library, path)
    with Library.open(path) as lib:
        yield lib


@pytest.fixture(scope="module")
def guard(lfw_mini: Path) -> GuardSet:
    return small_guard(lfw_mini)


def user_edits(lib: Library) -> dict:
    """Everything the user decided, to compare before and after: confirmed faces, ignored
    faces, rejections, and the named or hidden people (automatic assignments and unnamed
    clusters are the algorithm's, and re-clustering may change them)."""
    with lib.session() as s:
        confirmed = {
            f.id: f.person_id
            for f in s.scalars(select(Face).where(Face.assignment == Assignment.CONFIRMED))
        }
        ignored = set(s.scalars(select(Face.id).where(Face.is_ignored)))
        people = {
            p.id: (p.name, p.is_hidden, p.cover_face_id)
            for p in s.scalars(select(Person))
            if p.name or p.is_hidden
        }
        rejections = {(r.face_id, r.person_id) for r in s.scalars(select(FaceRejection))}
        # a face the user rejected for a person is never that person's again
        for face_id, person_id in rejections:
            face = s.get(Face, face_id)
            assert face is not None and face.person_id != person_id
    return {"confirmed": confirmed, "ignored": ignored, "people": people, "rejections": rejections}


def automatic(lib: Library) -> dict[int, tuple]:
    """Each face's assignment and confidence, automatic ones included."""
    with lib.session() as s:
        return {
            f.id: (f.person_id, f.assignment, f.assignment_confidence)
            for f in s.scalars(select(Face))
        }


def embeddings_of(lib: Library, version_id: int) -> dict[int, bytes]:
    with lib.session() as s:
        rows = s.execute(
            select(Embedding.face_id, Embedding.vector).where(
                Embedding.model_version_id == version_id
            )
        ).all()
    return dict(rows)


def active_id(lib: Library) -> int:
    with lib.session() as s:
        version = get_active_model_version(s)
        assert version is not None
        return version.id


def test_the_fixture_has_every_kind_of_edit(library) -> None:
    edits = user_edits(library)
    kinds = {a for _, a, _ in automatic(library).values()}
    assert kinds >= {"confirmed", "auto"} and edits["rejections"] and edits["ignored"]
    assert len(edits["confirmed"]) == 8 * TRAINED + 3 * NEGATIVE
    assert any(hidden for _, hidden, _ in edits["people"].values())
    faces = library_faces(library, workers=1)
    assert len(faces.names) == TRAINED + NEGATIVE
    assert sorted(np.bincount(faces.person).tolist()) == [3] * NEGATIVE + [8] * TRAINED


@pytest.mark.slow
def test_rebuilt_chips_reproduce_the_stored_embeddings(library) -> None:
    """Chips re-made from the stored landmarks are the scan's chips: re-embedding with the same
    (pretrained) version gives back the stored bytes."""
    vid = active_id(library)
    stored = embeddings_of(library, vid)
    with library.write() as s:
        s.execute(delete(Embedding).where(Embedding.face_id.in_(sorted(stored)[:12])))
    result = reembed(library, SETTINGS)
    assert result.embedded == 12 and result.remaining == 0 and not result.cancelled
    again = embeddings_of(library, vid)
    for face_id in sorted(stored)[:12]:
        a = np.frombuffer(stored[face_id], np.int8).astype(int)
        b = np.frombuffer(again[face_id], np.int8).astype(int)
        assert np.abs(a - b).max() <= 1, face_id  # equal up to a rounding step


@pytest.mark.slow
def test_reembedding_cancels_and_resumes(library, monkeypatch) -> None:
    vid = active_id(library)
    with library.write() as s:
        s.execute(delete(Embedding))
    monkeypatch.setattr(reembed_module, "BATCH_FACES", 8)
    cancel = CancelToken()

    def stop_after_first_batch(event) -> None:
        if event.done >= 8:
            cancel.cancel()

    first = reembed(library, SETTINGS, reporter=stop_after_first_batch, cancel=cancel)
    assert first.cancelled and 8 <= first.embedded < first.embedded + first.remaining
    second = reembed(library, SETTINGS)
    assert not second.cancelled and second.remaining == 0
    assert second.embedded == first.remaining
    with library.session() as s:
        n_faces = s.scalar(select(func.count()).select_from(Face))
    assert len(embeddings_of(library, vid)) == n_faces


@pytest.mark.slow
def test_promotion_reembeds_and_the_old_model_comes_back_with_every_edit(
    library, guard, tmp_path, monkeypatch
) -> None:
    edits = user_edits(library)
    old_id = active_id(library)
    old_embeddings = embeddings_of(library, old_id)
    monkeypatch.setattr(finetune, "decide", forced_promotion)
    events = []
    result = finetune_library(
        library,
        SETTINGS,
        guard=guard,
        config=TINY,
        reporter=events.append,
        models_dir=tmp_path / "models",
        work_dir=tmp_path / "work",
    )
    assert result.promoted and result.new_version_id is not None
    new_id = result.new_version_id
    # training reported its progress with the figures the app plots
    steps = [e for e in events if e.task == "train" and e.phase == "train" and e.done > 0]
    assert steps and {"loss", "active", "d_ap", "d_an", "step"} <= steps[-1].counters.keys()
    assert "val" in steps[-1].counters and "nearest" in steps[-1].counters
    assert result.counts["people_trained"] == TRAINED
    assert result.counts["faces_held_out"] == 2 * TRAINED
    assert result.guard_before is not None and result.guard_after is not None
    assert result.before["d_diff"] > 0 and result.after["d_diff"] > 0  # the distance scale
    # the version: recorded with its parent, weights, metrics; active; every face re-embedded
    with library.session() as s:
        version = s.get(ModelVersion, new_id)
        assert version is not None and version.is_active and version.parent_id == old_id
        assert version.weights_path and sha256_file(version.weights_path) == version.weights_sha256
        assert version.metrics["before"]["val"] == result.before["val"]
        n_faces = s.scalar(select(func.count()).select_from(Face))
    assert Path(version.weights_path).parent == tmp_path / "models"
    assert not list((tmp_path / "work").glob("*.ckpt"))  # the finished run's checkpoint is gone
    assert result.reembed is not None and result.reembed.remaining == 0
    new_embeddings = embeddings_of(library, new_id)
    assert len(new_embeddings) == n_faces and new_embeddings != old_embeddings
    assert embeddings_of(library, old_id) == old_embeddings  # kept for restoring
    assert result.reclustered == "done"  # the people were re-clustered, the user's word kept
    # the backup is a consistent copy taken before the switch
    assert result.backup is not None
    with sqlite3.connect(result.backup) as db:
        assert db.execute("select count(*) from faces").fetchone()[0] == n_faces
        assert db.execute("select id from model_versions where is_active").fetchone()[0] == old_id
    assert user_edits(library) == edits

    # restoring the previous model: instant (its embeddings are stored), edits intact
    assert find_version(library, "previous") == old_id
    restored = use_model_version(library, SETTINGS, old_id)
    assert restored.reembed is None and active_id(library) == old_id
    assert embeddings_of(library, old_id) == old_embeddings
    assert user_edits(library) == edits
    back = use_model_version(library, SETTINGS, new_id)
    assert back.reembed is None and active_id(library) == new_id
    rows = list_versions(library)
    assert [r.id for r in rows if r.active] == [new_id]
    assert {r.id: r.embeddings for r in rows} == {old_id: n_faces, new_id: n_faces}


@pytest.mark.slow
def test_a_new_scan_embeds_with_the_active_fine_tuned_version(
    library, guard, tmp_path, lfw_mini, monkeypatch
) -> None:
    monkeypatch.setattr(finetune, "decide", forced_promotion)
    result = finetune_library(
        library, SETTINGS, guard=None, config=TINY, models_dir=tmp_path / "m", work_dir=tmp_path
    )
    new_id = result.new_version_id
    more = tmp_path / "more"
    more.mkdir()
    extra = sorted(lfw_people(lfw_mini))[-1]
    shutil.copy(lfw_people(lfw_mini)[extra][0], more / "new.jpg")
    scan(library, [more], SETTINGS)
    assert active_id(library) == new_id
    with library.session() as s:
        photo = s.scalars(select(Photo).where(Photo.path.endswith("new.jpg"))).one()
        ids = [f.id for f in photo.faces]
    assert ids and set(ids) <= set(embeddings_of(library, new_id))


@pytest.mark.slow
def test_no_improvement_keeps_the_old_model_and_says_why(library, tmp_path, capsys) -> None:
    edits = user_edits(library)
    old_id = active_id(library)
    # a step too small to change anything: VAL cannot rise, so nothing is promoted
    config = TrainConfig(**{**TINY.as_dict(), "learning_rate": 1e-12, "epochs": 1})
    result = finetune_library(
        library, SETTINGS, guard=None, config=config, models_dir=tmp_path, work_dir=tmp_path
    )
    assert not result.promoted and result.backup is None and result.reembed is None
    assert result.decision is not None and not result.cancelled
    # 4 people's held-out faces: VAL may already be 100% there, which the check says too
    val = result.decision.check("val")
    assert not val.passed and val.outcome in ("not_improved", "already_perfect"), val
    assert result.decision.check("guard").outcome == "unchecked"
    assert active_id(library) == old_id
    with library.session() as s:
        version = s.get(ModelVersion, result.new_version_id)
        assert version is not None and not version.is_active
        assert version.notes.startswith("not promoted")
        assert version.metrics["checks"] == [c.to_json_dict() for c in result.decision.checks]
    assert not embeddings_of(library, result.new_version_id)
    assert user_edits(library) == edits
    # the models command words the stored checks: the failed VAL check is marked
    capsys.readouterr()
    assert cli_main(["models", "--library", str(library.path)]) == 0
    out = capsys.readouterr().out
    assert "not promoted:" in out and "FAILED: VAL" in out and "no guard set was checked" in out


def test_too_few_confirmed_faces_says_how_many_more(library, capsys) -> None:
    with library.write() as s:  # un-confirm all but two people
        people = s.scalars(select(Person).where(Person.name.is_not(None)).order_by(Person.id)).all()
        for face in s.scalars(select(Face).where(Face.person_id.in_([p.id for p in people[2:]]))):
            face.assignment = Assignment.AUTO
    with pytest.raises(NotEnoughFaces, match="at least 3 people with at least 8"):
        library_faces(library)
    code = cli_main(["train", "--library", str(library.path), "--no-guard"])
    assert code == 1
    err = capsys.readouterr().err
    assert "Confirm 8 more faces" in err and "faces each of 1 more person" in err


def test_shortfall_picks_the_cheapest_confirmations() -> None:
    assert shortfall({"Ann": 9, "Bob": 8, "Cy": 12}) is None
    message = shortfall({"Ann": 9, "Bob": 5, "Cy": 2, "Di": 7})
    assert message is not None
    assert "ready: 1 (Ann: 9)" in message and "Confirm 4 more faces" in message
    assert "1 more of Di (has 7)" in message and "3 more of Bob (has 5)" in message
    assert "Cy" not in message
    assert "Confirm 24 more faces" in (shortfall({}) or "")


def test_models_and_use_model_commands(library, capsys) -> None:
    assert cli_main(["models", "--library", str(library.path), "--json", "-"]) == 0
    out = capsys.readouterr().out
    assert '"active": true' in out and "dlib-resnet-v1@" in out
    assert cli_main(["use-model", "--library", str(library.path), "previous"]) == 1
    assert "no previous version" in capsys.readouterr().err


@pytest.mark.slow
def test_a_cancelled_run_returns_cancelled_keeps_its_checkpoint_and_resumes(
    library, tmp_path
) -> None:
    """Cancelling is a result, never an exception: the job stops after saving a checkpoint,
    records no version, and the same run started again resumes from it."""
    config = TrainConfig(**{**TINY.as_dict(), "epochs": 4, "checkpoint_every": 100})
    old_id, versions = active_id(library), len(list_versions(library))
    cancel = CancelToken()

    def stop_after_the_first_step(event) -> None:  # type: ignore[no-untyped-def]
        if event.task == "train" and event.phase == "train" and event.done >= 1:
            cancel.cancel()

    stopped = finetune_library(
        library,
        SETTINGS,
        guard=None,
        config=config,
        reporter=stop_after_the_first_step,
        cancel=cancel,
        models_dir=tmp_path / "models",
        work_dir=tmp_path / "work",
    )
    assert stopped.cancelled and stopped.decision is None and not stopped.promoted
    assert stopped.new_version_id is None and stopped.training["steps"] == 1
    assert len(list((tmp_path / "work").glob("*.ckpt"))) == 1  # saved on cancel
    assert len(list_versions(library)) == versions and active_id(library) == old_id
    assert stopped.to_json_dict()["promoted"] is None

    resumed = finetune_library(
        library,
        SETTINGS,
        guard=None,
        config=config,
        models_dir=tmp_path / "models",
        work_dir=tmp_path / "work",
    )
    assert not resumed.cancelled and resumed.decision is not None
    assert resumed.training["resumed_from"] == 1
    assert len(list_versions(library)) == versions + 1


def test_a_run_cancelled_before_it_starts_changes_nothing(library, tmp_path) -> None:
    cancel = CancelToken()
    cancel.cancel()
    result = finetune_library(
        library, SETTINGS, guard=None, config=TINY, cancel=cancel, work_dir=tmp_path
    )
    assert result.cancelled and result.decision is None and result.training == {}
    assert not list(tmp_path.glob("*.ckpt"))
