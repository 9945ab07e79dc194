#!/usr/bin/env python
"""Throughput benchmark of powerflow over HTTP, against SpiffWorkflow alone in memory.

Starts a real ``python -m powerflow serve`` on a fresh database, deploys ``three_tasks.bpmn``
(three sequential user tasks), and measures "start an instance, then complete its three tasks"
with C client threads, each with its own keep-alive ``httpx.Client``. The same process is then
run in memory by the powerflow engine layer (SpiffWorkflow plus saved-state JSON, no HTTP, no
database) and by SpiffWorkflow alone. It prints a Markdown summary; ``--json`` writes the figures.

    python bench/throughput.py --instances 1000 --concurrency 4
    python bench/throughput.py --database-url \
        postgresql+psycopg://postgres@127.0.0.1:5432/powerflow_bench
    python bench/throughput.py --py-spy /tmp/server.txt     # sample the server's GIL holder
    python bench/throughput.py --cprofile /tmp/server.prof  # server under cProfile

The in-memory figures are the median of three rounds. ``--py-spy`` needs ``pip install py-spy``
and samples every thread that holds the GIL (the request handlers run in worker threads);
``--cprofile`` sees only the server's main thread (event loop, routing, response writing).

Not a test: nothing here asserts; it exits 1 only if a request failed.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import os
import platform
import random
import secrets
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import httpx

HERE = Path(__file__).resolve().parent
BPMN = HERE / "three_tasks.bpmn"
PROCESS_ID = "three_tasks"
DATA_BPMN = HERE / "three_tasks_data.bpmn"
DATA_PROCESS_ID = "three_tasks_data"
START_VARIABLES = {"amount": 5000, "payee": "Acme Supplies Ltd", "budget_line": "2026-OPS-01"}
KEYS = 100  # payees and budget lines cycle over this many values, as in a unit's payments
TASK_DATA = {"opinion": "in order", "decision": "approved", "reason": "complete and within budget"}
TASKS_PER_INSTANCE = 3
CLERK_ROLES = "clerk,clerk-office"
CLK_TCK = os.sysconf("SC_CLK_TCK")
GOAL_RATE = 100.0  # instances/s with SQLite on one worker
GOAL_COMPLETE_P50_MS = 5.0

Hook = Callable[[], None] | None


# --------------------------------------------------------------------------- results


@dataclass
class Latency:
    """Per-request latency percentiles in milliseconds (nearest rank)."""

    count: int
    p50: float
    p90: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        if not seconds:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        ms = sorted(s * 1000 for s in seconds)

        def rank(p: float) -> float:
            return ms[max(0, math.ceil(p / 100 * len(ms)) - 1)]

        return cls(len(ms), rank(50), rank(90), rank(99), ms[-1], sum(ms) / len(ms))


@dataclass
class Failure:
    """A request that did not answer 2xx, or answered something unexpected."""

    what: str
    status: int
    detail: str


@dataclass
class HttpResult:
    """The measured HTTP phase."""

    instances: int
    concurrency: int
    seconds: float
    instances_per_s: float
    requests_per_s: float
    start: Latency
    complete: Latency
    failures: int
    server_cpu_s: float
    server_user_s: float
    server_sys_s: float
    server_cpu_ms_per_instance: float
    client_cpu_s: float
    client_cpu_ms_per_instance: float
    database_cpu_s: float | None = None  # PostgreSQL processes on this machine
    database_cpu_ms_per_instance: float | None = None
    failure_samples: list[Failure] = field(default_factory=list)


@dataclass
class MemoryResult:
    """An in-memory run of the same process."""

    label: str
    instances: int
    seconds: float
    instances_per_s: float
    ms_per_instance: float


@dataclass
class Machine:
    """Facts that make figures comparable across machines."""

    nproc: int
    cpu_model: str
    python: str
    sqlite: str
    spiffworkflow: str
    database: str
    database_version: str


# --------------------------------------------------------------------------- machine facts


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def database_kind(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def postgres_version(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.scalar(text("SHOW server_version")))
    finally:
        engine.dispose()


def prepare_postgres(url: str) -> None:
    """Create the database if missing, then drop and recreate its public schema."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            found = conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}
            )
            if not found:
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()
    engine = create_engine(target, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stat_cpu(stat: str) -> tuple[float, float]:
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def process_cpu_seconds(pid: int) -> tuple[float, float]:
    """(utime, stime) of a process (all its threads), from /proc/<pid>/stat."""
    return _stat_cpu(Path(f"/proc/{pid}/stat").read_text())


def command_cpu_seconds(comm: str) -> float:
    """utime + stime summed over the running processes named ``comm`` (e.g. postgres)."""
    total = 0.0
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = path.read_text()
        except OSError:
            continue
        if stat[stat.index("(") + 1 : stat.rindex(")")] == comm:
            total += sum(_stat_cpu(stat))
    return total


class Server:
    """A ``powerflow serve`` subprocess on 127.0.0.1 with its own environment and log."""

    def __init__(
        self, db_url: str, workdir: Path, cprofile: Path | None = None, wrapper: str = ""
    ) -> None:
        self.db_url = db_url
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "server.log"
        self.env = {
            **os.environ,
            "POWERFLOW_DATABASE_URL": db_url,
            "POWERFLOW_ADMIN_TOKEN": "pf_bench_" + secrets.token_urlsafe(16),
            "POWERFLOW_DEPLOY_EXAMPLES": "false",
            "POWERFLOW_LOG_LEVEL": "warning",
        }
        profile = ["-m", "cProfile", "-o", str(cprofile)] if cprofile else []
        self.slow = bool(wrapper)  # under valgrind: minutes, not seconds
        self.command = [
            *shlex.split(wrapper),
            sys.executable,
            *profile,
            "-m",
            "powerflow",
            "serve",
            "--port",
            str(self.port),
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60) -> None:
        timeout = timeout * 10 if self.slow else timeout
        with self.log_path.open("wb") as log:
            # Own session: a Ctrl-C in the terminal reaches only the benchmark, which then
            # stops the server in an orderly way (so cProfile can write its file).
            self.proc = subprocess.Popen(
                self.command,
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not healthy within {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # SIGINT, not SIGTERM: uvicorn shuts down gracefully on both, then re-raises the signal;
        # only SIGINT ends as an exception, so cProfile still writes its file.
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=300 if self.slow else 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def add_user(self, name: str, roles: str) -> dict[str, str]:
        """Create a user through the CLI, as an operator would; return its auth header."""
        cli = [sys.executable, "-m", "powerflow", "users", "add", name, "--roles", roles]
        out = subprocess.run(
            [*cli, "--database-url", self.db_url],
            cwd=self.workdir,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return {"Authorization": f"Bearer {out.stdout.strip().splitlines()[-1]}"}


def deploy(server: Server, designer: dict[str, str], bpmn: Path = BPMN) -> None:
    response = httpx.post(
        f"{server.url}/v1/definitions",
        headers=designer,
        files={"file": (bpmn.name, bpmn.read_bytes(), "application/xml")},
        timeout=30,
    )
    if response.status_code not in (200, 201):
        raise RuntimeError(f"deploy failed: {response.status_code} {response.text}")


def _rules(process: str) -> list[tuple[str, dict[str, Any]]]:
    """Twenty negative-list rules of every kind a one-clerk scenario passes, all evaluated.

    Separation of duties cannot pass when one clerk does every step, and quorum and speaking
    order need a meeting's data; the other kinds are here, some twice, each with facts to check.
    """

    def rule(kind: str, elements: list[str], **params: Any) -> dict[str, Any]:
        return {
            "kind": kind,
            "effect": "block",
            "message": f"bench rule ({kind})",
            "legal_basis": ["bench"],
            "process_key": process,
            "elements": elements,
            "params": params,
        }

    every = ["first", "second", "third"]
    return [
        ("B01", rule("required-before", ["second"], before="first")),
        ("B02", rule("required-before", ["third"], before="second")),
        ("B03", rule("required-before", ["third"], before="first")),
        ("B04", rule("authority", every, variable="amount", caps={"clerk": 100000})),
        ("B05", rule("authority", ["third"], variable="amount", caps={"clerk-office": 50000})),
        ("B06", rule("authority", ["second"], variable="amount", caps={"clerk": 200000})),
        ("B07", rule("recusal", every, variables=["payee"])),
        ("B08", rule("recusal", ["third"], variables=["budget_line"])),
        ("B09", rule("list", every, variable="payee", list="bench-blacklist")),
        ("B10", rule("list", ["third"], variable="budget_line", list="bench-frozen")),
        ("B11", rule("list", ["second"], variable="payee", list="bench-sanctioned")),
        (
            "B12",
            rule(
                "cumulative",
                ["third"],
                variable="amount",
                key=["payee"],
                window="P365D",
                threshold=1e15,
            ),
        ),
        (
            "B13",
            rule(
                "cumulative",
                ["third"],
                variable="amount",
                key=["budget_line"],
                window="calendar-year",
                threshold=1e15,
            ),
        ),
        (
            "B14",
            rule(
                "reason-required", every, variable="decision", values=["rejected"], reason="reason"
            ),
        ),
        (
            "B15",
            rule(
                "reason-required",
                ["third"],
                variable="decision",
                values=["refused"],
                reason="reason",
            ),
        ),
        ("B16", rule("expression", every, require="data['amount'] < 1000000")),
        ("B17", rule("expression", every, require="actor != ''")),
        ("B18", rule("expression", ["third"], require="len(history) < 50")),
        ("B19", rule("expression", ["second"], require="'clerk' in actor_roles")),
        (
            "B20",
            rule(
                "reason-required",
                ["second"],
                variable="decision",
                values=["returned"],
                reason="reason",
            ),
        ),
    ]


def add_rules(server: Server, process: str, count: int) -> None:
    """Create ``count`` organisation-wide rules (and their lists) through the API, as an admin."""
    if count <= 0:
        return
    admin = {"Authorization": f"Bearer {server.env['POWERFLOW_ADMIN_TOKEN']}"}
    with httpx.Client(base_url=server.url, headers=admin, timeout=30) as client:
        for name in ("bench-blacklist", "bench-frozen", "bench-sanctioned"):
            made = client.put(f"/v1/lists/{name}", json={"description": "bench"})
            made.raise_for_status()
            entry = client.post(
                f"/v1/lists/{name}/entries", json={"value": "Shady Ltd", "reason": "bench"}
            )
            entry.raise_for_status()
        for rule_id, body in _rules(process)[:count]:
            client.put(f"/v1/rules/{rule_id}", json=body).raise_for_status()


# --------------------------------------------------------------------------- HTTP load


class Worker:
    """One client thread with its own keep-alive connection and its own figures.

    The client is the standard library's ``http.client``: on a 2-core machine the load generator
    shares the cores with the server, and httpx costs about four times the client CPU per
    request (1.4 ms here), which the server then does not get.
    """

    def __init__(self, base_url: str, headers: dict[str, str], process: str = PROCESS_ID) -> None:
        self.process = process
        self.with_data = process == DATA_PROCESS_ID
        self.counter = itertools.count(random.randrange(KEYS))
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {**headers, "Content-Type": "application/json"}
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
        self.start_s: list[float] = []
        self.complete_s: list[float] = []
        self.failures: list[Failure] = []

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """One request on the keep-alive connection (reconnecting once if the server closed it)."""
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=self.headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _post(self, what: str, path: str, body: dict[str, Any], into: list[float]) -> Any:
        payload = json.dumps(body).encode()
        t0 = time.perf_counter()
        try:
            status, content = self.request("POST", path, payload)
        except (OSError, http.client.HTTPException) as exc:
            self.failures.append(Failure(what, 0, f"{type(exc).__name__}: {exc}"))
            return None
        into.append(time.perf_counter() - t0)
        if not 200 <= status < 300:
            self.failures.append(Failure(what, status, content[:500].decode(errors="replace")))
            return None
        return json.loads(content)

    def one_instance(self) -> None:
        """Start an instance and complete its tasks, each from the previous response."""
        start: dict[str, Any] = {"definition_key": self.process}
        if self.with_data:
            n = next(self.counter) % KEYS
            start["variables"] = {
                **START_VARIABLES,
                "payee": f"Supplier {n}",
                "budget_line": f"2026-OPS-{n:02d}",
            }
        data = TASK_DATA if self.with_data else {}
        body = self._post("start", "/v1/instances", start, self.start_s)
        for step in range(TASKS_PER_INSTANCE):
            if body is None:
                return
            tasks = body.get("tasks") or []
            if len(tasks) != 1:
                self.failures.append(
                    Failure(f"complete #{step + 1}", 0, f"expected 1 ready task, got {tasks!r}")
                )
                return
            body = self._post(
                "complete", f"/v1/tasks/{tasks[0]['id']}/complete", {"data": data}, self.complete_s
            )
        if body is not None and (body.get("status") != "completed" or body.get("tasks")):
            self.failures.append(
                Failure("end", 0, f"instance not completed: status={body.get('status')!r}")
            )

    def close(self) -> None:
        self.conn.close()


def run_http(
    base_url: str, headers: dict[str, str], instances: int, concurrency: int, process: str
) -> tuple[float, list[Worker]]:
    """Run ``instances`` instances through ``concurrency`` workers; return wall time and workers."""
    workers = [Worker(base_url, headers, process) for _ in range(concurrency)]
    lock = threading.Lock()
    remaining = instances
    barrier = threading.Barrier(concurrency + 1)

    def take() -> bool:
        nonlocal remaining
        with lock:
            if remaining <= 0:
                return False
            remaining -= 1
            return True

    def loop(worker: Worker) -> None:
        barrier.wait()
        while take():
            worker.one_instance()

    threads = [threading.Thread(target=loop, args=(w,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    # Open every keep-alive connection before the clock starts.
    for w in workers:
        w.request("GET", "/v1/me")
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    for w in workers:
        w.close()
    return elapsed, workers


def measure_http(
    server: Server,
    clerk: dict[str, str],
    instances: int,
    concurrency: int,
    on_start: Hook = None,
    on_stop: Hook = None,
    process: str = PROCESS_ID,
) -> HttpResult:
    if on_start:
        on_start()
    postgres = database_kind(server.db_url) == "postgresql"
    db0 = command_cpu_seconds("postgres") if postgres else 0.0
    user0, sys0 = process_cpu_seconds(server.pid)
    client0 = time.process_time()
    try:
        seconds, workers = run_http(server.url, clerk, instances, concurrency, process)
    finally:
        if on_stop:
            on_stop()
    client_cpu = time.process_time() - client0
    user1, sys1 = process_cpu_seconds(server.pid)
    server_user, server_sys = user1 - user0, sys1 - sys0
    server_cpu = server_user + server_sys
    db_cpu = command_cpu_seconds("postgres") - db0 if postgres else None
    starts = [s for w in workers for s in w.start_s]
    completes = [s for w in workers for s in w.complete_s]
    failures = [f for w in workers for f in w.failures]
    return HttpResult(
        instances=instances,
        concurrency=concurrency,
        seconds=seconds,
        instances_per_s=instances / seconds,
        requests_per_s=(len(starts) + len(completes)) / seconds,
        start=Latency.of(starts),
        complete=Latency.of(completes),
        failures=len(failures),
        server_cpu_s=server_cpu,
        server_user_s=server_user,
        server_sys_s=server_sys,
        server_cpu_ms_per_instance=server_cpu * 1000 / instances,
        client_cpu_s=client_cpu,
        client_cpu_ms_per_instance=client_cpu * 1000 / instances,
        database_cpu_s=db_cpu,
        database_cpu_ms_per_instance=None if db_cpu is None else db_cpu * 1000 / instances,
        failure_samples=failures[:20],
    )


@contextmanager
def py_spy(pid: int, output: Path | None) -> Iterator[tuple[Hook, Hook]]:
    """Callbacks that sample ``pid`` with py-spy (collapsed stacks) while the load runs."""
    if output is None:
        yield None, None
        return
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        raise RuntimeError("--py-spy needs py-spy: pip install py-spy")
    proc: subprocess.Popen[bytes] | None = None

    def start() -> None:
        nonlocal proc
        record = ["record", "--pid", str(pid), "--format", "raw", "--rate", "200", "--gil"]
        proc = subprocess.Popen(
            [exe, *record, "--nonblocking", "--output", str(output)],
            stdout=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # let py-spy attach before the clock starts

    def stop() -> None:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()

    try:
        yield start, stop
    finally:
        stop()


# --------------------------------------------------------------------------- in memory


def spiff_alone(instances: int) -> MemoryResult:
    """SpiffWorkflow only: one parsed spec, each instance run to its end in memory."""
    from SpiffWorkflow.bpmn import BpmnWorkflow  # noqa: TID251 - the point of the comparison
    from SpiffWorkflow.spiff.parser import SpiffBpmnParser  # noqa: TID251
    from SpiffWorkflow.util.task import TaskState  # noqa: TID251

    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(BPMN))
    spec = parser.get_spec(PROCESS_ID)
    subprocess_specs = parser.get_subprocess_specs(PROCESS_ID)

    def one() -> None:
        workflow = BpmnWorkflow(spec, subprocess_specs)
        workflow.do_engine_steps()
        for _ in range(TASKS_PER_INSTANCE):
            ready = workflow.get_tasks(state=TaskState.READY, manual=True)
            if len(ready) != 1:
                raise RuntimeError(f"expected one ready task, got {ready}")
            ready[0].run()
            workflow.do_engine_steps()
        if not workflow.is_completed():
            raise RuntimeError("in-memory workflow did not complete")

    return _timed("SpiffWorkflow alone", instances, one)


def engine_layer(instances: int) -> MemoryResult:
    """powerflow's engine functions: start and three completions through saved-state JSON."""
    from powerflow import engine

    data = BPMN.read_bytes()
    compiled = engine.compile_bpmn(data, BPMN.name, max_bytes=len(data) + 1)
    if not compiled.ok:
        raise RuntimeError(f"cannot compile {BPMN}: {compiled.problems}")
    catalog = next(p for p in compiled.processes if p.process_id == PROCESS_ID).catalog()
    process = engine.load_process(compiled.content_hash, PROCESS_ID, data, catalog)

    def one() -> None:
        step = engine.start(process, {})
        for _ in range(TASKS_PER_INSTANCE):
            step = engine.complete_task(process, step.state, step.open_tasks[0].id, {})
        if step.status != "completed":
            raise RuntimeError("engine-layer instance did not complete")

    return _timed("powerflow engine layer (state JSON, no HTTP/DB)", instances, one)


def _timed(label: str, instances: int, one: Callable[[], None], repeats: int = 3) -> MemoryResult:
    """The median of ``repeats`` timed rounds (short runs on a shared VM are noisy)."""
    for _ in range(min(50, instances)):
        one()
    rounds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(instances):
            one()
        rounds.append(time.perf_counter() - t0)
    seconds = statistics.median(rounds)
    return MemoryResult(label, instances, seconds, instances / seconds, seconds * 1000 / instances)


# --------------------------------------------------------------------------- report


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def summary(
    machine: Machine,
    command: str,
    http: HttpResult,
    memory: list[MemoryResult],
) -> str:
    ratio = memory[-1].instances_per_s / http.instances_per_s if memory else math.nan
    goals = []
    if machine.database == "sqlite":
        ok_rate = http.instances_per_s >= GOAL_RATE
        ok_p50 = http.complete.p50 <= GOAL_COMPLETE_P50_MS
        goals = [
            f"| goal: >= {GOAL_RATE:.0f} instances/s (SQLite) "
            f"| {'met' if ok_rate else 'NOT met'} |",
            f"| goal: complete p50 <= {GOAL_COMPLETE_P50_MS:.0f} ms "
            f"| {'met' if ok_p50 else 'NOT met'} |",
        ]
    lat = "p50 / p90 / p99 / max (ms)"
    rows = [
        f"`{command}`",
        "",
        "| machine | |",
        "| --- | --- |",
        f"| nproc | {machine.nproc} |",
        f"| CPU | {machine.cpu_model} |",
        f"| Python | {machine.python} |",
        f"| SQLite | {machine.sqlite} |",
        f"| SpiffWorkflow | {machine.spiffworkflow} |",
        f"| database | {machine.database} {machine.database_version} |",
        "",
        f"| figure ({http.instances} instances, {http.concurrency} client threads) | value |",
        "| --- | --- |",
        f"| HTTP instances/s | **{http.instances_per_s:.1f}** ({http.seconds:.2f} s wall) |",
        f"| HTTP requests/s | {http.requests_per_s:.1f} |",
        f"| start {lat} | {_lat(http.start)} |",
        f"| complete {lat} | {_lat(http.complete)} |",
        f"| non-2xx / failed requests | {http.failures} |",
        f"| server CPU during the run | {http.server_cpu_s:.2f} s = {http.server_user_s:.2f} "
        f"user + {http.server_sys_s:.2f} sys ({http.server_cpu_s / http.seconds * 100:.0f}% "
        "of one core) |",
        f"| server CPU-ms per instance | **{http.server_cpu_ms_per_instance:.2f}** |",
        *(
            [f"| PostgreSQL CPU-ms per instance | {http.database_cpu_ms_per_instance:.2f} |"]
            if http.database_cpu_ms_per_instance is not None
            else []
        ),
        f"| client CPU-ms per instance | {http.client_cpu_ms_per_instance:.2f} |",
        *[
            f"| {m.label}: instances/s | {m.instances_per_s:.0f} "
            f"({m.ms_per_instance:.2f} ms/instance) |"
            for m in memory
        ],
        *([f"| ratio SpiffWorkflow in memory / HTTP | **{ratio:.1f}x** |"] if memory else []),
        *goals,
    ]
    return "\n".join(rows)


def _lat(lat: Latency) -> str:
    return f"{fmt(lat.p50, 2)} / {fmt(lat.p90, 2)} / {fmt(lat.p99, 2)} / {fmt(lat.max, 2)}"


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=1000, help="measured instances")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--warmup", type=int, default=50, help="instances before measuring")
    parser.add_argument(
        "--database-url",
        help="database to use instead of a fresh SQLite file (a PostgreSQL database's public "
        "schema is dropped and recreated)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--process",
        choices=("plain", "data"),
        default="plain",
        help="plain: three_tasks.bpmn (no data); data: three_tasks_data.bpmn (start variables "
        "and a form at each step)",
    )
    parser.add_argument(
        "--rules",
        type=int,
        default=0,
        choices=range(21),
        metavar="N",
        help="create N (0-20) organisation-wide negative-list rules that every act must pass "
        "(implies --process data)",
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the in-memory comparison rounds"
    )
    parser.add_argument(
        "--server-wrapper",
        default="",
        help="a command the server runs under, e.g. 'valgrind --tool=callgrind "
        "--callgrind-out-file=/tmp/server.cg' to count its instructions (noise-free)",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        help="sample the server's GIL-holding thread with py-spy during the measured phase "
        "into this file (collapsed stacks; slows the server somewhat)",
    )
    parser.add_argument(
        "--cprofile",
        type=Path,
        help="run the server under cProfile into this file (main thread only)",
    )
    args = parser.parse_args(argv)
    if args.instances < 1 or args.concurrency < 1 or args.warmup < 0:
        parser.error("--instances and --concurrency must be >= 1, --warmup >= 0")
    return args


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _stop_on_sigterm()
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    with tempfile.TemporaryDirectory(prefix="powerflow-bench-") as tmp:
        workdir = Path(tmp)
        db_url = args.database_url or f"sqlite:///{workdir / 'powerflow.db'}"
        kind = database_kind(db_url)
        if kind == "postgresql":
            prepare_postgres(db_url)
        machine = Machine(
            nproc=os.cpu_count() or 0,
            cpu_model=cpu_model(),
            python=platform.python_version(),
            sqlite=sqlite3.sqlite_version,
            spiffworkflow=package_version("SpiffWorkflow"),
            database=kind,
            database_version=postgres_version(db_url) if kind == "postgresql" else "",
        )
        server = Server(db_url, workdir, args.cprofile, args.server_wrapper)
        try:
            print(f"starting server on {server.url} ({kind}) ...", file=sys.stderr)
            server.start()
            print(f"server pid {server.pid}", file=sys.stderr)
            with_data = args.process == "data" or args.rules > 0
            process = DATA_PROCESS_ID if with_data else PROCESS_ID
            designer = server.add_user("bench-designer", "designer")
            deploy(server, designer, DATA_BPMN if with_data else BPMN)
            add_rules(server, process, args.rules)
            clerk = server.add_user("bench-clerk", CLERK_ROLES)
            if args.warmup:
                warm = measure_http(server, clerk, args.warmup, args.concurrency, process=process)
                if warm.failures:
                    _print_failures(warm)
                    return 1
            print(
                f"measuring {args.instances} instances with {args.concurrency} threads ...",
                file=sys.stderr,
            )
            with py_spy(server.pid, args.py_spy) as (on_start, on_stop):
                http = measure_http(
                    server, clerk, args.instances, args.concurrency, on_start, on_stop, process
                )
        except KeyboardInterrupt:
            print("interrupted; stopping the server", file=sys.stderr)
            return 130
        finally:
            server.stop()
    memory: list[MemoryResult] = []
    if not args.no_memory:
        print("measuring in memory ...", file=sys.stderr)
        memory = [engine_layer(args.instances), spiff_alone(args.instances)]
    print(summary(machine, command, http, memory))
    if http.failures:
        _print_failures(http)
    if args.json:
        figures = {
            "command": command,
            "machine": asdict(machine),
            "http": asdict(http),
            "in_memory": [asdict(m) for m in memory],
            "ratio_in_memory_over_http": (
                memory[-1].instances_per_s / http.instances_per_s if memory else None
            ),
        }
        args.json.write_text(json.dumps(_finite(figures), indent=2, allow_nan=False) + "\n")
    return 1 if http.failures else 0


def _finite(value: Any) -> Any:
    """JSON has no NaN: empty latency figures become null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _print_failures(result: HttpResult) -> None:
    print(f"\n{result.failures} failed request(s); first {len(result.failure_samples)}:")
    for f in result.failure_samples:
        print(f"- {f.what}: HTTP {f.status}: {f.detail}")


if __name__ == "__main__":
    sys.exit(main())
