"""Videos: a photo row may hold a video (its kind and length), and a face may be a track (its
time span and the time of its best frame).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Written by hand and frozen, like 0001: new columns only, added in place. ``media_kind`` has no
CHECK constraint: SQLite cannot add one without rebuilding ``photos`` (see 0005 for what that
takes), and the one writer (the scan) writes only :class:`~facenet_core.store.MediaKind` values.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "photos",
        sa.Column("media_kind", sa.String(length=8), server_default="photo", nullable=False),
    )
    op.add_column("photos", sa.Column("duration_s", sa.Float(), nullable=True))
    op.add_column("faces", sa.Column("track_start_s", sa.Float(), nullable=True))
    op.add_column("faces", sa.Column("track_end_s", sa.Float(), nullable=True))
    op.add_column("faces", sa.Column("frame_s", sa.Float(), nullable=True))


def downgrade() -> None:
    # an older app knows no videos: their rows go (with their faces), found again as unsupported
    op.execute("DELETE FROM photos WHERE media_kind = 'video'")
    with op.batch_alter_table("faces") as batch:
        batch.drop_column("frame_s")
        batch.drop_column("track_end_s")
        batch.drop_column("track_start_s")
    with op.batch_alter_table("photos") as batch:
        batch.drop_column("duration_s")
        batch.drop_column("media_kind")
