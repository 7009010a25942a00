"""Faces found by YuNet: the landmark scheme ``yunet5`` is allowed.

Revision ID: 0020
Revises: 0002
Create Date: 2026-11-28

Written by hand and frozen, like 0001. SQLite cannot change a CHECK constraint, so ``faces`` is
rebuilt: its rows are copied aside, the table is dropped and created again exactly as the models
create it (with its indexes and trigger), and the rows are copied back with their ids, so
embeddings, rejections and people still point at the same faces. The upgrade runs with foreign
keys off and in one transaction (see ``store.db``): a failure leaves the library as it was.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FACE_COLUMNS = (
    "id, photo_id, x1, y1, x2, y2, landmarks, landmark_scheme, detector, det_score, person_id,"
    " assignment, assignment_confidence, is_ignored, created_at"
)

RESET_ASSIGNMENT_TRIGGER = """
CREATE TRIGGER trg_faces_unassigned_reset
AFTER UPDATE OF person_id ON faces
WHEN NEW.person_id IS NULL AND (NEW.assignment != 'none' OR NEW.assignment_confidence IS NOT NULL)
BEGIN
    UPDATE faces SET assignment = 'none', assignment_confidence = NULL WHERE id = NEW.id;
END
"""


def _faces(schemes: str) -> None:
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
            f"landmark_scheme IN ({schemes})", name=op.f("ck_faces_landmark_scheme")
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


def _rebuild(schemes: str) -> None:
    """Copy ``faces`` aside, create it again, copy the rows back (ids kept).

    Not ``batch_alter_table``: it loses the trigger, and its final ``ALTER TABLE ... RENAME``
    stores the table's SQL with a quoted name, while a test holds the migrated schema to the
    models' exact DDL."""
    op.execute("CREATE TABLE _old_faces AS SELECT * FROM faces")
    op.execute("DROP TRIGGER IF EXISTS trg_faces_unassigned_reset")
    op.drop_index(op.f("ix_faces_person_id_assignment"), table_name="faces")
    op.drop_index(op.f("ix_faces_photo_id"), table_name="faces")
    op.drop_table("faces")
    _faces(schemes)
    op.execute(f"INSERT INTO faces ({FACE_COLUMNS}) SELECT {FACE_COLUMNS} FROM _old_faces")
    op.execute("DROP TABLE _old_faces")


def upgrade() -> None:
    _rebuild("'dlib5', 'mtcnn5', 'yunet5'")


def downgrade() -> None:
    # an older app knows no yunet5: those faces go (with their embeddings and rejections), and
    # their photos are scanned again by that app
    yunet_faces = "(SELECT id FROM faces WHERE landmark_scheme = 'yunet5')"
    op.execute(
        "UPDATE photos SET status = 'pending' WHERE id IN "
        "(SELECT photo_id FROM faces WHERE landmark_scheme = 'yunet5')"
    )
    op.execute(f"DELETE FROM embeddings WHERE face_id IN {yunet_faces}")
    op.execute(f"DELETE FROM face_rejections WHERE face_id IN {yunet_faces}")
    op.execute(f"UPDATE people SET cover_face_id = NULL WHERE cover_face_id IN {yunet_faces}")
    op.execute("DELETE FROM faces WHERE landmark_scheme = 'yunet5'")
    _rebuild("'dlib5', 'mtcnn5'")
