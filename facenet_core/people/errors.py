"""The one error the people layer raises for a request it cannot carry out."""

from __future__ import annotations

from facenet_core.errors import UserError


class PeopleError(UserError, ValueError):
    """A bad request about people or faces (unknown id, empty name, merging a person with
    itself...). The message is one line for a person; nothing was changed."""
