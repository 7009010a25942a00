"""The people commands end to end (in-process), on small libraries."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from facenet_core.cli import main
from tests.core.people_helpers import Blobs, Small, history_size, small_library, state


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Small]:
    lib = small_library(tmp_path)
    lib.lib.close()  # the commands open it themselves
    yield lib


def cli(small: Small, *args: str) -> int:
    return main(["--library", str(small.lib.path), *args])


def test_people_list_as_json(small: Small, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(small, "people", "--json", "-", "--min-cluster-faces", "1") == 0
    out = capsys.readouterr()
    people = json.loads(out.out)
    assert [(p["id"], p["name"], p["faces"]) for p in people] == [
        (small.ada, "Ada", 3),
        (small.u1, None, 2),
        (small.u2, None, 1),
    ]
    assert "Ada" in out.err  # the human text goes to stderr when stdout carries the JSON
    assert cli(small, "people", "--json", "-") == 0  # default: groups of 3 faces and more
    assert [p["id"] for p in json.loads(capsys.readouterr().out)] == [small.ada]


def test_edits_and_undo(small: Small, capsys: pytest.CaptureFixture[str]) -> None:
    before = state(small.lib)
    assert cli(small, "name", str(small.u1), "Bob", "Smith") == 0
    assert "named person" in capsys.readouterr().out
    assert cli(small, "merge", "bob smith", str(small.u2)) == 0  # a name, any case
    assert state(small.lib)["faces"][small.u2a][0] == small.u1
    assert cli(small, "move", str(small.n1), "--to", "Ada") == 0
    assert cli(small, "move", str(small.a3), "--new") == 0
    assert cli(small, "reject", str(small.a1), "--from", "ada") == 0
    assert cli(small, "confirm", "--person", "Ada") == 0
    assert cli(small, "ignore", str(small.u1a)) == 0
    assert cli(small, "unignore", str(small.u1a)) == 0
    assert cli(small, "hide", "Bob Smith") == 0
    assert cli(small, "cover", "Ada", str(small.a2)) == 0
    assert cli(small, "history") == 0
    assert "chose face" in capsys.readouterr().out.splitlines()[-10]
    for _ in range(10):  # the ten edits above
        assert cli(small, "undo") == 0
    assert state(small.lib) == before
    assert cli(small, "undo") == 1
    assert "nothing to undo" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["name", "999", "Eve"], "there is no person 999"),
        (["name", "Nobody", "Eve"], "nobody is named 'Nobody'"),
        (["name", "Ada", " "], "a name cannot be empty"),
        (["merge", "Ada", "ada"], "cannot merge a person with itself"),
        (["move", "12345", "--to", "Ada"], "there is no face 12345"),
        (["move", "x1", "--to", "Ada"], "not a face id: 'x1'"),
        (["move", "1"], "--to PERSON or --new"),
        (["reject", "1", "--from", "Zed"], "nobody is named 'Zed'"),
        (["confirm", "1"], "is not a suggestion|has no person|nothing"),
        (["hide", "4040"], "there is no person 4040"),
        (["cover", "Ada", "777"], "there is no face 777"),
        (["faces", "Nemo"], "nobody is named 'Nemo'"),
        (["photos", "Ada", "31"], "there is no person 31"),
    ],
)
def test_bad_requests_are_one_line_errors(
    small: Small, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    before = state(small.lib)
    code = cli(small, *args)
    err = capsys.readouterr().err
    if args[0] == "confirm":  # face 1 is Ada's confirmed a1: confirming it again changes nothing
        assert code == 0
        return
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"facenet-photos {args[0]}: error: ")
    assert re.search(message, lines[0]), lines[0]
    assert state(small.lib) == before and history_size(small.lib) == 0


def test_faces_and_photos(small: Small, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(small, "faces", "Ada", "--suggested", "--json", "-") == 0
    faces = json.loads(capsys.readouterr().out)
    assert faces["total"] == 4 and faces["faces"][0]["kind"] == "suggested"
    assert cli(small, "faces", "--json", "-") == 0
    assert [f["id"] for f in json.loads(capsys.readouterr().out)["faces"]] == [small.n1]
    assert cli(small, "faces", "--ignored", "--json", "-") == 0
    assert [f["id"] for f in json.loads(capsys.readouterr().out)["faces"]] == [small.ig]
    assert cli(small, "photos", "Ada", str(small.u1), "--json", "-") == 0
    assert json.loads(capsys.readouterr().out)["photos"] == ["/photos/img_1.jpg"]


def test_cluster_and_recognize_json(tmp_path: Path) -> None:
    blobs = Blobs(tmp_path / "library.db")
    for k in range(3):
        blobs.add_many(k, 4)
    blobs.lib.close()
    out = tmp_path / "cluster.json"
    lib = ["--library", str(tmp_path / "library.db")]
    assert main([*lib, "cluster", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert {"people", "named_people", "assigned_faces", "unassigned_faces", "seconds"} <= set(
        report
    )
    assert (report["people"], report["assigned_faces"], report["unassigned_faces"]) == (3, 12, 0)
    out = tmp_path / "recognize.json"
    assert main([*lib, "recognize", "--all", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["faces"] == 0  # every face has a person already
