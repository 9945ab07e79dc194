"""SQL of countersignatures (table ``task_countersigns``): a high-risk task's completion waiting
for a second person, and the decisions taken on it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Table, exists, insert, select, update

from powerflow.db.models import Task, TaskCountersign

_TC = cast(Table, TaskCountersign.__table__)
_TASKS = cast(Table, Task.__table__)
AWAITING = "awaiting_countersign"


def add(conn: Connection, row: dict[str, Any]) -> int:
    """Store a pending countersignature; its id."""
    return int(conn.execute(insert(_TC).returning(_TC.c.id), row).scalar_one())


def latest(conn: Connection, task_id: str) -> dict[str, Any] | None:
    """The task's latest countersignature (waiting or decided), if any."""
    row = conn.execute(
        select(_TC).where(_TC.c.task_id == task_id).order_by(_TC.c.id.desc()).limit(1)
    ).first()
    return dict(row._mapping) if row is not None else None


def of_task(conn: Connection, task_id: str) -> list[dict[str, Any]]:
    """Every countersignature of a task, oldest first."""
    rows = conn.execute(
        select(_TC).where(_TC.c.task_id == task_id).order_by(_TC.c.requested_at, _TC.c.id)
    )
    return [dict(r._mapping) for r in rows]


def decide(
    conn: Connection, countersign_id: int, *, state: str, by: str, at: datetime, comment: str | None
) -> bool:
    """Record the decision on a pending countersignature; False if it was decided meanwhile."""
    done = conn.execute(
        update(_TC)
        .where(_TC.c.id == countersign_id, _TC.c.state == "pending")
        .values(state=state, decided_by=by, decided_at=at, decision_comment=comment)
    )
    return done.rowcount == 1


def set_task_state(conn: Connection, task_id: str, *, old: str, new: str) -> bool:
    """Move a task row between ready and awaiting_countersign; False if it was not ``old``."""
    done = conn.execute(
        update(_TASKS).where(_TASKS.c.id == task_id, _TASKS.c.state == old).values(state=new)
    )
    return done.rowcount == 1


def awaiting_clause(task_id: Any, roles: frozenset[str] | set[str]) -> ColumnElement[bool]:
    """True for a task awaiting a countersignature by one of these roles (correlated EXISTS,
    one probe of ``ix_task_countersigns_task``)."""
    return exists().where(
        _TC.c.task_id == task_id, _TC.c.state == "pending", _TC.c.role.in_(sorted(roles))
    )
