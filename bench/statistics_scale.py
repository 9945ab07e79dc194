#!/usr/bin/env python
"""Statistics at 250,000 completed instances: the aggregator's catch-up rate, and the latency of
``GET /v1/stats/processes/{key}`` over HTTP against a real ``powerflow serve``.

What is synthesized: the instances are not run through the engine (that would take hours). The
benchmark deploys one real process (three user tasks, each with a role and a time limit) and
bulk-inserts, with SQL, the rows the service writes for a completed instance of it: the instance
row (completed, with its promised deadline), three task rows (completed, with due times), and
the instance's eight events in the service's shape, hash chain included (``instance.started``,
``task.ready``/``task.completed`` per task with the role and the person,
``instance.completed``); one instance in 20 also carries an ``alert.raised`` (yellow) on its
second task. Instances start evenly over ``--days`` days, tasks take 1 minute to 3 days
(log-uniform, so about one task in eight is overdue), and 40 people complete them. No saved
engine state (the statistics never read it). Then the aggregator counts the events
(``statistics.aggregate``, as the worker does; the catch-up rate is events per second), a server
starts on the database, and a monitor reads the per-element statistics of the process over the
whole range and over its last month (31 days), then the lists per process, person and role over
the whole range, ``--requests`` times each, one request at a time.

    python bench/statistics_scale.py --instances 250000
    python bench/statistics_scale.py --instances 250000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/powerflow_bench

Not a test: it prints figures. Bar (issue 10): p95 <= 200 ms at 250,000 instances.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file's name shadows the standard library's ``statistics`` for every module imported while
# bench/ is on the path (Python puts a script's folder first): take the folder off the path
# before anything else is imported, and load bench/throughput.py by its file name.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from powerflow.audit_log.chain import event_hash  # noqa: E402
from powerflow.db import migrate  # noqa: E402
from powerflow.db.engine import Store  # noqa: E402
from powerflow.db.models import Event, Instance, StatCount, Task  # noqa: E402
from powerflow.services import definitions  # noqa: E402
from powerflow.services.auth import Principal  # noqa: E402
from powerflow.services.events import hashed_content  # noqa: E402
from powerflow.services.supervision import statistics  # noqa: E402

_spec = importlib.util.spec_from_file_location("throughput", HERE / "throughput.py")
assert _spec is not None and _spec.loader is not None
throughput = importlib.util.module_from_spec(_spec)
sys.modules["throughput"] = throughput
_spec.loader.exec_module(throughput)
Server, database_kind, prepare_postgres = (
    throughput.Server,
    throughput.database_kind,
    throughput.prepare_postgres,
)

KEY = "bench_stats"
TASKS = (
    ("receive", "Receive", "clerk"),
    ("review", "Review", "reviewer"),
    ("sign", "Sign", "head"),
)
BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:pf="urn:powerflow:bpmn:1.0" id="D" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="{KEY}" isExecutable="true">
    <bpmn:extensionElements><pf:timeLimit kind="promised" duration="P5D"/></bpmn:extensionElements>
    <bpmn:startEvent id="s"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    {
    "".join(
        f'<bpmn:userTask id="{t}" name="{n}"><bpmn:extensionElements>'
        f'<pf:responsibleRole>{r}</pf:responsibleRole><pf:timeLimit duration="P1D"/>'
        f"</bpmn:extensionElements><bpmn:incoming>f{i}</bpmn:incoming>"
        f"<bpmn:outgoing>f{i + 1}</bpmn:outgoing></bpmn:userTask>"
        for i, (t, n, r) in enumerate(TASKS)
    )
}
    <bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="receive"/>
    <bpmn:sequenceFlow id="f1" sourceRef="receive" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="sign"/>
    <bpmn:sequenceFlow id="f3" sourceRef="sign" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>
""".encode()


def _event(
    instance: dict[str, Any], seq: int, kind: str, at: datetime, prev: str | None, **kw: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "instance_id": instance["id"],
        "seq": seq,
        "type": kind,
        "definition_key": KEY,
        "definition_version": instance["definition_version"],
        "element_id": kw.get("element_id"),
        "element_name": kw.get("element_name"),
        "task_id": kw.get("task_id"),
        "actor": kw.get("actor", "system"),
        "payload": kw.get("payload", {}),
        "occurred_at": at,
    }
    row["prev_hash"] = prev
    row["hash"] = event_hash(prev, hashed_content(row))
    return row


def populate(store: Store, count: int, days: int, seed: int) -> int:
    """Insert ``count`` completed instances with their tasks and events; the events written."""
    rng = random.Random(seed)
    designer = Principal("bench", frozenset({"designer"}))
    definition = definitions.deploy(store, BPMN, "bench.bpmn", designer, max_bytes=1 << 20)
    version = definition.definitions[0]
    first = datetime(2026, 1, 1, tzinfo=UTC)
    people = [f"person{n:02d}" for n in range(40)]
    written = 0
    chunk = 5000
    for offset in range(0, count, chunk):
        instances, tasks, events = [], [], []
        for _ in range(min(chunk, count - offset)):
            # instances start in time order, as they would (the events' ids follow time)
            started = first + timedelta(seconds=(offset + len(instances)) * days * 86_400 / count)
            instance = {
                "id": str(uuid.uuid4()),
                "definition_id": version.id,
                "definition_key": KEY,
                "definition_version": version.version,
                "status": "completed",
                "state": "{}",
                "serializer_version": "bench",
                "version": 8,
                "data": {},
                "waiting_messages": [],
                "event_seq": 0,
                "started_by": rng.choice(people),
                "created_at": started,
                "promised_due_at": started + timedelta(days=5),
            }
            chain: list[dict[str, Any]] = []

            def add(
                kind: str,
                at: datetime,
                instance: dict[str, Any] = instance,
                chain: list[dict[str, Any]] = chain,
                **kw: Any,
            ) -> None:
                prev = chain[-1]["hash"] if chain else None
                chain.append(_event(instance, len(chain) + 1, kind, at, prev, **kw))

            add(
                "instance.started",
                started,
                actor=instance["started_by"],
                payload={"variables": {}, "roles": ["clerk"]},
            )
            at = started
            alerted = rng.random() < 0.05
            for index, (element, name, role) in enumerate(TASKS):
                task_id = str(uuid.uuid4())
                person = rng.choice(people)
                took = timedelta(seconds=math.exp(rng.uniform(math.log(60), math.log(3 * 86_400))))
                ready, done = at, at + took
                names = {"element_id": element, "element_name": name, "task_id": task_id}
                add("task.ready", ready, payload={"roles": [role]}, **names)
                if alerted and index == 1:
                    add(
                        "alert.raised",
                        ready + timedelta(days=1),
                        payload={
                            "alert_id": 0,
                            "level": "yellow",
                            "source": "deadline",
                            "reason": "step",
                            "message": "The step is late.",
                        },
                        **names,
                    )
                add(
                    "task.completed",
                    done,
                    actor=person,
                    payload={"data": {}, "role": role},
                    **names,
                )
                tasks.append(
                    {
                        "id": task_id,
                        "instance_id": instance["id"],
                        "element_id": element,
                        "name": name,
                        "kind": "userTask",
                        "roles": [role],
                        "state": "completed",
                        "assignee": person,
                        "created_at": ready,
                        "due_at": ready + timedelta(days=1),
                        "ended_at": done,
                        "completed_by": person,
                    }
                )
                at = done
            add("instance.completed", at, element_id="e")
            instance.update(
                ended_at=at, updated_at=at, event_seq=len(chain), last_event_hash=chain[-1]["hash"]
            )
            instances.append(instance)
            events.extend(chain)
        # events in time order, as the service records them (ids follow commit order)
        events.sort(key=lambda e: e["occurred_at"])
        with store.begin(write=True) as conn:
            conn.execute(insert(Instance), instances)
            conn.execute(insert(Task), tasks)
            conn.execute(insert(Event), events)
        written += len(events)
        print(
            f"\r  inserted {offset + len(instances):,} instances, {written:,} events",
            end="",
            flush=True,
        )
    print()
    return written


def measure(
    server: Server, headers: dict[str, str], path: str, params: dict[str, str], requests: int
) -> dict[str, float]:
    times: list[float] = []
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        for n in range(requests + 5):
            began = time.perf_counter()
            got = client.get(path, params=params)
            took = time.perf_counter() - began
            if got.status_code != 200:
                raise RuntimeError(f"{path}: {got.status_code} {got.text[:300]}")
            if n >= 5:  # the first few warm the caches
                times.append(took)
    ms = sorted(t * 1000 for t in times)

    def rank(p: float) -> float:  # nearest rank
        return ms[max(0, math.ceil(p / 100 * len(ms)) - 1)]

    return {"p50": rank(50), "p95": rank(95), "max": ms[-1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=250_000)
    parser.add_argument("--days", type=int, default=365, help="instances start over these days")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--keep", default=None, help="a folder to create the SQLite file in, kept")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.keep or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        url = args.database_url or f"sqlite:///{workdir / 'bench.db'}"
        if database_kind(url) == "postgresql":
            prepare_postgres(url)
        store = Store(url)
        migrate.upgrade(store.engine)
        print(f"database: {database_kind(url)}; {args.instances:,} instances over {args.days} days")
        began = time.perf_counter()
        events = populate(store, args.instances, args.days, args.seed)
        print(f"populated in {time.perf_counter() - began:.0f} s")

        began = time.perf_counter()
        counted = 0
        while True:
            read = statistics.aggregate(store, batch_size=5000, limit=1_000_000)
            counted += read
            if read == 0:
                break
        took = time.perf_counter() - began
        with store.begin(write=False) as conn:
            rows = conn.execute(select(func.count()).select_from(StatCount)).scalar_one()
        print(
            f"aggregator catch-up: {counted:,} events in {took:.1f} s = "
            f"{counted / took:,.0f} events/s ({rows:,} counter rows)"
        )
        assert counted == events, (counted, events)
        store.dispose()

        server = Server(url, workdir)
        server.start()
        try:
            monitor = server.add_user("monitor1", "monitor")
            whole = {"from": "2026-01-01", "to": "2027-12-31"}
            month = {"from": "2026-12-01", "to": "2026-12-31"}
            got = httpx.get(
                f"{server.url}/v1/stats/processes/{KEY}", headers=monitor, params=whole, timeout=60
            ).json()
            proc = got["process"]
            print(
                f"check: completed {proc['completed']:,}, running {proc['running']}, "
                f"p50 {proc['durations']['p50_seconds']:.0f} s, "
                f"p90 {proc['durations']['p90_seconds']:.0f} s, overdue rate "
                f"{proc['overdue_rate']}, alerts {proc['alerts']}, "
                f"elements {[e['name'] for e in got['elements']]}"
            )
            assert proc["completed"] == args.instances, proc
            for label, path, params in (
                ("GET /v1/stats/processes/{key}, whole range", f"/v1/stats/processes/{KEY}", whole),
                ("GET /v1/stats/processes/{key}, 31 days", f"/v1/stats/processes/{KEY}", month),
                ("GET /v1/stats/processes, whole range", "/v1/stats/processes", whole),
                ("GET /v1/stats/people, whole range", "/v1/stats/people", whole),
                ("GET /v1/stats/roles, whole range", "/v1/stats/roles", whole),
            ):
                lat = measure(server, monitor, path, params, args.requests)
                print(
                    f"{label}: p50 {lat['p50']:.1f} ms, p95 {lat['p95']:.1f} ms, "
                    f"max {lat['max']:.1f} ms ({args.requests} requests)"
                )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
