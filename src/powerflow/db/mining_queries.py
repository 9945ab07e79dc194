"""Queries of the process-mining export (services/mining.py): instances in id order, and their
events in (instance, seq) order, both read in keyset batches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, RowMapping, Table, case, null, select, tuple_

from powerflow.db.models import Definition, Event, Instance

DEFINITIONS = cast(Table, Definition.__table__)
INSTANCES = cast(Table, Instance.__table__)
EVENTS = cast(Table, Event.__table__)
CASE_EVENTS = (
    "case.opened",
    "case.finding_recorded",
    "case.correction_requested",
    "case.corrected",
    "case.closed",
    "instance.suspended",
    "instance.resumed",
)
"""Events whose payload may name a supervision case (``case_id``)."""


def definition_ids(conn: Connection, key: str, version: int | None) -> list[int]:
    """The ids of the deployed versions of process ``key`` (one version when given)."""
    d = DEFINITIONS.c
    query = select(d.id).where(d.key == key, d.kind == "process")
    if version is not None:
        query = query.where(d.version == version)
    return [int(i) for i in conn.scalars(query)]


def existing_instances(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Which of these instance ids exist."""
    return set(conn.scalars(select(INSTANCES.c.id).where(INSTANCES.c.id.in_(list(ids)))))


def instance_batch(
    conn: Connection,
    *,
    after: str | None,
    limit: int,
    definitions: Sequence[int] | None,
    ids: Sequence[str] | None,
) -> list[RowMapping]:
    """The next ``limit`` instances after id ``after``, in id order, of these definitions
    and/or with these ids (None: no condition)."""
    i = INSTANCES.c
    query = select(i.id, i.business_key, i.definition_key, i.definition_version)
    if after is not None:
        query = query.where(i.id > after)
    if definitions is not None:
        query = query.where(i.definition_id.in_(list(definitions)))
    if ids is not None:
        query = query.where(i.id.in_(list(ids)))
    return list(conn.execute(query.order_by(i.id).limit(limit)).mappings())


def event_batch(
    conn: Connection,
    *,
    instances: Sequence[str],
    types: Sequence[str],
    since: datetime | None,
    until: datetime | None,
    after: tuple[str, int] | None,
    limit: int,
) -> list[RowMapping]:
    """The next ``limit`` events of these instances after ``after`` (instance id, seq), in
    (instance id, seq) order, of these types, that occurred in [since, until).

    Only the few payload fields mining needs are read (not the payload: it holds the data
    people submitted).
    """
    e = EVENTS.c
    payload = e.payload

    def field(name: str, *types: str) -> ColumnElement[Any]:
        # extracted only from the events that carry it: a JSON extraction parses the payload
        return case((e.type.in_(types), payload[name].as_string()), else_=null())

    query = select(
        e.id,
        e.instance_id,
        e.seq,
        e.type,
        e.occurred_at,
        e.element_id,
        e.element_name,
        e.task_id,
        e.actor,
        field("role", "task.completed", "task.countersign_requested").label("role"),
        field("countersign_role", "task.countersigned", "task.countersign_refused").label(
            "countersign_role"
        ),
        field("reason", "task.cancelled").label("reason"),
        field("case_id", *CASE_EVENTS).label("case_id"),
        field("subject", "case.opened").label("subject"),
        field("outcome", "case.closed").label("outcome"),
    ).where(
        e.instance_id.in_(list(instances)),
        # "type || ''": the filter must not use the index on type, which would make the
        # planner read every event of these types and sort them, batch after batch, instead
        # of walking (instance_id, seq) in order
        e.type.concat("").in_(list(types)),
    )
    if since is not None:
        query = query.where(e.occurred_at >= since)
    if until is not None:
        query = query.where(e.occurred_at < until)
    if after is not None:
        query = query.where(tuple_(e.instance_id, e.seq) > tuple_(*after))
    return list(conn.execute(query.order_by(e.instance_id, e.seq).limit(limit)).mappings())
