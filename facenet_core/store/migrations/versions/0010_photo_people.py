"""Photo-level people (a person on a photo without a face box), their undo before-images, and
which faces a face-tag import named.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

Written by hand and frozen, like 0001: three new tables, nothing else changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "photo_people",
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), server_default="user", nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["photo_id"],
            ["photos.id"],
            name=op.f("fk_photo_people_photo_id_photos"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_photo_people_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("photo_id", "person_id", name=op.f("pk_photo_people")),
    )
    op.create_index(
        op.f("ix_photo_people_person_id_photo_id"),
        "photo_people",
        ["person_id", "photo_id"],
        unique=False,
    )
    op.create_table(
        "face_tag_sources",
        sa.Column("face_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("imported_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["face_id"],
            ["faces.id"],
            name=op.f("fk_face_tag_sources_face_id_faces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_face_tag_sources_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("face_id", name=op.f("pk_face_tag_sources")),
    )
    op.create_index(
        op.f("ix_face_tag_sources_person_id"), "face_tag_sources", ["person_id"], unique=False
    )
    op.create_table(
        "edit_photo_people",
        sa.Column("edit_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["edit_id"],
            ["edits.id"],
            name=op.f("fk_edit_photo_people_edit_id_edits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["photo_id"],
            ["photos.id"],
            name=op.f("fk_edit_photo_people_photo_id_photos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "edit_id", "person_id", "photo_id", name=op.f("pk_edit_photo_people")
        ),
    )
    op.create_index(
        op.f("ix_edit_photo_people_person_id"), "edit_photo_people", ["person_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_edit_photo_people_person_id"), table_name="edit_photo_people")
    op.drop_table("edit_photo_people")
    op.drop_index(op.f("ix_face_tag_sources_person_id"), table_name="face_tag_sources")
    op.drop_table("face_tag_sources")
    op.drop_index(op.f("ix_photo_people_person_id_photo_id"), table_name="photo_people")
    op.drop_table("photo_people")
