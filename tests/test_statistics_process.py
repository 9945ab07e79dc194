"""The statistics aggregator runs in a child process of `powerflow serve`: it counts what the
service records, and it ends with the service, however the service ends."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import ADMIN_TOKEN, DATA, Server, free_port, start_server, stop_server
from powerflow.worker_process import StatisticsConfig, StatisticsProcess

FAST = {"POWERFLOW_DEPLOY_EXAMPLES": "false", "POWERFLOW_STATS_POLL_SECONDS": "0.2"}


def children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the live processes whose parent is ``pid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            if stat[stat.rindex(")") + 2] == "Z":  # a zombie has ended
                continue
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append((int(entry.name), cmdline))
    return out


def statistics_child(server: Server, timeout: float = 20) -> int:
    """The pid of the server's statistics process (spawned by multiprocessing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p, cmd in children(server.proc.pid) if "spawn_main" in cmd]
        if found:
            assert len(found) == 1, children(server.proc.pid)
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no statistics process under {server.proc.pid}: {server.output()}")


def gone(pid: int, timeout: float = 15) -> bool:
    """Whether the process ended (or became a zombie) within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True
        if stat[stat.rindex(")") + 2] == "Z":
            return True
        time.sleep(0.1)
    return False


def test_the_statistics_process_counts_what_the_service_records(db_url: str) -> None:
    server = start_server(db_url, **FAST)
    try:
        child = statistics_child(server)
        designer, clerk = server.user("designer"), server.user("clerk,clerk-office")
        monitor = server.user("monitor")
        with httpx.Client(base_url=server.url, timeout=30) as c:
            deployed = c.post(
                "/v1/definitions",
                headers=designer,
                files={"file": ("t.bpmn", (DATA / "three_tasks.bpmn").read_bytes())},
            )
            assert deployed.status_code in (200, 201), deployed.text
            for _ in range(2):
                inst = c.post(
                    "/v1/instances", headers=clerk, json={"definition_key": "three_tasks"}
                ).json()
                c.post(
                    f"/v1/tasks/{inst['tasks'][0]['id']}/complete",
                    headers=clerk,
                    json={"data": {}},
                ).raise_for_status()
            deadline = time.monotonic() + 20
            figures: dict = {}
            while time.monotonic() < deadline:
                answer = c.get("/v1/stats/processes/three_tasks", headers=monitor)
                assert answer.status_code == 200, answer.text
                figures = answer.json()
                done = sum(e["figures"]["completed"] for e in figures["elements"])
                if figures["process"]["started"] == 2 and done == 2:
                    break
                time.sleep(0.2)
        assert figures["process"]["started"] == 2, figures
        assert figures["process"]["running"] == 2, figures
        first = {e["name"]: e["figures"] for e in figures["elements"]}
        assert first["first"]["completed"] == 2, figures
        assert not gone(child, timeout=0.5)  # still counting while the service runs
    finally:
        stop_server(server)
    assert gone(child), f"the statistics process {child} outlived a stopped service"


def test_the_statistics_process_ends_when_the_service_is_killed(sqlite_url: str) -> None:
    server = start_server(sqlite_url, **FAST)
    try:
        statistics_child(server)
        helpers = [pid for pid, _ in children(server.proc.pid)]  # with multiprocessing's tracker
        os.kill(server.proc.pid, signal.SIGKILL)  # no shutdown: the children must notice alone
        server.proc.wait(timeout=10)
        left = [pid for pid in helpers if not gone(pid)]
        assert not left, f"processes {left} outlived their killed service"
    finally:
        if server.proc.poll() is None:
            stop_server(server)
        server.log.unlink(missing_ok=True)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_statistics_process_ends_with_a_stopped_service(
    sqlite_url: str, signum: signal.Signals
) -> None:
    server = start_server(sqlite_url, **FAST)
    try:
        child = statistics_child(server)
        server.proc.send_signal(signum)
        server.proc.wait(timeout=15)
    finally:
        if server.proc.poll() is None:
            stop_server(server)
        server.log.unlink(missing_ok=True)
    assert gone(child), f"the statistics process {child} outlived the service ({signum.name})"


@pytest.mark.parametrize("delay", [0.0, 0.1])
def test_ctrl_c_while_the_statistics_process_starts_prints_no_traceback(
    sqlite_url: str, delay: float
) -> None:
    """Ctrl-C in a terminal reaches the whole process group: the service and its statistics
    child, which was still importing powerflow (before it could ignore SIGINT) and printed a
    KeyboardInterrupt traceback. The child now starts with SIGINT blocked."""
    environment = {
        **os.environ,
        "POWERFLOW_DATABASE_URL": sqlite_url,
        "POWERFLOW_ADMIN_TOKEN": ADMIN_TOKEN,
        "POWERFLOW_LOG_LEVEL": "warning",
        **FAST,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "powerflow", "serve", "--port", str(free_port())],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal gives it
    )
    try:
        deadline = time.monotonic() + 30
        child = None
        while child is None and time.monotonic() < deadline and proc.poll() is None:
            found = [p for p, cmd in children(proc.pid) if "spawn_main" in cmd]
            child = found[0] if found else None
            time.sleep(0.005)
        assert child is not None, "the statistics process did not start"
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does
        output = proc.communicate(timeout=30)[0].decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in output, output
    assert "KeyboardInterrupt" not in output, output
    assert gone(child), f"the statistics process {child} outlived the service"


def test_a_killed_statistics_process_is_restarted_and_the_statistics_catch_up(
    sqlite_url: str,
) -> None:
    """Defect: a statistics process that died (killed, crashed) was never noticed: the service
    ran on and its statistics stopped at the last event counted. The service logs the death,
    starts a new child after a back-off, and the new child counts what was recorded since."""
    server = start_server(sqlite_url, **FAST)
    try:
        first = statistics_child(server)
        designer, clerk = server.user("designer"), server.user("clerk,clerk-office")
        monitor = server.user("monitor")
        with httpx.Client(base_url=server.url, timeout=30) as c:
            deployed = c.post(
                "/v1/definitions",
                headers=designer,
                files={"file": ("t.bpmn", (DATA / "three_tasks.bpmn").read_bytes())},
            )
            assert deployed.status_code in (200, 201), deployed.text
            inst = c.post("/v1/instances", headers=clerk, json={"definition_key": "three_tasks"})
            assert inst.status_code == 201, inst.text
            os.kill(first, signal.SIGKILL)
            assert gone(first)
            done = c.post(
                f"/v1/tasks/{inst.json()['tasks'][0]['id']}/complete",
                headers=clerk,
                json={"data": {}},
            )
            assert done.status_code == 200, done.text
            deadline = time.monotonic() + 30
            figures: dict = {}
            while time.monotonic() < deadline:
                answer = c.get("/v1/stats/processes/three_tasks", headers=monitor)
                assert answer.status_code == 200, answer.text
                figures = answer.json()
                elements = {e["name"]: e["figures"] for e in figures["elements"]}
                if elements.get("first", {}).get("completed") == 1:
                    break
                time.sleep(0.2)
            assert figures["process"]["started"] == 1, figures
            assert elements["first"]["completed"] == 1, (figures, server.output())
        second = statistics_child(server)
        assert second != first
        output = server.output()
        assert f"statistics process {first} ended unexpectedly" in output, output
        assert "Traceback" not in output, output
    finally:
        stop_server(server)


def test_a_statistics_process_that_keeps_crashing_is_restarted_with_a_growing_delay(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A child that dies at once (here: a database URL no driver serves) is started again and
    again, each time after twice the delay, up to the maximum: a crash loop does not spin."""
    process = StatisticsProcess(
        StatisticsConfig(
            database_url="nosuchdriver://nowhere", busy_timeout_ms=100, time_zone="UTC", interval=1
        )
    )
    process.RESTART_FIRST, process.RESTART_MAX = 0.1, 0.4
    caplog.set_level(logging.WARNING, logger="powerflow.statistics")
    process.start()
    try:
        deadline = time.monotonic() + 60
        while process.restarts < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.stop()
    delays = [
        float(r.getMessage().rsplit(" in ", 1)[1].split()[0])
        for r in caplog.records
        if "ended unexpectedly" in r.getMessage()
    ]
    assert process.restarts >= 4, delays
    assert delays[:5] == [0.1, 0.2, 0.4, 0.4, 0.4][: len(delays[:5])], delays
    assert process.pid is None  # stopped: no new child after stop
