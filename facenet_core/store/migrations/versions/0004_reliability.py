"""File identity and readability: photos may be ``unavailable``; roots keep the path the user
gave; folders a scan could not read are recorded.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

Written by hand and frozen, like 0001. SQLite cannot change a CHECK constraint or put a new
column anywhere but last, so ``roots`` and ``photos`` are rebuilt: their rows are copied aside,
the table is dropped and created again exactly as the models create it, and the rows are copied
back (ids kept, so faces and photos still point at the same rows). The upgrade runs with foreign
keys off and in one transaction (see ``store.db``): a failure leaves the library as it was.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PHOTO_COLUMNS = (
    "id, root_id, path, size, mtime_ns, content_hash, width, height, taken_at, status, error,"
    " scanned_at, detector, detector_settings"
)
STATUSES = "'pending', 'done', 'failed', 'missing'"


def _roots(with_added_path: bool) -> None:
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("added_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
    ]
    if with_added_path:
        columns.append(sa.Column("added_path", sa.String(), nullable=True))
    op.create_table(
        "roots",
        *columns,
        sa.PrimaryKeyConstraint("id", name=op.f("pk_roots")),
        sa.UniqueConstraint("path", name=op.f("uq_roots_path")),
    )


def _photos(statuses: str) -> None:
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
        sa.CheckConstraint(f"status IN ({statuses})", name=op.f("ck_photos_status")),
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


def _rebuild(table: str, create: object, columns: str, select: str | None = None) -> None:
    """Copy ``table`` aside, create it again with ``create()``, copy the rows back.

    Not ``batch_alter_table``: its final ``ALTER TABLE ... RENAME`` stores the table's SQL with a
    quoted name, and a test holds the migrated schema to the models' exact DDL."""
    op.execute(f"CREATE TABLE _old_{table} AS SELECT * FROM {table}")
    op.drop_table(table)
    create()  # type: ignore[operator]
    op.execute(f"INSERT INTO {table} ({columns}) SELECT {select or columns} FROM _old_{table}")
    op.execute(f"DROP TABLE _old_{table}")


def upgrade() -> None:
    # the path the user gave for an existing root is not known any more: its own path stands in
    _rebuild(
        "roots", lambda: _roots(True), "id, path, added_at, added_path", "id, path, added_at, path"
    )
    _rebuild("photos", lambda: _photos(f"{STATUSES}, 'unavailable'"), PHOTO_COLUMNS)
    op.create_table(
        "folder_problems",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("root_id", sa.Integer(), nullable=True),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(
            ["root_id"],
            ["roots.id"],
            name=op.f("fk_folder_problems_root_id_roots"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_folder_problems")),
        sa.UniqueConstraint("path", name=op.f("uq_folder_problems_path")),
    )
    op.create_index(op.f("ix_folder_problems_root_id"), "folder_problems", ["root_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_folder_problems_root_id"), table_name="folder_problems")
    op.drop_table("folder_problems")
    # an older app knows no "unavailable": those photos had faces, so they become "missing"
    op.execute("UPDATE photos SET status = 'missing' WHERE status = 'unavailable'")
    _rebuild("photos", lambda: _photos(STATUSES), PHOTO_COLUMNS)
    _rebuild("roots", lambda: _roots(False), "id, path, added_at")
