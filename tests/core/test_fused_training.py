"""Fine-tuning the accurate (fused) model from a library, end to end through ``train``: a few
confirmed lfw-mini people, a tiny run, the guard scored at the fused model's own threshold, the
decision by the rule, 256-byte codes after, every user edit kept, and ``use-model previous``
bringing the stock fused model back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from facenet_core.cli import main as cli_main
from facenet_core.library import scan
from facenet_core.models.registry import FUSED, fused_sha256
from facenet_core.paths import sha256_file
from facenet_core.settings import Settings
from facenet_core.store import Embedding, Face, FaceRejection, Library, ModelVersion, Person
from facenet_core.store.queries import get_active_model_version
from facenet_core.training import decision, finetune
from tests.helpers import central_face, confirm_owners, copy_people

ACCURATE = Settings(device="cpu", flip=False, workers=1, face_model="accurate")


def edits_of(lib: Library) -> dict[str, Any]:
    """What the user decided: confirmed faces, ignored faces, rejections, named people."""
    with lib.session() as s:
        confirmed = {
            f.id: f.person_id for f in s.scalars(select(Face).where(Face.assignment == "confirmed"))
        }
        return {
            "confirmed": confirmed,
            "ignored": set(s.scalars(select(Face.id).where(Face.is_ignored))),
            "rejections": {(r.face_id, r.person_id) for r in s.scalars(select(FaceRejection))},
            "people": {p.id: p.name for p in s.scalars(select(Person)) if p.name},
        }


def code_lengths(lib: Library, version_id: int) -> tuple[int, set[int]]:
    with lib.session() as s:
        rows = s.scalars(
            select(Embedding.vector).where(Embedding.model_version_id == version_id)
        ).all()
    return len(rows), {len(v) for v in rows}


@pytest.mark.slow
def test_train_fine_tunes_the_accurate_model(
    lfw_mini: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    chosen = copy_people(lfw_mini, photos, 4, 8)  # 4 people x 8 photos: each is trained
    lib_path = tmp_path / "lib" / "library.db"
    with Library.open(lib_path, create=True) as lib:
        scan(lib, [photos], ACCURATE)
        ids = confirm_owners(lib, chosen, pick=central_face)
        with lib.write() as s:  # a rejection and an ignored face: edits training must keep
            faces = s.scalars(select(Face).where(Face.assignment == "confirmed")).all()
            s.add(FaceRejection(face_id=faces[0].id, person_id=ids[sorted(chosen)[1]]))
            others = [f for f in s.scalars(select(Face)) if f.assignment != "confirmed"]
            if others:
                others[0].is_ignored = True
        with lib.session() as s:
            stock = get_active_model_version(s)
            assert stock is not None and stock.name == FUSED and stock.weights_path is None
            stock_id = stock.id
        n_faces, lengths = code_lengths(lib, stock_id)
        assert lengths == {256}
        edits = edits_of(lib)

    # the real checks, promoted whatever they say (4 well-known people's held-out figures are
    # often perfect already, so a tiny run cannot be "better"); the rule is checked below
    real: list[decision.Decision] = []

    def forced(*figures: Any) -> decision.Decision:
        real.append(decision.decide(*figures))
        return decision.Decision(True, real[-1].checks)

    monkeypatch.setattr(finetune, "decide", forced)
    pairs = tmp_path / "guard_pairs.txt"  # a small guard: 8 + 8 pairs of lfw-mini's fold 1
    body = (lfw_mini / "pairs_fold1.txt").read_text().splitlines()[1:]
    pairs.write_text("\n".join(["1\t8", *body[:8], *body[300:308]]) + "\n")
    out = tmp_path / "train.json"
    args = ["train", "--library", str(lib_path), "--json", str(out), "--device", "cpu"]
    args += ["--guard-dir", str(lfw_mini), "--guard-pairs", str(pairs), "--no-flip"]
    args += ["--epochs", "2", "--top-blocks", "1", "--train-batch-size", "32"]
    args += ["--learning-rate", "1e-4", "--workers", "1"]
    assert cli_main(args) == 0, capsys.readouterr().err
    result = json.loads(out.read_text())

    # the decision's figures are the fused model's: at dlib's threshold (0.17) on fused
    # distances nearly every same-person guard pair would fail
    assert result["guard_before"] >= 0.85 and result["guard_after"] >= 0.85
    assert result["training"]["config"]["margin"] > Settings().margin  # the fused scale's
    assert len(real) == 1 and result["checks"] == [c.to_json_dict() for c in real[0].checks]
    assert (
        real[0].promoted
        == decision.decide(
            result["before"], result["after"], result["guard_before"], result["guard_after"]
        ).promoted
    )
    assert result["promoted"] and result["reembed"]["remaining"] == 0
    with Library.open(lib_path) as lib:
        with lib.session() as s:
            new = get_active_model_version(s)
            assert new is not None and new.name == FUSED and new.parent_id == stock_id
            assert new.weights_path is not None
            assert new.weights_sha256 == fused_sha256(sha256_file(new.weights_path))
            assert s.get(ModelVersion, stock_id) is not None
            new_id = new.id
        assert code_lengths(lib, new_id) == (n_faces, {256})
        assert code_lengths(lib, stock_id) == (n_faces, {256})  # kept for restoring
        assert edits_of(lib) == edits
    # use-model previous: the stock fused model again, at once (its codes were kept)
    assert cli_main(["use-model", "--library", str(lib_path), "previous"]) == 0
    with Library.open(lib_path) as lib:
        with lib.session() as s:
            active = get_active_model_version(s)
            assert active is not None and active.id == stock_id
        assert edits_of(lib) == edits
