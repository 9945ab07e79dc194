"""drop ix_events_instance_id: the unique (instance_id, seq) index already serves it

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 14:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every event insert paid for two indexes that start with instance_id.
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_instance_id"))


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_instance_id"), ["instance_id"], unique=False)
