"""statistics: additive counters per process, element, role, person, day and month, and the
aggregator's cursor over the event table

Existing events are counted by the aggregator on its first passes (its cursor starts at 0), or
at once with ``powerflow stats rebuild``.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stat_counts",
        sa.Column("definition_key", sa.String(255), nullable=False),
        sa.Column("role", sa.String(255), nullable=False),
        sa.Column("person", sa.String(100), nullable=False),
        sa.Column("span", sa.String(1), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("element_id", sa.String(255), nullable=False),
        sa.Column("metric", sa.String(32), nullable=False),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "definition_key",
            "role",
            "person",
            "span",
            "day",
            "element_id",
            "metric",
            "label",
            name="pk_stat_counts",
        ),
    )
    op.create_index(
        "ix_stat_counts_person_span_role_day", "stat_counts", ["person", "span", "role", "day"]
    )
    op.create_index(
        "ix_stat_counts_role_span_person_day", "stat_counts", ["role", "span", "person", "day"]
    )
    op.create_table(
        "stat_cursors",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_stat_cursors"),
    )


def downgrade() -> None:
    op.drop_table("stat_cursors")
    op.drop_index("ix_stat_counts_role_span_person_day", table_name="stat_counts")
    op.drop_index("ix_stat_counts_person_span_role_day", table_name="stat_counts")
    op.drop_table("stat_counts")
