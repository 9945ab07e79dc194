"""The sequencer: appends committed events to the audit log in commit order.

One pass (``sequence``) finds events without a leaf by an anti-join over the ids above the
newest sequenced event minus a window and reads the tree's right edge (one stored hash per set
bit of its size) in a read transaction, then hashes their leaves and the subtree hashes they
complete; under the log's write lock (PostgreSQL: an advisory lock, so one worker appends at a
time; SQLite: its one writer) it only checks that the tree has not grown and stores them, in id
order, a slice at a time. If another worker appended in between, the rest is found again under
the lock. On PostgreSQL an event whose transaction commits after events with higher ids were
sequenced is found by the anti-join on a later pass, never skipped; it gets the next leaf index
(the log's order is the order events became visible, not id order)."""

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
SLICE = 256
"""Events appended per write transaction: the lock every step's commit needs is held for
about a millisecond at a time."""


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
    rows, nodes = _tree_rows(tree, leaves)
    q.append(conn, rows, nodes)
    return Appended(len(leaves), tree.size)


def _tree_rows(
    tree: CompactRange, leaves: list[tuple[int, bytes]]
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The leaf rows and the subtree hashes that appending ``leaves`` to ``tree`` stores
    (``tree`` grows as it goes)."""
    rows: list[dict[str, object]] = []
    nodes: list[dict[str, object]] = []
    for event_id, h in leaves:
        rows.append({"leaf_index": tree.size, "event_id": event_id, "leaf_hash": h})
        for level, node_index, node in tree.append(h)[1:]:
            nodes.append({"level": level, "node_index": node_index, "hash": node})
    return rows, nodes


def sequence(store: Store, *, window: int = WINDOW, batch: int = BATCH, full: bool = False) -> int:
    """Append every committed event not yet in the log; return how many were appended.

    The events, their leaves and the subtree hashes they complete are found and computed in a
    read transaction and outside any transaction; the write lock (SQLite's one writer, which
    every step's commit also needs) is then held only to insert them, ``SLICE`` events at a
    time, so a step never waits for a whole pass. If another appender moved the tree meanwhile,
    the rest of the batch is found again under the lock. An idle pass takes no write lock.
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
            tree = edge(conn, size)
        if not events:
            return total
        leaves = [(int(ev["id"]), leaf_hash(leaf_bytes(ev))) for ev in events]
        for start in range(0, len(leaves), SLICE):
            expected = tree.size
            rows, nodes = _tree_rows(tree, leaves[start : start + SLICE])
            with store.begin(write=True) as conn:
                lock_keys(conn, [LOCK])
                if q.tree_size(conn) == expected:  # nobody appended since: still pending
                    q.append(conn, rows, nodes)
                    total += len(rows)
                    continue
                total += append_pending(conn, window=window, batch=batch, full=full).count
            break  # the tree moved under us: look again from the top
        if len(events) < batch:
            return total
