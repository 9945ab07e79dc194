"""Incidents: a failed step parks its instance (status ``failed``, not ended) until an
administrator retries, skips, moves, migrates or cancels it (services/recovery.py).

The engine turns a failing script or condition into an incident within the step; ``IncidentLog``
records it (an ``incidents`` row, the incident id in the ``instance.failed`` event) and closes
the instance's open incident when a later step resolves it (``incident.resolved``). When the step
itself cannot happen (saved state that cannot be restored, a definition whose BPMN cannot be
parsed, any unexpected error), the step's transaction is rolled back and the instance is parked
here, in a transaction of its own, so that a background loop can go on with the others.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from powerflow import engine
from powerflow.db import incident_queries, queries
from powerflow.db.engine import DatabaseBusy, Store
from powerflow.services import state_binding
from powerflow.services.errors import Conflict, DomainError
from powerflow.services.events import event_rows

RUNNABLE = ("running", "suspended")
PARKED = "failed"
"""The status of an instance parked at an open incident: not ended, nothing advances it but an
administrator's retry, skip, move, migration or cancellation (its time limits keep running)."""
LIVE = ("running", "suspended", PARKED)
"""Statuses of instances that have not ended."""


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


def parked_conflict(row: Any, action: str) -> Conflict:
    """The 409 for acting on an instance parked at an incident."""
    incident = row.incident or {}
    where = incident.get("element_name") or incident.get("element_id")
    at = f" at '{where}'" if where else ""
    return Conflict(
        f"Instance {row.id} is stopped by an incident{at}, so it cannot be {action}; an "
        "administrator must retry, skip, move or cancel it first."
    )


def fail_instance(
    store: Store, instance_id: str, *, actor: str, message: str, tampered: bool = False
) -> bool:
    """Park an instance with an incident and an ``instance.failed`` event.

    The element is the one the instance waits at, read from its saved state where that is
    possible. Its alerts and time limits stay (a parked case is still late). Returns False (and
    changes nothing) when the instance is not running or suspended.

    ``tampered``: its stored row no longer matches its audit log (services/state_binding.py).
    Then the incident names no element (the forged state is not read), the event continues the
    chain from the real last event and binds nothing (the state it would bind is the forged
    one), the status is parked if the instance has not ended, and an instance already stopped
    for this is left as it is.
    """
    with store.begin(write=True) as conn:
        row = queries.load_instance(conn, instance_id, lock=True)
        if row is None:
            return False
        if tampered:
            if row.status == PARKED and state_binding.stopped_for_tampering(row):
                return False
            state_binding.continue_from_last_event(conn, row)
        elif row.status not in RUNNABLE:
            return False
        element_id = None if tampered else next(iter(engine.waiting_elements(row.state)), None)
        element_name = _element_name(conn, row.definition_id, element_id)
        incident = engine.Incident(element_id, element_name or element_id, message)
        now = store.now()
        log = IncidentLog(conn, row, at=now, actor=actor)
        log.opened(incident)
        if row.status in RUNNABLE:
            row.status = PARKED
            row.next_timer_at = None
            row.waiting_messages = []
        row.updated_at = now
        failed = engine.StepEvent(
            "instance.failed", element_id, incident.element_name, None, {"message": message}
        )
        rows = event_rows(
            row, log.tagged([failed]), actor=actor, at=now, conn=conn, bind=not tampered
        )
        if not queries.save_instance(conn, row):
            return False
        log.write()
        queries.insert_events(conn, rows)
        return True


class IncidentLog:
    """The incident rows and events of one step of an instance, written in its transaction.

    ``resolved`` closes the instance's open incident (when the step acted on a parked
    instance); ``opened`` sets the step's new incident on the instance row; ``write`` inserts
    its incident row once the instance row exists.
    """

    def __init__(self, conn: Connection, instance: Any, *, at: datetime, actor: str) -> None:
        self.conn = conn
        self.instance = instance
        self.at = at
        self.actor = actor
        self._new: dict[str, Any] | None = None

    def resolved(self, resolution: str, reason: str | None) -> list[engine.StepEvent]:
        """Close the open incident(s) of the instance; one ``incident.resolved`` event each."""
        closed = incident_queries.resolve_open(
            self.conn,
            self.instance.id,
            at=self.at,
            by=self.actor,
            resolution=resolution,
            reason=reason,
        )
        return [
            engine.StepEvent(
                "incident.resolved",
                c["element_id"],
                c["element_name"],
                None,
                {"incident_id": c["id"], "resolution": resolution, "reason": reason},
            )
            for c in closed
        ]

    def opened(self, incident: engine.Incident) -> None:
        """Put a new incident on the instance (``tagged`` puts its id into the event)."""
        incident_id = str(uuid.uuid4())
        self.instance.incident = {"id": incident_id, **incident.as_dict()}
        self._new = {
            "id": incident_id,
            "instance_id": self.instance.id,
            "definition_key": self.instance.definition_key,
            "definition_version": self.instance.definition_version,
            "element_id": incident.element_id,
            "element_name": (incident.element_name or "")[:255] or None,
            "message": incident.message,
            "status": "open",
            "created_at": self.at,
        }

    def tagged(self, events: Any) -> list[engine.StepEvent]:
        """The step's events, the ``instance.failed`` one carrying the new incident's id."""
        if self._new is None:
            return list(events)
        return [
            replace(e, payload={**e.payload, "incident_id": self._new["id"]})
            if e.type == "instance.failed"
            else e
            for e in events
        ]

    def write(self) -> None:
        """Insert the new incident row (after the instance row is written)."""
        if self._new is not None:
            incident_queries.insert_incident(self.conn, self._new)


def _element_name(conn: Connection, definition_id: int, element_id: str | None) -> str | None:
    if element_id is None:
        return None
    definition = queries.definition_row(conn, definition_id)
    xml = queries.deployment_xml(conn, definition["deployment_id"]) if definition else None
    return engine.element_name(xml, element_id) if xml else None
