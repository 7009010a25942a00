"""Initial schema: roots, photos, faces, people, model versions, embeddings, rejections, scans.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand and frozen: it does not import the models (they will move on), so it keeps
creating exactly the schema that revision 0001 means. ``test_store.py`` checks that the models
still match the schema these migrations build.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RESET_ASSIGNMENT_TRIGGER = """
CREATE TRIGGER trg_faces_unassigned_reset
AFTER UPDATE OF person_id ON faces
WHEN NEW.person_id IS NULL AND (NEW.assignment != 'none' OR NEW.assignment_confidence IS NOT NULL)
BEGIN
    UPDATE faces SET assignment = 'none', assignment_confidence = NULL WHERE id = NEW.id;
END
"""


def upgrade() -> None:
    op.create_table(
        "roots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("added_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roots")),
        sa.UniqueConstraint("path", name=op.f("uq_roots_path")),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("weights_sha256", sa.String(length=64), nullable=False),
        sa.Column("weights_path", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["model_versions.id"],
            name=op.f("fk_model_versions_parent_id_model_versions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
    )
    op.create_index(
        op.f("ix_model_versions_name_weights_sha256"),
        "model_versions",
        ["name", "weights_sha256"],
        unique=True,
    )
    op.create_index(
        op.f("uq_model_versions_one_active"),
        "model_versions",
        ["is_active"],
        unique=True,
        sqlite_where=sa.text("is_active = 1"),
    )
    op.create_table(
        "photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("root_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("taken_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("scanned_at", sa.DateTime(), nullable=True),
        sa.Column("detector", sa.String(), nullable=True),
        sa.Column("detector_settings", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'done', 'failed', 'missing')", name=op.f("ck_photos_status")
        ),
        sa.ForeignKeyConstraint(
            ["root_id"], ["roots.id"], name=op.f("fk_photos_root_id_roots"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photos")),
        sa.UniqueConstraint("path", name=op.f("uq_photos_path")),
    )
    op.create_index(op.f("ix_photos_content_hash"), "photos", ["content_hash"])
    op.create_index(op.f("ix_photos_status"), "photos", ["status"])
    op.create_index(op.f("ix_photos_root_id"), "photos", ["root_id"])
    op.create_index(op.f("ix_photos_taken_at"), "photos", ["taken_at"])
    # people and faces reference each other; SQLite accepts the forward reference to faces.
    op.create_table(
        "people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.Column("is_hidden", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.Column("cover_face_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cover_face_id"],
            ["faces.id"],
            name=op.f("fk_people_cover_face_id_faces"),
            ondelete="SET NULL",
            use_alter=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
    )
    op.create_index(op.f("ix_people_cover_face_id"), "people", ["cover_face_id"])
    op.create_table(
        "faces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("x2", sa.Float(), nullable=False),
        sa.Column("y2", sa.Float(), nullable=False),
        sa.Column("landmarks", sa.LargeBinary(), nullable=False),
        sa.Column("landmark_scheme", sa.String(length=16), nullable=False),
        sa.Column("detector", sa.String(), nullable=False),
        sa.Column("det_score", sa.Float(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("assignment", sa.String(length=16), server_default="none", nullable=False),
        sa.Column("assignment_confidence", sa.Float(), nullable=True),
        sa.Column("is_ignored", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "assignment IN ('none', 'auto', 'confirmed')", name=op.f("ck_faces_assignment")
        ),
        sa.CheckConstraint(
            "landmark_scheme IN ('dlib5', 'mtcnn5')", name=op.f("ck_faces_landmark_scheme")
        ),
        sa.CheckConstraint("length(landmarks) = 40", name=op.f("ck_faces_landmarks_length")),
        sa.ForeignKeyConstraint(
            ["photo_id"], ["photos.id"], name=op.f("fk_faces_photo_id_photos"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_faces_person_id_people"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faces")),
    )
    op.create_index(op.f("ix_faces_photo_id"), "faces", ["photo_id"])
    op.create_index(op.f("ix_faces_person_id_assignment"), "faces", ["person_id", "assignment"])
    op.execute(RESET_ASSIGNMENT_TRIGGER)
    op.create_table(
        "embeddings",
        sa.Column("face_id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("length(vector) = 128", name=op.f("ck_embeddings_vector_length")),
        sa.ForeignKeyConstraint(
            ["face_id"], ["faces.id"], name=op.f("fk_embeddings_face_id_faces"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_embeddings_model_version_id_model_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("face_id", "model_version_id", name=op.f("pk_embeddings")),
    )
    op.create_index(op.f("ix_embeddings_model_version_id"), "embeddings", ["model_version_id"])
    op.create_table(
        "face_rejections",
        sa.Column("face_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["face_id"],
            ["faces.id"],
            name=op.f("fk_face_rejections_face_id_faces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_face_rejections_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("face_id", "person_id", name=op.f("pk_face_rejections")),
    )
    op.create_index(op.f("ix_face_rejections_person_id"), "face_rejections", ["person_id"])
    op.create_table(
        "scan_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("roots", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="running", nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "status IN ('running', 'done', 'cancelled', 'crashed')",
            name=op.f("ck_scan_jobs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_jobs")),
    )


def downgrade() -> None:
    op.drop_table("scan_jobs")
    op.drop_table("face_rejections")
    op.drop_table("embeddings")
    op.execute("DROP TRIGGER IF EXISTS trg_faces_unassigned_reset")
    op.drop_table("faces")
    op.drop_table("people")
    op.drop_table("photos")
    op.drop_table("model_versions")
    op.drop_table("roots")
