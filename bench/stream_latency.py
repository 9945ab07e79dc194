#!/usr/bin/env python
"""Commit-to-subscriber latency of the SSE event stream while the throughput load runs.

Starts a real server on a fresh database (SQLite unless ``--database-url``), connects S
subscribers to ``GET /v1/events/stream``, runs the three-task throughput scenario of
``throughput.py`` with C client threads, and measures for every event and every subscriber the
time from the event's recorded time (taken just before its transaction commits) to its arrival
at the subscriber. Also checks that every subscriber received every event once, in order.

    python bench/stream_latency.py --subscribers 20 --instances 500 --concurrency 2

Not a test: it prints figures; it exits 1 only if a subscriber missed or reordered an event.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import (
    CLERK_ROLES,
    Latency,
    Server,
    database_kind,
    deploy,
    measure_http,
    prepare_postgres,
)

EVENTS_PER_INSTANCE = 8  # started, 3 x (ready, completed), completed


class Subscriber(threading.Thread):
    """One SSE client recording (event id, arrival time, recorded time)."""

    def __init__(self, base: str, headers: dict[str, str], expected: int) -> None:
        super().__init__(daemon=True)
        self.base, self.headers, self.expected = base, headers, expected
        self.ids: list[int] = []
        self.latencies: list[float] = []
        self.connected = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        try:
            with (
                httpx.Client(base_url=self.base, timeout=httpx.Timeout(30, read=120)) as c,
                c.stream("GET", "/v1/events/stream?after=0", headers=self.headers) as response,
            ):
                self.connected.set()
                data = None
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        data = line[5:].strip()
                    elif not line and data is not None:
                        arrived = time.time()
                        event = json.loads(data)
                        recorded = datetime.fromisoformat(event["occurred_at"]).timestamp()
                        self.ids.append(event["id"])
                        self.latencies.append(arrived - recorded)
                        data = None
                        if len(self.ids) >= self.expected:
                            return
        except Exception as exc:  # reported, not raised: the benchmark prints what it saw
            self.error = repr(exc)
            self.connected.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--database-url")
    args = parser.parse_args(argv)
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    expected = args.instances * EVENTS_PER_INSTANCE
    with tempfile.TemporaryDirectory(prefix="powerflow-stream-") as tmp:
        db_url = args.database_url or f"sqlite:///{Path(tmp) / 'powerflow.db'}"
        if database_kind(db_url) == "postgresql":
            prepare_postgres(db_url)
        server = Server(db_url, Path(tmp))
        try:
            server.start()
            deploy(server, server.add_user("bench-designer", "designer"))
            clerk = server.add_user("bench-clerk", CLERK_ROLES)
            subscribers = [Subscriber(server.url, clerk, expected) for _ in range(args.subscribers)]
            for s in subscribers:
                s.start()
            for s in subscribers:
                s.connected.wait(30)
            time.sleep(0.5)
            load = measure_http(server, clerk, args.instances, args.concurrency)
            deadline = time.monotonic() + 60
            for s in subscribers:
                s.join(max(0.0, deadline - time.monotonic()))
        finally:
            server.stop()
    complete = [s for s in subscribers if s.ids == list(range(1, expected + 1))]
    all_latencies = [lat * 1000 for s in subscribers for lat in s.latencies]
    lat = Latency.of([x / 1000 for x in all_latencies])
    print(f"`{command}`\n")
    print(
        f"| figure ({args.subscribers} subscribers, {args.instances} instances, "
        f"{args.concurrency} client threads, {database_kind(db_url)}) | value |"
    )
    print("| --- | --- |")
    print(
        f"| throughput during the run | {load.instances_per_s:.1f} instances/s, "
        f"{load.instances_per_s * EVENTS_PER_INSTANCE:.0f} events/s |"
    )
    print(f"| events delivered | {len(all_latencies)} of {expected * args.subscribers} |")
    print(
        f"| subscribers with every event once, in order | {len(complete)} of {len(subscribers)} |"
    )
    print(
        f"| commit-to-subscriber p50 / p90 / p99 / max (ms) | {lat.p50:.2f} / {lat.p90:.2f} / "
        f"{lat.p99:.2f} / {lat.max:.2f} |"
    )
    if all_latencies:
        print(f"| mean (ms) | {statistics.fmean(all_latencies):.2f} |")
    print(
        f"| complete request p50 / p99 (ms) | {load.complete.p50:.2f} / {load.complete.p99:.2f} |"
    )
    errors = [s.error for s in subscribers if s.error]
    if errors:
        print(f"\nsubscriber errors: {errors[:3]}")
    return 0 if len(complete) == len(subscribers) else 1


if __name__ == "__main__":
    sys.exit(main())
