"""``powerflow audit verify`` over the archive: each archived instance's events still form its
chain (as recorded when it was archived: event count and chain head) and each still hashes to
the leaf the audit log holds for it. So an archived instance is checked as archived, not
reported as deleted, and an archived row edited afterwards is found even when its chain was
recomputed to match."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from powerflow.audit_log import leaf_hash
from powerflow.audit_log.binding import state_digest
from powerflow.audit_log.offline import _check_event
from powerflow.db import archive_queries as q
from powerflow.db.engine import Store
from powerflow.services.audit.chain import BrokenLink
from powerflow.services.audit.leaves import leaf_bytes


@dataclass(frozen=True)
class ArchiveVerification:
    """The result of verifying the archive."""

    instances: int
    events: int
    broken: BrokenLink | None


def verify_archive(store: Store, batch: int = 500) -> ArchiveVerification:
    """Verify every archived instance, stopping at the first problem."""
    checked = events = 0
    after: str | None = None
    while True:
        with store.begin(write=False) as conn:
            ids = q.archived_ids(conn, after, batch)
        if not ids:
            return ArchiveVerification(checked, events, None)
        for instance_id in ids:
            with store.begin(write=False) as conn:
                row = q.archived_instance(conn, instance_id)
                record = row["record"] if row is not None else {}
                rows = q.archived_events(conn, instance_id)
                leaves = q.leaves_of(conn, [int(e["id"]) for e in rows])
            if row is None:
                continue
            checked += 1
            events += len(rows)
            broken = _check(instance_id, row["event_count"], row["last_event_hash"], rows, leaves)
            if broken is None:
                broken = _check_state(instance_id, record, rows)
            if broken is not None:
                return ArchiveVerification(checked, events, broken)
        after = ids[-1]


def _check_state(instance_id: str, record: dict[str, Any], rows: list[Any]) -> BrokenLink | None:
    """The archived instance row (status, saved state, data) against the digest its last
    binding event recorded (services/state_binding.py); instances from before the binding
    have none."""
    bound = [ev for ev in rows if ev["state_digest"] is not None]
    if not bound:
        return None
    inst = record.get("instance", {})
    digest = state_digest(str(inst.get("status")), str(inst.get("state")), inst.get("data") or {})
    if digest != bound[-1]["state_digest"]:
        return BrokenLink(
            instance_id,
            None,
            "the archived instance's status, saved state or data is not what its event "
            f"#{bound[-1]['seq']} recorded: the archived record was changed",
        )
    return None


def _check(
    instance_id: str,
    count: int,
    head: str | None,
    rows: list[Any],
    leaves: dict[int, tuple[int, bytes]],
) -> BrokenLink | None:
    chains: dict[str, tuple[int, str]] = {}
    seen: set[int] = set()
    for ev in rows:
        line = leaf_bytes(ev)
        leaf = leaves.get(int(ev["id"]))
        index = leaf[0] if leaf is not None else -1
        problem = _check_event(index, line, chains, seen)
        if problem is not None:
            return BrokenLink(instance_id, int(ev["seq"]), f"archived event: {problem}")
        if leaf is None:
            return BrokenLink(
                instance_id, int(ev["seq"]), "archived event with no leaf in the audit log"
            )
        if leaf_hash(line) != leaf[1]:
            return BrokenLink(
                instance_id,
                int(ev["seq"]),
                f"the archived event does not hash to its leaf {index} in the audit log: it was "
                "changed after it was appended",
            )
    last = rows[-1]["hash"] if rows else None
    if len(rows) != count or last != head:
        return BrokenLink(
            instance_id,
            None,
            f"the archive recorded {count} events for the instance, {len(rows)} are present, "
            "or its last event is not the recorded chain head",
        )
    return None
