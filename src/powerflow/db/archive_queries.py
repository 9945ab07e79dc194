"""SQL of the archive: which ended instances may leave the live tables, and moving them.

An instance moves in one transaction: its row and per-instance rows are copied into
``archived_instances`` (as one JSON record), its events into ``archived_events`` (same ids and
columns) and its task ids into ``archived_tasks``; then they are deleted from the live tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    RowMapping,
    Table,
    delete,
    exists,
    func,
    insert,
    select,
    tuple_,
)

from powerflow.db.models import (
    Alert,
    ArchivedEvent,
    ArchivedInstance,
    ArchivedTask,
    AuditLeaf,
    ClosedTaskRow,
    Event,
    ExternalTask,
    IncidentRecord,
    Instance,
    MessageSubscription,
    Notice,
    StatCursor,
    SupervisionCase,
    Task,
    TaskCountersign,
    TaskRole,
    Webhook,
)

ENDED = ("completed", "cancelled")

INSTANCES = cast(Table, Instance.__table__)
TASKS = cast(Table, Task.__table__)
TASK_ROLES = cast(Table, TaskRole.__table__)
CLOSED_TASK_ROWS = cast(Table, ClosedTaskRow.__table__)
COUNTERSIGNS = cast(Table, TaskCountersign.__table__)
EXTERNAL_TASKS = cast(Table, ExternalTask.__table__)
INCIDENTS = cast(Table, IncidentRecord.__table__)
SUBSCRIPTIONS = cast(Table, MessageSubscription.__table__)
EVENTS = cast(Table, Event.__table__)
LEAVES = cast(Table, AuditLeaf.__table__)
ARCHIVED = cast(Table, ArchivedInstance.__table__)
ARCHIVED_EVENTS = cast(Table, ArchivedEvent.__table__)
ARCHIVED_TASKS = cast(Table, ArchivedTask.__table__)
_CASES = cast(Table, SupervisionCase.__table__)
_ALERTS = cast(Table, Alert.__table__)
_NOTICES = cast(Table, Notice.__table__)
_CURSORS = cast(Table, StatCursor.__table__)
_WEBHOOKS = cast(Table, Webhook.__table__)

EVENT_COLUMNS = tuple(c.name for c in ARCHIVED_EVENTS.columns)


@dataclass(frozen=True)
class Horizon:
    """Events with an id up to ``event_id`` may leave the event table; ``why`` names what
    holds the later ones (the statistics, a webhook, the newest event)."""

    event_id: int
    why: str


def horizon(conn: Connection) -> Horizon:
    """The highest event id every reader of the event table by id order is past.

    The statistics aggregator and each webhook read the event table after a cursor: an event
    leaves only once they counted or delivered it. The newest event never leaves: SQLite gives
    a new row the highest id plus one, so removing the newest would let an id be used twice.
    """
    newest = int(conn.execute(select(func.max(EVENTS.c.id))).scalar() or 0)
    bound = Horizon(newest - 1, "the newest event stays in the live table")
    stats = list(conn.execute(select(_CURSORS.c.name, _CURSORS.c.last_event_id)))
    if not stats:
        return Horizon(0, "the statistics have not counted any event yet")
    for name, last in stats:
        if int(last) < bound.event_id:
            bound = Horizon(int(last), f"the {name} aggregator has counted events up to {last}")
    for hook_id, cursor in conn.execute(select(_WEBHOOKS.c.id, _WEBHOOKS.c.cursor)):
        if int(cursor) < bound.event_id:
            bound = Horizon(int(cursor), f"webhook {hook_id} has delivered events up to {cursor}")
    return bound


def candidates(
    conn: Connection, cutoff: datetime, after: tuple[datetime, str] | None, limit: int
) -> list[RowMapping]:
    """Ended instances that ended before ``cutoff`` with no open supervision case, open alert,
    open incident or notice still running, oldest first, after the keyset ``after``
    (created_at, id). On PostgreSQL the rows are locked, skipping those another archiver holds.
    """
    i = INSTANCES.c
    query = (
        select(i.id, i.created_at, i.event_seq, i.last_event_hash)
        .where(
            i.status.in_(ENDED),
            i.created_at < cutoff,  # implied by ended_at < cutoff; it lets the index serve
            i.ended_at < cutoff,
            ~exists().where(_CASES.c.instance_id == i.id, _CASES.c.state == "open"),
            ~exists().where(_ALERTS.c.instance_id == i.id, _ALERTS.c.state != "resolved"),
            ~exists().where(INCIDENTS.c.instance_id == i.id, INCIDENTS.c.status == "open"),
            ~exists().where(
                _NOTICES.c.instance_id == i.id,
                _NOTICES.c.closed_at.is_(None),
                _NOTICES.c.withdrawn_at.is_(None),
            ),
        )
        .order_by(i.created_at, i.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(tuple_(i.created_at, i.id) > tuple_(*after))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=INSTANCES, skip_locked=True)
    return list(conn.execute(query).mappings())


@dataclass(frozen=True)
class EventSummary:
    """An instance's events as the log sees them."""

    events: int
    last_event_id: int
    sequenced: int
    last_leaf: int


def event_summaries(conn: Connection, ids: Sequence[str]) -> dict[str, EventSummary]:
    """Per instance: how many events, the highest event id, how many of them have a leaf in
    the audit log, and the highest leaf index."""
    e, leaf = EVENTS.c, LEAVES.c
    query = (
        select(
            e.instance_id,
            func.count(e.id),
            func.max(e.id),
            func.count(leaf.leaf_index),
            func.max(leaf.leaf_index),
        )
        .select_from(EVENTS.outerjoin(LEAVES, leaf.event_id == e.id))
        .where(e.instance_id.in_(ids))
        .group_by(e.instance_id)
    )
    return {
        str(iid): EventSummary(int(n), int(top or 0), int(seq), -1 if last is None else int(last))
        for iid, n, top, seq, last in conn.execute(query)
    }


def _json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return value


def _rows(conn: Connection, table: Table, where: Any) -> list[dict[str, Any]]:
    return [
        {k: _json(v) for k, v in row.items()}
        for row in conn.execute(select(table).where(where)).mappings()
    ]


def _grouped(rows: list[dict[str, Any]], key: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(str(row[key]), []).append(row)
    return out


def move(
    conn: Connection,
    ids: Sequence[str],
    at: datetime,
    checkpoint_size: int,
    summaries: dict[str, EventSummary],
) -> int:
    """Move the instances ``ids`` (eligible, locked where the dialect can) out of the live
    tables; return how many moved. Raises if one of them is gone meanwhile (another archiver):
    the caller's transaction then rolls back whole."""
    if not ids:
        return 0
    instances = conn.execute(select(INSTANCES).where(INSTANCES.c.id.in_(ids))).mappings().all()
    if len(instances) != len(ids):
        raise LookupError("an instance to archive is no longer in the live table")
    task_ids = select(TASKS.c.id).where(TASKS.c.instance_id.in_(ids))
    tasks = _grouped(_rows(conn, TASKS, TASKS.c.instance_id.in_(ids)), "instance_id")
    task_of: dict[str, str] = {t["id"]: iid for iid, ts in tasks.items() for t in ts}
    roles = _rows(conn, TASK_ROLES, TASK_ROLES.c.task_id.in_(task_ids))
    closed = _rows(conn, CLOSED_TASK_ROWS, CLOSED_TASK_ROWS.c.task_id.in_(task_ids))
    per_task: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for name, rows in (("task_roles", roles), ("closed_task_rows", closed)):
        for row in rows:
            iid = task_of[str(row["task_id"])]
            per_task.setdefault(iid, {}).setdefault(name, []).append(row)
    by_instance = {
        "countersigns": _grouped(
            _rows(conn, COUNTERSIGNS, COUNTERSIGNS.c.instance_id.in_(ids)), "instance_id"
        ),
        "external_tasks": _grouped(
            _rows(conn, EXTERNAL_TASKS, EXTERNAL_TASKS.c.instance_id.in_(ids)), "instance_id"
        ),
        "incidents": _grouped(
            _rows(conn, INCIDENTS, INCIDENTS.c.instance_id.in_(ids)), "instance_id"
        ),
    }
    archived: list[dict[str, Any]] = []
    for inst in instances:
        iid = str(inst["id"])
        summary = summaries[iid]
        record: dict[str, Any] = {
            "instance": {k: _json(v) for k, v in inst.items()},
            "tasks": tasks.get(iid, []),
            "task_roles": per_task.get(iid, {}).get("task_roles", []),
            "closed_task_rows": per_task.get(iid, {}).get("closed_task_rows", []),
        }
        for name, grouped in by_instance.items():
            record[name] = grouped.get(iid, [])
        archived.append(
            {
                "id": iid,
                "definition_key": inst["definition_key"],
                "definition_version": inst["definition_version"],
                "business_key": inst["business_key"],
                "status": inst["status"],
                "started_by": inst["started_by"],
                "created_at": inst["created_at"],
                "ended_at": inst["ended_at"],
                "archived_at": at,
                "event_count": summary.events,
                "last_event_hash": inst["last_event_hash"],
                "last_event_id": summary.last_event_id,
                "checkpoint_size": checkpoint_size,
                "record": record,
            }
        )
    conn.execute(insert(ARCHIVED), archived)
    if task_of:
        conn.execute(
            insert(ARCHIVED_TASKS), [{"id": t, "instance_id": i} for t, i in task_of.items()]
        )
    cols = [EVENTS.c[name] for name in EVENT_COLUMNS]
    conn.execute(
        insert(ARCHIVED_EVENTS).from_select(
            list(EVENT_COLUMNS), select(*cols).where(EVENTS.c.instance_id.in_(ids))
        )
    )
    conn.execute(delete(TASK_ROLES).where(TASK_ROLES.c.task_id.in_(task_ids)))
    conn.execute(delete(CLOSED_TASK_ROWS).where(CLOSED_TASK_ROWS.c.task_id.in_(task_ids)))
    for table in (COUNTERSIGNS, EXTERNAL_TASKS, INCIDENTS, SUBSCRIPTIONS):
        conn.execute(delete(table).where(table.c.instance_id.in_(ids)))
    conn.execute(delete(TASKS).where(TASKS.c.instance_id.in_(ids)))
    conn.execute(delete(EVENTS).where(EVENTS.c.instance_id.in_(ids)))
    gone = conn.execute(delete(INSTANCES).where(INSTANCES.c.id.in_(ids))).rowcount
    if gone != len(ids):
        raise LookupError("an instance to archive was removed by someone else meanwhile")
    return len(ids)


# ------------------------------------------------------------------------------ reads


def archived_instance(conn: Connection, instance_id: str) -> RowMapping | None:
    """An archived instance's row (its record included)."""
    return conn.execute(select(ARCHIVED).where(ARCHIVED.c.id == instance_id)).mappings().first()


def archived_summary(conn: Connection, instance_id: str) -> RowMapping | None:
    """An archived instance's row without its record (for the answer to a live read)."""
    a = ARCHIVED.c
    cols = [c for c in ARCHIVED.columns if c.name != "record"]
    return conn.execute(select(*cols).where(a.id == instance_id)).mappings().first()


def archived_task_instance(conn: Connection, task_id: str) -> str | None:
    """The archived instance a task id belonged to."""
    value = conn.execute(
        select(ARCHIVED_TASKS.c.instance_id).where(ARCHIVED_TASKS.c.id == task_id)
    ).scalar()
    return None if value is None else str(value)


def archived_events(conn: Connection, instance_id: str) -> list[RowMapping]:
    """An archived instance's events in sequence order."""
    e = ARCHIVED_EVENTS.c
    return list(
        conn.execute(
            select(ARCHIVED_EVENTS).where(e.instance_id == instance_id).order_by(e.seq)
        ).mappings()
    )


def acted_on_archived(conn: Connection, instance_id: str, actor: str) -> bool:
    """Whether ``actor`` is the actor of an event of the archived instance."""
    e = ARCHIVED_EVENTS.c
    query = select(e.id).where(e.instance_id == instance_id, e.actor == actor).limit(1)
    return conn.execute(query).first() is not None


def leaves_of(conn: Connection, event_ids: Sequence[int]) -> dict[int, tuple[int, bytes]]:
    """Leaf index and hash per sequenced event id."""
    out: dict[int, tuple[int, bytes]] = {}
    for start in range(0, len(event_ids), 400):
        part = list(event_ids[start : start + 400])
        query = select(LEAVES.c.event_id, LEAVES.c.leaf_index, LEAVES.c.leaf_hash).where(
            LEAVES.c.event_id.in_(part)
        )
        for event_id, index, h in conn.execute(query):
            out[int(event_id)] = (int(index), bytes(h))
    return out


def archived_ids(conn: Connection, after: str | None, limit: int) -> list[str]:
    """Archived instance ids in id order after ``after`` (for verification in batches)."""
    query = select(ARCHIVED.c.id).order_by(ARCHIVED.c.id).limit(limit)
    if after is not None:
        query = query.where(ARCHIVED.c.id > after)
    return [str(v) for v in conn.execute(query).scalars()]


def table_counts(conn: Connection) -> dict[str, int]:
    """Row counts of the live tables the archive relieves and of the archive's own."""
    tables = (
        INSTANCES,
        TASKS,
        TASK_ROLES,
        CLOSED_TASK_ROWS,
        EVENTS,
        ARCHIVED,
        ARCHIVED_EVENTS,
        ARCHIVED_TASKS,
    )
    return {
        t.name: int(conn.execute(select(func.count()).select_from(t)).scalar() or 0) for t in tables
    }


def events_by_ids(conn: Connection, ids: Sequence[int]) -> dict[int, RowMapping]:
    """Event rows by id, from the live table or the archive (for the export)."""
    out: dict[int, RowMapping] = {}
    if not ids:
        return out
    for table in (EVENTS, ARCHIVED_EVENTS):
        missing = [i for i in ids if i not in out]
        if not missing:
            break
        for row in conn.execute(select(table).where(table.c.id.in_(missing))).mappings():
            out[int(row["id"])] = row
    return out
