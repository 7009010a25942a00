"""Scanning on a Ray cluster: a real local Ray instance of two worker processes makes the same
photos, faces and codes as a local scan, survives a killed worker, and a rescan does no work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, func, select

from facenet_core.library import ScanResult
from facenet_core.library import scan as run_scan
from facenet_core.library.reembed import reembed
from facenet_core.progress import CancelToken, Progress
from facenet_core.settings import Settings
from facenet_core.store import Embedding, Face, Library, Photo
from facenet_core.vision import ray_source
from facenet_core.vision.ray_source import ClusterError, RayFaceSource

REPO = Path(__file__).resolve().parents[2]
NO_RAY = 'Ray is not installed: pip install -e ".[cluster]"'
PHOTOS = 40


def test_without_ray_the_error_says_how_to_add_it(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as when it is not installed
    with pytest.raises(ClusterError) as caught:
        ray_source.import_ray()
    from facenet_core.errors import explain

    line = explain(caught.value)
    assert "\n" not in line and 'pip install -e ".[cluster]"' in line


def test_an_unreachable_cluster_is_one_clear_line_before_any_work(tmp_path) -> None:
    pytest.importorskip("ray", reason=NO_RAY)
    folder = tmp_path / "photos"
    folder.mkdir()
    library = tmp_path / "library.db"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "facenet_core",
            "scan",
            str(folder),
            "--library",
            str(library),
            "--cluster",
            "127.0.0.1:9",
            "--no-recognize",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "cannot reach the Ray cluster at 127.0.0.1:9" in lines[0]


@pytest.fixture(scope="module")
def ray_local():
    """A real local Ray instance with two worker CPUs, shut down (every process) at the end."""
    ray = pytest.importorskip("ray", reason=NO_RAY)
    ray.init(
        num_cpus=2,
        num_gpus=0,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}},
    )
    yield ray
    ray.shutdown()
    deadline = time.monotonic() + 30
    while _live_children() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not ray.is_initialized()
    assert not _live_children(), "Ray left processes behind"


def _live_children() -> list[int]:
    """This process's children that still run (Ray's raylet, GCS and workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def photos(tmp_path_factory, lfw_mini: Path) -> Path:
    folder = tmp_path_factory.mktemp("cluster") / "photos"
    folder.mkdir()
    images = sorted((lfw_mini / "images").glob("*/*.jpg"))
    for i, src in enumerate(images[:: max(1, len(images) // PHOTOS)][:PHOTOS]):
        shutil.copy(src, folder / f"img_{i:02d}.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    return folder


def _settings(cluster: str = "here", photos: str = "auto") -> Settings:
    return Settings(device="cpu", workers=1, cluster=cluster, cluster_photos=photos)


def _scan(library: Path, folder: Path, settings: Settings) -> ScanResult:
    with Library.open(library, create=True) as lib:
        return run_scan(lib, [folder], settings, recognize=False)


def _contents(library: Path) -> dict[str, tuple[str, str | None, list[tuple]]]:
    """Every photo (by file name): its status, error and faces (box, code), in box order."""
    with Library.open(library) as lib, lib.session() as s:
        found: dict[str, tuple[str, str | None, list[tuple]]] = {}
        for photo in s.scalars(select(Photo)):
            faces = []
            for face in photo.faces:
                codes = [np.frombuffer(e.vector, np.int8) for e in face.embeddings]
                assert len(codes) == 1
                faces.append((tuple(face.box), codes[0]))
            faces.sort(key=lambda f: f[0])
            found[Path(photo.path).name] = (str(photo.status), photo.error, faces)
        return found


def _assert_same(local: Path, cluster: Path) -> None:
    a, b = _contents(local), _contents(cluster)
    assert sorted(a) == sorted(b)
    assert sum(len(v[2]) for v in a.values()) >= PHOTOS * 0.9  # real faces were found
    for name in a:
        status, error, faces = a[name]
        assert b[name][:2] == (status, error), name
        assert len(b[name][2]) == len(faces), name
        for (box, code), (box2, code2) in zip(faces, b[name][2], strict=True):
            assert np.abs(np.subtract(box, box2)).max() <= 0.5, name
            # the same code, or within one quantisation step
            assert np.abs(code.astype(int) - code2.astype(int)).max() <= 1, name


@pytest.fixture(scope="module")
def local_library(tmp_path_factory, photos: Path) -> Path:
    library = tmp_path_factory.mktemp("local") / "library.db"
    result = _scan(library, photos, _settings())
    assert result.photos_failed == 1 and result.faces_added > 0
    return library


def test_a_cluster_scan_equals_a_local_scan_and_a_rescan_does_no_work(
    tmp_path, ray_local, photos, local_library, monkeypatch
) -> None:
    library = tmp_path / "library.db"
    first = _scan(library, photos, _settings("local:2"))
    assert first.photos_failed == 1 and first.photos_detected == PHOTOS
    _assert_same(local_library, library)
    with Library.open(library) as lib, lib.session() as s:
        (error,) = s.scalars(select(Photo.error).where(Photo.error.is_not(None)))
    assert error  # the broken file is recorded with its reason

    started = []
    original = RayFaceSource.start
    monkeypatch.setattr(RayFaceSource, "start", lambda self: started.append(1) or original(self))
    again = _scan(library, photos, _settings("local:2"))
    assert (again.photos_detected, again.faces_added, again.photos_failed) == (0, 0, 0)
    assert not started, "a rescan started workers"


def test_a_worker_killed_during_the_scan_changes_nothing(
    tmp_path, ray_local, photos, local_library, monkeypatch
) -> None:
    sources: list[RayFaceSource] = []
    original = RayFaceSource._take

    def take(self: RayFaceSource, inflight):
        if not sources:  # before the first result: kill a worker that has batches to do
            sources.append(self)
            busy = max(range(len(self.workers)), key=lambda i: self.load[i])
            ray_local.kill(self.workers[busy])
        return original(self, inflight)

    library = tmp_path / "library.db"
    # Ctrl-C (the cancel token) as the workers start: the scan stops, and so do its workers
    cancel = CancelToken()

    def on_progress(event: Progress) -> None:
        if event.phase == "faces" and "Ray workers" in event.message:
            cancel.cancel()

    with Library.open(library, create=True) as lib:
        stopped = run_scan(
            lib,
            [photos],
            _settings("local:2"),
            recognize=False,
            reporter=on_progress,
            cancel=cancel,
        )
    assert stopped.cancelled and stopped.photos_detected < PHOTOS
    assert not _workers(ray_local), "the workers outlived a cancelled scan"

    # the scan resumes; a worker is killed before its first result comes back
    monkeypatch.setattr(RayFaceSource, "_take", take)
    result = _scan(library, photos, _settings("local:2", photos="send"))
    assert sources and sources[0].replaced >= 1, "no worker was lost"
    assert result.photos_detected + stopped.photos_detected == PHOTOS
    assert result.photos_failed == 1
    assert not _workers(ray_local)
    _assert_same(local_library, library)
    with Library.open(library) as lib, lib.session() as s:
        faces = s.scalar(select(func.count()).select_from(Face))
        codes = s.scalar(select(func.count()).select_from(Embedding))
    assert faces == codes == result.faces_added + stopped.faces_added  # nothing stored twice


def _workers(ray) -> list[str]:
    """The scan's workers still alive."""
    deadline = time.monotonic() + 10
    while True:
        names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)]
        alive = [n for n in names if n.startswith("facenet-worker-")]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


def test_workers_of_other_versions_are_one_clear_line(ray_local) -> None:
    from facenet_core.errors import explain

    other = {**ray_source.versions(), "torch": "1.0.0"}
    with pytest.raises(ClusterError) as caught:
        ray_source._check_versions(ray_local, other)
    line = explain(caught.value)
    assert "\n" not in line
    assert "other versions: torch " in line and "(here 1.0.0)" in line


def test_reembedding_on_the_cluster_gives_back_the_stored_codes(
    tmp_path, ray_local, local_library
) -> None:
    library = tmp_path / "library.db"
    shutil.copy(local_library, library)
    with Library.open(library) as lib:
        with lib.session() as s:
            stored = {e.face_id: e.vector for e in s.scalars(select(Embedding))}
        with lib.write() as s:
            s.execute(delete(Embedding))
        result = reembed(lib, _settings("local:2"))
        assert (result.embedded, result.failed, result.remaining) == (len(stored), 0, 0)
        with lib.session() as s:
            again = {e.face_id: e.vector for e in s.scalars(select(Embedding))}
    assert sorted(again) == sorted(stored)
    for face_id, code in stored.items():
        a = np.frombuffer(code, np.int8).astype(int)
        b = np.frombuffer(again[face_id], np.int8).astype(int)
        assert np.abs(a - b).max() <= 1, face_id  # equal up to a rounding step
