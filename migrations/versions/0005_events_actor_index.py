"""index events(actor, instance_id): the instances a person acted on, for visibility checks

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 20:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # "Did this person act on this instance?" is asked on every read of an instance by someone
    # who is neither its starter nor a supervisor, and per row of their lists.
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_actor_instance", ["actor", "instance_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_actor_instance")
