"""messages between instances: subscriptions, start triggers, kept messages

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "message_subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("message_name", sa.String(length=255), nullable=False),
        sa.Column("correlation_key", sa.String(length=512), nullable=True),
        sa.Column("properties", sa.String(length=2000), nullable=False),
        sa.Column("element_id", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_subscriptions")),
    )
    op.create_index(
        "ix_message_subscriptions_lookup",
        "message_subscriptions",
        ["kind", "message_name", "correlation_key"],
        unique=False,
    )
    op.create_index(
        "ix_message_subscriptions_instance", "message_subscriptions", ["instance_id"], unique=False
    )
    op.create_table(
        "start_triggers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("definition_key", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("element_id", sa.String(length=255), nullable=True),
        sa.Column("properties", sa.String(length=2000), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_start_triggers")),
    )
    op.create_index("ix_start_triggers_lookup", "start_triggers", ["kind", "name"], unique=False)
    op.create_index(
        "ix_start_triggers_definition_id", "start_triggers", ["definition_id"], unique=False
    )
    op.create_table(
        "message_catches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("properties", sa.String(length=2000), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_catches")),
    )
    op.create_index("ix_message_catches_lookup", "message_catches", ["kind", "name"], unique=False)
    op.create_table(
        "messages",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("correlation", JSON, nullable=True),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("business_key", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=100), nullable=False),
        sa.Column("source_instance_id", sa.String(length=36), nullable=True),
        sa.Column("delivered_to", JSON, nullable=False),
        sa.Column("started", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    op.create_index(
        "ix_messages_status_expires", "messages", ["status", "expires_at"], unique=False
    )
    op.create_index("ix_messages_name_status", "messages", ["name", "status"], unique=False)


def downgrade() -> None:
    op.drop_table("messages")
    op.drop_table("message_catches")
    op.drop_table("start_triggers")
    op.drop_table("message_subscriptions")
