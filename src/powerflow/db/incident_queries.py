"""SQL of the incidents table and of the task rows a token move or a migration rewrites."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from powerflow.db.models import ClosedTaskRow, IncidentRecord, Instance, Task, TaskRole

_N = IncidentRecord


def insert_incident(conn: Connection, row: dict[str, Any]) -> None:
    """Add one incident row (status 'open')."""
    conn.execute(insert(_N), [row])


def resolve_open(
    conn: Connection,
    instance_id: str,
    *,
    at: datetime,
    by: str,
    resolution: str,
    reason: str | None,
) -> list[dict[str, Any]]:
    """Close the instance's open incidents; returns what each was (id, element, message)."""
    open_rows = conn.execute(
        select(_N.id, _N.element_id, _N.element_name, _N.message).where(
            _N.instance_id == instance_id, _N.status == "open"
        )
    ).all()
    if open_rows:
        conn.execute(
            update(_N)
            .where(_N.instance_id == instance_id, _N.status == "open")
            .values(
                status="resolved",
                resolved_at=at,
                resolved_by=by,
                resolution=resolution,
                reason=reason,
            )
        )
    return [dict(r._mapping) for r in open_rows]


def list_incidents(
    conn: Connection,
    *,
    status: str | None,
    instance_id: str | None,
    definition_key: str | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Incidents newest first, filtered; ``limit + 1`` rows tell whether more follow."""
    stmt = select(*_N.__table__.columns)
    if status:
        stmt = stmt.where(_N.status == status)
    if instance_id:
        stmt = stmt.where(_N.instance_id == instance_id)
    if definition_key:
        stmt = stmt.where(_N.definition_key == definition_key)
    stmt = stmt.order_by(_N.created_at.desc(), _N.id).limit(limit + 1).offset(offset)
    return [dict(r._mapping) for r in conn.execute(stmt)]


def forget_task_rows(conn: Connection, task_ids: list[str]) -> None:
    """Drop projection rows of tasks that open again under the same id (a token moved back to
    them): the step inserts them afresh; their history stays in the event log, and a closed
    row is kept as it was in ``closed_task_rows`` (the statistics count its closing with it)."""
    if task_ids:
        kept = select(
            Task.id,
            Task.state,
            Task.roles,
            Task.assignee,
            Task.created_at,
            Task.due_at,
            Task.ended_at,
        )
        conn.execute(
            insert(ClosedTaskRow).from_select(
                ["task_id", "state", "roles", "assignee", "created_at", "due_at", "ended_at"],
                kept.where(Task.id.in_(task_ids), Task.ended_at.is_not(None)),
            )
        )
        conn.execute(delete(TaskRole).where(TaskRole.task_id.in_(task_ids)))
        conn.execute(delete(Task).where(Task.id.in_(task_ids)))


def existing_task_ids(conn: Connection, task_ids: list[str]) -> list[str]:
    """Which of these task ids already have a projection row."""
    if not task_ids:
        return []
    return [r[0] for r in conn.execute(select(Task.id).where(Task.id.in_(task_ids)))]


def relabel_task(
    conn: Connection, task_id: str, *, name: str, kind: str, lane: str | None, roles: list[str]
) -> None:
    """Give an open task the name, kind, lane and candidate roles of its element in a new
    definition version (after a migration); its creation and due times stay."""
    conn.execute(
        update(Task)
        .where(Task.id == task_id)
        .values(name=name[:255], kind=kind, lane=lane, roles=roles)
    )
    conn.execute(delete(TaskRole).where(TaskRole.task_id == task_id))
    if roles:
        conn.execute(insert(TaskRole), [{"role": r, "task_id": task_id} for r in roles])


def set_definition(conn: Connection, instance_id: str, definition_id: int, version: int) -> None:
    """Point a migrated instance at its new definition version (the step saves the rest)."""
    conn.execute(
        update(Instance)
        .where(Instance.id == instance_id)
        .values(definition_id=definition_id, definition_version=version)
    )
