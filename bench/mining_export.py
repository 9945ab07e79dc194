#!/usr/bin/env python
"""The process-mining export (XES and OCEL 2.0): events written per second and peak memory.

Creates a fresh SQLite file (or uses ``--database-url``, which must be an empty database),
stores ``--events`` synthetic event rows directly (instances of one process, 12 events each:
instance.started, four tasks offered and completed with a submitted form, a gateway decision,
instance.completed), then exports the whole process as XES and as OCEL through the service
(services/mining.py, the code behind GET /v1/exports/... and ``powerflow export``), writing to a
temporary file. Each export runs twice: once timed, once under tracemalloc for the peak of
Python memory it allocated.

    python bench/mining_export.py --events 200000

Not a test: it prints figures (docs/performance.md, "Process-mining export").
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from powerflow.db import migrate
from powerflow.db.engine import Store
from powerflow.db.models import Definition, Deployment, Event, Instance
from powerflow.services import mining

PER_INSTANCE = 12
TASKS = ("Prepare application", "Department review", "Finance check", "Sign off")


def _instance_events(instance_id: str, start: datetime) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []

    def add(
        kind: str,
        element: str | None,
        name: str | None,
        task: str | None,
        actor: str,
        payload: dict[str, object],
    ) -> None:
        rows.append(
            {
                "instance_id": instance_id,
                "seq": len(rows) + 1,
                "type": kind,
                "definition_key": "bench_process",
                "definition_version": 1,
                "element_id": element,
                "element_name": name,
                "task_id": task,
                "actor": actor,
                "payload": payload,
                "occurred_at": start + timedelta(minutes=len(rows)),
                "hash": "0" * 64,
            }
        )

    add("instance.started", None, None, None, "lin", {"variables": {"amount": 80000}})
    for n, name in enumerate(TASKS):
        task = str(uuid.uuid4())
        element = f"task_{n}"
        add("task.ready", element, name, task, "system", {"roles": ["handler"]})
        form = {"amount": 80000, "purpose": "Equipment", "opinion": "Agreed; within budget."}
        add("task.completed", element, name, task, f"clerk{n}", {"data": form, "role": "handler"})
    add("gateway.decided", "gw", "Approved?", None, "system", {"taken": [{"flow_id": "yes"}]})
    add("instance.completed", "end", "Paid", None, "system", {})
    return rows


def seed(store: Store, events: int) -> int:
    """Store about ``events`` event rows; return how many instances."""
    instances = max(1, events // PER_INSTANCE)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    with store.begin(write=True) as conn:
        deployment = conn.execute(
            insert(Deployment).values(
                content_hash=uuid.uuid4().hex, filename="b.bpmn", xml=b"<x/>", deployed_by="b"
            )
        ).inserted_primary_key[0]
        definition = conn.execute(
            insert(Definition).values(
                key="bench_process",
                version=1,
                name="Bench",
                deployment_id=deployment,
                kind="process",
                content_hash="b",
                executable=True,
                catalog={},
                warnings=[],
                deployed_by="b",
            )
        ).inserted_primary_key[0]
    done = 0
    while done < instances:
        batch = min(1000, instances - done)
        heads, rows = [], []
        for k in range(batch):
            instance_id = str(uuid.uuid4())
            start = base + timedelta(hours=done + k)
            heads.append(
                {
                    "id": instance_id,
                    "definition_id": definition,
                    "definition_key": "bench_process",
                    "definition_version": 1,
                    "business_key": f"PAY-{done + k}",
                    "status": "completed",
                    "state": "{}",
                    "serializer_version": "1",
                    "data": {},
                    "waiting_messages": [],
                    "started_by": "lin",
                    "created_at": start,
                    "updated_at": start,
                }
            )
            rows += _instance_events(instance_id, start)
        with store.begin(write=True) as conn:
            conn.execute(insert(Instance), heads)
            conn.execute(insert(Event), rows)
        done += batch
    return instances


def run(render: Callable[[], Iterator[bytes]], out: Path) -> int:
    written = 0
    with out.open("wb") as f:
        for chunk in render():
            f.write(chunk)
            written += len(chunk)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--database-url")
    parser.add_argument("--batch", type=int, default=mining.BATCH)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="powerflow-mining-"))
    store = Store(args.database_url or f"sqlite:///{folder / 'bench.db'}")
    migrate.upgrade(store.engine)
    began = time.perf_counter()
    instances = seed(store, args.events)
    print(
        f"stored {instances * PER_INSTANCE:,} events of {instances:,} instances "
        f"in {time.perf_counter() - began:.1f} s"
    )
    selection = mining.select(store, definition_key="bench_process")
    xes_events = instances * (PER_INSTANCE - 1)  # the gateway decision is not an activity
    for name, render, exported in (
        ("xes", mining.xes_log, xes_events),
        ("ocel", mining.ocel_log, xes_events),
    ):
        out = folder / f"log.{name}"
        began = time.perf_counter()
        size = run(lambda r=render: r(store, selection, batch=args.batch), out)
        took = time.perf_counter() - began
        tracemalloc.start()
        run(lambda r=render: r(store, selection, batch=args.batch), out)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"{name}: {exported:,} events in {took:.2f} s = {exported / took:,.0f} events/s, "
            f"{size / 1e6:,.1f} MB written, peak traced memory {peak / 1e6:.1f} MB"
        )
        out.unlink()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process max RSS {rss:.0f} MB (includes seeding)")
    store.dispose()
    for leftover in folder.iterdir():
        os.unlink(leftover)
    folder.rmdir()


if __name__ == "__main__":
    main()
