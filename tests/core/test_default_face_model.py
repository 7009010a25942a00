"""The "Face model" default is ``accurate``; a library made with the fast model before that
keeps working: its new faces (scanned, or drawn by hand) use the model its faces were made with
(the library's active version decides, not the setting), its grouping stays on the fast model's
thresholds, and the scan tells the user how to switch. A new library gets the accurate model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from facenet_core.cli.library import summary
from facenet_core.library import scan as run_scan
from facenet_core.library.drawn import draw_face
from facenet_core.models.registry import DLIB_RESNET, FUSED
from facenet_core.settings import Settings
from facenet_core.store import Embedding, Library, ModelVersion, Photo
from facenet_core.store.queries import get_active_model_version
from tests.helpers import people_by_file

DEFAULTS = Settings(device="cpu", flip=False, workers=0)
"""The defaults (the face model among them) with a small, quick embedding."""
BEFORE_THE_FLIP = DEFAULTS.replace(face_model="fast")
"""What a scan ran with while ``fast`` was the default."""


@pytest.fixture
def photos(tmp_path: Path, lfw_mini: Path) -> tuple[Path, Path]:
    """Two folders: three photos each of two people, then one more of each."""
    first, later = tmp_path / "first", tmp_path / "later"
    first.mkdir()
    later.mkdir()
    for name in ("Angelina_Jolie", "Arnold_Schwarzenegger"):
        files = sorted((lfw_mini / "images" / name).glob("*.jpg"))
        for src in files[:3]:
            shutil.copy(src, first / src.name)
        shutil.copy(files[3], later / files[3].name)
    return first, later


def _codes(lib: Library) -> tuple[set[int], set[str]]:
    """The byte lengths of every stored code, and the names of the models that made them."""
    with lib.session() as session:
        rows = session.execute(
            select(Embedding.vector, ModelVersion.name).join(
                ModelVersion, ModelVersion.id == Embedding.model_version_id
            )
        ).all()
        return {len(v) for v, _ in rows}, {name for _, name in rows}


def test_the_default_is_accurate() -> None:
    assert Settings().face_model == "accurate"


def test_a_fast_library_stays_fast_after_the_flip_and_a_new_one_is_accurate(
    tmp_path: Path, photos: tuple[Path, Path]
) -> None:
    first, later = photos
    with Library.open(tmp_path / "old" / "library.db", create=True) as lib:
        run_scan(lib, [first], BEFORE_THE_FLIP)
        # nothing about the model was stored (the default then): the setting now reads accurate
        assert lib.settings().face_model == "accurate"
        # after the flip: the library's own settings over today's defaults
        settings = lib.settings().replace(device="cpu", flip=False, workers=0)
        result = run_scan(lib, [first, later], settings)
        assert result.photos_added == 2 and result.faces_added >= 2
        lengths, models = _codes(lib)
        assert lengths == {128} and models == {DLIB_RESNET}
        with lib.session() as session:
            active = get_active_model_version(session)
            assert active is not None and active.name == DLIB_RESNET
            missed = session.scalars(select(Photo.id).order_by(Photo.id)).first()
        # told how to switch
        assert result.face_model_kept == "fast"
        assert any("reembed --face-model accurate" in line for line in summary(result))
        # grouping on the fast model's thresholds: each person is one group, the later photo
        # joined it (on the accurate model's thresholds fast distances would merge everyone)
        groups = people_by_file(lib)
        jolie, arnold = groups["Angelina_Jolie"], groups["Arnold_Schwarzenegger"]
        assert len(jolie) == 1 and len(arnold) == 1 and None not in jolie | arnold
        assert jolie != arnold
        # a face drawn by hand (in a corner, away from the detected faces) is embedded by the
        # library's model too
        assert missed is not None
        draw_face(lib, missed, (0.0, 0.0, 70.0, 70.0), settings)
        assert _codes(lib) == ({128}, {DLIB_RESNET})

    with Library.open(tmp_path / "new" / "library.db", create=True) as lib:
        result = run_scan(lib, [first], DEFAULTS)
        assert result.face_model_kept is None
        lengths, models = _codes(lib)
        assert result.faces_added >= 6 and lengths == {256} and models == {FUSED}
