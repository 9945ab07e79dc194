"""The per-instance hash chain: verifying each instance's chain and exporting it as CSV.

Every event stores the hash of its predecessor and the sha256 of its own canonical content
(``services/events.py``). Verification recomputes both, checks that sequence numbers run
1..n without a gap, and that the instance's recorded chain head is the last event's hash, so an
edited, deleted, inserted or reordered event is found and named.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from powerflow.audit_log.chain import event_hash
from powerflow.db.engine import Store
from powerflow.db.models import Event, Instance
from powerflow.services.auth import Principal
from powerflow.services.events import hashed_content
from powerflow.services.instances import event_view
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


def _check(instance: Instance, events: list[Event]) -> BrokenLink | None:
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
    return None


def _events(session: Session, instance_id: str) -> list[Event]:
    return list(
        session.scalars(select(Event).where(Event.instance_id == instance_id).order_by(Event.seq))
    )


def trail(store: Store, principal: Principal, instance_id: str) -> AuditTrail:
    """An instance's full trail with the verification result, for those who may see it
    (its participants, monitors, auditors, administrators; NotFound for anyone else)."""
    with store.read() as session:
        instance = session.get(Instance, instance_id)
        started_by = instance.started_by if instance else None
        check_instance(session.connection(), principal, instance_id, started_by)
        assert instance is not None  # check_instance raised otherwise
        events = _events(session, instance_id)
        broken = _check(instance, events)
        return AuditTrail(instance_id, broken is None, broken, [event_view(e) for e in events])


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
        checked += 1
        events_checked += len(events)
        broken = _check(instance, events)
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
