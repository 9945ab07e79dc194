"""supervision cases (督办): cases, their findings, corrections, people and timeline

Also indexes violations by actor, for a person's record (GET /v1/people/{name}/record).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "supervision_cases",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("instance_id", sa.String(36), nullable=False),
        sa.Column("subject", sa.String(16), nullable=False),
        sa.Column("alert_id", sa.BigInteger(), nullable=True),
        sa.Column("violation_id", sa.BigInteger(), nullable=True),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("responsible_unit", sa.String(255), nullable=True),
        sa.Column("responsible_role", sa.String(255), nullable=True),
        sa.Column("due_at", _TIME, nullable=True),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("opened_by", sa.String(100), nullable=False),
        sa.Column("opened_at", _TIME, nullable=False),
        sa.Column("closed_by", sa.String(100), nullable=True),
        sa.Column("closed_at", _TIME, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
    )
    op.create_index("ix_supervision_cases_opened", "supervision_cases", ["opened_at"])
    op.create_index("ix_supervision_cases_instance", "supervision_cases", ["instance_id"])
    op.create_index("ix_supervision_cases_state", "supervision_cases", ["state", "opened_at"])
    op.create_index(
        "ix_supervision_cases_opened_by", "supervision_cases", ["opened_by", "opened_at"]
    )
    op.create_index("ix_supervision_cases_outcome", "supervision_cases", ["outcome", "closed_at"])
    op.create_table(
        "case_people",
        sa.Column("case_id", _ID, sa.ForeignKey("supervision_cases.id"), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
    )
    op.create_index("ix_case_people_name", "case_people", ["name"])
    op.create_table(
        "case_findings",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("case_id", _ID, sa.ForeignKey("supervision_cases.id"), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("evidence", _JSON, nullable=False),
        sa.Column("recorded_by", sa.String(100), nullable=False),
        sa.Column("recorded_at", _TIME, nullable=False),
    )
    op.create_index("ix_case_findings_case_id", "case_findings", ["case_id"])
    op.create_table(
        "case_corrections",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("case_id", _ID, sa.ForeignKey("supervision_cases.id"), nullable=False),
        sa.Column("instance_id", sa.String(36), nullable=False),
        sa.Column("demand", sa.Text(), nullable=False),
        sa.Column("to_role", sa.String(255), nullable=True),
        sa.Column("to_person", sa.String(100), nullable=True),
        sa.Column("due_at", _TIME, nullable=True),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("requested_by", sa.String(100), nullable=False),
        sa.Column("requested_at", _TIME, nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("replied_by", sa.String(100), nullable=True),
        sa.Column("replied_at", _TIME, nullable=True),
    )
    op.create_index("ix_case_corrections_case_id", "case_corrections", ["case_id"])
    op.create_index("ix_case_corrections_person", "case_corrections", ["to_person", "state"])
    op.create_index("ix_case_corrections_role", "case_corrections", ["to_role", "state"])
    op.create_index("ix_case_corrections_instance", "case_corrections", ["instance_id"])
    op.create_table(
        "case_events",
        sa.Column("case_id", _ID, sa.ForeignKey("supervision_cases.id"), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
    )
    op.create_index("ix_violations_actor", "violations", ["actor", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_violations_actor", table_name="violations")
    op.drop_table("case_events")
    op.drop_table("case_corrections")
    op.drop_table("case_findings")
    op.drop_table("case_people")
    op.drop_table("supervision_cases")
