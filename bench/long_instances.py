#!/usr/bin/env python
"""Long and large instances over HTTP: a 1,000-iteration gateway loop and a 300-task instance.

Starts a real ``python -m powerflow serve`` on a fresh database, deploys
``tests/data/long_instances.bpmn`` and drives it as a client would, each request from the
previous answer:

* **loop**: ``long_loop`` (a gateway loop around one user task) started with ``iterations = N``;
  every iteration is one ``POST /v1/tasks/{id}/complete``. Prints the latency of a step around
  iterations 10, 100, 500 and N (the median of the 10 steps ending there, so one slow request on
  a shared machine does not decide it), the ratio of the last to iteration 10, and the size of
  the saved state there (read from the database).
* **loop with a parallel split and join** in its body (``long_loop_parallel``, bug E2 of
  SpiffWorkflow: a quadratic join check and a RecursionError at about 162 iterations).
* **large**: ``large_mi`` started with ``items = M``: one parallel multi-instance user task over an
  M-item collection, so the instance holds M ready tasks. Prints the start response's size and
  latency, then completes the M tasks one by one and prints p50 / p95 / p99 / max of a
  completion, the response sizes, and checks the output collection has M entries.

    python bench/long_instances.py                       # N = 1000, M = 300, SQLite
    python bench/long_instances.py --iterations 1000 --items 300 --rounds 3
    python bench/long_instances.py --database-url postgresql+psycopg://postgres@127.0.0.1/pf_bench
    python bench/long_instances.py --cprofile /tmp/server.prof --skip-loop   # profile the server

Ratios are taken within one run (iteration 10 and iteration N in the same server process), so a
busy shared machine moves both. Not a test: nothing here asserts; it exits 1 if a request failed
or an instance did not end with the expected data.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import Server, database_kind, deploy, prepare_postgres

HERE = Path(__file__).resolve().parent
BPMN = HERE.parent / "tests" / "data" / "long_instances.bpmn"  # shared with the tests
CHECKPOINTS = (10, 100, 500, 1000)
WINDOW = 10  # steps per checkpoint figure (median of the WINDOW steps ending at the checkpoint)


def cpu_ns(pid: int) -> int:
    """CPU time (ns) used so far by every thread of a process, from /proc/<pid>/task/*/schedstat
    (nanosecond resolution, unlike the clock ticks of /proc/<pid>/stat)."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        with contextlib.suppress(OSError, ValueError, IndexError):  # a thread that just ended
            total += int(stat.read_text().split()[0])
    return total


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (the service's statistics process and
    multiprocessing's resource tracker)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = stat.read_text()
            if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
                out.append(int(stat.parent.name))
    return out


class Client:
    """One keep-alive ``http.client`` connection (cheaper on the shared cores than httpx).

    Each request also records the server's CPU time for it: on a machine shared with other
    work, wall-clock latency includes waiting for a core, CPU time does not."""

    def __init__(self, base_url: str, headers: dict[str, str], server_pid: int) -> None:
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80)
        self.headers = {**headers, "Content-Type": "application/json"}
        self.pid = server_pid
        self.last_cpu_ms = 0.0

    def post(self, path: str, body: dict[str, Any]) -> tuple[float, int, bytes]:
        """(seconds, status, body) of one POST; its server CPU time goes to ``last_cpu_ms``."""
        payload = json.dumps(body).encode()
        cpu0 = cpu_ns(self.pid)
        t0 = time.perf_counter()
        self.conn.request("POST", path, body=payload, headers=self.headers)
        response = self.conn.getresponse()
        content = response.read()
        seconds = time.perf_counter() - t0
        self.last_cpu_ms = (cpu_ns(self.pid) - cpu0) / 1e6
        return seconds, response.status, content

    def close(self) -> None:
        self.conn.close()


class Failed(RuntimeError):
    """A request answered something else than expected."""


def _ok(status: int, content: bytes, what: str) -> dict[str, Any]:
    if not 200 <= status < 300:
        raise Failed(f"{what}: HTTP {status} {content[:300].decode(errors='replace')}")
    answer: dict[str, Any] = json.loads(content)
    return answer


def state_size(engine: sa.Engine, instance_id: str) -> int:
    """Characters of the instance's saved state, as stored."""
    with engine.connect() as conn:
        size = conn.execute(
            sa.text("SELECT length(state) FROM instances WHERE id = :id"), {"id": instance_id}
        ).scalar_one()
    return int(size)


def _fixed_work() -> int:
    total = 0
    for i in range(20_000):
        total += i * i % 7
    return total


def machine_probe(seconds: float = 2.0) -> tuple[float, float]:
    """p50 and p99 (ms) of one fixed piece of pure-Python work repeated for ``seconds``, run by
    the benchmark just before a round while the server is idle: how much this machine's own
    speed varies, which the completions' percentiles carry too (the work never changes, so a
    p99 above its p50 is the machine, not the code)."""
    _fixed_work()
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        _fixed_work()
        times.append((time.perf_counter() - t0) * 1000)
    return rank(times, 50), rank(times, 99)


def rank(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# --------------------------------------------------------------------------- scenarios


@dataclass
class LoopRun:
    process: str
    iterations: int
    seconds: float
    step_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    size_at: dict[int, int] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    status: str = ""

    def at(self, iteration: int, cpu: bool = False) -> float:
        """Median ms (wall, or server CPU) of the WINDOW steps ending at ``iteration``."""
        lo = max(0, iteration - WINDOW)
        return statistics.median((self.cpu_ms if cpu else self.step_ms)[lo:iteration])


def run_loop(
    client: Client, db: sa.Engine, process: str, iterations: int, data: dict[str, Any]
) -> LoopRun:
    t0 = time.perf_counter()
    _, status, content = client.post(
        "/v1/instances", {"definition_key": process, "variables": {"iterations": iterations}}
    )
    body = _ok(status, content, f"start {process}")
    instance_id = body["id"]
    run = LoopRun(process, iterations, 0.0)
    checkpoints = {c for c in CHECKPOINTS if c <= iterations} | {iterations}
    for n in range(1, iterations + 1):
        tasks = body.get("tasks") or []
        if len(tasks) != 1:
            raise Failed(f"{process} iteration {n}: expected one ready task, got {len(tasks)}")
        seconds, status, content = client.post(
            f"/v1/tasks/{tasks[0]['id']}/complete", {"data": data}
        )
        body = _ok(status, content, f"{process} iteration {n}")
        run.step_ms.append(seconds * 1000)
        run.cpu_ms.append(client.last_cpu_ms)
        if n in checkpoints:
            run.size_at[n] = state_size(db, instance_id)
    run.seconds = time.perf_counter() - t0
    run.status, run.data = body["status"], body["data"]
    return run


@dataclass
class LargeRun:
    items: int
    start_ms: float
    start_cpu_ms: float
    start_bytes: int
    complete_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    response_bytes: list[int] = field(default_factory=list)
    state_chars: int = 0
    status: str = ""
    answered: Any = None
    opinions: int = 0
    probe: tuple[float, float] = (math.nan, math.nan)


def run_large(client: Client, db: sa.Engine, items: int) -> LargeRun:
    probe = machine_probe()
    seconds, status, content = client.post(
        "/v1/instances", {"definition_key": "large_mi", "variables": {"items": items}}
    )
    body = _ok(status, content, "start large_mi")
    run = LargeRun(items, seconds * 1000, client.last_cpu_ms, len(content), probe=probe)
    run.state_chars = state_size(db, body["id"])
    for n in range(items):
        tasks = body.get("tasks") or []
        if not tasks:
            raise Failed(f"large_mi: no ready task after {n} completions")
        task = tasks[0]
        seconds, status, content = client.post(
            f"/v1/tasks/{task['id']}/complete", {"data": {"opinion": f"fine {n}"}}
        )
        body = _ok(status, content, f"large_mi completion {n + 1}")
        run.complete_ms.append(seconds * 1000)
        run.cpu_ms.append(client.last_cpu_ms)
        run.response_bytes.append(len(content))
    run.status = body["status"]
    run.answered = body["data"].get("answered")
    run.opinions = len(body["data"].get("opinions") or [])
    return run


# --------------------------------------------------------------------------- report


def print_loop(runs: list[LoopRun]) -> None:
    first = runs[0]
    marks = sorted({c for c in CHECKPOINTS if c <= first.iterations} | {first.iterations})
    print(f"\n### {first.process}: {first.iterations} iterations, one user task each\n")
    head = " | ".join(f"it. {m}" for m in marks)
    print("Each cell: wall ms / server CPU ms of a step, saved state there.\n")
    print(f"| round | {head} | it. {marks[-1]} / it. {marks[0]} (wall, CPU) | total s | status |")
    print("|---|" + "---:|" * (len(marks) + 3))
    for k, run in enumerate(runs, 1):
        cells = " | ".join(
            f"{run.at(m):.2f} / {run.at(m, cpu=True):.2f}, {run.size_at[m] / 1024:.1f} KiB"
            for m in marks
        )
        ratio = run.at(marks[-1]) / run.at(marks[0])
        cpu_ratio = run.at(marks[-1], cpu=True) / run.at(marks[0], cpu=True)
        print(
            f"| {k} | {cells} | {ratio:.2f}, {cpu_ratio:.2f} | {run.seconds:.1f} | {run.status} |"
        )


def print_large(runs: list[LargeRun]) -> None:
    print(f"\n### large_mi: parallel multi-instance user task over {runs[0].items} items\n")
    print(
        "| round | start ms (wall / CPU) | start response | state at start | complete p50 / p95"
        " / p99 / max, wall ms | same, server CPU ms | response size first / last |"
        " status, opinions | fixed-work probe p50 / p99 ms |"
    )
    print("|---|---:|---:|---:|---|---|---|---|---|")
    for k, run in enumerate(runs, 1):
        ms, cpu = run.complete_ms, run.cpu_ms
        print(
            f"| {k} | {run.start_ms:.1f} / {run.start_cpu_ms:.1f} | "
            f"{run.start_bytes / 1024:.1f} KiB | {run.state_chars / 1024:.1f} KiB | "
            f"{rank(ms, 50):.2f} / {rank(ms, 95):.2f} / {rank(ms, 99):.2f} / {max(ms):.2f} | "
            f"{rank(cpu, 50):.2f} / {rank(cpu, 95):.2f} / {rank(cpu, 99):.2f} / {max(cpu):.2f} | "
            f"{run.response_bytes[0] / 1024:.1f} / {run.response_bytes[-1] / 1024:.1f} KiB | "
            f"{run.status}, {run.opinions} | {run.probe[0]:.2f} / {run.probe[1]:.2f} |"
        )
    print(
        "\nThe probe times one fixed piece of pure-Python work, repeated for two seconds just "
        "before each round with the server idle: its p99 over its p50 is this machine's own "
        "variation, which the completions' percentiles include."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--parallel-iterations", type=int, default=1000)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2, help="repeat each scenario")
    parser.add_argument("--database-url")
    parser.add_argument("--skip-loop", action="store_true")
    parser.add_argument("--skip-parallel", action="store_true")
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--cprofile", type=Path, help="run the server under cProfile")
    args = parser.parse_args(argv)
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    failed = False
    with tempfile.TemporaryDirectory(prefix="powerflow-long-") as tmp:
        db_url = args.database_url or f"sqlite:///{Path(tmp) / 'powerflow.db'}"
        if database_kind(db_url) == "postgresql":
            prepare_postgres(db_url)
        server = Server(db_url, Path(tmp), cprofile=args.cprofile)
        db = sa.create_engine(db_url)
        loops: list[LoopRun] = []
        parallels: list[LoopRun] = []
        larges: list[LargeRun] = []
        children_ms: float | None = None
        try:
            server.start()
            deploy(server, server.add_user("bench-designer", "designer"), BPMN)
            client = Client(server.url, server.add_user("bench-clerk", "clerk"), server.pid)
            for _ in range(args.rounds):
                if not args.skip_loop:
                    run = run_loop(
                        client, db, "long_loop", args.iterations, {"amount": 2, "note": "ok"}
                    )
                    loops.append(run)
                    expected = {"i": args.iterations, "total": 2 * args.iterations}
                    if run.status != "completed" or any(
                        run.data.get(k) != v for k, v in expected.items()
                    ):
                        print(f"long_loop ended wrong: {run.status} {run.data}")
                        failed = True
                if not args.skip_parallel:
                    run = run_loop(
                        client, db, "long_loop_parallel", args.parallel_iterations, {"note": "ok"}
                    )
                    parallels.append(run)
                    n = args.parallel_iterations
                    if run.status != "completed" or run.data.get("i") != n:
                        print(f"long_loop_parallel ended wrong: {run.status} {run.data}")
                        failed = True
                if not args.skip_large:
                    large = run_large(client, db, args.items)
                    larges.append(large)
                    if (large.status, large.answered, large.opinions) != (
                        "completed",
                        args.items,
                        args.items,
                    ):
                        print(f"large_mi ended wrong: {large.status} {large.answered}")
                        failed = True
            client.close()
            children_ms = sum(cpu_ns(pid) for pid in child_pids(server.pid)) / 1e6
        except Failed as exc:
            print(f"request failed: {exc}\n{server.log_tail()}")
            failed = True
        finally:
            server.stop()
            db.dispose()
    print(f"`{command}` ({database_kind(db_url)})")
    print(
        f"\nStep latency is the median of the {WINDOW} completions ending at the iteration; "
        "size is the saved state there."
    )
    if loops:
        print_loop(loops)
    if parallels:
        print_loop(parallels)
    if children_ms is not None:
        print(
            f"\nServer CPU is the serving process's. Its child processes (the statistics "
            f"aggregator, multiprocessing's resource tracker) used {children_ms:.0f} ms of CPU "
            "over the whole run, on the other core."
        )
    if larges:
        print_large(larges)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
