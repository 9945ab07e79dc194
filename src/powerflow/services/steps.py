"""Recording an engine step: saved state, task projection and events in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from powerflow.db import queries
from powerflow.db.engine import Store
from powerflow.db.queries import InstanceRow, TaskRow
from powerflow.engine import FORMAT_VERSION, StepEvent, StepResult
from powerflow.services import state_binding
from powerflow.services.errors import Conflict
from powerflow.services.events import event_rows
from powerflow.services.external_rows import apply_step
from powerflow.services.incidents import LIVE, PARKED, IncidentLog
from powerflow.services.messages import after_step
from powerflow.services.power.alerts import resolve_alerts
from powerflow.services.power.deadlines import step_times
from powerflow.services.supervision import notices
from powerflow.services.task_order import UNPLACED, in_document_order, positions
from powerflow.services.views import DefinitionView, InstanceView, TaskRecord

EMBEDDED_TASKS = 50
"""An instance view embeds at most this many of its ready tasks (the first in reading order);
``tasks_total`` counts them all and ``GET /v1/tasks?instance_id=`` pages through them. A
parallel multi-instance over hundreds of items would otherwise answer every step with
hundreds of tasks (200 KiB for 300) that the client already has."""


@dataclass
class OpenTasks:
    """The open tasks an instance view embeds (``rows``, in reading order) and how many
    tasks are open in all."""

    rows: list[TaskRow]
    total: int


def record_step(
    conn: Connection,
    instance: InstanceRow,
    definition: DefinitionView,
    step: StepResult,
    *,
    actor: str,
    at: datetime,
    completed_task_id: str | None = None,
    extra: dict[str, dict[str, Any]] | None = None,
    new_instance: bool = False,
    store: Store | None = None,
    resolution: tuple[str, str | None] | None = None,
) -> OpenTasks:
    """Apply a StepResult to the instance row, the task projection and the event log.

        With ``store``, due dates, clock pauses and alert resolution are applied too (deadlines.py).
        A step on an instance parked at an incident resolves it (``resolution``: what was done and
        why; cancelling by default), and a failed step parks the instance with a new one
        (services/incidents.py). Returns the instance's open tasks after the step (the first
    ``EMBEDDED_TASKS`` in reading order, and how many there are). Raises Conflict
        when the instance was changed by someone else since it was loaded (nothing is written
        then: the caller's transaction rolls back).
    """
    if not new_instance:  # before anything is written (services/state_binding.py)
        state_binding.check(conn, instance)
    incidents = IncidentLog(conn, instance, at=at, actor=actor)
    resolved: list[StepEvent] = []
    was_parked = instance.status == PARKED and not new_instance
    if was_parked:
        kind, why = resolution or (
            "cancelled",
            (extra or {}).get("instance.cancelled", {}).get("reason"),
        )
        resolved = incidents.resolved(kind, why)
    instance.state = step.state
    instance.status = step.status
    instance.data = step.data
    instance.incident = None
    if step.incident is not None:
        incidents.opened(step.incident)
    instance.next_timer_at = (
        datetime.fromisoformat(step.next_timer_at) if step.next_timer_at else None
    )
    instance.waiting_messages = [m.name for m in step.messages]
    instance.updated_at = at
    ended = step.status not in LIVE  # a parked instance has not ended: its limits run on
    if ended:
        instance.ended_at = at
        instance.next_alert_at = None  # an ended case is out of the alert loop's index

    new_rows: list[TaskRow] = []
    role_rows: list[dict[str, str]] = []
    # Tasks made ready by one step are created in the engine's order (diagram order, then the
    # order SpiffWorkflow made them): one microsecond apart, so listings keep that order.
    for index, t in enumerate(step.new_tasks):
        new_rows.append(
            TaskRow(
                id=t.id,
                instance_id=instance.id,
                element_id=t.element_id,
                name=t.name[:255],
                kind=t.kind,
                lane=t.lane,
                roles=list(t.roles),
                state="ready",
                assignee=None,
                created_at=at + timedelta(microseconds=index),
                due_at=None,
                ended_at=None,
                completed_by=None,
            )
        )
        role_rows.extend({"role": r, "task_id": t.id} for r in t.roles)

    # Deadlines, pauses and alerts: nothing runs for a process without limits or pauses, and
    # alerts are looked up only when the instance carries an alert level.
    times = step_times(store, conn, definition)
    more: list[StepEvent] = []
    if times is not None:
        for row in new_rows:
            times.new_task(row, at)
        if new_instance:
            times.start_case(instance, at)

    closes = [
        {
            "b_id": task_id,
            "state": "completed" if task_id == completed_task_id else "cancelled",
            "ended_at": at,
            "completed_by": actor if task_id == completed_task_id else None,
        }
        for task_id in step.closed_task_ids
    ]
    queries.close_tasks(conn, closes)
    if times is not None:
        more += times.pauses(instance, new_rows, at)
    # Public notices (pf:notice): published as their element starts, closed once past.
    more += notices.after_step(conn, store, instance, definition, step, new_rows, at)
    if was_parked and step.status == "completed":  # a recovery ran it to its end
        more += notices.let_go(conn, instance.id, "instance_completed")
    if instance.alert_level is not None and (ended or closes):
        if ended:
            more += resolve_alerts(conn, instance, at=at, everything=f"instance_{step.status}")
        else:
            resolutions = {str(c["b_id"]): f"task_{c['state']}" for c in closes}
            more += resolve_alerts(conn, instance, at=at, resolutions=resolutions)

    stepped = incidents.tagged(step.events)
    if any(c["state"] == "cancelled" for c in closes):  # closed without completion
        stepped = with_cancelled(stepped, step, completed_task_id)
    events = event_rows(
        instance,
        [*resolved, *stepped, *more],
        conn=conn,
        actor=actor,
        at=at,
        extra=extra,
    )
    if new_instance:
        queries.insert_instance(conn, instance, serializer_version=FORMAT_VERSION)
    elif not queries.save_instance(conn, instance):
        raise Conflict(f"Instance {instance.id} was changed concurrently; retry.")
    incidents.write()
    queries.insert_tasks(conn, [r.__dict__ for r in new_rows], role_rows)
    queries.insert_events(conn, events)
    if step.new_external or step.closed_external:  # service tasks waiting for workers
        apply_step(conn, instance.id, step, at=at, completed=completed_task_id)
    # Messages and signals: subscriptions kept in step, thrown ones routed (services/messages).
    changed = after_step(conn, store, instance, step, actor=actor, at=at, new_instance=new_instance)
    if was_parked and store is not None and instance.status == "running":
        # recovered from its incident (retry, skip, move): objections held meanwhile reach it
        changed = notices.deliver_held(conn, store, instance, at=at) or changed

    if not changed and len(step.open_tasks) == len(new_rows) <= EMBEDDED_TASKS:
        return OpenTasks(new_rows, len(new_rows))
    rows, total = queries.open_task_page(
        conn, instance.id, positions(definition.catalog), UNPLACED, EMBEDDED_TASKS
    )
    return OpenTasks(rows, total)


CLOSING_STEPS = (
    ("instance.cancelled", "instance_cancelled"),
    ("token.moved", "token_moved"),
    ("instance.migrated", "instance_migrated"),
)
"""Step events that say why the step closed tasks without completing them, and the reason
``task.cancelled`` then gives."""


AFTER_CANCELLED = frozenset({"task.ready", "instance.completed", "instance.cancelled"})


def closing_reason(step: StepResult) -> str:
    """Why the step closed tasks it did not complete: the instance was cancelled, its token
    moved, it was migrated, it ended (a terminate end event), or else the process interrupted
    them (an interrupting boundary event or event subprocess, an event-based gateway, a
    multi-instance completion condition, a terminate end event inside a subprocess)."""
    types = {e.type for e in step.events}
    for event_type, reason in CLOSING_STEPS:
        if event_type in types:
            return reason
    return "instance_completed" if step.status == "completed" else "interrupted"


def with_cancelled(
    events: list[StepEvent], step: StepResult, completed_task_id: str | None
) -> list[StepEvent]:
    """The step's events with a ``task.cancelled`` for each task it closed without completing
    it (element and name as the engine reported them before the step), placed after what
    happened and before the tasks the step made ready and the instance's end (completed or
    cancelled), so that an instance's end stays its last step event."""
    views = {v.id: v for v in step.closed_tasks}
    reason = closing_reason(step)
    cancelled = []
    for task_id in step.closed_task_ids:
        if task_id == completed_task_id:
            continue
        view = views.get(task_id)
        cancelled.append(
            StepEvent(
                "task.cancelled",
                view.element_id if view else None,
                view.name if view else None,
                task_id,
                {"reason": reason},
            )
        )
    at = next(
        (i for i, e in enumerate(events) if e.type in AFTER_CANCELLED),
        len(events),
    )
    return [*events[:at], *cancelled, *events[at:]]


def overdue(due: datetime | None, ended: datetime | None, now: datetime | None) -> bool:
    """Past its due time: still open after it, or closed after it."""
    if due is None:
        return False
    return (ended or now or datetime.now(UTC)) > due


def task_record(
    task: TaskRow | Any,
    definition: DefinitionView,
    *,
    data: dict[str, Any] | None = None,
    now: datetime | None = None,
    business_key: str | None = None,
) -> TaskRecord:
    """The inbox view of a task row, with its metadata and form from the definition.

    ``now`` (the store's clock) decides whether an open task is overdue; ``business_key`` is
    the instance's, when the caller read it with the task.
    """
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
        alert_level=task.alert_level,
        overdue=overdue(task.due_at, task.ended_at, now),
        metadata=element.get("metadata", {}),
        form=element.get("form", []),
        data=data,
        business_key=business_key,
    )


def instance_view(
    instance: InstanceRow | Any,
    definition: DefinitionView,
    tasks: OpenTasks | list[TaskRow] | list[Any],
    now: datetime | None = None,
) -> InstanceView:
    """The API view of an instance with the given open tasks (``now``: for their overdue):
    the first ``EMBEDDED_TASKS`` of them in reading order, and how many there are."""
    if isinstance(tasks, OpenTasks):
        rows, total = tasks.rows, tasks.total
    else:
        rows, total = tasks, len(tasks)
    embedded = in_document_order(rows, definition.catalog)[:EMBEDDED_TASKS]
    return InstanceView(
        id=instance.id,
        definition_key=instance.definition_key,
        definition_version=instance.definition_version,
        business_key=instance.business_key,
        status=instance.status,
        version=instance.version,
        data=instance.data,
        incident=instance.incident,
        next_timer_at=instance.next_timer_at,
        waiting_messages=list(instance.waiting_messages),
        started_by=instance.started_by,
        created_at=instance.created_at,
        updated_at=instance.updated_at,
        ended_at=instance.ended_at,
        tasks=[
            task_record(t, definition, now=now, business_key=instance.business_key)
            for t in embedded
        ],
        tasks_total=total,
        promised_due_at=instance.promised_due_at,
        statutory_due_at=instance.statutory_due_at,
        clock_paused=instance.clock_paused_at is not None,
        alert_level=instance.alert_level,
    )
