"""Reading an archived instance: its row, tasks and events from the archive tables, under the
same visibility rule as a live instance (services/visibility.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from powerflow.db import archive_queries as q
from powerflow.db.engine import Store
from powerflow.services.auth import Principal
from powerflow.services.views import EventView
from powerflow.services.visibility import instance_not_found, may_see_archived


@dataclass(frozen=True)
class ArchivedTaskView:
    """A task of an archived instance as it was when the instance was archived."""

    id: str
    element_id: str
    name: str
    state: str
    roles: list[str]
    assignee: str | None
    completed_by: str | None
    created_at: str
    ended_at: str | None


@dataclass(frozen=True)
class ArchivedInstanceView:
    """An archived instance: what it was when it left the live tables, and its events."""

    id: str
    definition_key: str
    definition_version: int
    business_key: str | None
    status: str
    started_by: str
    created_at: datetime
    ended_at: datetime
    archived_at: datetime
    checkpoint_size: int
    data: dict[str, Any]
    tasks: list[ArchivedTaskView]
    events: list[EventView]


def _task(row: dict[str, Any]) -> ArchivedTaskView:
    return ArchivedTaskView(
        id=row["id"],
        element_id=row["element_id"],
        name=row["name"],
        state=row["state"],
        roles=list(row.get("roles") or []),
        assignee=row.get("assignee"),
        completed_by=row.get("completed_by"),
        created_at=row["created_at"],
        ended_at=row.get("ended_at"),
    )


def archived(store: Store, principal: Principal, instance_id: str) -> ArchivedInstanceView:
    """An archived instance the caller may see (NotFound otherwise, as for an unknown id)."""
    with store.begin(write=False) as conn:
        row = q.archived_instance(conn, instance_id)
        if row is None or not may_see_archived(conn, principal, row):
            raise instance_not_found(instance_id)
        events = q.archived_events(conn, instance_id)
    record = row["record"]
    return ArchivedInstanceView(
        id=row["id"],
        definition_key=row["definition_key"],
        definition_version=int(row["definition_version"]),
        business_key=row["business_key"],
        status=row["status"],
        started_by=row["started_by"],
        created_at=row["created_at"],
        ended_at=row["ended_at"],
        archived_at=row["archived_at"],
        checkpoint_size=int(row["checkpoint_size"]),
        data=dict(record["instance"].get("data") or {}),
        tasks=[_task(t) for t in record.get("tasks", [])],
        events=[EventView.of(e) for e in events],
    )
