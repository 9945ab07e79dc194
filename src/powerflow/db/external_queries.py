"""SQL of external tasks: keeping the table in step, fetch-and-lock, and per-task changes.

Every write to an external task happens while its instance's row is locked (the step that
opens or closes it, a worker's fetch, completion or failure), so the lock order is always
instance, then external task. Fetch-and-lock is race-safe on both dialects: candidates are read,
each candidate's instance is locked, skipping instances another transaction holds on PostgreSQL
(``FOR UPDATE SKIP LOCKED``: concurrent workers take different tasks instead of queueing), and
the task is taken with a compare-and-set update (its state and ``fetchable_at`` unchanged since
read), so two workers never lock the same task. SQLite's write transaction already excludes
other writers.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Row, Table, delete, insert, select, update

from powerflow.db.models import ExternalTask, Instance

EXTERNAL = cast(Table, ExternalTask.__table__)
_E = EXTERNAL.c
_I = cast(Table, Instance.__table__).c
FETCHABLE = ("open", "locked")
OPEN_STATES = ("open", "locked", "incident")


def insert_tasks(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert the external tasks a step opened."""
    if rows:
        conn.execute(insert(EXTERNAL), rows)


def forget_tasks(conn: Connection, ids: Collection[str]) -> None:
    """Drop the rows of external tasks that open again under the same id (a token moved back
    to them): the step inserts them afresh; their history stays in the event log."""
    if ids:
        conn.execute(delete(EXTERNAL).where(_E.id.in_(list(ids))))


def relabel(conn: Connection, task_id: str, **values: Any) -> None:
    """Give a task that stays open what its element says in a new definition version (topic,
    priority, name, outputs); its lock, retries and history stay."""
    conn.execute(
        update(EXTERNAL).where(_E.id == task_id, _E.state.in_(OPEN_STATES)).values(**values)
    )


def cancel_open_of(conn: Connection, instance_id: str, at: datetime) -> None:
    """Cancel every open external task of an instance that ends without an engine step."""
    conn.execute(
        update(EXTERNAL)
        .where(_E.instance_id == instance_id, _E.state.in_(OPEN_STATES))
        .values(state="cancelled", worker_id=None, lock_expires_at=None, ended_at=at)
    )


def close_tasks(
    conn: Connection, ids: Collection[str], *, completed: str | None, at: datetime
) -> None:
    """Close the external tasks a step closed: ``completed`` is the one a worker finished."""
    for task_id in ids:
        conn.execute(
            update(EXTERNAL)
            .where(_E.id == task_id, _E.state.in_(OPEN_STATES))
            .values(state="completed" if task_id == completed else "cancelled", ended_at=at)
        )


def candidates(
    conn: Connection, topics: Collection[str], now: datetime, limit: int
) -> list[Row[Any]]:
    """Tasks of these topics a worker may lock now (open, or locked with the lock expired),
    of running instances, highest priority first, then oldest."""
    stmt = (
        select(_E.id, _E.state, _E.fetchable_at, _E.topic, _E.instance_id)
        .join_from(EXTERNAL, Instance.__table__, _I.id == _E.instance_id)
        .where(
            _E.topic.in_(list(topics)),
            _E.state.in_(FETCHABLE),
            _E.fetchable_at <= now,
            _I.status == "running",
        )
        .order_by(_E.priority.desc(), _E.fetchable_at, _E.id)
        .limit(limit)
    )
    return list(conn.execute(stmt))


def lock_instance(conn: Connection, instance_id: str) -> bool:
    """Lock an instance's row for a fetch; on PostgreSQL False at once if another transaction
    holds it (the candidate is skipped), on SQLite always True (one writer at a time)."""
    if conn.dialect.name != "postgresql":
        return True
    stmt = select(_I.id).where(_I.id == instance_id).with_for_update(skip_locked=True)
    return conn.execute(stmt).first() is not None


def take(conn: Connection, row: Row[Any], *, worker_id: str, expires: datetime) -> bool:
    """Lock one candidate for a worker if nobody changed it since it was read."""
    done = conn.execute(
        update(EXTERNAL)
        .where(_E.id == row.id, _E.state == row.state, _E.fetchable_at == row.fetchable_at)
        .values(state="locked", worker_id=worker_id, lock_expires_at=expires, fetchable_at=expires)
    )
    return done.rowcount == 1


def load(conn: Connection, task_id: str) -> ExternalTask | None:
    """One external task (a detached row object). Lock its instance before relying on it."""
    stmt = select(EXTERNAL).where(_E.id == task_id)
    found = conn.execute(stmt).first()
    if found is None:
        return None
    return ExternalTask(**found._mapping)


def save(conn: Connection, task: ExternalTask, **values: Any) -> None:
    """Write changed columns of one external task (and onto the given object)."""
    conn.execute(update(EXTERNAL).where(_E.id == task.id).values(**values))
    for key, value in values.items():
        setattr(task, key, value)


def page(
    conn: Connection,
    *,
    topics: Collection[str] | None,
    topic: str | None,
    state: str | None,
    instance_id: str | None,
    worker_id: str | None,
    limit: int,
    offset: int,
) -> list[ExternalTask]:
    """External tasks for monitoring, oldest first, filtered."""
    stmt = select(EXTERNAL)
    if topics is not None:
        stmt = stmt.where(_E.topic.in_(list(topics)))
    if topic:
        stmt = stmt.where(_E.topic == topic)
    if state:
        stmt = stmt.where(_E.state == state)
    if instance_id:
        stmt = stmt.where(_E.instance_id == instance_id)
    if worker_id:
        stmt = stmt.where(_E.worker_id == worker_id)
    stmt = stmt.order_by(_E.created_at, _E.id).limit(limit).offset(offset)
    return [ExternalTask(**r._mapping) for r in conn.execute(stmt)]
