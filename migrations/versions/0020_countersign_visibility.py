"""task_countersigns(instance_id, role): the holder of a completion's countersign role sees the
case (services/visibility.py probes this index for every instance it checks or lists)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 07:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_task_countersigns_instance_role", "task_countersigns", ["instance_id", "role"]
    )


def downgrade() -> None:
    op.drop_index("ix_task_countersigns_instance_role", table_name="task_countersigns")
