"""record what data each deployed definition accepts (start form, pf:acceptsData)

Definitions deployed before submitted data was bounded by the model have no start form and no
pf:acceptsData in their catalog; read both again from the stored BPMN file, so that a start
form or an opt-in already written in the file counts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
definitions = sa.table(
    "definitions",
    sa.column("id", sa.Integer),
    sa.column("key", sa.String),
    sa.column("deployment_id", sa.Integer),
    sa.column("catalog", JSON),
)
deployments = sa.table("deployments", sa.column("id", sa.Integer), sa.column("xml", sa.LargeBinary))


def upgrade() -> None:
    from powerflow.engine import compile_bpmn

    conn = op.get_bind()
    rows = conn.execute(
        sa.select(
            definitions.c.id, definitions.c.key, definitions.c.catalog, deployments.c.xml
        ).join(deployments, deployments.c.id == definitions.c.deployment_id)
    ).all()
    compiled: dict[bytes, dict[str, dict[str, object]]] = {}
    for row in rows:
        catalog = dict(row.catalog or {})
        if "start" in catalog:
            continue
        xml = bytes(row.xml)
        if xml not in compiled:
            result = compile_bpmn(xml, "stored.bpmn", max_bytes=len(xml) + 1)
            compiled[xml] = {p.process_id: p.catalog() for p in result.processes}
        fresh = compiled[xml].get(row.key)
        if fresh is None:
            continue
        catalog["accepts_data"] = fresh["accepts_data"]
        catalog["start"] = fresh["start"]
        elements = dict(catalog.get("elements", {}))
        fresh_elements = fresh["elements"]
        assert isinstance(fresh_elements, dict)
        for element_id, element in elements.items():
            accepts = fresh_elements.get(element_id, {}).get("accepts_data")
            elements[element_id] = {**element, "accepts_data": accepts}
        catalog["elements"] = elements
        conn.execute(definitions.update().where(definitions.c.id == row.id).values(catalog=catalog))


def downgrade() -> None:
    # The added keys are ignored by earlier versions; nothing to undo.
    pass
