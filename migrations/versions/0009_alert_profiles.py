"""alert profiles: named threshold sets, seeded with two-tier, deadline-approach and cards

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 22:50:09
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _t(level: str, limit: str, offset: str) -> dict[str, str]:
    return {"level": level, "limit": limit, "offset": offset}


RULE_LEVELS = {"warn": "yellow", "block": "red"}
SEED = [
    {
        "name": "two-tier",
        "description": (
            "Prompt one day before the promised and step limits, yellow when they pass, red when "
            "the statutory limit passes (the default)."
        ),
        "thresholds": [
            _t("prompt", "promised", "-P1D"),
            _t("prompt", "step", "-P1D"),
            _t("yellow", "promised", "PT0S"),
            _t("yellow", "step", "PT0S"),
            _t("red", "statutory", "PT0S"),
        ],
    },
    {
        "name": "deadline-approach",
        "description": "Yellow one day before a limit, red when it passes.",
        "thresholds": [
            _t("yellow", "promised", "-P1D"),
            _t("yellow", "step", "-P1D"),
            _t("yellow", "statutory", "-P1D"),
            _t("red", "promised", "PT0S"),
            _t("red", "step", "PT0S"),
            _t("red", "statutory", "PT0S"),
        ],
    },
    {
        "name": "cards",
        "description": (
            "Overdue means cards: a prompt one day before, a yellow card when the promised or "
            "step limit passes, a red card when the statutory limit passes or a step is three "
            "days late."
        ),
        "thresholds": [
            _t("prompt", "promised", "-P1D"),
            _t("prompt", "step", "-P1D"),
            _t("yellow", "promised", "PT0S"),
            _t("yellow", "step", "PT0S"),
            _t("red", "statutory", "PT0S"),
            _t("red", "step", "P3D"),
        ],
    },
]


def upgrade() -> None:
    table = op.create_table(
        "alert_profiles",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("thresholds", JSON, nullable=False),
        sa.Column("rule_levels", JSON, nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_alert_profiles")),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        table,
        [
            {**row, "rule_levels": RULE_LEVELS, "updated_by": "system", "updated_at": now}
            for row in SEED
        ],
    )


def downgrade() -> None:
    op.drop_table("alert_profiles")
