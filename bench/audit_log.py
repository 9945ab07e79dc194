#!/usr/bin/env python
"""The audit log: how fast the sequencer appends events with checkpoints on, and how long an
inclusion proof takes in a large tree.

Creates a fresh SQLite file (or uses ``--database-url``), then:

(a) appends: ``--events`` event rows are written by a writer thread in transactions of
    ``--per-tx`` events while the real ``AuditWorker`` sequences them (every
    ``--sequence-seconds``) and signs a checkpoint every ``--checkpoint-seconds``; prints the
    events appended per second from the first write to the last leaf, and the checkpoints made;
(b) proofs: a tree of ``--tree`` leaves is stored directly (leaf and subtree rows, no event
    rows: the proof reads only those), then ``--proofs`` inclusion proofs of random leaves are
    read from the store and verified; prints p50, p99 and max in milliseconds.

    python bench/audit_log.py --events 20000 --tree 1000000 --proofs 2000

Not a test: it prints figures. Bars (issue 12): at least 1,500 appends/s on the 2-core machine
with checkpoints on; an inclusion proof under 5 ms at 10 million events (``--tree 10000000``
builds for a long while and takes about 2 GB of disk).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, select

from powerflow.audit_log import CompactRange, inclusion_proof, verify_inclusion
from powerflow.audit_log.note import Signer
from powerflow.db import audit_queries as q
from powerflow.db import migrate
from powerflow.db.engine import Store
from powerflow.db.models import AuditCheckpoint, AuditLeaf, AuditNode, Event
from powerflow.services.audit import sequencer
from powerflow.services.audit.sequencer import edge
from powerflow.workers import AuditWorker

EVENTS = Event.__table__


def _event_rows(start: int, n: int) -> list[dict[str, object]]:
    now = datetime.now(UTC)
    return [
        {
            "instance_id": f"bench-{(start + i) // 8:08d}",
            "seq": (start + i) % 8 + 1,
            "type": "task.completed",
            "definition_key": "fund_disbursement",
            "definition_version": 1,
            "element_id": "review",
            "element_name": "Department head review",
            "task_id": None,
            "actor": "wang",
            "payload": {"data": {"approved": True, "amount": 80000, "opinion": "Agreed."}},
            "occurred_at": now,
            "prev_hash": "0" * 64,
            "hash": f"{start + i:064x}",
        }
        for i in range(n)
    ]


def appends(store: Store, events: int, per_tx: int, every: float, checkpoints: float) -> None:
    """(a) the sequencer keeping up with a writer, checkpoints on."""
    worker = AuditWorker(store, Signer.generate("bench.invalid/log"), every, checkpoints)
    began = time.perf_counter()
    worker.start()
    try:
        for start in range(0, events, per_tx):
            with store.begin(write=True) as conn:
                conn.execute(insert(EVENTS), _event_rows(start, min(per_tx, events - start)))
        written = time.perf_counter() - began
        while True:
            with store.begin(write=False) as conn:
                if q.tree_size(conn) >= events:
                    break
            time.sleep(0.01)
        took = time.perf_counter() - began
    finally:
        worker.stop()
    with store.begin(write=False) as conn:
        made = conn.execute(select(func.count()).select_from(AuditCheckpoint)).scalar()
    print(
        f"appends: {events} events written in {written:.2f} s, all in the log after "
        f"{took:.2f} s: {events / took:,.0f} appends/s; {made} checkpoints signed"
    )


def catch_up(store: Store, events: int) -> None:
    """The sequencer's own rate: appending a backlog of ``events`` in one go."""
    with store.begin(write=True) as conn:
        start = q.tree_size(conn) + 10**9
        conn.execute(insert(EVENTS), _event_rows(start, events))
    began = time.perf_counter()
    added = sequencer.sequence(store)
    took = time.perf_counter() - began
    print(f"catch-up: {added} events appended in {took:.2f} s: {added / took:,.0f} appends/s")


def build_tree(store: Store, size: int, batch: int = 50_000) -> None:
    """Store a tree of ``size`` random leaves directly (no event rows)."""
    rng = random.Random(7)
    tree = CompactRange()
    began = time.perf_counter()
    for start in range(0, size, batch):
        leaves, nodes = [], []
        for i in range(start, min(size, start + batch)):
            h = rng.randbytes(32)
            leaves.append({"leaf_index": i, "event_id": 10**12 + i, "leaf_hash": h})
            for level, index, node in tree.append(h)[1:]:
                nodes.append({"level": level, "node_index": index, "hash": node})
        with store.begin(write=True) as conn:
            conn.execute(insert(AuditLeaf.__table__), leaves)
            conn.execute(insert(AuditNode.__table__), nodes)
    print(f"tree: {size:,} leaves stored in {time.perf_counter() - began:.1f} s")


def proofs(store: Store, count: int) -> None:
    """(b) inclusion proofs at random leaves of the stored tree, read and verified."""
    with store.begin(write=False) as conn:
        size = q.tree_size(conn)
        root = edge(conn, size).root()
    rng = random.Random(11)
    times = []
    for _ in range(count):
        index = rng.randrange(size)
        began = time.perf_counter()
        with store.begin(write=False) as conn:
            leaf = q.subtree_hashes(conn, [(0, index)])[(0, index)]
            path = inclusion_proof(index, size, lambda c: q.subtree_hashes(conn, c))
        times.append((time.perf_counter() - began) * 1000)
        assert verify_inclusion(leaf, index, size, path, root)
    times.sort()
    print(
        f"inclusion proofs at {size:,} leaves: p50 {times[len(times) // 2]:.2f} ms, "
        f"p99 {times[int(len(times) * 0.99) - 1]:.2f} ms, max {times[-1]:.2f} ms "
        f"({count} proofs, read and verified)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--per-tx", type=int, default=5)
    parser.add_argument("--sequence-seconds", type=float, default=1.0)
    parser.add_argument("--checkpoint-seconds", type=float, default=1.0)
    parser.add_argument("--tree", type=int, default=1_000_000)
    parser.add_argument("--proofs", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        store = Store(url)
        migrate.upgrade(store.engine)
        try:
            if args.events:
                appends(
                    store, args.events, args.per_tx, args.sequence_seconds, args.checkpoint_seconds
                )
                catch_up(store, args.events)
        finally:
            store.dispose()
        tree_url = f"sqlite:///{Path(tmp) / 'tree.db'}"
        store = Store(tree_url)
        migrate.upgrade(store.engine)
        try:
            if args.tree:
                build_tree(store, args.tree)
                proofs(store, args.proofs)
        finally:
            store.dispose()


if __name__ == "__main__":
    main()
