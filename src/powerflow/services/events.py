"""Appending step events: one row per step, hash-chained per instance, same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from powerflow.audit_log.chain import chained_content, event_hash
from powerflow.engine import StepEvent
from powerflow.services import state_binding
from powerflow.services.event_types import checked_payload

SYSTEM_ACTOR = "system"
TIMER_ACTOR_NAME = "timer"
MACHINE_ACTORS = frozenset({SYSTEM_ACTOR, TIMER_ACTOR_NAME})
"""Actor names of steps nobody took in person (the engine, the timer worker): no user may bear
them, so that the audit trail never shows a person as the engine, or the engine as a person."""
SYSTEM_EVENT_TYPES = frozenset(
    {
        "gateway.decided",
        "timer.fired",
        "task.ready",
        "instance.completed",
        "instance.failed",
        "alert.raised",
        "alert.resolved",
        "clock.paused",
        "clock.resumed",
        "notice.published",
        "notice.closed",
    }
)


def hashed_content(row: dict[str, Any]) -> dict[str, Any]:
    """The fields of an event row that its hash covers."""
    return chained_content({**row, "occurred_at": row["occurred_at"].isoformat()})


def event_rows(
    instance: Any,
    events: list[StepEvent],
    *,
    actor: str,
    at: datetime,
    conn: Connection,
    extra: dict[str, dict[str, Any]] | None = None,
    bind: bool = True,
) -> list[dict[str, Any]]:
    """Event rows for an instance, continuing its sequence and hash chain.

    Advances ``instance.event_seq`` and ``instance.last_event_hash``; the caller saves the
    instance and inserts the rows in the same transaction. First checks that the instance as
    read still matches what its events recorded (StateTampered otherwise); the last row records
    the digest of the state the caller is about to save (services/state_binding.py; ``bind``
    False only for the incident that reports a tampered state). Steps the engine takes on its own
    (gateways, scripts, new tasks, completion) are recorded with the actor 'system'; the rest
    with the caller. ``extra`` merges additional payload per event type, for example the role
    with which a person completed a task.
    """
    if bind and events:
        state_binding.check(conn, instance)
    rows = []
    prev = instance.last_event_hash
    seq = instance.event_seq
    for ev in events:
        seq += 1
        payload = dict(ev.payload)
        automatic = payload.get("automatic") or ev.type in SYSTEM_EVENT_TYPES
        if extra and ev.type in extra and not automatic:
            payload.update(extra[ev.type])
        checked_payload(ev.type, payload)
        row: dict[str, Any] = {
            "instance_id": instance.id,
            "seq": seq,
            "type": ev.type,
            "definition_key": instance.definition_key,
            "definition_version": instance.definition_version,
            "element_id": ev.element_id,
            "element_name": ev.element_name,
            "task_id": ev.task_id,
            "actor": SYSTEM_ACTOR if automatic else actor,
            "payload": payload,
            "occurred_at": at,
        }
        row["state_digest"] = None
        rows.append(row)
    if bind and rows:
        rows[-1]["state_digest"] = state_binding.digest_of(instance)
    for row in rows:
        row["prev_hash"] = prev
        row["hash"] = prev = event_hash(prev, hashed_content(row))
    instance.event_seq = seq
    instance.last_event_hash = prev
    if bind and rows:
        state_binding.bound(instance)
    return rows
