#!/usr/bin/env python
"""Archiving ended instances: how many instances per second move out of the live tables, and
the live tables' sizes before and after.

Creates a fresh SQLite file (or uses ``--database-url``, an empty database), and synthesizes
``--instances`` completed instances as bench/statistics_scale.py does (one real deployed process
with three user tasks; the instance, task and event rows bulk-inserted in the service's shape, hash
chain included; one task role per task added here), all ended long before the retention period.
Then, as the service's workers would: the statistics count the events, the sequencer appends
them to the audit log and a checkpoint is signed. Then ``mover.run`` archives them,
``--batch`` instances a transaction (what ``powerflow archive run`` and the archive worker do);
prints instances/s and events/s, the row counts before and after, and the time
``verify_archive`` takes over the archive.

    python bench/archive.py --instances 20000

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from powerflow.audit_log.note import Signer
from powerflow.db import archive_queries, migrate
from powerflow.db.engine import Store
from powerflow.services.archive import mover
from powerflow.services.archive.verify import verify_archive
from powerflow.services.audit import checkpoints, sequencer
from powerflow.services.supervision import statistics

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("bench_statistics", HERE / "statistics_scale.py")
assert _spec is not None and _spec.loader is not None
bench_statistics = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_statistics)


def _counts(store: Store) -> dict[str, int]:
    with store.begin(write=False) as conn:
        return archive_queries.table_counts(conn)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'archive-bench.db'}"
        store = Store(url)
        migrate.upgrade(store.engine)
        print(f"database: {store.dialect}; {args.instances:,} completed instances")
        events = bench_statistics.populate(store, args.instances, 60, seed=7)
        with store.begin(write=True) as conn:
            conn.execute(
                text(
                    "INSERT INTO task_roles (role, task_id) "
                    "SELECT 'clerk', id FROM tasks WHERE id NOT IN (SELECT task_id FROM task_roles)"
                )
            )
        began = time.perf_counter()
        statistics.aggregate(store, limit=None)
        counted = time.perf_counter() - began
        began = time.perf_counter()
        sequencer.sequence(store)
        checkpoints.make(store, Signer.generate("bench.invalid/log"))
        logged = time.perf_counter() - began
        print(f"statistics counted in {counted:.1f} s; {events:,} events logged in {logged:.1f} s")
        before = _counts(store)
        began = time.perf_counter()
        done = mover.run(store, 30, batch=args.batch)
        took = time.perf_counter() - began
        after = _counts(store)
        moved = after["archived_events"]
        print(
            f"archived {len(done.archived):,} instances ({moved:,} events) in {took:.1f} s: "
            f"{len(done.archived) / took:,.0f} instances/s, {moved / took:,.0f} events/s "
            f"(batch {args.batch}); held back: {dict(done.held)}; failed: {len(done.failed)}"
        )
        print(f"{'table':<20} {'before':>10} {'after':>10}")
        for name in before:
            print(f"{name:<20} {before[name]:>10,} {after[name]:>10,}")
        began = time.perf_counter()
        verified = verify_archive(store)
        print(
            f"verify_archive: {verified.instances:,} instances, {verified.events:,} events in "
            f"{time.perf_counter() - began:.1f} s, broken: {verified.broken}"
        )
        store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
