"""Approved extensions of a deadline: the promised or statutory limit of a case, or a step's.

A limit is extendable only when its ``pf:timeLimit`` says by how much at most (``extendable``);
the extensions of one limit together stay within it. The limit's ``extensionApprover`` role
approves (an administrator always may). The new deadline is recorded as ``deadline.extended``
with the approver and reason; the alerts raised against the old deadline resolve
(``deadline_extended``) and the thresholds start over from the new one (a threshold of the new
deadline that is already past, such as "one day before" when one day is left, is raised at once).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from powerflow.db import alert_queries, queries
from powerflow.db.engine import Store
from powerflow.engine import StepEvent
from powerflow.engine.durations import duration_length, duration_problem
from powerflow.services.auth import Principal
from powerflow.services.definitions import definition_by_id
from powerflow.services.errors import Conflict, Forbidden, InvalidInput
from powerflow.services.events import event_rows
from powerflow.services.power.alerts import resolve_superseded
from powerflow.services.power.deadlines import CASE_LIMITS, StepTimes, shift, task_times
from powerflow.services.power.profiles import LIMIT_KINDS
from powerflow.services.steps import instance_view
from powerflow.services.views import InstanceView
from powerflow.services.visibility import instance_not_found, may_see_instance


def _length(duration: str) -> timedelta:
    """A duration's length, for adding up extensions (a month counts 31 days, its longest)."""
    return duration_length(duration)


def _checked_duration(duration: str, *, working: bool) -> str:
    """The extension, stripped; InvalidInput unless the limit's calendar can count it (bounded,
    no months or years and whole days in working time: the same check as the limit's own)."""
    duration = duration.strip()
    problem = duration_problem(duration, working=working, what="Extension")
    if problem is not None:
        raise InvalidInput(problem)
    return duration


def extend_deadline(
    store: Store,
    principal: Principal,
    instance_id: str,
    *,
    limit: str,
    duration: str,
    reason: str,
    task_id: str | None = None,
) -> InstanceView:
    """Move a deadline later by ``duration`` (bounded by the limit's ``extendable``)."""
    if limit not in LIMIT_KINDS:
        raise InvalidInput(f"limit must be one of: {', '.join(LIMIT_KINDS)}.")
    if limit == "step" and not task_id:
        raise InvalidInput("Extending a step limit needs the task_id of the open task.")
    if not reason.strip():
        raise InvalidInput("An extension needs a reason.")
    duration = _checked_duration(duration, working=False)  # the shape, before any read
    with store.begin(write=True) as conn:
        instance = queries.load_instance(conn, instance_id, lock=True)
        if instance is None:
            raise instance_not_found(instance_id)
        visible = may_see_instance(conn, principal, instance_id, instance.started_by)
        definition = definition_by_id(store, conn, instance.definition_id)
        times = StepTimes(store, conn, definition)
        if limit in CASE_LIMITS:
            declared = times.plan.case_limits.get(limit)
            due = getattr(instance, f"{limit}_due_at")
            task = None
        else:
            task = next((t for t in queries.open_tasks(conn, instance_id) if t.id == task_id), None)
            if task is None:
                if not visible:
                    raise instance_not_found(instance_id)
                raise Conflict(f"Task {task_id} is not an open task of instance {instance_id}.")
            declared = times.plan.step_limits.get(task.element_id)
            due = task.due_at
        approver = (declared or {}).get("extension_approver")
        if not principal.is_admin and not (approver and principal.has(approver)):
            if not visible:
                raise instance_not_found(instance_id)
            who = f"the '{approver}' role or " if approver else ""
            raise Forbidden(f"Extending this {limit} limit needs {who}the 'admin' role.")
        if instance.status not in ("running", "suspended", "failed"):
            raise Conflict(
                f"Instance {instance_id} has {instance.status}; its deadlines are final."
            )
        if declared is None or due is None:
            raise Conflict(f"Instance {instance_id} has no {limit} time limit to extend.")
        extendable = declared.get("extendable")
        if not extendable:
            raise Conflict(
                f"The {limit} limit of {definition.key} cannot be extended: its pf:timeLimit "
                "declares no extendable duration."
            )
        duration = _checked_duration(duration, working=declared.get("calendar") == "working")
        granted = [
            e["duration"]
            for e in alert_queries.extensions_granted(conn, instance_id)
            if e["limit"] == limit and e.get("task_id") == (task.id if task else None)
        ]
        try:
            bound = _length(extendable)
        except ValueError:  # deployed before durations were bounded
            raise Conflict(
                f"The {limit} limit's extendable '{extendable}' cannot be counted; deploy a "
                "version of the process with a shorter one."
            ) from None
        total = sum((_length(d) for d in granted), timedelta(0)) + _length(duration)
        if total > bound:
            already = ", ".join(granted) or "nothing"
            raise InvalidInput(
                f"The {limit} limit may be extended by {extendable} in total; {already} was "
                f"already granted, so {duration} is too long."
            )
        now = store.now()
        new_due = shift(
            times.calendar, due, duration, working=declared.get("calendar") == "working"
        )
        task_key = task.id if task else None
        events = resolve_superseded(conn, instance, [limit], task_key, now, "deadline_extended")
        if task is not None:
            task.due_at = new_due
            # A new deadline is a new set of crossings (their dedupe keys name it): every
            # threshold of it is due again, those already past at once.
            upcoming = task_times(times.calendar, times.plan, task, times.profile)
            next_at = min((at for _, at in upcoming), default=None)
            alert_queries.set_task_deadline(conn, task.id, new_due, next_at)
        else:
            setattr(instance, f"{limit}_due_at", new_due)
            times.reschedule_case(instance, after=None)
        payload: dict[str, Any] = {
            "limit": limit,
            "task_id": task.id if task else None,
            "duration": duration,
            "reason": reason.strip(),
            "approver_role": "admin" if principal.is_admin else str(approver),
            "previous_due_at": due.isoformat(),
            "new_due_at": new_due.isoformat(),
        }
        extended = StepEvent(
            "deadline.extended",
            task.element_id if task else None,
            task.name if task else None,
            task.id if task else None,
            payload,
        )
        events.insert(0, extended)
        rows = event_rows(instance, events, conn=conn, actor=principal.name, at=now)
        instance.updated_at = now
        if not queries.save_instance(conn, instance):
            raise Conflict(f"Instance {instance_id} was changed concurrently; retry.")
        queries.insert_events(conn, rows)
        return instance_view(instance, definition, queries.open_tasks(conn, instance_id), now)
