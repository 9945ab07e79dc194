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
import http.client
import json
import multiprocessing
import shlex
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
    """One SSE client: records each read's arrival time and bytes; parses after the run.

    Subscribers run in their own process (see ``_subscribe``), apart from the load generator,
    and do no parsing while events flow: the figures are the server's, not the observer's.
    """

    def __init__(self, url: str, headers: dict[str, str], expected: int) -> None:
        super().__init__(daemon=True)
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers, self.expected = headers, expected
        self.reads: list[tuple[float, bytes]] = []
        self.connected = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        try:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            conn.request("GET", "/v1/events/stream?after=0", headers=self.headers)
            response = conn.getresponse()
            if response.status != 200:
                raise RuntimeError(f"HTTP {response.status}: {response.read()[:200]!r}")
            self.connected.set()
            seen = 0
            while seen < self.expected:
                data = response.read1(1 << 16)
                if not data:
                    break
                self.reads.append((time.time(), data))
                seen += data.count(b"\nid: ") + data.startswith(b"id: ")
            conn.close()
        except Exception as exc:  # reported, not raised: the benchmark prints what it saw
            self.error = repr(exc)
            self.connected.set()

    def events(self) -> tuple[list[int], list[float]]:
        """(event ids in arrival order, commit-to-arrival latency in seconds of each)."""
        ids: list[int] = []
        latencies: list[float] = []
        buffer = b""
        for arrived, data in self.reads:
            buffer += data
            *messages, buffer = buffer.split(b"\r\n\r\n")
            for message in messages:
                fields = dict(
                    line.split(b": ", 1) for line in message.split(b"\r\n") if b": " in line
                )
                if b"data" not in fields or b"id" not in fields:
                    continue  # a keep-alive comment
                event = json.loads(fields[b"data"])
                recorded = datetime.fromisoformat(event["occurred_at"]).timestamp()
                ids.append(int(fields[b"id"]))
                latencies.append(arrived - recorded)
        return ids, latencies


def _subscribe(
    url: str,
    headers: dict[str, str],
    expected: int,
    count: int,
    ready: Any,
    results: Any,
) -> None:
    """Child process: ``count`` subscribers; signal when all are connected; send the results."""
    subscribers = [Subscriber(url, headers, expected) for _ in range(count)]
    for s in subscribers:
        s.start()
    for s in subscribers:
        s.connected.wait(30)
    ready.set()
    for s in subscribers:
        s.join(180)
    out = []
    for s in subscribers:
        ids, latencies = s.events()
        out.append((ids, latencies, s.error))
    results.put(out)


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
            monitor = server.add_user("bench-monitor", "monitor")  # the global stream's readers
            ready, results = multiprocessing.Event(), multiprocessing.Queue()
            child = multiprocessing.Process(
                target=_subscribe,
                args=(server.url, monitor, expected, args.subscribers, ready, results),
                daemon=True,
            )
            child.start()
            ready.wait(60)
            time.sleep(0.5)
            load = measure_http(server, clerk, args.instances, args.concurrency)
            outcome: list[tuple[list[int], list[float], str | None]] = results.get(timeout=240)
            child.join(10)
        finally:
            server.stop()
    complete = [ids for ids, _, _ in outcome if ids == list(range(1, expected + 1))]
    all_latencies = [lat * 1000 for _, latencies, _ in outcome for lat in latencies]
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
    print(f"| subscribers with every event once, in order | {len(complete)} of {len(outcome)} |")
    print(
        f"| commit-to-subscriber p50 / p90 / p99 / max (ms) | {lat.p50:.2f} / {lat.p90:.2f} / "
        f"{lat.p99:.2f} / {lat.max:.2f} |"
    )
    if all_latencies:
        print(f"| mean (ms) | {statistics.fmean(all_latencies):.2f} |")
    print(
        f"| complete request p50 / p99 (ms) | {load.complete.p50:.2f} / {load.complete.p99:.2f} |"
    )
    errors = [error for _, _, error in outcome if error]
    if errors:
        print(f"\nsubscriber errors: {errors[:3]}")
    return 0 if len(complete) == len(outcome) else 1


if __name__ == "__main__":
    sys.exit(main())
