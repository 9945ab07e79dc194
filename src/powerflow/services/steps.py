"""Recording an engine step: saved state, task projection and events in one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from powerflow.db.models import Instance, Task, TaskRole
from powerflow.engine import StepResult
from powerflow.services.events import append_events
from powerflow.services.time_limits import due_at
from powerflow.services.views import DefinitionView, TaskRecord


def record_step(
    session: Session,
    instance: Instance,
    definition: DefinitionView,
    step: StepResult,
    *,
    actor: str,
    at: datetime,
    completed_task_id: str | None = None,
    extra: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Apply a StepResult to the instance row, the task projection and the event log."""
    instance.state = step.state
    instance.status = step.status
    instance.data = step.data
    instance.incident = step.incident.as_dict() if step.incident else None
    instance.next_timer_at = (
        datetime.fromisoformat(step.next_timer_at) if step.next_timer_at else None
    )
    instance.waiting_messages = [m.name for m in step.messages]
    instance.updated_at = at
    if step.status != "running":
        instance.ended_at = at
    closed = list(step.closed_task_ids)
    if completed_task_id in closed:
        closed.remove(completed_task_id)
        session.execute(
            update(Task)
            .where(Task.id == completed_task_id)
            .values(state="completed", ended_at=at, completed_by=actor)
        )
    if closed:
        session.execute(
            update(Task).where(Task.id.in_(closed)).values(state="cancelled", ended_at=at)
        )
    if step.new_tasks:
        elements = definition.catalog.get("elements", {})
        task_rows = []
        role_rows: list[dict[str, str]] = []
        for t in step.new_tasks:
            meta = elements.get(t.element_id, {}).get("metadata", {})
            task_rows.append(
                {
                    "id": t.id,
                    "instance_id": instance.id,
                    "element_id": t.element_id,
                    "name": t.name[:255],
                    "kind": t.kind,
                    "lane": t.lane,
                    "roles": list(t.roles),
                    "state": "ready",
                    "assignee": None,
                    "created_at": at,
                    "due_at": due_at(at, meta.get("time_limit")),
                }
            )
            role_rows.extend({"role": r, "task_id": t.id} for r in t.roles)
        session.execute(insert(Task), task_rows)
        if role_rows:
            session.execute(insert(TaskRole), role_rows)
    append_events(session, instance, list(step.events), actor=actor, at=at, extra=extra)


def task_record(
    task: Task, definition: DefinitionView, *, data: dict[str, Any] | None = None
) -> TaskRecord:
    """The inbox view of a task row, with its metadata and form from the definition."""
    element = definition.catalog.get("elements", {}).get(task.element_id, {})
    return TaskRecord(
        id=task.id,
        instance_id=task.instance_id,
        definition_key=definition.key,
        element_id=task.element_id,
        name=task.name,
        kind=task.kind,
        lane=task.lane,
        roles=list(task.roles),
        state=task.state,
        assignee=task.assignee,
        created_at=task.created_at,
        due_at=task.due_at,
        ended_at=task.ended_at,
        completed_by=task.completed_by,
        metadata=element.get("metadata", {}),
        form=element.get("form", []),
        data=data,
    )


def open_task_rows(session: Session, instance_id: str) -> list[Task]:
    """The ready tasks of one instance, oldest first."""
    return list(
        session.scalars(
            select(Task)
            .where(Task.instance_id == instance_id, Task.state == "ready")
            .order_by(Task.created_at, Task.id)
        )
    )
