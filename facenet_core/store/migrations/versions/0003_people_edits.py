"""People edits: the "suggested" assignment, face counts per person (kept by triggers), the edit
history for undo, job bookmarks, and the indexes the people queries need.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Written by hand and frozen, like 0001. SQLite cannot alter a CHECK constraint, and a column added
with ALTER TABLE would sit after the constraints in the schema text, so the faces and people
tables are rebuilt (see :func:`_rebuild`), getting AUTOINCREMENT ids on the way (an id is never
used twice). The migration engine runs with foreign keys off, so dropping an old table cascades
nothing: embeddings, rejections and cover faces keep pointing at the same ids. The triggers on
faces are created again after the copy (so copying does not count faces twice), once the counts
are filled in.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
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

COUNT_TRIGGERS = (
    """
CREATE TRIGGER trg_faces_count_insert
AFTER INSERT ON faces
WHEN NEW.person_id IS NOT NULL
BEGIN
    UPDATE people SET
        face_count = face_count + (NEW.assignment IN ('auto', 'confirmed')),
        confirmed_count = confirmed_count + (NEW.assignment = 'confirmed'),
        suggestion_count = suggestion_count + (NEW.assignment = 'suggested')
    WHERE id = NEW.person_id;
END
""",
    """
CREATE TRIGGER trg_faces_count_delete
AFTER DELETE ON faces
WHEN OLD.person_id IS NOT NULL
BEGIN
    UPDATE people SET
        face_count = face_count - (OLD.assignment IN ('auto', 'confirmed')),
        confirmed_count = confirmed_count - (OLD.assignment = 'confirmed'),
        suggestion_count = suggestion_count - (OLD.assignment = 'suggested')
    WHERE id = OLD.person_id;
END
""",
    """
CREATE TRIGGER trg_faces_count_update
AFTER UPDATE OF person_id, assignment ON faces
WHEN OLD.person_id IS NOT NEW.person_id OR OLD.assignment IS NOT NEW.assignment
BEGIN
    UPDATE people SET
        face_count = face_count - (OLD.assignment IN ('auto', 'confirmed')),
        confirmed_count = confirmed_count - (OLD.assignment = 'confirmed'),
        suggestion_count = suggestion_count - (OLD.assignment = 'suggested')
    WHERE id = OLD.person_id;
    UPDATE people SET
        face_count = face_count + (NEW.assignment IN ('auto', 'confirmed')),
        confirmed_count = confirmed_count + (NEW.assignment = 'confirmed'),
        suggestion_count = suggestion_count + (NEW.assignment = 'suggested')
    WHERE id = NEW.person_id;
END
""",
)

PEOPLE_COLUMNS = "id, name, created_at, is_hidden, cover_face_id"

FACES_COLUMNS = (
    "id, photo_id, x1, y1, x2, y2, landmarks, landmark_scheme, detector, det_score, person_id,"
    " assignment, assignment_confidence, is_ignored, created_at"
)


def _faces_schema(assignments: str) -> list[Any]:
    """The faces table's columns and constraints as of 0001, with these assignment values."""
    return [
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
        sa.CheckConstraint(f"assignment IN ({assignments})", name=op.f("ck_faces_assignment")),
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
    ]


def _people_schema(counts: bool) -> list[Any]:
    """The people table's columns and constraints as of 0001, with the face counts or not."""
    count_columns = [
        sa.Column(name, sa.Integer(), server_default=sa.text("0"), nullable=False)
        for name in ("face_count", "confirmed_count", "suggestion_count")
    ]
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.Column("is_hidden", sa.Boolean(), server_default=sa.text("0"), nullable=False),
        sa.Column("cover_face_id", sa.Integer(), nullable=True),
        *(count_columns if counts else []),
        sa.ForeignKeyConstraint(
            ["cover_face_id"],
            ["faces.id"],
            name=op.f("fk_people_cover_face_id_faces"),
            ondelete="SET NULL",
            use_alter=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
    ]


def _rebuild(table: str, schema: list[Any], columns: str, autoincrement: bool) -> None:
    """Copy ``table`` into a table of the new ``schema`` under the same name.

    SQLite keeps a renamed table's ``CREATE`` text with the new name quoted, which would make the
    schema text differ from a fresh library's; so the old table is renamed out of the way first
    (with ``legacy_alter_table`` on, which leaves other tables' references to it alone) and the
    new one is created under the plain name. Indexes go with the old table; triggers on it are
    dropped by the caller first."""
    bind = op.get_bind()
    old = f"_{table}_before_0003"
    bind.exec_driver_sql("PRAGMA legacy_alter_table = ON")
    try:
        op.execute(f"ALTER TABLE {table} RENAME TO {old}")
        op.create_table(table, *schema, sqlite_autoincrement=autoincrement)
        op.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {old}")
        op.execute(f"DROP TABLE {old}")
    finally:
        bind.exec_driver_sql("PRAGMA legacy_alter_table = OFF")


def _drop_face_triggers() -> None:
    for name in (
        "trg_faces_unassigned_reset",
        "trg_faces_count_insert",
        "trg_faces_count_delete",
        "trg_faces_count_update",
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")


def upgrade() -> None:
    _drop_face_triggers()
    # ids of people and faces are never used twice from now on (AUTOINCREMENT)
    _rebuild("people", _people_schema(counts=True), PEOPLE_COLUMNS, autoincrement=True)
    op.create_index(op.f("ix_people_cover_face_id"), "people", ["cover_face_id"])
    _rebuild(
        "faces",
        _faces_schema("'none', 'auto', 'suggested', 'confirmed'"),
        FACES_COLUMNS,
        autoincrement=True,
    )
    op.create_index(op.f("ix_faces_photo_id"), "faces", ["photo_id"])
    op.create_index(
        op.f("ix_faces_person_id_assignment_photo_id"),
        "faces",
        ["person_id", "assignment", "photo_id"],
    )
    op.create_index(
        op.f("ix_faces_ignored"), "faces", ["id"], sqlite_where=sa.text("is_ignored = 1")
    )
    op.create_index(
        op.f("ix_faces_suggested"),
        "faces",
        ["assignment_confidence"],
        sqlite_where=sa.text("assignment = 'suggested'"),
    )
    op.execute(
        "UPDATE people SET"
        " face_count = (SELECT count(*) FROM faces"
        "  WHERE person_id = people.id AND assignment IN ('auto', 'confirmed')),"
        " confirmed_count = (SELECT count(*) FROM faces"
        "  WHERE person_id = people.id AND assignment = 'confirmed')"
    )
    op.execute(RESET_ASSIGNMENT_TRIGGER)
    for trigger in COUNT_TRIGGERS:
        op.execute(trigger)
    op.create_table(
        "edits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edits")),
    )
    op.create_table(
        "edit_people",
        sa.Column("edit_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("existed", sa.Boolean(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("is_hidden", sa.Boolean(), nullable=False),
        sa.Column("cover_face_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["edit_id"],
            ["edits.id"],
            name=op.f("fk_edit_people_edit_id_edits"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("edit_id", "person_id", name=op.f("pk_edit_people")),
    )
    op.create_table(
        "edit_faces",
        sa.Column("edit_id", sa.Integer(), nullable=False),
        sa.Column("face_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("assignment", sa.String(length=16), nullable=False),
        sa.Column("assignment_confidence", sa.Float(), nullable=True),
        sa.Column("is_ignored", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "assignment IN ('none', 'auto', 'suggested', 'confirmed')",
            name=op.f("ck_edit_faces_assignment"),
        ),
        sa.ForeignKeyConstraint(
            ["edit_id"], ["edits.id"], name=op.f("fk_edit_faces_edit_id_edits"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["face_id"], ["faces.id"], name=op.f("fk_edit_faces_face_id_faces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("edit_id", "face_id", name=op.f("pk_edit_faces")),
    )
    op.create_index(op.f("ix_edit_faces_face_id"), "edit_faces", ["face_id"])
    op.create_table(
        "edit_rejections",
        sa.Column("edit_id", sa.Integer(), nullable=False),
        sa.Column("face_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("existed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["edit_id"],
            ["edits.id"],
            name=op.f("fk_edit_rejections_edit_id_edits"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["face_id"],
            ["faces.id"],
            name=op.f("fk_edit_rejections_face_id_faces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("edit_id", "face_id", "person_id", name=op.f("pk_edit_rejections")),
    )
    op.create_index(op.f("ix_edit_rejections_face_id"), "edit_rejections", ["face_id"])
    op.create_table(
        "job_state",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_job_state")),
    )


def downgrade() -> None:
    op.drop_table("job_state")
    op.drop_index(op.f("ix_edit_rejections_face_id"), table_name="edit_rejections")
    op.drop_table("edit_rejections")
    op.drop_index(op.f("ix_edit_faces_face_id"), table_name="edit_faces")
    op.drop_table("edit_faces")
    op.drop_table("edit_people")
    op.drop_table("edits")
    # suggestions were questions, not answers: they go back to being unassigned
    op.execute(
        "UPDATE faces SET person_id = NULL, assignment = 'none', assignment_confidence = NULL"
        " WHERE assignment = 'suggested'"
    )
    _drop_face_triggers()
    _rebuild("faces", _faces_schema("'none', 'auto', 'confirmed'"), FACES_COLUMNS, False)
    op.create_index(op.f("ix_faces_photo_id"), "faces", ["photo_id"])
    op.create_index(op.f("ix_faces_person_id_assignment"), "faces", ["person_id", "assignment"])
    op.execute(RESET_ASSIGNMENT_TRIGGER)
    _rebuild("people", _people_schema(counts=False), PEOPLE_COLUMNS, False)
    op.create_index(op.f("ix_people_cover_face_id"), "people", ["cover_face_id"])
