"""archive: ended instances past the retention period move out of the live tables into
archived_instances (the instance and its per-instance rows as one JSON record), archived_events
(the events, same ids and columns; their leaves stay in audit_leaves) and archived_tasks (which
archived instance a task id belonged to) (services/archive/, docs/audit.md "Archive and
retention")

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "archived_instances",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("definition_key", sa.String(255), nullable=False),
        sa.Column("definition_version", sa.Integer(), nullable=False),
        sa.Column("business_key", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("last_event_hash", sa.String(64), nullable=True),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("checkpoint_size", sa.BigInteger(), nullable=False),
        sa.Column("record", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_archived_instances"),
        sa.UniqueConstraint(
            "definition_key",
            "business_key",
            name="uq_archived_instances_definition_key_business_key",
        ),
    )
    op.create_index("ix_archived_instances_archived_at", "archived_instances", ["archived_at"])
    op.create_table(
        "archived_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("instance_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("definition_key", sa.String(255), nullable=False),
        sa.Column("definition_version", sa.Integer(), nullable=False),
        sa.Column("element_id", sa.String(255), nullable=True),
        sa.Column("element_name", sa.String(255), nullable=True),
        sa.Column("task_id", sa.String(36), nullable=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=True),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("state_digest", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_archived_events"),
        sa.UniqueConstraint("instance_id", "seq", name="uq_archived_events_instance_id_seq"),
    )
    op.create_table(
        "archived_tasks",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("instance_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_archived_tasks"),
    )
    op.create_index("ix_archived_tasks_instance_id", "archived_tasks", ["instance_id"])


def downgrade() -> None:
    op.drop_index("ix_archived_tasks_instance_id", table_name="archived_tasks")
    op.drop_table("archived_tasks")
    op.drop_table("archived_events")
    op.drop_index("ix_archived_instances_archived_at", table_name="archived_instances")
    op.drop_table("archived_instances")
