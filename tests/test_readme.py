"""README.md's "A first session" works as written: its bash blocks run, command by command,
against a fresh `powerflow serve` started as the README says (issue 7, item 7).

Only what a reader would do by hand is substituted: the admin token the server printed, the
port (the test's server cannot take 8000), and the `<task id>` / `<instance id>` placeholders,
taken from the previous answers. curl runs with --fail-with-body (from a .curlrc), so any
answer of 400 or more fails the step.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ROOT, free_port

README = (ROOT / "README.md").read_text()
ADMIN_PLACEHOLDER = "<the admin token printed at start>"


def session_commands() -> list[str]:
    """The shell commands of the README's first-session section, in order."""
    section = README.split("## A first session", 1)[1].split("\n## ", 1)[0]
    commands: list[str] = []
    for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S):
        pending = ""
        for line in block.splitlines():
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            pending = f"{pending}\n{line}" if pending else line
            if pending.endswith("\\"):
                continue
            try:
                shlex.split(pending, comments=True)
            except ValueError:  # an open quote: the command goes on
                continue
            commands.append(pending)
            pending = ""
        assert not pending, f"unfinished command in README: {pending}"
    return commands


def test_the_session_is_found() -> None:
    commands = session_commands()
    assert commands[0].startswith("export PF=http://127.0.0.1:8000 ADMIN=")
    assert any("/v1/tasks/<task id>/complete" in c for c in commands)
    assert any(c.startswith(".venv/bin/powerflow users disable") for c in commands)


class Session:
    """A working directory laid out like the repository, a fresh server, and a shell state."""

    def __init__(self, home: Path) -> None:
        self.home = home
        (home / ".venv" / "bin").mkdir(parents=True)
        launcher = home / ".venv" / "bin" / "powerflow"
        launcher.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m powerflow "$@"\n')
        launcher.chmod(0o755)
        (home / "processes").symlink_to(ROOT / "processes")
        (home / ".curlrc").write_text("silent\nshow-error\nfail-with-body\n")
        self.state = home / "shell-state"
        self.state.write_text("")
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("POWERFLOW_")}
        self.env["CURL_HOME"] = str(home)
        self.port = free_port()
        self.log = home / "server.log"
        self.server: subprocess.Popen[bytes] | None = None

    def serve(self) -> str:
        """`.venv/bin/powerflow serve` as the README runs it; returns the printed admin token."""
        with self.log.open("wb") as out:
            self.server = subprocess.Popen(
                [".venv/bin/powerflow", "serve"],
                cwd=self.home,
                env={**self.env, "POWERFLOW_PORT": str(self.port)},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.server.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        found = re.search(r"bearer token \(shown once\):\s+(\S+)", self.log.read_text())
        assert found, self.log.read_text()
        assert (self.home / "powerflow.db").exists()
        return found.group(1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def run(self, command: str) -> str:
        """Run one README command in bash, keeping exported variables between commands."""
        script = f"set -e\nsource {self.state}\n{command}\nexport -p > {self.state}\n"
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{command}\nexit {done.returncode}\n{output}"
        return done.stdout

    def variable(self, name: str) -> str:
        return self.run(f'printf %s "${name}"')

    def stop(self) -> None:
        if self.server is not None:
            self.server.terminate()
            try:
                self.server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    s = Session(tmp_path)
    try:
        yield s
    finally:
        s.stop()


def test_the_first_session_runs_as_written(session: Session) -> None:
    admin = session.serve()
    ids: dict[str, str] = {}
    answers: list[tuple[str, Any]] = []
    for command in session_commands():
        line = command.replace(ADMIN_PLACEHOLDER, admin)
        line = line.replace("http://127.0.0.1:8000", session.url)
        for placeholder in re.findall(r"<[a-z ]+>", line):
            assert placeholder in ("<task id>", "<instance id>"), f"unknown {placeholder}"
            assert placeholder in ids, f"{placeholder} used before any answer gave one"
            line = line.replace(placeholder, ids[placeholder])
        out = session.run(line)
        if not line.startswith("curl"):
            continue
        answer = json.loads(out)
        answers.append((command, answer))
        if "/v1/tasks?state=ready" in line:
            assert answer["items"], f"empty inbox after: {command}\n{answer}"
            ids["<task id>"] = answer["items"][0]["id"]
        if line.rstrip().endswith("/v1/instances"):
            ids["<instance id>"] = answer["id"]

    by_path = {c.split("$PF", 1)[1].split()[0].strip("\"'"): a for c, a in answers if "$PF" in c}
    started = by_path["/v1/instances"]
    assert [t["element_id"] for t in started["tasks"]] == ["submit_request"]
    assert started["data"]["amount"] == 80000
    [definition] = by_path["/v1/definitions/fund_disbursement"]
    assert {f["id"] for f in definition["start_form"]} == {"amount", "purpose", "applicant_name"}
    events = by_path["/v1/instances/<instance"]["items"]
    completed = [(e["element_id"], e["actor"]) for e in events if e["type"] == "task.completed"]
    assert completed == [("submit_request", "lin"), ("review_dept_head", "wang")]
    assert events[-1]["type"] == "task.ready" and events[-1]["element_id"] == "finance_review"

    refused = next(a for c, a in answers if c.startswith("curl -q"))
    assert (refused["status"], refused["code"]) == (403, "rule_violated"), refused
    assert refused["rule_id"] == "P3-R11-REVIEW" and refused["legal_basis"], refused
    assert {p["code"] for p in by_path["/v1/powers"]} >= {"FIN-001", "PET-001", "GOV-001"}
    assert "P3-R11-REVIEW" in {
        r["rule_id"] for r in by_path["/v1/rules?process_key=fund_disbursement"]
    }
    [violation] = by_path["/v1/violations"]["items"]
    assert (violation["rule_id"], violation["effect"], violation["actor"]) == (
        "P3-R11-REVIEW",
        "block",
        "lin",
    )
    alerts = by_path["/v1/alerts?state=open"]["items"]
    assert [(a["level"], a["rule_id"]) for a in alerts] == [("red", "P3-R11-REVIEW")]
    assert by_path["/v1/tasks?overdue=true"]["items"] == []

    users = {u["name"]: u for u in by_path["/v1/users"]}
    assert set(users) == {"admin", "lin", "wang", "mei"}
    assert users["wang"]["roles"] == ["department-head", "finance-reviewer"]
    assert users["wang"]["disabled"] is False
    wang = {"Authorization": f"Bearer {session.variable('WANG')}"}
    assert httpx.get(f"{session.url}/v1/me", headers=wang).status_code == 401  # the last PATCH
    lin = {"Authorization": f"Bearer {session.variable('LIN')}"}
    assert sorted(httpx.get(f"{session.url}/v1/me", headers=lin).json()["roles"]) == [
        "clerk",
        "finance-reviewer",
        "handler",
    ]
