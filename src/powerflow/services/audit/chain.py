"""The per-instance hash chain: verifying each instance's chain and live state, and exporting
the chain as CSV.

Every event stores the hash of its predecessor and the sha256 of its own canonical content
(``services/events.py``). Verification recomputes both, checks that sequence numbers run
1..n without a gap, and that the instance's recorded chain head is the last event's hash, so an
edited, deleted, inserted or reordered event is found and named. It then checks the live state
against the chain: the instance's status, saved state and data against the digest its events
last recorded (services/state_binding.py), and its task rows against the events that made and
closed them (``task.ready``, ``task.completed`` by whom, ``task.cancelled``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from powerflow.audit_log.binding import state_digest
from powerflow.audit_log.chain import event_hash
from powerflow.db.engine import Store
from powerflow.db.models import Event, Instance, Task
from powerflow.db.queries import OPEN_TASK_STATES
from powerflow.services.auth import Principal
from powerflow.services.events import hashed_content
from powerflow.services.views import EventView
from powerflow.services.visibility import check_instance


@dataclass(frozen=True)
class BrokenLink:
    """Where and why an instance's chain does not verify."""

    instance_id: str
    seq: int | None
    reason: str


@dataclass(frozen=True)
class AuditTrail:
    """An instance's events and whether their chain verifies."""

    instance_id: str
    verified: bool
    broken: BrokenLink | None
    events: list[EventView]


def _check(instance: Instance, events: list[Event], tasks: list[Task]) -> BrokenLink | None:
    prev: str | None = None
    for expected_seq, ev in enumerate(events, 1):
        if ev.seq != expected_seq:
            return BrokenLink(
                instance.id, ev.seq, f"expected event #{expected_seq}, found #{ev.seq}"
            )
        if ev.prev_hash != prev:
            return BrokenLink(
                instance.id, ev.seq, "its link to the previous event does not match that event"
            )
        content = hashed_content(
            {
                "instance_id": ev.instance_id,
                "seq": ev.seq,
                "type": ev.type,
                "definition_key": ev.definition_key,
                "definition_version": ev.definition_version,
                "element_id": ev.element_id,
                "element_name": ev.element_name,
                "task_id": ev.task_id,
                "actor": ev.actor,
                "payload": ev.payload,
                "occurred_at": ev.occurred_at,
                "state_digest": ev.state_digest,
            }
        )
        if event_hash(prev, content) != ev.hash:
            return BrokenLink(instance.id, ev.seq, "its content was changed after it was recorded")
        prev = ev.hash
    if instance.event_seq != len(events) or instance.last_event_hash != prev:
        seq = len(events) + 1 if instance.event_seq > len(events) else None
        return BrokenLink(
            instance.id,
            seq,
            f"the instance recorded {instance.event_seq} events, "
            f"{len(events)} are present, or its last event is not the recorded chain head",
        )
    return _check_state(instance, events) or _check_tasks(instance, events, tasks)


def _check_state(instance: Instance, events: list[Event]) -> BrokenLink | None:
    bound = next((ev for ev in reversed(events) if ev.state_digest is not None), None)
    if bound is None:  # recorded before state binding (migration 0023): nothing to compare
        return None
    if state_digest(instance.status, instance.state, instance.data) != bound.state_digest:
        return BrokenLink(
            instance.id,
            bound.seq,
            "the instance's status, saved state or data differ from what this event recorded",
        )
    return None


TASK_EVENTS = ("task.ready", "task.completed", "task.cancelled")


def _check_tasks(instance: Instance, events: list[Event], tasks: list[Task]) -> BrokenLink | None:
    """Each task row as its last ``task.*`` event left it, and no row without events. Only for
    instances bound from their first step (older ones may lack events for closed tasks)."""
    first_bound = next((ev for ev in events if ev.state_digest is not None), None)
    if first_bound is None or first_bound.occurred_at != events[0].occurred_at:
        return None
    last: dict[str, Event] = {}  # tasks a person works on: made ready, then closed
    for ev in events:
        opened = ev.type == "task.ready" or ev.task_id in last
        if ev.task_id is not None and opened and ev.type in TASK_EVENTS:
            last[ev.task_id] = ev
    rows = {t.id: t for t in tasks}
    for task_id, ev in last.items():
        row = rows.pop(task_id, None)
        problem = _task_problem(row, ev)
        if problem is not None:
            return BrokenLink(instance.id, ev.seq, f"task {task_id}: {problem}")
    if rows:
        task_id = sorted(rows)[0]
        return BrokenLink(instance.id, None, f"task {task_id} has a row but no event made it")
    return None


def _task_problem(row: Task | None, ev: Event) -> str | None:
    if row is None:
        return "its row is missing"
    if row.element_id != ev.element_id:
        return f"its row names element {row.element_id!r}, its events {ev.element_id!r}"
    if ev.type == "task.ready" and row.state not in OPEN_TASK_STATES:
        return f"its row says {row.state}, its events that it is open"
    if ev.type == "task.cancelled" and row.state != "cancelled":
        return f"its row says {row.state}, its events that it was cancelled"
    if ev.type == "task.completed":
        if row.state != "completed":
            return f"its row says {row.state}, its events that it was completed"
        if row.completed_by != ev.actor:
            return f"its row says {row.completed_by!r} completed it, its events {ev.actor!r}"
    return None


def _events(session: Session, instance_id: str) -> list[Event]:
    return list(
        session.scalars(select(Event).where(Event.instance_id == instance_id).order_by(Event.seq))
    )


def _tasks(session: Session, instance_id: str) -> list[Task]:
    return list(session.scalars(select(Task).where(Task.instance_id == instance_id)))


def trail(store: Store, principal: Principal, instance_id: str) -> AuditTrail:
    """An instance's full trail with the verification result, for those who may see it
    (its participants, monitors, auditors, administrators; NotFound for anyone else)."""
    with store.read() as session:
        instance = session.get(Instance, instance_id)
        started_by = instance.started_by if instance else None
        check_instance(session.connection(), principal, instance_id, started_by)
        assert instance is not None  # check_instance raised otherwise
        events = _events(session, instance_id)
        broken = _check(instance, events, _tasks(session, instance_id))
        return AuditTrail(instance_id, broken is None, broken, [EventView.of(e) for e in events])


@dataclass(frozen=True)
class Verification:
    """The result of verifying the whole database."""

    instances: int
    events: int
    broken: BrokenLink | None


def verify_all(store: Store) -> Verification:
    """Verify every instance's chain, oldest first, stopping at the first broken link."""
    with store.read() as session:
        ids = list(session.scalars(select(Instance.id).order_by(Instance.created_at, Instance.id)))
    checked = events_checked = 0
    for instance_id in ids:
        with store.read() as session:
            instance = session.get(Instance, instance_id)
            if instance is None:
                continue
            events = _events(session, instance_id)
            tasks = _tasks(session, instance_id)
        checked += 1
        events_checked += len(events)
        broken = _check(instance, events, tasks)
        if broken is not None:
            return Verification(checked, events_checked, broken)
    return Verification(checked, events_checked, None)


CSV_COLUMNS = (
    "seq",
    "id",
    "occurred_at",
    "type",
    "element_id",
    "element_name",
    "task_id",
    "actor",
    "payload",
    "prev_hash",
    "hash",
)


def as_csv(audit: AuditTrail) -> str:
    """The trail as CSV, one event a row, payload as JSON."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for ev in audit.events:
        writer.writerow(
            [
                ev.seq,
                ev.id,
                ev.occurred_at.isoformat(),
                ev.type,
                ev.element_id or "",
                ev.element_name or "",
                ev.task_id or "",
                ev.actor,
                orjson.dumps(ev.payload, option=orjson.OPT_SORT_KEYS).decode(),
                ev.prev_hash or "",
                ev.hash,
            ]
        )
    return out.getvalue()
