"""state binding: the last event of every batch an instance writes records the digest of the
saved engine state, data and status it left (``events.state_digest``), so that an edit of the
live state is found against the audit log (services/audit/binding.py)

Events written before this revision carry none; an instance is bound from its next batch on.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("state_digest", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("state_digest")
