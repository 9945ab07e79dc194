"""Firing the due timers of many instances in one transaction (the timer worker's hot path).

One commit per batch instead of one per instance. An instance that cannot be loaded or run is
left out before anything of it is written, and the others are committed; a write that fails
rolls the batch back and the worker fires its instances one per transaction. An instance whose
saved state or definition cannot be run is marked failed with an incident afterwards, in a
transaction of its own (as ``instances.fire_timers`` does for one instance). Rows are locked as
they are loaded and re-checked (still running, still due), so a second worker that read the
same ids finds nothing left to do; the version check of ``save_instance`` stays the last guard.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, select

from powerflow import engine
from powerflow.db.engine import Store, follow_up
from powerflow.db.models import Instance
from powerflow.db.queries import InstanceRow
from powerflow.db.timer_queries import claim_due_instances
from powerflow.services.definitions import BpmnFileMissing, definition_by_id, runnable
from powerflow.services.errors import DomainError
from powerflow.services.incidents import cause, fail_instance
from powerflow.services.state_binding import StateTampered
from powerflow.services.steps import record_step


@dataclass
class BatchOutcome:
    """What a batch did: fired ids, ids failed with an incident, ids to retry later."""

    claimed: list[str] = field(default_factory=list)
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
    query = (  # ORDER BY ... LIMIT 1: one seek in ix_instances_status_timer
        select(Instance.next_timer_at)
        .where(Instance.status == "running", Instance.next_timer_at.is_not(None))
        .order_by(Instance.next_timer_at)
        .limit(1)
    )
    if skip:
        query = query.where(Instance.id.not_in(sorted(skip)))
    value: datetime | None = conn.scalar(query)
    return value


def _fire_row(store: Store, conn: Connection, row: InstanceRow, now: datetime, actor: str) -> str:
    """Fire one instance in the caller's transaction: "fired", "skipped" (no longer due) or
    "still due" (fired, but its next timer is due already). Raises _Broken or DomainError
    before anything is written; whatever ``record_step`` raises propagates."""
    if row.status != "running" or row.next_timer_at is None or row.next_timer_at > now:
        return "skipped"
    try:
        definition = definition_by_id(store, conn, row.definition_id)
        process = runnable(conn, definition, row.state)
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


def fire_due_batch(
    store: Store, now: datetime, limit: int, actor: str, skip: Collection[str] = ()
) -> BatchOutcome:
    """Claim up to ``limit`` due instances (leaving out ``skip``) and fire them in one
    transaction (one commit).

    Nothing is written for an instance before its engine step has succeeded, so an instance
    that cannot be loaded or run is left out without a savepoint (savepoints cost more than
    the rest of a firing on SQLite). A failure while a step is written (a database error)
    propagates and rolls the whole batch back: the caller fires instances one per transaction
    then.
    """
    outcome = BatchOutcome()
    broken: dict[str, str] = {}
    tampered: list[StateTampered] = []
    with store.begin(write=True) as conn:
        for row in claim_due_instances(conn, now, limit, skip):
            outcome.claimed.append(row.id)
            try:
                fired = _fire_row(store, conn, row, now, actor)
            except _Broken as exc:
                broken[row.id] = str(exc)
                continue
            except StateTampered as exc:  # before any write: stopped once the batch commits
                tampered.append(exc)
                outcome.failed.append(row.id)
                continue
            except DomainError as exc:  # before any write: the definition is gone
                outcome.retry[row.id] = exc.message
                continue
            if fired == "skipped":
                outcome.skipped.append(row.id)
                continue
            outcome.fired.append(row.id)
            if fired == "still due":
                outcome.retry[row.id] = "its next timer was still due after firing"
    for refused in tampered:
        follow_up(store, refused)
    for instance_id, message in broken.items():
        fail_instance(store, instance_id, actor=actor, message=message)
        outcome.failed.append(instance_id)
    return outcome
