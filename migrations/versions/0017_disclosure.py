"""public notices (公示) and the objections raised against them

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 03:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("instance_id", sa.String(36), nullable=False),
        sa.Column("definition_key", sa.String(255), nullable=False),
        sa.Column("element_id", sa.String(255), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("fields", _JSON, nullable=False),
        sa.Column("objection_message", sa.String(255), nullable=True),
        sa.Column("published_at", _TIME, nullable=False),
        sa.Column("ends_at", _TIME, nullable=False),
        sa.Column("closed_at", _TIME, nullable=True),
    )
    op.create_index("ix_notices_instance", "notices", ["instance_id", "ends_at"])
    op.create_index("ix_notices_ends", "notices", ["ends_at"])
    op.create_table(
        "notice_objections",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("notice_id", _ID, sa.ForeignKey("notices.id"), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("name", sa.String(100), nullable=True),
        sa.Column("contact", sa.String(255), nullable=True),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("received_at", _TIME, nullable=False),
    )
    op.create_index("ix_notice_objections_notice_id", "notice_objections", ["notice_id"])


def downgrade() -> None:
    op.drop_index("ix_notice_objections_notice_id", table_name="notice_objections")
    op.drop_table("notice_objections")
    op.drop_index("ix_notices_ends", table_name="notices")
    op.drop_index("ix_notices_instance", table_name="notices")
    op.drop_table("notices")
