#!/usr/bin/env python
"""The alert loop under 100,000 open tasks: how late alerts are raised, and its idle CPU.

Creates a fresh SQLite file, deploys one process whose task has a step limit, and inserts the
open tasks directly (``--tasks``, spread over ``--instances`` instances). ``--due`` of them cross
their yellow threshold during a window of ``--window`` seconds (so some cross every second);
the rest are due days later. Then the real ``AlertWorker`` runs on the system clock:

(a) lateness: for each alert raised, ``raised_at - deadline_at`` (p50, p99, max);
(b) idle CPU: the process's CPU time over ``--idle`` seconds after the window, while nothing is
    due (the worker, plus the store's WAL checkpointer), as a share of one core.

    python bench/alert_loop.py --tasks 100000 --due 2000 --window 60 --idle 20

Not a test: it prints figures. Bars (issue 8): p99 lateness <= 1 s; idle CPU <= 5 % of a core.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from powerflow.db import migrate
from powerflow.db.engine import Store
from powerflow.db.models import Alert, Instance, Task, TaskRole
from powerflow.services import definitions
from powerflow.services.auth import Principal
from powerflow.workers import AlertWorker

BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:pf="urn:powerflow:bpmn:1.0" id="D" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="bench_alerts" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="review" name="Review">
      <bpmn:extensionElements>
        <pf:responsibleRole>clerk</pf:responsibleRole>
        <pf:timeLimit duration="P3D"/>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>
"""


def populate(
    store: Store, tasks: int, instances: int, due: int, start: datetime, window: float
) -> None:
    """Insert the instances and open tasks; ``due`` tasks cross yellow within the window."""
    designer = Principal("bench", frozenset({"designer"}))
    outcome = definitions.deploy(store, BPMN, "bench.bpmn", designer, max_bytes=1 << 20)
    definition = outcome.definitions[0]
    now = datetime.now(UTC)
    instance_ids = [str(uuid.uuid4()) for _ in range(instances)]
    later = start + timedelta(days=5)
    with store.begin(write=True) as conn:
        conn.execute(
            insert(Instance),
            [
                {
                    "id": i,
                    "definition_id": definition.id,
                    "definition_key": definition.key,
                    "definition_version": definition.version,
                    "status": "running",
                    "state": "{}",
                    "serializer_version": "bench",
                    "version": 1,
                    "data": {},
                    "waiting_messages": [],
                    "event_seq": 0,
                    "started_by": "bench",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in instance_ids
            ],
        )
        batch: list[dict[str, object]] = []
        roles: list[dict[str, object]] = []
        for n in range(tasks):
            crossing = start + timedelta(seconds=window * n / due) if n < due else later
            task_id = str(uuid.uuid4())
            batch.append(
                {
                    "id": task_id,
                    "instance_id": instance_ids[n % instances],
                    "element_id": "review",
                    "name": "Review",
                    "kind": "userTask",
                    "roles": ["clerk"],
                    "state": "ready",
                    "created_at": now,
                    "due_at": crossing,
                    # the yellow threshold is the due time itself (two-tier profile); the
                    # prompt one day before is in the past and not raised (first seen = due)
                    "next_alert_at": crossing,
                }
            )
            roles.append({"task_id": task_id, "role": "clerk"})
            if len(batch) == 5000:
                conn.execute(insert(Task), batch)
                conn.execute(insert(TaskRole), roles)
                batch, roles = [], []
        if batch:
            conn.execute(insert(Task), batch)
            conn.execute(insert(TaskRole), roles)


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=2_000, help="tasks crossing in the window")
    parser.add_argument("--window", type=float, default=60.0, help="seconds")
    parser.add_argument("--lead", type=float, default=5.0, help="seconds before the window")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle measurement")
    parser.add_argument("--poll", type=float, default=1.0, help="alert_poll_seconds")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate.upgrade(store.engine)
        store.start_checkpointer()
        t0 = time.perf_counter()
        start = datetime.now(UTC) + timedelta(seconds=args.lead + 30)
        populate(store, args.tasks, args.instances, args.due, start, args.window)
        print(f"inserted {args.tasks} open tasks in {time.perf_counter() - t0:.1f} s")
        worker = AlertWorker(store, args.poll)
        worker.start()
        try:
            wait = (start - datetime.now(UTC)).total_seconds() + args.window + 2
            time.sleep(max(0.0, wait))
            cpu0, wall0 = time.process_time(), time.perf_counter()
            time.sleep(args.idle)
            cpu = time.process_time() - cpu0
            wall = time.perf_counter() - wall0
        finally:
            worker.stop()
        with store.read() as session:
            rows = session.execute(select(Alert.raised_at, Alert.deadline_at)).all()
        store.dispose()

    late = [(raised - deadline).total_seconds() for raised, deadline in rows if deadline]
    print(f"alerts raised: {len(late)} of {args.due} due ({args.due / args.window:.0f}/s)")
    if late:
        print(
            f"lateness after threshold: p50 {percentile(late, 50) * 1000:.1f} ms, "
            f"p99 {percentile(late, 99) * 1000:.1f} ms, max {max(late) * 1000:.1f} ms, "
            f"mean {statistics.mean(late) * 1000:.1f} ms"
        )
    print(
        f"idle CPU while nothing is due ({wall:.0f} s, {args.tasks - args.due} open tasks "
        f"waiting): {cpu / wall * 100:.2f} % of one core"
    )


if __name__ == "__main__":
    main()
