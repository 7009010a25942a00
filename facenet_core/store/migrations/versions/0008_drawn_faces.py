"""Faces drawn by hand: an edit may create or delete whole faces, kept with it for undo.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

Written by hand and frozen, like 0001: one nullable column, nothing else changes. A drawn face
itself needs no column: its ``detector`` is ``"user"``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("edits", sa.Column("face_rows", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("edits") as batch:
        batch.drop_column("face_rows")
