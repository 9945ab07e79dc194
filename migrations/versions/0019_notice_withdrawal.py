"""notices.withdrawn_at (a notice whose case was cancelled during its period) and
notice_objections.held (an objection kept for a case that could take no message then)

Existing rows are brought in line: the open notices of cases already cancelled are marked
withdrawn at the cancellation, and the undelivered objections raised since a still suspended
case was suspended, or since a still parked case's open incident, are marked held, so the
case's resume or recovery delivers them.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("notices") as batch:
        batch.add_column(sa.Column("withdrawn_at", _TIME, nullable=True))
    with op.batch_alter_table("notice_objections") as batch:
        batch.add_column(
            sa.Column("held", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(
        """
        UPDATE notices
        SET withdrawn_at = (SELECT i.ended_at FROM instances i WHERE i.id = notices.instance_id),
            closed_at = (SELECT i.ended_at FROM instances i WHERE i.id = notices.instance_id)
        WHERE closed_at IS NULL
          AND EXISTS (
            SELECT 1 FROM instances i
            WHERE i.id = notices.instance_id
              AND i.status = 'cancelled'
              AND i.ended_at IS NOT NULL
              AND i.ended_at < notices.ends_at
          )
        """
    )
    op.execute(
        """
        UPDATE notice_objections
        SET held = TRUE
        WHERE delivered = FALSE
          AND EXISTS (
            SELECT 1 FROM notices n JOIN instances i ON i.id = n.instance_id
            WHERE n.id = notice_objections.notice_id
              AND n.objection_message IS NOT NULL
              AND (
                (i.status = 'suspended' AND notice_objections.received_at >= (
                    SELECT max(e.occurred_at) FROM events e
                    WHERE e.instance_id = i.id AND e.type = 'instance.suspended'))
                OR (i.status = 'failed' AND notice_objections.received_at >= (
                    SELECT max(c.created_at) FROM incidents c
                    WHERE c.instance_id = i.id AND c.status = 'open'))
              )
          )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("notice_objections") as batch:
        batch.drop_column("held")
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("withdrawn_at")
