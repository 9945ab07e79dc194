"""The live state bound to the audit log: checked before an instance writes events, recorded on
the last event of every batch it writes.

Every batch of events an instance writes ends with an event whose ``state_digest`` is the
digest of the status, saved state and data the batch left (audit_log/binding.py); the chain hash
and the Merkle log protect it. Before the next batch, the instance as it was read from the
database must still have that digest, and its recorded chain head must still be its last event.
Otherwise someone changed the state, the data or the status outside powerflow (or rolled the
row back): the act is refused and, once it has rolled back, the instance is parked with an
incident that says so (``record_tampering``), so nothing carries a forged value on.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

from powerflow.audit_log.binding import digest_of_canonical
from powerflow.audit_log.chain import canonical
from powerflow.db import binding_queries, queries
from powerflow.db.engine import Store
from powerflow.services.errors import Conflict

log = logging.getLogger("powerflow.audit")

TAMPERED = "The saved state of this instance does not match the audit log"
"""How a tampering incident's message begins (one such incident is kept open at a time)."""


class StateTampered(Conflict):
    """The instance's stored state is not what its audit log recorded last."""

    code = "state_tampered"

    def __init__(self, instance_id: str, why: str) -> None:
        self.instance_id = instance_id
        self.why = why
        super().__init__(
            f"Instance {instance_id} was changed outside powerflow ({why}), so nothing more is "
            "done on it: it has been stopped with an incident. An administrator must restore "
            "its saved state from a backup (powerflow audit verify names what differs)."
        )

    def after_rollback(self, store: Store) -> None:
        """Park the instance with a tampering incident (Store.follow_up runs this)."""
        record_tampering(store, self.instance_id, self.why)


class _Recent:
    """The digests this process bound last, per instance, with the content they cover.

    A step checks the state it read against the digest its previous step bound: when the text
    read is exactly the text bound (a memory compare), the digest is known without hashing the
    saved state again, which for an instance of hundreds of tasks is most of the cost. Keyed by
    content, never trusted otherwise, so a rolled-back step's entry is merely useless.
    """

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        self._entries: OrderedDict[str, tuple[str, str, bytes, str]] = OrderedDict()
        self._bytes = 0
        self._max = max_bytes
        self._lock = threading.Lock()

    def digest(self, instance_id: str, status: str, state: str, data: bytes) -> str:
        with self._lock:
            hit = self._entries.get(instance_id)
        if hit is not None and hit[0] == status and hit[1] == state and hit[2] == data:
            return hit[3]
        return digest_of_canonical(status, state, data)

    def remember(self, instance_id: str, status: str, state: str, data: bytes) -> str:
        digest = digest_of_canonical(status, state, data)
        size = len(state) + len(data)
        if size > self._max // 4:
            return digest
        with self._lock:
            old = self._entries.pop(instance_id, None)
            if old is not None:
                self._bytes -= len(old[1]) + len(old[2])
            self._entries[instance_id] = (status, state, data, digest)
            self._bytes += size
            while self._bytes > self._max:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped[1]) + len(dropped[2])
        return digest


_recent = _Recent()


def loaded_digest(instance: queries.InstanceRow) -> str | None:
    """The digest of the instance as read from the database (None for one not yet saved)."""
    if instance.as_loaded is None:
        return None
    status, state, data = instance.as_loaded
    return _recent.digest(instance.id, status, state, canonical(data))


def check(conn: Any, instance: queries.InstanceRow) -> None:
    """Refuse to write events for an instance whose stored state differs from its record.

    Skipped for a new instance and for one this object has already checked or bound in the
    current transaction (nothing outside it can have changed the row since: it is locked or
    versioned). A step calls it before it writes anything, so a refusal leaves nothing half
    done even where the caller goes on with other instances in the same transaction.
    """
    if instance.as_loaded is None or instance.bound_seq == instance.event_seq:
        return
    last = binding_queries.last_event(conn, instance.id)
    if last is None:
        if instance.event_seq:
            raise StateTampered(instance.id, "its events are missing")
        return
    seq, head, digest = last
    if seq != instance.event_seq or head != instance.last_event_hash:
        raise StateTampered(
            instance.id,
            f"it records {instance.event_seq} events but its last event is #{seq}, "
            "or its chain head is not that event's hash",
        )
    if digest is None:
        digest = binding_queries.last_digest(conn, instance.id)
    if digest is not None and digest != loaded_digest(instance):
        raise StateTampered(
            instance.id, f"its status, saved state or data differ from event #{seq}'s record"
        )
    instance.bound_seq = instance.event_seq  # checked: not again before its next events


def digest_of(instance: queries.InstanceRow) -> str:
    """The digest of the instance as the caller is about to save it."""
    return _recent.remember(instance.id, instance.status, instance.state, canonical(instance.data))


def bound(instance: queries.InstanceRow) -> None:
    """After its new events recorded its digest: this object now counts as read in that
    state, at that event (a later batch in the same transaction needs no database check)."""
    instance.as_loaded = (instance.status, instance.state, instance.data)
    instance.bound_seq = instance.event_seq


def stopped_for_tampering(instance: queries.InstanceRow) -> bool:
    """Whether the instance's open incident is a tampering one (recorded once)."""
    return str((instance.incident or {}).get("message", "")).startswith(TAMPERED)


def continue_from_last_event(conn: Any, instance: queries.InstanceRow) -> None:
    """Point the row at its real last event, whatever the row says, so the chain goes on."""
    last = binding_queries.last_event(conn, instance.id)
    if last is not None:
        instance.event_seq, instance.last_event_hash = last[0], last[1]


def record_tampering(store: Store, instance_id: str, why: str) -> None:
    """Park the instance with an incident and an ``instance.failed`` event saying its state was
    changed outside powerflow (incidents.fail_instance); every later act stays refused until
    the state is restored."""
    from powerflow.services.incidents import fail_instance

    message = f"{TAMPERED}: {why}."
    if fail_instance(store, instance_id, actor="system", message=message, tampered=True):
        log.warning("instance %s stopped: %s", instance_id, message)
