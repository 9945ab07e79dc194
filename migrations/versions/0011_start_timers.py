"""timers: one schedule row per timer start event of a deployed definition; the due-timer index

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 00:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The timer worker's claim (status = 'running' and next_timer_at <= now, by next_timer_at):
    # without it SQLite reads every running instance through ix_instances_status_created.
    op.create_index(
        "ix_instances_status_timer", "instances", ["status", "next_timer_at"], unique=False
    )
    op.create_table(
        "start_timers",
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("element_id", sa.String(length=255), nullable=False),
        sa.Column("definition_key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remaining_cycles", sa.Integer(), nullable=False),
        sa.Column("interval_seconds", sa.Float(), nullable=True),
        sa.Column("fired_count", sa.Integer(), nullable=False),
        sa.Column("last_fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_instance_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["definition_id"],
            ["definitions.id"],
            name=op.f("fk_start_timers_definition_id_definitions"),
        ),
        sa.PrimaryKeyConstraint("definition_id", "element_id", name=op.f("pk_start_timers")),
    )
    op.create_index(
        op.f("ix_start_timers_definition_key"), "start_timers", ["definition_key"], unique=False
    )
    op.create_index(
        op.f("ix_start_timers_next_fire_at"), "start_timers", ["next_fire_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_start_timers_next_fire_at"), table_name="start_timers")
    op.drop_index(op.f("ix_start_timers_definition_key"), table_name="start_timers")
    op.drop_table("start_timers")
    op.drop_index("ix_instances_status_timer", table_name="instances")
