"""Firing the due timers of many instances in one transaction (the timer worker's hot path).

One commit per batch instead of one per instance; each instance runs inside a savepoint, so an
instance that cannot be fired rolls back alone and the others are committed. An instance whose
saved state or definition cannot be run is marked failed with an incident afterwards, in a
transaction of its own (as ``instances.fire_timers`` does for one instance). Rows are locked as
they are loaded and re-checked (still running, still due), so a second worker that read the
same ids finds nothing left to do; the version check of ``save_instance`` stays the last guard.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, select

from powerflow import engine
from powerflow.db import queries
from powerflow.db.engine import DatabaseBusy, Store
from powerflow.db.models import Instance
from powerflow.services.definitions import BpmnFileMissing, definition_by_id, runnable
from powerflow.services.errors import DomainError
from powerflow.services.incidents import cause, fail_instance
from powerflow.services.steps import record_step


@dataclass
class BatchOutcome:
    """What a batch did: fired ids, ids failed with an incident, ids to retry later."""

    fired: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    retry: dict[str, str] = field(default_factory=dict)  # id -> why
    skipped: list[str] = field(default_factory=list)  # no longer due: another worker did it


class _Broken(Exception):
    """The instance cannot be fired, whatever the retry: it gets an incident."""


def due_instances(conn: Connection, now: datetime, limit: int) -> list[str]:
    """Ids of running instances whose next timer is due at ``now``, earliest first."""
    return list(
        conn.scalars(
            select(Instance.id)
            .where(Instance.status == "running", Instance.next_timer_at <= now)
            .order_by(Instance.next_timer_at)
            .limit(limit)
        ).all()
    )


def next_instance_due(conn: Connection, skip: Collection[str] = ()) -> datetime | None:
    """The earliest next timer of a running instance, leaving out ``skip`` (instances waiting
    after a failure); one index lookup."""
    query = select(func.min(Instance.next_timer_at)).where(Instance.status == "running")
    if skip:
        query = query.where(Instance.id.not_in(sorted(skip)))
    value: datetime | None = conn.scalar(query)
    return value


def _fire_one(store: Store, conn: Connection, instance_id: str, now: datetime, actor: str) -> str:
    """Fire one instance inside the caller's savepoint: "fired", "skipped" (no longer due) or
    "still due" (fired, but its next timer is due already)."""
    row = queries.load_instance(conn, instance_id, lock=True)
    if row is None or row.status != "running" or row.next_timer_at is None:
        return "skipped"
    if row.next_timer_at > now:
        return "skipped"
    try:
        definition = definition_by_id(store, conn, row.definition_id)
        process = runnable(conn, definition)
    except BpmnFileMissing as exc:
        raise _Broken(f"The timer could not fire: {exc.message}") from None
    except DomainError:
        raise
    except Exception as exc:
        raise _Broken(
            "The timer could not fire: the instance or its definition cannot be loaded "
            f"({cause(exc)})."
        ) from None
    try:
        step = engine.fire_due_timers(process, row.state)
    except Exception as exc:
        raise _Broken(
            f"The timer could not fire: the saved state cannot be restored or run ({cause(exc)})."
        ) from None
    record_step(conn, row, definition, step, actor=actor, at=store.now(), store=store)
    if row.status == "running" and row.next_timer_at is not None and row.next_timer_at <= now:
        return "still due"  # the engine did not move it on: retried after a backoff, not hot
    return "fired"


def fire_batch(store: Store, instance_ids: list[str], now: datetime, actor: str) -> BatchOutcome:
    """Fire the due timers of ``instance_ids`` in one transaction, one savepoint each.

    A transient database error of the whole transaction propagates (the caller falls back to
    one instance per transaction, or retries later).
    """
    outcome = BatchOutcome()
    broken: dict[str, str] = {}
    with store.begin(write=True) as conn:
        for instance_id in instance_ids:
            try:
                with conn.begin_nested():
                    fired = _fire_one(store, conn, instance_id, now, actor)
            except _Broken as exc:
                broken[instance_id] = str(exc)
                continue
            except DomainError as exc:  # changed concurrently, ended, suspended
                outcome.retry[instance_id] = exc.message
                continue
            except DatabaseBusy:
                raise
            except Exception as exc:  # a statement failed: its savepoint is rolled back
                outcome.retry[instance_id] = cause(exc)
                continue
            if fired == "skipped":
                outcome.skipped.append(instance_id)
                continue
            outcome.fired.append(instance_id)
            if fired == "still due":
                outcome.retry[instance_id] = "its next timer was still due after firing"
    for instance_id, message in broken.items():
        fail_instance(store, instance_id, actor=actor, message=message)
        outcome.failed.append(instance_id)
    return outcome
