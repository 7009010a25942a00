"""Faces found by YuNet: the landmark scheme ``yunet5`` is allowed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

Written by hand and frozen, like 0001. SQLite cannot change a CHECK constraint, so ``faces`` is
rebuilt from its own stored SQL with only the scheme list changed: its rows are copied aside,
the table is dropped (taking its indexes and triggers with it) and created again, the rows are
copied back with their ids (embeddings, rejections and people still point at the same faces),
and its indexes and triggers are created again from their stored SQL. The upgrade runs with
foreign keys off and in one transaction (see ``store.db``): a failure leaves the library as it
was.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "landmark_scheme IN ('dlib5', 'mtcnn5')"
NEW = "landmark_scheme IN ('dlib5', 'mtcnn5', 'yunet5')"


def _rebuild_faces(old: str, new: str) -> None:
    """Create ``faces`` again from its stored SQL with ``old`` replaced by ``new``."""
    bind = op.get_bind()
    rows = bind.execute(
        sa.text("SELECT type, sql FROM sqlite_master WHERE tbl_name = 'faces' AND sql IS NOT NULL")
    ).all()
    table = next(sql for kind, sql in rows if kind == "table")
    if old not in table:
        raise RuntimeError(f"unexpected faces table, no {old!r} in: {table}")
    others = [sql for kind, sql in rows if kind in ("index", "trigger")]
    columns = ", ".join(row[1] for row in bind.execute(sa.text("PRAGMA table_info(faces)")))
    op.execute("CREATE TABLE _old_faces AS SELECT * FROM faces")
    op.execute("DROP TABLE faces")
    op.execute(table.replace(old, new))
    op.execute(f"INSERT INTO faces ({columns}) SELECT {columns} FROM _old_faces")
    op.execute("DROP TABLE _old_faces")
    for sql in others:
        op.execute(sql)


def upgrade() -> None:
    _rebuild_faces(OLD, NEW)


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
    _rebuild_faces(NEW, OLD)
