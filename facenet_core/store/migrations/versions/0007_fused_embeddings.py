"""Fused embeddings: a stored vector may be 256 bytes (the accurate model) as well as 128.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

Written by hand and frozen, like 0005. SQLite cannot change a CHECK constraint, so
``embeddings`` is rebuilt from its own stored SQL with only the length rule changed: its rows are
copied aside, the table is dropped (taking its indexes with it) and created again, the rows are
copied back, and its indexes and triggers are created again from their stored SQL. The upgrade
runs with foreign keys off and in one transaction (see ``store.db``): a failure leaves the
library as it was.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "length(vector) = 128"
NEW = "length(vector) IN (128, 256)"


def _rebuild_embeddings(old: str, new: str) -> None:
    """Create ``embeddings`` again from its stored SQL with ``old`` replaced by ``new``."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT type, sql FROM sqlite_master WHERE tbl_name = 'embeddings' AND sql IS NOT NULL"
        )
    ).all()
    table = next(sql for kind, sql in rows if kind == "table")
    if old not in table:
        raise RuntimeError(f"unexpected embeddings table, no {old!r} in: {table}")
    others = [sql for kind, sql in rows if kind in ("index", "trigger")]
    columns = ", ".join(row[1] for row in bind.execute(sa.text("PRAGMA table_info(embeddings)")))
    op.execute("CREATE TABLE _old_embeddings AS SELECT * FROM embeddings")
    op.execute("DROP TABLE embeddings")
    op.execute(table.replace(old, new))
    op.execute(f"INSERT INTO embeddings ({columns}) SELECT {columns} FROM _old_embeddings")
    op.execute("DROP TABLE _old_embeddings")
    for sql in others:
        op.execute(sql)


def upgrade() -> None:
    _rebuild_embeddings(OLD, NEW)


def downgrade() -> None:
    # an older app knows no fused vectors: they go; a version whose embeddings were fused is
    # then empty, and the older app embeds its faces again with the model it knows
    op.execute("DELETE FROM embeddings WHERE length(vector) <> 128")
    _rebuild_embeddings(NEW, OLD)
