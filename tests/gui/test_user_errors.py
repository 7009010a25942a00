"""One error base class: the command line and the app word a user error the same way, message
and hint, and tell it from a bug by its class."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.jobs import TrainingError
from app.tasks import EXPECTED_ERRORS, one_line
from facenet_core.errors import UserError, explain, is_user_error
from facenet_core.evaluation.guard import GuardSetError
from facenet_core.imageio import ImageLoadError
from facenet_core.models.registry import ModelLoadError
from facenet_core.people.errors import PeopleError
from facenet_core.settings import SettingsError
from facenet_core.store import Library, LibraryBusy, LibraryError


def test_every_error_meant_for_a_person_derives_from_the_one_base_and_keeps_its_builtin() -> None:
    for cls in (
        LibraryError,
        LibraryBusy,
        SettingsError,
        PeopleError,
        ImageLoadError,
        ModelLoadError,
        GuardSetError,
        TrainingError,
    ):
        assert issubclass(cls, UserError), cls
    # callers that catch them by their built-in base still do
    assert issubclass(SettingsError, ValueError) and issubclass(LibraryError, RuntimeError)
    assert issubclass(PeopleError, ValueError) and issubclass(GuardSetError, ValueError)


def test_a_busy_library_shows_the_same_message_and_hint_in_the_cli_and_the_app(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI's one-line error and the app's banner text carry the hint the error itself
    carries, not advice each front end made up."""
    from facenet_core.cli import main
    from facenet_core.cli.common import EXIT_BUSY

    library = Library.open(tmp_path / "library.db", create=True)
    photos = tmp_path / "photos"
    photos.mkdir()
    try:
        with library.writer("scan"):
            code = main(["--library", str(library.path), "scan", str(photos)])
            try:
                with Library.open(library.path).writer("scan"):
                    pass
            except LibraryBusy as exc:
                busy = exc
    finally:
        library.close()
    err = capsys.readouterr().err.strip()
    assert code == EXIT_BUSY
    app_text = one_line(busy)
    assert app_text == f"{busy}. {LibraryBusy.hint}"
    assert str(busy) in err and LibraryBusy.hint.rstrip(".") in err
    # the CLI adds only what it alone offers
    assert err.endswith(f"error: {app_text.rstrip('.')}, or add --wait.")


def test_a_user_error_a_command_raises_is_printed_as_the_app_words_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from facenet_core.cli import main
    from facenet_core.cli import people as people_cli

    error = GuardSetError(f"{tmp_path}: not an LFW-style folder")

    def failing(args: object) -> int:
        raise error

    monkeypatch.setattr(people_cli, "cmd_people", failing)
    Library.open(tmp_path / "library.db", create=True).close()
    assert main(["--library", str(tmp_path / "library.db"), "people"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"facenet-photos people: error: {one_line(error)}"
    assert "FACENET_GUARD_DIR" in err  # the hint, said once, by the error


def test_a_front_end_that_rewords_a_core_error_keeps_its_hint() -> None:
    from facenet_core.cli.common import CliError

    try:
        try:
            raise ModelLoadError("the weights of version 3 are gone")
        except ModelLoadError as exc:
            raise CliError("version 3 cannot be used") from exc
    except CliError as wrapped:
        assert explain(wrapped) == f"version 3 cannot be used. {ModelLoadError.hint}"


def test_the_app_tells_a_user_error_from_a_bug_by_class(tmp_path: Path) -> None:
    assert (UserError, OSError) == EXPECTED_ERRORS
    assert is_user_error(PeopleError("no person 7")) and not is_user_error(ValueError("x"))
    assert one_line(PeopleError("no person 7")) == "no person 7"
    denied = PermissionError(13, "Permission denied", str(tmp_path / "a.jpg"))
    assert one_line(denied) == str(denied)  # a file error, worded for a person, names its file
    assert str(tmp_path / "a.jpg") in one_line(denied)
    # a built-in error is a bug now, whatever its type: worded as one, never as advice
    assert one_line(ValueError("shapes differ")) == "unexpected error (ValueError): shapes differ"
    assert one_line(KeyError()) == "unexpected error (KeyError)"
