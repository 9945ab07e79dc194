"""SQL of the alert loop and the alert list: due rows, row claims, resolution, role filters.

The one statement that differs per dialect is "the alert names this role" (a JSON array
containment: ``json_each`` on SQLite, ``@>`` on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    exists,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB

from powerflow.db.models import Alert, Event, Instance, Task
from powerflow.db.queries import OPEN_TASK_STATES

ALERTS = cast(Table, Alert.__table__)
_A = ALERTS.c
_T = cast(Table, Task.__table__).c
_I = cast(Table, Instance.__table__).c

CLOCK_RUNS = ("running", "failed")
"""Statuses whose time limits run: a failed step parks an instance, its deadlines go on."""


def resolve_alerts(
    conn: Connection,
    instance_id: str,
    task_ids: list[str] | None,
    resolution: str,
    at: datetime,
) -> list[dict[str, Any]]:
    """Resolve the open (or acknowledged) deadline alerts of an instance, or of some of its
    tasks.

    Only ``time_limit`` alerts resolve this way: an alert for a broken rule is about what a
    person did, not about the task or case still waiting, so it stays open for a monitor to
    acknowledge even after the instance ends (cancelling a case does not clear it).
    """
    stmt = update(ALERTS).where(
        _A.instance_id == instance_id, _A.state != "resolved", _A.source == "time_limit"
    )
    if task_ids is not None:
        stmt = stmt.where(_A.task_id.in_(task_ids))
    stmt = stmt.values(state="resolved", resolved_at=at, resolution=resolution).returning(
        _A.id, _A.level, _A.task_id, _A.element_id
    )
    return [{**r._mapping, "resolution": resolution} for r in conn.execute(stmt)]


def open_alert_levels(conn: Connection, instance_id: str) -> list[str]:
    """The levels of an instance's alerts that are not resolved."""
    stmt = select(_A.level).where(_A.instance_id == instance_id, _A.state != "resolved").distinct()
    return [r[0] for r in conn.execute(stmt)]


def _task_is_due() -> list[ColumnElement[bool]]:
    """An open task of a running instance, or of one parked at an incident (its limits run on);
    a suspended instance's tasks wait."""
    running = exists().where(_I.id == _T.instance_id, _I.status.in_(CLOCK_RUNS))
    return [_T.state.in_(OPEN_TASK_STATES), running]


def _instance_is_due() -> list[ColumnElement[bool]]:
    """A running (or parked) instance whose case clock runs."""
    return [_I.status.in_(CLOCK_RUNS), _I.clock_paused_at.is_(None)]


def due_tasks(conn: Connection, now: datetime, limit: int) -> list[tuple[str, datetime]]:
    """Open tasks of running (or parked) instances whose next alert time has come, earliest
    first (a suspended instance's tasks wait). Driven by the ``next_alert_at`` index; the
    instance is probed by its key (EXISTS, so no planner starts from ``instances``)."""
    stmt = (
        select(_T.id, _T.next_alert_at)
        .where(_T.next_alert_at <= now, *_task_is_due())
        .order_by(_T.next_alert_at)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in conn.execute(stmt)]


def due_instances(conn: Connection, now: datetime, limit: int) -> list[tuple[str, datetime]]:
    """Running instances with a running clock whose next alert time has come, earliest first."""
    stmt = (
        select(_I.id, _I.next_alert_at)
        .where(_I.next_alert_at <= now, *_instance_is_due())
        .order_by(_I.next_alert_at)
        .limit(limit)
    )
    return [(r[0], r[1]) for r in conn.execute(stmt)]


def next_due(
    conn: Connection, skip_tasks: Collection[str] = (), skip_instances: Collection[str] = ()
) -> datetime | None:
    """The earliest next alert time the due queries would return (two index lookups).

    The same filters as ``due_tasks`` and ``due_instances``, and without the items that wait
    after a failure (``skip_*``): a row the loop will not take (a suspended case past its
    threshold) must not make the worker poll at once, pass after pass.
    """
    task_stmt = select(_T.next_alert_at).where(_T.next_alert_at.is_not(None), *_task_is_due())
    if skip_tasks:
        task_stmt = task_stmt.where(_T.id.not_in(list(skip_tasks)))
    inst_stmt = select(_I.next_alert_at).where(_I.next_alert_at.is_not(None), *_instance_is_due())
    if skip_instances:
        inst_stmt = inst_stmt.where(_I.id.not_in(list(skip_instances)))
    task = conn.execute(task_stmt.order_by(_T.next_alert_at).limit(1)).scalar()
    inst = conn.execute(inst_stmt.order_by(_I.next_alert_at).limit(1)).scalar()
    times = [t for t in (task, inst) if t is not None]
    return min(times) if times else None


def claim_task(
    conn: Connection, task_id: str, seen: datetime, next_at: datetime | None, level: str | None
) -> bool:
    """Move a task's next alert time on, if nobody did since ``seen`` (the row claim)."""
    stmt = (
        update(cast(Table, Task.__table__))
        .where(_T.id == task_id, _T.next_alert_at == seen, _T.state.in_(OPEN_TASK_STATES))
        .values(next_alert_at=next_at, alert_level=level)
    )
    return conn.execute(stmt).rowcount == 1


def has_role(role: str, dialect: str) -> ColumnElement[bool]:
    """Whether an alert's ``roles`` JSON array holds ``role``."""
    if dialect == "postgresql":
        return _A.roles.op("@>")(func.cast(func.jsonb_build_array(role), JSONB))
    each = func.json_each(_A.roles).table_valued("value").alias("pf_alert_role")
    return exists(select(literal_column("1")).select_from(each).where(each.c.value == role))


def resolve_superseded(
    conn: Connection,
    instance_id: str,
    limit: str,
    task_id: str | None,
    at: datetime,
    resolution: str = "deadline_extended",
) -> list[dict[str, Any]]:
    """Resolve the time-limit alerts of one limit whose deadline moved (an extension, or a
    clock pause that ended)."""
    stmt = update(ALERTS).where(
        _A.instance_id == instance_id, _A.state != "resolved", _A.source == "time_limit"
    )
    if task_id is not None:
        stmt = stmt.where(_A.task_id == task_id)
    else:
        stmt = stmt.where(_A.task_id.is_(None), _A.reason.like(f"{limit}\\_%", escape="\\"))
    stmt = stmt.values(state="resolved", resolved_at=at, resolution=resolution).returning(
        _A.id, _A.level, _A.task_id, _A.element_id
    )
    return [{**r._mapping, "resolution": resolution} for r in conn.execute(stmt)]


def set_task_deadline(
    conn: Connection, task_id: str, due_at: datetime, next_at: datetime | None
) -> None:
    """A task's new due time and next alert time (after an extension); its level starts over."""
    stmt = (
        update(cast(Table, Task.__table__))
        .where(_T.id == task_id)
        .values(due_at=due_at, next_alert_at=next_at, alert_level=None)
    )
    conn.execute(stmt)


def extensions_granted(conn: Connection, instance_id: str) -> list[dict[str, Any]]:
    """The payloads of an instance's ``deadline.extended`` events, oldest first."""
    e = cast(Table, Event.__table__).c
    stmt = (
        select(e.payload)
        .where(e.instance_id == instance_id, e.type == "deadline.extended")
        .order_by(e.seq)
    )
    return [dict(r[0]) for r in conn.execute(stmt)]
