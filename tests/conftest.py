"""Shared fixtures: a real database (SQLite file, and PostgreSQL when reachable), the app,
authenticated clients per role, and a real uvicorn server for tests that need one."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

# the conformance drivers assert like tests (before any test module imports them)
pytest.register_assert_rewrite("conformance")

from powerflow.app import create_app  # noqa: E402
from powerflow.engine import serializer  # noqa: E402
from powerflow.services import auth  # noqa: E402
from powerflow.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
ADMIN_TOKEN = "pf_test_admin_token"
POSTGRES_URL = os.environ.get(
    "POWERFLOW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/powerflow_test"
)


SESSION_DB = f"{make_url(POSTGRES_URL).database}_{os.getpid()}"
AUDIT_KEYS = Path(tempfile.mkdtemp(prefix="powerflow-test-keys-"))
"""Where PostgreSQL tests keep the audit log's key (a SQLite file keeps it beside itself), so
no test writes into the home directory."""


def _admin_engine():  # type: ignore[no-untyped-def]
    return create_engine(
        make_url(POSTGRES_URL).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )


def _postgres_available() -> bool:
    """Create this test session's own database (parallel runs must not share one)."""
    try:
        admin = _admin_engine()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{SESSION_DB}"'))
            conn.execute(text(f'CREATE DATABASE "{SESSION_DB}"'))
        admin.dispose()
        return True
    except Exception:
        return False


POSTGRES = _postgres_available()
SESSION_URL = make_url(POSTGRES_URL).set(database=SESSION_DB).render_as_string(hide_password=False)
if os.environ.get("POWERFLOW_REQUIRE_POSTGRES") == "1" and not POSTGRES:
    raise RuntimeError(f"PostgreSQL required for this run but not reachable at {POSTGRES_URL}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Drop this session's PostgreSQL database and the audit keys of its tests."""
    shutil.rmtree(AUDIT_KEYS, ignore_errors=True)
    if POSTGRES:
        admin = _admin_engine()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{SESSION_DB}" WITH (FORCE)'))
        admin.dispose()


def _fresh_postgres() -> str:
    engine = create_engine(SESSION_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return SESSION_URL


DB_PARAMS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgres",
        id="postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not POSTGRES, reason=f"PostgreSQL not reachable at {POSTGRES_URL}"),
        ],
    ),
]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file."""
    return f"sqlite:///{tmp_path / 'powerflow.db'}"


@pytest.fixture(params=DB_PARAMS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each available kind."""
    if request.param == "postgres":
        return _fresh_postgres()
    return f"sqlite:///{tmp_path / 'powerflow.db'}"


def _audit_key(url: str) -> Path:
    """The audit key file of a test database: beside a SQLite file, else in AUDIT_KEYS."""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///") + ".audit-key")
    return AUDIT_KEYS / f"{make_url(url).database}.key"


def make_settings(url: str, **overrides: object) -> Settings:
    """Settings for a test service on the given database."""
    values: dict[str, object] = {
        "database_url": url,
        "admin_token": ADMIN_TOKEN,
        "deploy_examples": False,
        "timer_poll_seconds": 0.2,
        "audit_key_file": str(_audit_key(url)),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


class Api:
    """A started application with helpers to make users and authenticated clients."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.store = client.app.state.store  # type: ignore[attr-defined]

    def user(self, roles: str, name: str | None = None) -> dict[str, str]:
        """Create a user with roles; return the Authorization header for them."""
        token = auth.add_user(self.store, name or f"u{uuid.uuid4().hex[:8]}", roles)
        return {"Authorization": f"Bearer {token}"}

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def deploy(self, path: Path | str, headers: dict[str, str] | None = None) -> httpx.Response:
        """Upload a BPMN file as multipart."""
        path = Path(path) if not isinstance(path, Path) else path
        if not path.is_absolute():
            path = DATA / path
        designer = headers or self.user("designer")
        return self.client.post(
            "/v1/definitions", headers=designer, files={"file": (path.name, path.read_bytes())}
        )


@pytest.fixture
def api(db_url: str) -> Iterator[Api]:
    """The application on a fresh database (SQLite file; also PostgreSQL when reachable)."""
    app = create_app(make_settings(db_url), run_workers=False)
    with TestClient(app) as client:
        yield Api(client)


@pytest.fixture
def sqlite_api(sqlite_url: str) -> Iterator[Api]:
    """The application on a fresh SQLite file only."""
    app = create_app(make_settings(sqlite_url), run_workers=False)
    with TestClient(app) as client:
        yield Api(client)


@pytest.fixture
def reload_every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep no workflow object between steps: every step deserializes the instance's saved
    state, so a save/load bug cannot hide behind the in-memory workflow cache."""
    monkeypatch.setattr(serializer.WORKFLOWS, "put", lambda *args: None)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A real `powerflow serve` process on 127.0.0.1."""

    def __init__(self, url: str, db_url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.db_url = db_url
        self.proc = proc
        self.log = log

    def output(self) -> str:
        """What the server printed so far."""
        return self.log.read_text(errors="replace")

    def user(self, roles: str, name: str | None = None) -> dict[str, str]:
        """Create a user through the CLI (as an operator would) and return its header."""
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "powerflow",
                "users",
                "add",
                name or f"u{uuid.uuid4().hex[:8]}",
                "--roles",
                roles,
                "--database-url",
                self.db_url,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return {"Authorization": f"Bearer {out.stdout.strip()}"}


def start_server(db_url: str, **env: str) -> Server:
    """Start `python -m powerflow serve` and wait until /health answers."""
    port = free_port()
    environment = {
        **os.environ,
        "POWERFLOW_DATABASE_URL": db_url,
        "POWERFLOW_ADMIN_TOKEN": ADMIN_TOKEN,
        "POWERFLOW_LOG_LEVEL": "warning",
        "POWERFLOW_AUDIT_KEY_FILE": str(_audit_key(db_url)),
        **env,
    }
    log = Path(tempfile.mkstemp(prefix="powerflow-server-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "powerflow", "serve", "--port", str(port)],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return Server(url, db_url, proc, log)
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not become healthy within 30 s")


def stop_server(server: Server) -> None:
    """Stop the server process."""
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
    server.log.unlink(missing_ok=True)


@pytest.fixture
def server(db_url: str) -> Iterator[Server]:
    """A real uvicorn server on a fresh database of each available kind."""
    srv = start_server(db_url, POWERFLOW_DEPLOY_EXAMPLES="false")
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture
def run_task() -> Callable[..., httpx.Response]:
    """Complete a task through a client."""

    def _run(
        client: TestClient, headers: dict[str, str], task_id: str, **data: object
    ) -> httpx.Response:
        return client.post(f"/v1/tasks/{task_id}/complete", headers=headers, json={"data": data})

    return _run
