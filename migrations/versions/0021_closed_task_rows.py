"""closed_task_rows: a closed task's row as it was when a moved token reopens the task under
the same id, so the statistics count its closing event with the row it closed

Rows replaced by moves before this revision are gone: their completions keep the counts they
had (a rebuild counts them with the reopened row, as before).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "closed_task_rows",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("task_id", sa.String(36), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column(
            "roles",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("assignee", sa.String(100), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("due_at", _TIME, nullable=True),
        sa.Column("ended_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_closed_task_rows"),
    )
    op.create_index("ix_closed_task_rows_task_id", "closed_task_rows", ["task_id"])


def downgrade() -> None:
    op.drop_index("ix_closed_task_rows_task_id", table_name="closed_task_rows")
    op.drop_table("closed_task_rows")
