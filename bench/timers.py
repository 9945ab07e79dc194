#!/usr/bin/env python
"""The timer loop under load: 10,000 instance timers due within one minute.

Deploys a process whose instances wait at a timer (``timeDate`` read from the instance's
``due_at`` variable) and then at a user task, on a fresh database (a SQLite file, or a fresh
PostgreSQL database made beside ``--postgres``). It starts ``--timers`` instances through the
engine and the service's own ``record_step`` (many per transaction, to be quick), their timers
falling due evenly over ``--window`` seconds. Then the real ``TimerWorker`` runs on the system
clock until every timer has fired, and the script prints:

- the firing rate (timers fired per second of the window, and the peak in any one second);
- lateness: ``timer.fired`` event time minus due time, p50/p95/p99/max;
- CPU per firing: the process's CPU time while firing over the number fired.

    python bench/timers.py --timers 10000 --window 60
    python bench/timers.py --timers 2000 --window 0       # all due at once: the capacity
    python bench/timers.py --timers 10000 --window 60 --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Not a test: it prints figures. Goal (issue 9): p99 lateness <= 1 s with 10,000 timers due
within the same minute. The process is shared with nothing else, but the machine may be.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from powerflow import engine
from powerflow.db import migrate
from powerflow.db.engine import Store
from powerflow.db.models import Event
from powerflow.db.queries import InstanceRow
from powerflow.services import definitions
from powerflow.services.auth import Principal
from powerflow.services.steps import record_step
from powerflow.workers import TimerWorker

BPMN = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:pf="urn:powerflow:bpmn:1.0"
    id="D" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="bench_timers" isExecutable="true">
    <bpmn:extensionElements><pf:acceptsData fields="due_at"/></bpmn:extensionElements>
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait" name="Notice period">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition id="T">
        <bpmn:timeDate xsi:type="bpmn:tFormalExpression">due_at</bpmn:timeDate>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="decide" name="Decide">
      <bpmn:extensionElements><pf:responsibleRole>clerk</pf:responsibleRole></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="decide"/>
    <bpmn:sequenceFlow id="f3" sourceRef="decide" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>
"""


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def start_instances(store: Store, dues: list[datetime], chunk: int = 500) -> dict[str, datetime]:
    """Start one instance per due time (``chunk`` per transaction); their ids and due times."""
    designer = Principal("bench", frozenset({"designer"}))
    definition = definitions.deploy(store, BPMN, "bench.bpmn", designer, max_bytes=1 << 20)
    view = definition.definitions[0]
    started: dict[str, datetime] = {}
    for first in range(0, len(dues), chunk):
        with store.begin(write=True) as conn:
            process = definitions.runnable(conn, view)
            for due in dues[first : first + chunk]:
                step = engine.start(process, {"due_at": due.isoformat()})
                now = store.now()
                row = InstanceRow(
                    id=str(uuid.uuid4()),
                    definition_id=view.id,
                    definition_key=view.key,
                    definition_version=view.version,
                    business_key=None,
                    status=step.status,
                    state=step.state,
                    version=1,
                    data={},
                    incident=None,
                    next_timer_at=None,
                    waiting_messages=[],
                    event_seq=0,
                    last_event_hash=None,
                    started_by="bench",
                    created_at=now,
                    updated_at=now,
                    ended_at=None,
                )
                record_step(
                    conn,
                    row,
                    view,
                    step,
                    actor="bench",
                    at=now,
                    extra={"instance.started": {"variables": {}, "roles": ["clerk"]}},
                    new_instance=True,
                    store=store,
                )
                started[row.id] = due
    return started


def run(store: Store, args: argparse.Namespace) -> None:
    """Populate, fire and print the figures."""
    per = 0.004  # seconds to start one instance (estimate): the window opens after twice that
    t0 = time.perf_counter()
    begin = datetime.now(UTC) + timedelta(seconds=args.lead + args.timers * per * 2)
    step = args.window / args.timers
    dues = [begin + timedelta(seconds=n * step) for n in range(args.timers)]
    started = start_instances(store, dues)
    setup = time.perf_counter() - t0
    margin = (begin - datetime.now(UTC)).total_seconds()
    print(
        f"started {len(started)} instances in {setup:.1f} s; the window opens in {margin:.1f} s "
        + (
            f"({args.timers / args.window:.0f} timers due per second for {args.window:.0f} s)"
            if args.window > 0
            else "(all due at the same moment)"
        )
    )
    if margin < 0:
        print("WARNING: the setup ran into the window: rerun with a larger --lead")
    worker = TimerWorker(store, args.poll)
    worker.start()
    time.sleep(max(0.0, (begin - datetime.now(UTC)).total_seconds()))
    cpu0 = time.process_time()  # from the window's opening: not the set-up's checkpoint
    try:
        deadline = time.monotonic() + args.window + args.grace
        while time.monotonic() < deadline:
            time.sleep(1.0)
            with store.read() as session:
                fired = session.scalar(
                    select(text("count(*)")).select_from(Event).where(Event.type == "timer.fired")
                )
            if fired and fired >= len(started):
                break
        cpu = time.process_time() - cpu0
    finally:
        worker.stop()
    with store.read() as session:
        rows = session.execute(
            select(Event.instance_id, Event.occurred_at).where(Event.type == "timer.fired")
        ).all()
    late = [(at - started[i]).total_seconds() for i, at in rows if i in started]
    print(f"fired: {len(late)} of {len(started)}")
    if not late:
        return
    times = sorted(at for _, at in rows)
    span = max((times[-1] - times[0]).total_seconds(), 1e-9)
    peak = max(Counter(int((t - times[0]).total_seconds()) for t in times).values())
    print(
        f"firing rate: {len(late) / span:.0f}/s over {span:.1f} s (peak {peak} in one second); "
        f"CPU per firing {cpu / len(late) * 1000:.2f} ms (whole process, from the window's opening)"
    )
    print(
        f"lateness: p50 {percentile(late, 50) * 1000:.0f} ms, "
        f"p95 {percentile(late, 95) * 1000:.0f} ms, p99 {percentile(late, 99) * 1000:.0f} ms, "
        f"max {max(late) * 1000:.0f} ms, mean {statistics.mean(late) * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=60.0, help="seconds")
    parser.add_argument("--lead", type=float, default=5.0, help="seconds before the window")
    parser.add_argument("--grace", type=float, default=120.0, help="seconds after it")
    parser.add_argument("--poll", type=float, default=1.0, help="timer_poll_seconds")
    parser.add_argument(
        "--postgres",
        default=None,
        help="a PostgreSQL URL; a fresh database is created beside it (and dropped)",
    )
    args = parser.parse_args()

    if args.postgres:
        url = make_url(args.postgres)
        name = f"pf_bench_timers_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            store = Store(url.set(database=name).render_as_string(hide_password=False))
            migrate.upgrade(store.engine)
            try:
                run(store, args)
            finally:
                store.dispose()
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        return
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        migrate.upgrade(store.engine)
        store.start_checkpointer()
        try:
            run(store, args)
        finally:
            store.dispose()


if __name__ == "__main__":
    main()
