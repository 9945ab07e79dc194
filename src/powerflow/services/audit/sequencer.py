"""The sequencer: appends committed events to the audit log in commit order.

One pass (``sequence``) finds events without a leaf by an anti-join over the ids above the
newest sequenced event minus a window, and hashes their leaves, in a read transaction; then,
under the log's write lock (PostgreSQL: an advisory lock, so one worker appends at a time;
SQLite: its one writer), it reads the tree's right edge (one stored hash per set bit of its
size), appends them in id order and stores every subtree hash they complete. If another worker
appended in between, the batch is found again under the lock. On PostgreSQL an event whose
transaction commits after events with higher ids were sequenced is found by the anti-join on a
later pass, never skipped; it gets the next leaf index (the log's order is the order events
became visible, not id order)."""

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
    after = -1 if full else q.last_sequenced_event(conn) - q.late_commit_window(conn, window)
    events = q.unsequenced_events(conn, after, batch)
    return _append(conn, size, [(int(ev["id"]), leaf_hash(leaf_bytes(ev))) for ev in events])


def _append(conn: Connection, size: int, leaves: list[tuple[int, bytes]]) -> Appended:
    """Append (event id, leaf hash) pairs to the tree of ``size`` leaves (lock held)."""
    if not leaves:
        return Appended(0, size)
    tree = edge(conn, size)
    rows: list[dict[str, object]] = []
    nodes: list[dict[str, object]] = []
    for event_id, h in leaves:
        rows.append({"leaf_index": tree.size, "event_id": event_id, "leaf_hash": h})
        for level, node_index, node in tree.append(h)[1:]:
            nodes.append({"level": level, "node_index": node_index, "hash": node})
    q.append(conn, rows, nodes)
    return Appended(len(leaves), tree.size)


def sequence(store: Store, *, window: int = WINDOW, batch: int = BATCH, full: bool = False) -> int:
    """Append every committed event not yet in the log; return how many were appended.

    The events are found and their leaves hashed in a read transaction, so the write lock
    (SQLite's one writer) is held only to extend the tree; if another appender moved the tree
    meanwhile, the batch is found again under the lock. An idle pass takes no write lock.
    """
    total = 0
    while True:
        with store.begin(write=False) as conn:
            size = q.tree_size(conn)
            last = q.last_sequenced_event(conn)
            if not full and q.nothing_pending(conn, last):
                return total
            after = -1 if full else last - q.late_commit_window(conn, window)
            events = q.unsequenced_events(conn, after, batch)
        if not events:
            return total
        leaves = [(int(ev["id"]), leaf_hash(leaf_bytes(ev))) for ev in events]
        with store.begin(write=True) as conn:
            lock_keys(conn, [LOCK])
            if q.tree_size(conn) == size:  # nobody appended since: the batch is still pending
                done = _append(conn, size, leaves)
            else:
                done = append_pending(conn, window=window, batch=batch, full=full)
        total += done.count
        if len(events) < batch:
            return total
