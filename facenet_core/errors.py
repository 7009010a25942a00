"""The one base class of every error meant for a person, and how such an error is put into words.

An error a person can act on (a library another program is scanning, a setting out of range, a
photo that cannot be read, a model whose weights are gone) derives from :class:`UserError`: its
message says what went wrong, its :attr:`~UserError.hint` what to do about it. Both front ends show
the same :func:`explain` text: the command line as its one-line error, the app in its banner. The
app tells such an error from a bug by its class (:func:`is_user_error`): a :class:`UserError`, or
an :class:`OSError` about a file, is worded for a person; anything else is an unexpected error
whose traceback goes to the log.

Subclasses keep a built-in base where callers catch them by it (``SettingsError`` is also a
``ValueError``, ``LibraryError`` a ``RuntimeError``).

A leaf module: it imports nothing from the rest of the package.
"""

from __future__ import annotations


class UserError(Exception):
    """An error whose message is meant for a person; ``hint`` says what to do (may be empty).

    A subclass may give a class-wide ``hint``; one raised with ``hint=...`` overrides it.
    """

    hint: str = ""

    def __init__(self, *args: object, hint: str | None = None) -> None:
        super().__init__(*args)
        if hint is not None:
            self.hint = hint


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` is worded for a person (a :class:`UserError` or a file error) rather
    than a bug."""
    return isinstance(exc, UserError | OSError)


def explain(exc: BaseException) -> str:
    """The one line a person reads for ``exc``: the first line of its message, the file for an
    OS error that does not name it, then the hint; a bug is worded as an unexpected error."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not is_user_error(exc) or not text:
        kind = type(exc).__name__
        return f"unexpected error ({kind}): {text}" if text else f"unexpected error ({kind})"
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in text:
        text = f"{exc.filename}: {text}"
    hint = getattr(exc, "hint", "")
    if not hint and isinstance(exc.__cause__, UserError):
        hint = exc.__cause__.hint  # a front end that rewords a core error keeps its advice
    if hint and hint not in text:
        text = f"{text.rstrip('.')}. {hint}"
    return text
