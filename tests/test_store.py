"""The store's SQLite write discipline: the kept writer connection and background checkpoints."""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from powerflow.db import migrate
from powerflow.db.engine import Store


def _store(path: Path) -> Store:
    store = Store(f"sqlite:///{path}")
    migrate.upgrade(store.engine)
    return store


def _write_users(store: Store, names: list[str]) -> None:
    for name in names:
        with store.begin(write=True) as conn:
            conn.execute(
                text(
                    "INSERT INTO users (name, roles, token_hash, disabled, created_at) "
                    "VALUES (:n, '[]', :h, 0, '2026-01-01 00:00:00')"
                ),
                {"n": name, "h": f"hash-{name}"},
            )


def _users_in_main_file(db: Path, tmp_path: Path) -> int:
    """Rows visible in the main database file alone, as if the WAL were lost."""
    copy = tmp_path / "main-only.db"
    shutil.copyfile(db, copy)
    conn = sqlite3.connect(copy)
    try:
        return int(conn.execute("SELECT count(*) FROM users").fetchone()[0])
    finally:
        conn.close()


def test_background_checkpoints_copy_the_log_into_the_database_file(tmp_path: Path) -> None:
    db = tmp_path / "ckpt.db"
    store = _store(db)
    try:
        with sqlite3.connect(db) as raw:  # start from a database file that holds the schema
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        base = _users_in_main_file(db, tmp_path)
        _write_users(store, [f"without-{i}" for i in range(20)])
        # Without the checkpointer the rows wait in the WAL (far below the automatic threshold).
        assert _users_in_main_file(db, tmp_path) == base
        store.start_checkpointer(interval=0.05)
        _write_users(store, [f"with-{i}" for i in range(20)])
        deadline = time.monotonic() + 10
        while _users_in_main_file(db, tmp_path) < base + 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _users_in_main_file(db, tmp_path) == base + 40
    finally:
        store.dispose()


def test_a_failed_write_leaves_nothing_and_the_next_write_succeeds(tmp_path: Path) -> None:
    store = _store(tmp_path / "writer.db")
    try:
        with pytest.raises(RuntimeError), store.begin(write=True) as conn:
            conn.execute(
                text(
                    "INSERT INTO users (name, roles, token_hash, disabled, created_at) "
                    "VALUES ('ghost', '[]', 'h-ghost', 0, '2026-01-01 00:00:00')"
                )
            )
            raise RuntimeError("the step failed after its first write")
        _write_users(store, ["after"])
        with store.begin(write=False) as conn:
            names = set(conn.execute(text("SELECT name FROM users")).scalars())
        assert "ghost" not in names
        assert "after" in names
    finally:
        store.dispose()


def test_migrations_build_exactly_the_models_schema(db_url: str) -> None:
    """Alembic's history and the SQLAlchemy models describe the same schema, on each dialect."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from powerflow.db.models import Base

    store = Store(db_url)
    try:
        migrate.upgrade(store.engine)
        with store.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        store.dispose()


def test_a_locked_database_answers_503_and_the_next_write_succeeds(sqlite_url: str) -> None:
    """Another process holds SQLite's write lock past the busy timeout: the request gets 503 with
    Retry-After (not a 500), nothing is half-written, and once the lock is gone the same request
    succeeds on the same kept writer connection."""
    from fastapi.testclient import TestClient

    from conftest import Api, make_settings
    from powerflow.app import create_app

    app = create_app(make_settings(sqlite_url, busy_timeout_ms=100), run_workers=False)
    with TestClient(app) as client:
        api = Api(client)
        assert api.deploy("three_tasks.bpmn").status_code == 201
        clerk = api.user("clerk,clerk-office")
        body = {"definition_key": "three_tasks", "business_key": "locked-1"}
        other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            for _ in range(2):
                blocked = client.post("/v1/instances", headers=clerk, json=body)
                assert blocked.status_code == 503, blocked.text
                assert blocked.headers["retry-after"] == "1"
                assert blocked.headers["content-type"].startswith("application/problem+json")
            other.execute("ROLLBACK")
        finally:
            other.close()
        started = client.post("/v1/instances", headers=clerk, json=body)
        assert started.status_code == 201, started.text
        listed = client.get("/v1/instances?business_key=locked-1", headers=clerk).json()
        assert [i["id"] for i in listed["items"]] == [started.json()["id"]]
        task = started.json()["tasks"][0]["id"]
        done = client.post(f"/v1/tasks/{task}/complete", headers=clerk, json={"data": {}})
        assert done.status_code == 200, done.text
