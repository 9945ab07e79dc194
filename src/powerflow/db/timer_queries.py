"""The timer worker's claim: due instances loaded and locked in one statement.

On PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED``: a second worker skips the rows a
first one is firing and takes the next due ones, so several workers share the load without
waiting on each other or firing an instance twice. On SQLite the write transaction is already
exclusive (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Connection, select

from powerflow.db.queries import _I, INSTANCE_COLUMNS, InstanceRow


def claim_due_instances(
    conn: Connection, now: datetime, limit: int, skip: Collection[str] = ()
) -> list[InstanceRow]:
    """Running instances whose next timer is due at ``now`` (earliest first, at most ``limit``,
    leaving out ``skip``), locked for the caller's write transaction."""
    stmt = (
        select(*INSTANCE_COLUMNS)
        .where(_I.status == "running", _I.next_timer_at <= now)
        .order_by(_I.next_timer_at)
        .limit(limit)
    )
    if skip:
        stmt = stmt.where(_I.id.not_in(sorted(skip)))
    if conn.dialect.name != "sqlite":
        stmt = stmt.with_for_update(skip_locked=True)
    return [InstanceRow(**row._mapping) for row in conn.execute(stmt)]
