"""Long id lists in SQL: one chunk size for every ``IN (...)`` list the core writes.

SQLite limits the bound parameters of one statement (999 in builds older than 3.32), so a query
about thousands of ids goes out in chunks of :data:`CHUNK`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

CHUNK = 500
"""Ids per ``IN (...)`` list: under SQLite's oldest parameter limit, with room for the other
parameters of the statement."""


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[list[T]]:
    """``items`` in consecutive lists of at most ``size`` (none for an empty sequence)."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
