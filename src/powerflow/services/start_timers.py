"""Timer start events: instances created on schedule, once per firing even with several workers.

At deploy, each constant timer start event of a new definition version gets a row in
``start_timers`` (its first firing) and the schedule rows of the key's older versions are
deleted: a new version replaces the old one's schedule (Camunda's rule). A background pass fires
due rows: in one transaction it moves ``next_fire_at`` on with a compare-and-set (the row must
still carry the value this worker read; another worker that fired it first leaves nothing to
update) and creates the instance with that start event already fired. The instance's starter is
the reserved ``timer`` actor; its first event, ``instance.started``, names the trigger.

Firings missed while no worker ran collapse into one: the next firing is the first cycle time
after now, and the skipped cycles count as spent.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, func, select, update

from powerflow.db.engine import Store
from powerflow.db.models import StartTimer
from powerflow.db.queries import InstanceRow
from powerflow.engine import timer_expr
from powerflow.engine.timer_starts import start_on_timer
from powerflow.services.calls import bind_new
from powerflow.services.definitions import definition_by_id
from powerflow.services.events import TIMER_ACTOR_NAME
from powerflow.services.incidents import cause
from powerflow.services.steps import record_step

log = logging.getLogger("powerflow.timers")


@dataclass(frozen=True)
class DueStart:
    """A schedule row as a worker read it."""

    definition_id: int
    element_id: str
    next_fire_at: datetime
    remaining_cycles: int
    interval_seconds: float | None


def due_start_timers(conn: Connection, now: datetime, limit: int) -> list[DueStart]:
    """The schedule rows due at ``now``, earliest first."""
    rows = conn.execute(
        select(
            StartTimer.definition_id,
            StartTimer.element_id,
            StartTimer.next_fire_at,
            StartTimer.remaining_cycles,
            StartTimer.interval_seconds,
        )
        .where(StartTimer.next_fire_at <= now)
        .order_by(StartTimer.next_fire_at)
        .limit(limit)
    ).all()
    return [DueStart(r[0], r[1], r[2], r[3], r[4]) for r in rows if r[2] is not None]


def next_start_due(conn: Connection) -> datetime | None:
    """The earliest next firing of any start timer (one index lookup)."""
    value: datetime | None = conn.scalar(select(func.min(StartTimer.next_fire_at)))
    return value


def _after(due: DueStart, now: datetime) -> timer_expr.Schedule:
    """The schedule after firing ``due`` at ``now``: missed cycles collapse into this one."""
    following = timer_expr.next_schedule(
        due.next_fire_at, due.remaining_cycles, due.interval_seconds
    )
    if following.next_fire_at is None or following.next_fire_at > now or not due.interval_seconds:
        return following
    behind = (now - following.next_fire_at).total_seconds()
    skipped = math.floor(behind / due.interval_seconds) + 1
    if following.remaining >= 0 and skipped > following.remaining:
        return timer_expr.Schedule(None, 0, due.interval_seconds)
    return timer_expr.Schedule(
        following.next_fire_at + timedelta(seconds=skipped * due.interval_seconds),
        following.remaining - skipped if following.remaining >= 0 else -1,
        due.interval_seconds,
    )


def fire_start_timer(store: Store, due: DueStart, now: datetime | None = None) -> str | None:
    """Fire one due schedule row: claim it and create its instance in one transaction.

    Returns the new instance's id; None when another worker fired this firing first. An
    instance that cannot be created (the definition cannot be loaded) is logged and the firing
    is spent all the same (it would fail the same way at every pass).
    """
    now = now or store.now()
    following = _after(due, now)
    with store.begin(write=True) as conn:
        claimed = conn.execute(
            update(StartTimer)
            .where(
                StartTimer.definition_id == due.definition_id,
                StartTimer.element_id == due.element_id,
                StartTimer.next_fire_at == due.next_fire_at,
            )
            .values(
                next_fire_at=following.next_fire_at,
                remaining_cycles=following.remaining,
                fired_count=StartTimer.fired_count + 1,
                last_fired_at=now,
            )
        )
        if claimed.rowcount != 1:
            return None
        try:
            with conn.begin_nested():
                instance_id = _create_instance(store, conn, due, now)
        except Exception as exc:  # the firing is spent; the schedule goes on
            log.warning(
                "timer start event %s of definition %s could not start an instance: %s",
                due.element_id,
                due.definition_id,
                cause(exc),
            )
            return None
        conn.execute(
            update(StartTimer)
            .where(
                StartTimer.definition_id == due.definition_id,
                StartTimer.element_id == due.element_id,
            )
            .values(last_instance_id=instance_id)
        )
        return instance_id


def _create_instance(store: Store, conn: Connection, due: DueStart, now: datetime) -> str:
    definition = definition_by_id(store, conn, due.definition_id)
    step = start_on_timer(bind_new(store, conn, definition), due.element_id)
    row = InstanceRow.new(
        definition_id=definition.id,
        definition_key=definition.key,
        definition_version=definition.version,
        business_key=None,
        status=step.status,
        state=step.state,
        started_by=TIMER_ACTOR_NAME,
        at=now,
    )
    trigger = {
        "type": "timer",
        "element_id": due.element_id,
        "due_at": due.next_fire_at.isoformat(),
    }
    record_step(
        conn,
        row,
        definition,
        step,
        actor=TIMER_ACTOR_NAME,
        at=now,
        extra={"instance.started": {"variables": {}, "roles": [], "trigger": trigger}},
        new_instance=True,
        store=store,
    )
    return row.id


def fire_due_start_timers(store: Store, now: datetime | None = None, limit: int = 100) -> int:
    """Fire every due start timer (at most ``limit``); return how many instances were created.

    Each row is isolated: one that fails is logged and the others go on.
    """
    now = now or store.now()
    with store.begin(write=False) as conn:
        due = due_start_timers(conn, now, limit)
    started = 0
    for item in due:
        try:
            if fire_start_timer(store, item, now) is not None:
                started += 1
        except Exception as exc:  # busy database: tried again at the next pass
            log.warning("timer start event %s not fired: %s", item.element_id, cause(exc))
    return started
