"""SQL of the statistics: the aggregator's cursor, its additive upserts, and the reads.

The only dialect difference is the upsert (``INSERT ... ON CONFLICT DO UPDATE``), written with
each dialect's insert construct; the statement is the same on both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Table, and_, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from powerflow.db.models import (
    Alert,
    ClosedTaskRow,
    Definition,
    Event,
    Instance,
    StatCount,
    StatCursor,
    Task,
)

COUNTS = cast(Table, StatCount.__table__)
CURSORS = cast(Table, StatCursor.__table__)
KEY_COLUMNS = (
    "definition_key",
    "role",
    "person",
    "span",
    "day",
    "element_id",
    "metric",
    "label",
)

# (definition_key, element_id, role, person, span, day, metric, label)
CountKey = tuple[str, str, str, str, str, date, str, str]


def read_cursor(conn: Connection, name: str) -> int | None:
    """The last event id the aggregator ``name`` counted (None: it never ran)."""
    value = conn.execute(
        select(StatCursor.last_event_id).where(StatCursor.name == name)
    ).scalar_one_or_none()
    return int(value) if value is not None else None


def cursor_row(conn: Connection, name: str) -> Any:
    """(last_event_id, updated_at) of the aggregator ``name``, or None."""
    return conn.execute(
        select(StatCursor.last_event_id, StatCursor.updated_at).where(StatCursor.name == name)
    ).first()


def process_exists(conn: Connection, definition_key: str) -> bool:
    """Whether a definition was ever deployed under this key."""
    found = conn.execute(select(Definition.id).where(Definition.key == definition_key).limit(1))
    return found.first() is not None


def create_cursor(conn: Connection, name: str, at: datetime) -> None:
    """Start the aggregator ``name`` at the beginning of the event table (no-op if it exists)."""
    dialect_insert: Any = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(
        dialect_insert(CURSORS)
        .values(name=name, last_event_id=0, updated_at=at)
        .on_conflict_do_nothing(index_elements=["name"])
    )


def move_cursor(conn: Connection, name: str, seen: int, to: int, at: datetime) -> bool:
    """Compare-and-set: move the cursor from ``seen`` to ``to``; False if another worker moved
    it first (the caller then rolls back). On PostgreSQL the row lock taken here makes a second
    worker wait for this transaction, then find the cursor moved."""
    result = conn.execute(
        update(StatCursor)
        .where(StatCursor.name == name, StatCursor.last_event_id == seen)
        .values(last_event_id=to, updated_at=at)
    )
    return result.rowcount == 1


def reset(conn: Connection, name: str, at: datetime) -> None:
    """Forget every count and put the cursor back at the start (a rebuild)."""
    conn.execute(COUNTS.delete())
    conn.execute(CURSORS.delete().where(CURSORS.c.name == name))
    conn.execute(insert(CURSORS).values(name=name, last_event_id=0, updated_at=at))


def newest_event_id(conn: Connection) -> int:
    """The highest event id committed (0 when there is none)."""
    return int(conn.execute(select(func.coalesce(func.max(Event.id), 0))).scalar_one())


_EVENT_COLUMNS = (
    Event.id,
    Event.instance_id,
    Event.type,
    Event.definition_key,
    Event.element_id,
    Event.task_id,
    Event.actor,
    Event.payload,
    Event.occurred_at,
)


def events_between(conn: Connection, after: int, upto: int, limit: int) -> list[Any]:
    """Events with ``after < id <= upto``, in id order, at most ``limit``.

    Every type: the caller keeps the ones it counts. A type filter here would let SQLite pick
    the index on ``type`` and sort everything up to ``upto``; the primary key range stops
    after ``limit`` rows.
    """
    stmt = (
        select(*_EVENT_COLUMNS)
        .where(Event.id > after, Event.id <= upto)
        .order_by(Event.id)
        .limit(limit)
    )
    return list(conn.execute(stmt))


def task_facts(conn: Connection, task_ids: Iterable[str]) -> dict[str, Any]:
    """(created_at, due_at, roles, assignee) of each of these tasks, from the task projection:
    when a task became ready (its row is written with its ``task.ready`` event), when it was
    due, which roles could take it and who held it when it closed (a closed task's assignee
    never changes again: claiming and releasing need it open), and when it closed. A task a
    moved token opened again has a new row: ``closed_task_rows`` has the one it closed. One
    primary-key lookup per task, however long its instance's history."""
    tasks = sorted(set(task_ids))
    if not tasks:
        return {}
    out: dict[str, Any] = {}
    for start in range(0, len(tasks), 500):
        stmt = select(
            Task.id, Task.created_at, Task.due_at, Task.roles, Task.assignee, Task.ended_at
        ).where(Task.id.in_(tasks[start : start + 500]))
        out.update((r.id, r) for r in conn.execute(stmt))
    return out


def closed_task_rows(conn: Connection, task_ids: Iterable[str]) -> dict[tuple[str, datetime], Any]:
    """The rows these tasks had when they closed before a moved token opened them again, by
    (task id, when it closed): (created_at, due_at, roles, assignee) as ``task_facts``."""
    tasks = sorted(set(task_ids))
    out: dict[tuple[str, datetime], Any] = {}
    for start in range(0, len(tasks), 500):
        stmt = select(
            ClosedTaskRow.task_id.label("id"),
            ClosedTaskRow.created_at,
            ClosedTaskRow.due_at,
            ClosedTaskRow.roles,
            ClosedTaskRow.assignee,
            ClosedTaskRow.ended_at,
        ).where(ClosedTaskRow.task_id.in_(tasks[start : start + 500]))
        out.update(((r.id, r.ended_at), r) for r in conn.execute(stmt))
    return out


def instance_times(conn: Connection, instance_ids: Iterable[str]) -> dict[str, Any]:
    """(created_at, promised_due_at, statutory_due_at) of each of these instances."""
    ids = sorted(set(instance_ids))
    if not ids:
        return {}
    rows = conn.execute(
        select(
            Instance.id, Instance.created_at, Instance.promised_due_at, Instance.statutory_due_at
        ).where(Instance.id.in_(ids))
    )
    return {r.id: r for r in rows}


def alert_people(
    conn: Connection, alert_ids: Iterable[int]
) -> dict[int, tuple[list[str], list[str]]]:
    """(roles, persons) each of these alerts concerns."""
    ids = sorted(set(alert_ids))
    if not ids:
        return {}
    rows = conn.execute(select(Alert.id, Alert.roles, Alert.persons).where(Alert.id.in_(ids)))
    return {int(r.id): (list(r.roles or []), list(r.persons or [])) for r in rows}


def add_counts(conn: Connection, counts: dict[CountKey, int]) -> None:
    """Add each count to its row (created at the count when missing)."""
    if not counts:
        return
    dialect_insert: Any = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = dialect_insert(COUNTS)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(KEY_COLUMNS), set_={"n": COUNTS.c.n + stmt.excluded.n}
    )
    rows = [
        {
            "definition_key": k[0],
            "element_id": k[1],
            "role": k[2],
            "person": k[3],
            "span": k[4],
            "day": k[5],
            "metric": k[6],
            "label": k[7],
            "n": n,
        }
        # one order for every worker: concurrent upserts lock rows in the same order
        for k, n in sorted(counts.items())
    ]
    for start in range(0, len(rows), 1000):
        conn.execute(stmt, rows[start : start + 1000])


def periods(first: date | None, last: date) -> list[tuple[str, date, date]]:
    """The rows that cover the days ``first``..``last`` (both included; None: from the start),
    as (span, lowest, highest) ``day`` values: the whole months inside the range from the
    monthly rows, the days before and after them from the daily rows."""
    first = first or date.min
    if first > last:
        return []
    month_lo = first if first.day == 1 else _next_month(first)
    after = _next_month(last)
    month_hi = after if after - timedelta(days=1) == last else last.replace(day=1)
    if month_lo >= month_hi:  # no whole month inside: days only
        return [("d", first, last)]
    out = [("m", month_lo, month_hi - timedelta(days=1))]
    if first < month_lo:
        out.append(("d", first, month_lo - timedelta(days=1)))
    if month_hi <= last:
        out.append(("d", month_hi, last))
    return out


def _next_month(day: date) -> date:
    if day.year == date.max.year and day.month == 12:
        return date.max  # no month after December 9999: the range ends there anyway
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def sums(
    conn: Connection,
    *,
    group: Sequence[str],
    definition_key: str | None = None,
    role: str | None = None,
    person: str | None = None,
    element_id: str | None = None,
    first: date | None = None,
    last: date,
    metrics: Sequence[str] | None = None,
) -> list[tuple[Any, ...]]:
    """Sums of ``n`` over the days ``first``..``last`` (None: from the start), as tuples of the
    ``group`` columns, metric, label and the sum.

    ``role``/``person``: an exact value ('' for "everyone"), or None for "any but ''" (the rows
    of each role or person). ``element_id``: an exact value ('' for the process as a whole), or
    None for every row. ``metrics`` keeps only these metrics. One statement per period
    (``periods``): each a range of the primary key or of an index.
    """
    c = COUNTS.c
    where = []
    if definition_key is not None:
        where.append(c.definition_key == definition_key)
    for column, value in ((c.role, role), (c.person, person)):
        # "> ''" rather than "!= ''": an index can range over it
        where.append(column > "" if value is None else column == value)
    if element_id is not None:
        where.append(c.element_id == element_id)
    if metrics is not None:
        where.append(c.metric.in_(list(metrics)))
    columns = [c[g] for g in group] + [c.metric, c.label]
    total: dict[tuple[Any, ...], int] = {}
    for span, lo, hi in periods(first, last):
        stmt = (
            select(*columns, func.sum(c.n))
            .where(and_(*where, c.span == span, c.day >= lo, c.day <= hi))
            .group_by(*columns)
        )
        for *key, n in conn.execute(stmt):
            total[tuple(key)] = total.get(tuple(key), 0) + int(n)
    return [(*key, n) for key, n in total.items()]
