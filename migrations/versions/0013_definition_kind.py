"""definitions.kind: a definition is a BPMN process or a DMN decision table

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("definitions") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="process")
        )


def downgrade() -> None:
    with op.batch_alter_table("definitions") as batch:
        batch.drop_column("kind")
