"""Forgotten faces: the places of faces the user asked to forget, so a rescan does not bring
them back.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

Written by hand and frozen, like 0001: a new table, nothing else changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "forgotten_faces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("x2", sa.Float(), nullable=False),
        sa.Column("y2", sa.Float(), nullable=False),
        sa.Column("forgotten_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["photo_id"],
            ["photos.id"],
            name=op.f("fk_forgotten_faces_photo_id_photos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forgotten_faces")),
    )
    op.create_index(
        op.f("ix_forgotten_faces_photo_id"), "forgotten_faces", ["photo_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_forgotten_faces_photo_id"), table_name="forgotten_faces")
    op.drop_table("forgotten_faces")
