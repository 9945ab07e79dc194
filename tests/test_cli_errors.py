"""The command line answers database and port problems with one sentence and a non-zero exit
(issue 7, item 8), as an operator runs it: in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA

SQLITE_UNREACHABLE = "sqlite:////nonexistent-folder/powerflow.db"
POSTGRES_DOWN = "postgresql+psycopg://powerflow:secret@127.0.0.1:9/powerflow"  # nothing on 9
UNKNOWN_SCHEME = "mysqlish://db.example/powerflow"


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "POWERFLOW_DATABASE_URL"}
    environment.update({"POWERFLOW_LOG_LEVEL": "warning", **(env or {})})
    return subprocess.run(
        [sys.executable, "-W", "ignore", "-m", "powerflow", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
    )


def _assert_one_sentence(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("powerflow: ")
    for word in words:
        assert word in lines[0], lines[0]


COMMANDS = [
    pytest.param(["db", "upgrade"], SQLITE_UNREACHABLE, id="db-upgrade"),
    pytest.param(["deploy", str(DATA / "timer.bpmn")], POSTGRES_DOWN, id="deploy"),
    pytest.param(["users", "add", "ann", "--roles", "clerk"], UNKNOWN_SCHEME, id="users-add"),
    pytest.param(["users", "token", "ann"], SQLITE_UNREACHABLE, id="users-token"),
    pytest.param(["users", "list"], POSTGRES_DOWN, id="users-list"),
    pytest.param(["audit", "verify"], UNKNOWN_SCHEME, id="audit-verify"),
    pytest.param(["serve", "--port", "0"], SQLITE_UNREACHABLE, id="serve"),
]
EXPECTED = {
    SQLITE_UNREACHABLE: ("/nonexistent-folder/powerflow.db", "folder"),
    POSTGRES_DOWN: ("127.0.0.1:9", "Connection refused"),
    UNKNOWN_SCHEME: ("unknown kind of database", "postgresql+psycopg://"),
}


@pytest.mark.parametrize(("command", "url"), COMMANDS)
def test_a_database_that_cannot_be_opened_is_one_sentence(command: list[str], url: str) -> None:
    result = _run(*command, "--database-url", url)
    _assert_one_sentence(result, *EXPECTED[url])
    assert "secret" not in result.stderr  # the password is not shown


@pytest.mark.parametrize("url", [SQLITE_UNREACHABLE, POSTGRES_DOWN, UNKNOWN_SCHEME])
def test_each_kind_of_database_failure_from_the_environment(url: str) -> None:
    result = _run("users", "list", env={"POWERFLOW_DATABASE_URL": url})
    _assert_one_sentence(result, *EXPECTED[url])


def test_serve_on_a_busy_port_exits_before_touching_the_database(tmp_path: Path) -> None:
    database = tmp_path / "powerflow.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run("serve", "--port", str(port), "--database-url", f"sqlite:///{database}")
    _assert_one_sentence(result, f"127.0.0.1:{port}", "--port")
    assert not database.exists()  # no database created, no admin token printed, no examples
    assert "token" not in result.stdout
