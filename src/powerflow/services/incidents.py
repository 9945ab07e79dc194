"""Incidents raised outside the engine: an instance that cannot even be loaded or stepped.

The engine turns a failing script or condition into an incident within the step. When the step
itself cannot happen (saved state that cannot be restored, a definition whose BPMN cannot be
parsed, any unexpected error), the step's transaction is rolled back and the instance is marked
failed here, in a transaction of its own, so that a background loop can go on with the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from powerflow import engine
from powerflow.db import queries
from powerflow.db.engine import DatabaseBusy, Store
from powerflow.services.errors import Conflict, DomainError
from powerflow.services.events import event_rows
from powerflow.services.power.alerts import resolve_alerts

RUNNABLE = ("running", "suspended")


def cause(exc: BaseException, limit: int = 300) -> str:
    """A one-line description of an exception for an incident or a log line."""
    text = " ".join(str(exc).split()) or "no details"
    return f"{type(exc).__name__}: {text}"[:limit]


class InstanceBroken(Exception):
    """The instance itself cannot be loaded or run (raised inside a step's transaction)."""

    def __init__(self, instance_id: str, message: str) -> None:
        super().__init__(message)
        self.instance_id = instance_id
        self.message = message


@contextmanager
def breakage_of(instance_id: str, action: str) -> Iterator[None]:
    """Inside a step's transaction: what is neither a domain refusal nor a database problem
    means the instance or its definition cannot be loaded or run: InstanceBroken."""
    try:
        yield
    except (DomainError, DatabaseBusy, SQLAlchemyError):
        raise
    except Exception as exc:
        raise InstanceBroken(
            instance_id,
            f"The instance could not be {action}: it or its definition cannot be loaded or run "
            f"({cause(exc)}).",
        ) from exc


def record_breakage(store: Store, broken: InstanceBroken, *, actor: str) -> Conflict:
    """After the step's transaction rolled back: mark the instance failed with an incident (in
    a transaction of its own) and return the 409 for the person whose request found it."""
    fail_instance(store, broken.instance_id, actor=actor, message=broken.message)
    return Conflict(
        f"Instance {broken.instance_id} cannot be run, so it has been marked failed with an "
        f"incident: {broken.message}"
    )


def fail_instance(store: Store, instance_id: str, *, actor: str, message: str) -> bool:
    """Mark an instance failed with an incident and an ``instance.failed`` event.

    The element is the one the instance waits at, read from its saved state where that is
    possible. Returns False (and changes nothing) when the instance has already ended.
    """
    with store.begin(write=True) as conn:
        row = queries.load_instance(conn, instance_id, lock=True)
        if row is None or row.status not in RUNNABLE:
            return False
        element_id = next(iter(engine.waiting_elements(row.state)), None)
        element_name = _element_name(conn, row.definition_id, element_id)
        incident = engine.Incident(element_id, element_name or element_id, message)
        now = store.now()
        row.status = "failed"
        row.incident = incident.as_dict()
        row.next_timer_at = None
        row.waiting_messages = []
        row.updated_at = now
        row.ended_at = now
        row.next_alert_at = None
        failed = engine.StepEvent(
            "instance.failed", element_id, incident.element_name, None, {"message": message}
        )
        resolved = (
            resolve_alerts(conn, row, at=now, everything="instance_failed")
            if row.alert_level is not None
            else []
        )
        rows = event_rows(row, [failed, *resolved], actor=actor, at=now)
        if not queries.save_instance(conn, row):
            return False
        queries.insert_events(conn, rows)
        return True


def _element_name(conn: Connection, definition_id: int, element_id: str | None) -> str | None:
    if element_id is None:
        return None
    definition = queries.definition_row(conn, definition_id)
    xml = queries.deployment_xml(conn, definition["deployment_id"]) if definition else None
    return engine.element_name(xml, element_id) if xml else None
