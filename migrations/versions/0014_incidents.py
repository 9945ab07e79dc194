"""incidents: a failed step parks its instance; the incidents table keeps each one's history

Instances that failed before this revision were final; they are parked now (``ended_at``
cleared) with an open incident each, so that an administrator can retry, skip, move or cancel.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 00:30:00
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("instance_id", sa.String(36), sa.ForeignKey("instances.id"), nullable=False),
        sa.Column("definition_key", sa.String(255), nullable=False),
        sa.Column("definition_version", sa.Integer(), nullable=False),
        sa.Column("element_id", sa.String(255), nullable=True),
        sa.Column("element_name", sa.String(255), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(100), nullable=True),
        sa.Column("resolution", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_incidents_status_created", "incidents", ["status", "created_at"])
    op.create_index("ix_incidents_instance", "incidents", ["instance_id", "created_at"])
    _park_failed_instances()


def _park_failed_instances() -> None:
    conn = op.get_bind()
    instances = sa.table(
        "instances",
        sa.column("id", sa.String),
        sa.column("definition_key", sa.String),
        sa.column("definition_version", sa.Integer),
        sa.column("status", sa.String),
        sa.column("incident", sa.JSON),
        sa.column("updated_at", sa.DateTime(timezone=True)),
        sa.column("ended_at", sa.DateTime(timezone=True)),
    )
    incidents = sa.table(
        "incidents",
        sa.column("id", sa.String),
        sa.column("instance_id", sa.String),
        sa.column("definition_key", sa.String),
        sa.column("definition_version", sa.Integer),
        sa.column("element_id", sa.String),
        sa.column("element_name", sa.String),
        sa.column("message", sa.Text),
        sa.column("status", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    failed = conn.execute(
        sa.select(
            instances.c.id,
            instances.c.definition_key,
            instances.c.definition_version,
            instances.c.incident,
            instances.c.updated_at,
        ).where(instances.c.status == "failed")
    ).all()
    rows = []
    for r in failed:
        incident = r.incident if isinstance(r.incident, dict) else {}
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "instance_id": r.id,
                "definition_key": r.definition_key,
                "definition_version": r.definition_version,
                "element_id": incident.get("element_id"),
                "element_name": incident.get("element_name"),
                "message": str(incident.get("message") or "The instance failed."),
                "status": "open",
                "created_at": r.updated_at,
            }
        )
    if rows:
        op.bulk_insert(incidents, rows)
    conn.execute(
        sa.update(instances).where(instances.c.status == "failed").values(ended_at=None)
    )


def downgrade() -> None:
    op.drop_index("ix_incidents_instance", table_name="incidents")
    op.drop_index("ix_incidents_status_created", table_name="incidents")
    op.drop_table("incidents")
