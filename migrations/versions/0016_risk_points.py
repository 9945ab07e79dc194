"""risk points: completions of high-risk tasks waiting for a countersignature; tasks.state
widened to 32 characters for the state awaiting_countersign

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    # 'awaiting_countersign' is longer than the 16 characters tasks.state held. PostgreSQL widens
    # a varchar without rewriting the table; SQLite does not enforce the length.
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("tasks", "state", type_=sa.String(32), existing_type=sa.String(16))
    op.create_table(
        "task_countersigns",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(36), sa.ForeignKey("tasks.id"), nullable=False),
        sa.Column("instance_id", sa.String(36), sa.ForeignKey("instances.id"), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(100), nullable=False),
        sa.Column("requested_role", sa.String(255), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ledger", JSON, nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_comment", sa.Text(), nullable=True),
    )
    op.create_index("ix_task_countersigns_task", "task_countersigns", ["task_id", "requested_at"])
    op.create_index("ix_task_countersigns_role_state", "task_countersigns", ["role", "state"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("tasks", "state", type_=sa.String(16), existing_type=sa.String(32))
    op.drop_index("ix_task_countersigns_role_state", table_name="task_countersigns")
    op.drop_index("ix_task_countersigns_task", table_name="task_countersigns")
    op.drop_table("task_countersigns")
