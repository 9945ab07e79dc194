"""The sequencer: appends committed events to the audit log in commit order.

One pass (``sequence``) takes the log's write lock (PostgreSQL: an advisory lock, so one worker
appends at a time; SQLite: its one writer), reads the tree's right edge (one stored hash per set
bit of its size), finds events without a leaf by an anti-join over the ids above the newest
sequenced event minus a window, appends them in id order and stores every subtree hash they
complete, in one transaction. On PostgreSQL an event whose transaction commits after events
with higher ids were sequenced is found by the anti-join on a later pass, never skipped; it
gets the next leaf index (the log's order is the order events became visible, not id order).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from powerflow.audit_log import CompactRange, leaf_hash
from powerflow.db import audit_queries as q
from powerflow.db.advisory import lock_keys
from powerflow.db.engine import Store
from powerflow.services.audit.leaves import leaf_bytes

LOCK = ("powerflow.audit_log",)
WINDOW = 10_000
"""Event ids below the newest sequenced one that each pass looks at again for late commits."""
BATCH = 5_000


@dataclass(frozen=True)
class Appended:
    """What a pass appended."""

    count: int
    tree_size: int


def edge(conn: Connection, size: int) -> CompactRange:
    """The right edge of the stored tree of ``size`` leaves."""
    coords = CompactRange.coords(size)
    hashes = q.subtree_hashes(conn, coords) if coords else {}
    return CompactRange(size, [hashes[c] for c in coords])


def append_pending(
    conn: Connection, *, window: int = WINDOW, batch: int = BATCH, full: bool = False
) -> Appended:
    """In the caller's write transaction: lock the log and append up to ``batch`` events."""
    lock_keys(conn, [LOCK])
    size = q.tree_size(conn)
    after = -1 if full else q.last_sequenced_event(conn) - window
    events = q.unsequenced_events(conn, after, batch)
    if not events:
        return Appended(0, size)
    tree = edge(conn, size)
    leaves: list[dict[str, object]] = []
    nodes: list[dict[str, object]] = []
    for ev in events:
        index = tree.size
        h = leaf_hash(leaf_bytes(ev))
        leaves.append({"leaf_index": index, "event_id": ev["id"], "leaf_hash": h})
        for level, node_index, node in tree.append(h)[1:]:
            nodes.append({"level": level, "node_index": node_index, "hash": node})
    q.append(conn, leaves, nodes)
    return Appended(len(events), tree.size)


def sequence(store: Store, *, window: int = WINDOW, batch: int = BATCH, full: bool = False) -> int:
    """Append every committed event not yet in the log; return how many were appended.

    Looks first in a read transaction, so an idle pass takes no write lock.
    """
    total = 0
    while True:
        if not full:
            with store.begin(write=False) as conn:
                after = q.last_sequenced_event(conn) - window
                if not q.unsequenced_events(conn, after, 1):
                    return total
        with store.begin(write=True) as conn:
            done = append_pending(conn, window=window, batch=batch, full=full)
        total += done.count
        if done.count < batch:
            return total
