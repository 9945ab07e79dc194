"""The alert loop: raise each threshold crossing of tasks and cases exactly once.

Each pass reads, by index, the open tasks and running cases (clock not paused) whose
``next_alert_at`` has come. Each item is handled in a transaction of its own: the instance is
locked, the crossed thresholds since the time the row was seen are raised with ``open_alert``
(their ``alert.raised`` events appended to the instance's chain), and the row is claimed by
moving ``next_alert_at`` on only if it still holds the value read (``UPDATE ... WHERE
next_alert_at = :seen``). A second worker, or a second pass, that read the same row finds it
moved and does nothing; the dedupe key of each crossing is the last guard. An item that fails
waits (``Backoff``) without holding up the rest. A crossing due while the service was down is
raised at the next start: its row is simply overdue.
"""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo
from typing import Any

from powerflow.db import alert_queries, queries
from powerflow.db.engine import Store
from powerflow.engine import StepEvent
from powerflow.periodic import Backoff
from powerflow.services.definitions import definition_by_id
from powerflow.services.events import SYSTEM_ACTOR, event_rows
from powerflow.services.incidents import cause
from powerflow.services.power.alerts import AlertSpec, higher_level, open_alert
from powerflow.services.power.calendar import calendar_for
from powerflow.services.power.deadlines import case_times, plan_of, task_times
from powerflow.services.power.profiles import Threshold, profile_for

log = logging.getLogger("powerflow.alerts")


class _Lost(Exception):
    """Another worker claimed the row first: roll back and move on."""


def raise_due_alerts(
    store: Store, now: datetime | None = None, *, limit: int = 500, backoff: Backoff | None = None
) -> int:
    """Raise the thresholds crossed by ``now`` (default: the store's clock at the start of the
    pass); return how many alerts were raised. Each alert is stamped when it is raised."""
    now = now or store.now()
    backoff = backoff or Backoff()
    waiting = backoff.waiting()
    with store.begin(write=False) as conn:
        tasks = alert_queries.due_tasks(conn, now, limit + len(waiting))
        cases = alert_queries.due_instances(conn, now, limit + len(waiting))
    raised = 0
    items: list[tuple[str, str, datetime]] = [("task", i, seen) for i, seen in tasks]
    items += [("instance", i, seen) for i, seen in cases]
    for kind, item_id, seen in items:
        key = (kind, item_id)
        if key in waiting:
            continue
        try:
            with store.begin(write=True) as conn:
                if kind == "task":
                    raised += _task(store, conn, item_id, seen, now)
                else:
                    raised += _case(store, conn, item_id, seen, now)
            backoff.succeeded(key)
        except _Lost:
            continue
        except Exception as exc:  # one item's failure never stops the others
            delay = backoff.failed(key)
            log.warning(
                "alerts of %s %s not raised, retried in %.0f s: %s",
                kind,
                item_id,
                delay,
                cause(exc),
            )
    return raised


def _when(at: datetime, tz: tzinfo) -> str:
    """A deadline as a clerk reads it: local time of the business calendar (24:00 = midnight)."""
    return f"{at.astimezone(tz):%Y-%m-%d %H:%M} ({tz})"


def _reason(limit: str, t: Threshold) -> str:
    return f"{limit}_limit_{'approaching' if t.before else 'passed'}"


def _message(what: str, limit: str, t: Threshold, due: datetime, tz: tzinfo) -> str:
    name = {"step": "time limit", "promised": "promised time limit"}.get(limit, f"{limit} limit")
    if t.before:
        return f"{what} is due soon: its {name} ends at {_when(due, tz)}."
    if t.at_deadline:
        return f"{what} passed its {name} ({_when(due, tz)})."
    return f"{what} is overdue by {t.offset[1:]} past its {name} ({_when(due, tz)})."


def _key(kind: str, item_id: str, limit: str, t: Threshold, due: datetime) -> str:
    # The due time is part of the crossing: after an extension, the new deadline is a new one.
    return f"{kind}:{item_id}:{limit}:{t.level}:{t.offset}:{int(due.timestamp())}"


def _task(store: Store, conn: Any, task_id: str, seen: datetime, now: datetime) -> int:
    task, instance = queries.load_task_and_instance(conn, task_id)
    if (
        task is None
        or instance is None
        or task.state not in queries.OPEN_TASK_STATES  # awaiting a countersignature: open
        or task.next_alert_at != seen
        or instance.status not in alert_queries.CLOCK_RUNS
    ):
        raise _Lost
    definition = definition_by_id(store, conn, instance.definition_id)
    plan = plan_of(store, definition)
    calendar = calendar_for(store, conn)
    times = task_times(calendar, plan, task, profile_for(conn, plan.profile))
    assert task.due_at is not None or not times
    events: list[StepEvent] = []
    level = task.alert_level
    for t, at in times:
        if not seen <= at <= now:
            continue
        assert task.due_at is not None
        spec = AlertSpec(
            level=t.level,
            source="time_limit",
            reason=_reason("step", t),
            message=_message(f"Task '{task.name}'", "step", t, task.due_at, calendar.tz),
            dedupe_key=_key("task", task.id, "step", t, task.due_at),
            task_id=task.id,
            element_id=task.element_id,
            element_name=task.name,
            roles=task.roles,
            persons=[task.assignee] if task.assignee else [],
            deadline_at=task.due_at,
        )
        event = open_alert(conn, instance, spec, at=store.now())
        if event is not None:
            events.append(event)
            level = higher_level(level, t.level)
    next_at = min((at for _, at in times if at > now), default=None)
    if not alert_queries.claim_task(conn, task.id, seen, next_at, level):
        raise _Lost
    _append(conn, instance, events, store.now())
    return len(events)


def _case(store: Store, conn: Any, instance_id: str, seen: datetime, now: datetime) -> int:
    instance = queries.load_instance(conn, instance_id, lock=True)
    if (
        instance is None
        or instance.status not in alert_queries.CLOCK_RUNS
        or instance.clock_paused_at is not None
        or instance.next_alert_at != seen
    ):
        raise _Lost
    definition = definition_by_id(store, conn, instance.definition_id)
    plan = plan_of(store, definition)
    profile = profile_for(conn, plan.profile)
    calendar = calendar_for(store, conn)
    times = case_times(calendar, plan, instance, profile)
    roles = list(definition.metadata.get("responsible_roles", []))
    events: list[StepEvent] = []
    for limit, t, at, due in times:
        if not seen <= at <= now:
            continue
        spec = AlertSpec(
            level=t.level,
            source="time_limit",
            reason=_reason(limit, t),
            message=_message(
                f"Case {instance.business_key or instance.id}", limit, t, due, calendar.tz
            ),
            dedupe_key=_key("instance", instance.id, limit, t, due),
            roles=roles,
            persons=[instance.started_by],
            deadline_at=due,
        )
        event = open_alert(conn, instance, spec, at=store.now())
        if event is not None:
            events.append(event)
    instance.next_alert_at = min((at for _, _, at, _ in times if at > now), default=None)
    _append(conn, instance, events, store.now(), must_save=True)
    return len(events)


def _append(
    conn: Any, instance: Any, events: list[StepEvent], now: datetime, *, must_save: bool = False
) -> None:
    """Append the raised alerts' events to the instance's chain and save the instance."""
    if not events and not must_save:
        return
    rows = event_rows(instance, events, conn=conn, actor=SYSTEM_ACTOR, at=now)
    if not queries.save_instance(conn, instance):
        raise _Lost
    queries.insert_events(conn, rows)
