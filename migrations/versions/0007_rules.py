"""negative-list rules: rules, declarations, lists, violations (filled by the rules work)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 22:50:07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "rule_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("effect", sa.String(length=8), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("legal_basis", JSON, nullable=False),
        sa.Column("process_key", sa.String(length=255), nullable=True),
        sa.Column("elements", JSON, nullable=False),
        sa.Column("acts", JSON, nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_versions")),
        sa.UniqueConstraint("rule_id", "version", name=op.f("uq_rule_versions_rule_id_version")),
    )
    op.create_table(
        "declarations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(length=100), nullable=False),
        sa.Column("counterparty", sa.String(length=255), nullable=False),
        sa.Column("counterparty_norm", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("declared_by", sa.String(length=100), nullable=False),
        sa.Column("declared_at", WHEN, nullable=False),
        sa.Column("withdrawn_by", sa.String(length=100), nullable=True),
        sa.Column("withdrawn_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_declarations")),
    )
    op.create_index("ix_declarations_person", "declarations", ["person", "withdrawn_at"])
    op.create_table(
        "rule_lists",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_rule_lists")),
    )
    op.create_table(
        "rule_list_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_name", sa.String(length=100), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("value_norm", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("added_at", WHEN, nullable=False),
        sa.Column("removed_by", sa.String(length=100), nullable=True),
        sa.Column("removed_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["list_name"],
            ["rule_lists.name"],
            name=op.f("fk_rule_list_entries_list_name_rule_lists"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_list_entries")),
    )
    op.create_index(
        "ix_rule_list_entries_lookup", "rule_list_entries", ["list_name", "value_norm"]
    )
    op.create_table(
        "violations",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("rule_source", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("effect", sa.String(length=8), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=True),
        sa.Column("act", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("legal_basis", JSON, nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("definition_key", sa.String(length=255), nullable=False),
        sa.Column("definition_version", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("element_id", sa.String(length=255), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("occurred_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_violations")),
    )
    op.create_index("ix_violations_occurred", "violations", ["occurred_at"])
    op.create_index("ix_violations_instance", "violations", ["instance_id"])
    op.create_index("ix_violations_rule", "violations", ["rule_id"])
    op.create_table(
        "rule_ledger",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("definition_key", sa.String(length=255), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("instance_id", sa.String(length=36), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("occurred_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_ledger")),
    )
    op.create_index(
        "ix_rule_ledger_sum",
        "rule_ledger",
        ["rule_id", "definition_key", "key_hash", "occurred_at"],
    )
    # an instance's own row is replaced when its guarded task is done again
    op.create_index("ix_rule_ledger_instance", "rule_ledger", ["instance_id", "rule_id"])


def downgrade() -> None:
    op.drop_index("ix_rule_ledger_instance", table_name="rule_ledger")
    op.drop_index("ix_rule_ledger_sum", table_name="rule_ledger")
    op.drop_table("rule_ledger")
    for name in ("ix_violations_rule", "ix_violations_instance", "ix_violations_occurred"):
        op.drop_index(name, table_name="violations")
    op.drop_table("violations")
    op.drop_index("ix_rule_list_entries_lookup", table_name="rule_list_entries")
    op.drop_table("rule_list_entries")
    op.drop_table("rule_lists")
    op.drop_index("ix_declarations_person", table_name="declarations")
    op.drop_table("declarations")
    op.drop_table("rule_versions")
