"""power layer: case and task deadlines, alert levels, the alerts table

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 22:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("promised_due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("statutory_due_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("clock_paused_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("alert_level", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("next_alert_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_instances_next_alert_at", ["next_alert_at"], unique=False)
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alert_level", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("next_alert_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_tasks_next_alert_at", ["next_alert_at"], unique=False)
    op.create_table(
        "alerts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("definition_key", sa.String(length=255), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("element_id", sa.String(length=255), nullable=True),
        sa.Column("roles", JSON, nullable=False),
        sa.Column("persons", JSON, nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=True),
        sa.Column("rule_version", sa.Integer(), nullable=True),
        sa.Column("violation_id", sa.BigInteger(), nullable=True),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=100), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledge_comment", sa.Text(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_alerts_dedupe_key")),
    )
    op.create_index("ix_alerts_state_raised", "alerts", ["state", "raised_at"], unique=False)
    op.create_index("ix_alerts_instance", "alerts", ["instance_id"], unique=False)
    op.create_index(op.f("ix_alerts_task_id"), "alerts", ["task_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_alerts_task_id"), table_name="alerts")
    op.drop_index("ix_alerts_instance", table_name="alerts")
    op.drop_index("ix_alerts_state_raised", table_name="alerts")
    op.drop_table("alerts")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_next_alert_at")
        batch_op.drop_column("next_alert_at")
        batch_op.drop_column("alert_level")
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_index("ix_instances_next_alert_at")
        for column in (
            "next_alert_at",
            "alert_level",
            "clock_paused_at",
            "statutory_due_at",
            "promised_due_at",
        ):
            batch_op.drop_column(column)
