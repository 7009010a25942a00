"""No network, proven: a scan (with its clustering and recognition), a training run and the
command line all work with every outgoing connection refused. Models come from installed
packages; nothing is uploaded or downloaded."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, select

from facenet_core.library import scan
from facenet_core.settings import Settings
from facenet_core.store import Face, Library, Person
from facenet_core.training import finetune
from facenet_core.training.config import TrainConfig
from tests.helpers import confirm_owners, copy_people

REPO = Path(__file__).resolve().parents[2]
SETTINGS = Settings(device="cpu", flip=False, workers=1)
TINY = TrainConfig(epochs=1, top_blocks=1, batch_size=32, faces_per_person=8, learning_rate=1e-4)

REFUSE = """
import socket

class NetworkRefused(OSError):
    pass

def _refuse(*args, **kwargs):
    raise NetworkRefused("the network was used: " + repr(args[1:] if args else kwargs))

socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
socket.socket.sendto = _refuse
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
"""
"""Installed in every process of the test (a ``sitecustomize`` for child processes): any
attempt to reach another machine, or even to resolve a name, raises."""


@pytest.mark.slow
def test_scan_clustering_and_training_work_with_the_network_refused(
    lfw_mini: Path, tmp_path: Path, no_network: list[str]
) -> None:
    people = copy_people(lfw_mini, tmp_path / "photos", people=4, each=8)
    with Library.open(tmp_path / "library.db", create=True) as lib:
        result = scan(lib, [tmp_path / "photos"], SETTINGS)
        assert result.faces_added >= 32 and not result.cancelled
        with lib.session() as s:
            assert s.scalar(select(func.count()).select_from(Person)) > 0  # clustered
        confirm_owners(lib, people, label=str)
        trained = finetune.finetune_library(lib, SETTINGS, guard=None, config=TINY)
        assert trained.counts["people_trained"] == len(people)
        with lib.session() as s:
            assert s.scalar(select(func.count()).select_from(Face)) >= 32
    assert no_network == []


@pytest.mark.slow
def test_the_command_line_scans_with_the_network_refused_in_every_process(
    lfw_mini: Path, tmp_path: Path
) -> None:
    """A child process with the refusal installed at start-up (``sitecustomize``), so the scan's
    own worker processes refuse too."""
    copy_people(lfw_mini, tmp_path / "photos", people=2, each=4)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(textwrap.dedent(REFUSE))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    library = tmp_path / "library.db"
    for args in (
        ["scan", str(tmp_path / "photos")],
        ["people"],
        ["status"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "facenet_core", "--library", str(library), *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr
        assert "the network was used" not in proc.stderr + proc.stdout
    # the refusal really was installed in those processes
    probe = subprocess.run(
        [sys.executable, "-c", "import socket; socket.create_connection(('127.0.0.1', 9))"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert probe.returncode != 0 and "the network was used" in probe.stderr
