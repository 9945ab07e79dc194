"""The audit log in real `powerflow serve` processes: the key is made and printed on first
start, the background worker appends every event and signs checkpoints; on PostgreSQL two
servers write and sequence at once and no leaf is lost or duplicated."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from conftest import DATA, Server, start_server, stop_server
from powerflow.audit_log import note, offline

PER_THREAD = 6


@pytest.mark.e2e
def test_servers_sequence_and_checkpoint_every_event(db_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "audit.key"
    env = {
        "POWERFLOW_DEPLOY_EXAMPLES": "false",
        "POWERFLOW_AUDIT_KEY_FILE": str(key_file),
        "POWERFLOW_AUDIT_ORIGIN": "audit.example/powerflow-test",
        "POWERFLOW_AUDIT_SEQUENCE_SECONDS": "0.2",
        "POWERFLOW_AUDIT_CHECKPOINT_SECONDS": "0.5",
    }
    servers: list[Server] = [start_server(db_url, **env)]
    try:
        assert "created the audit log's signing key" in servers[0].output()
        if db_url.startswith("postgresql"):
            servers.append(start_server(db_url, **env))  # a second worker, the same key
        _drive(servers)
        auditor = servers[0].user("auditor")
        with httpx.Client(base_url=servers[-1].url, timeout=30) as client:
            key = note.parse_verifier(client.get("/public/audit/key").json()["verifier_key"])
            assert key.name == "audit.example/powerflow-test"
            assert key.encode() in servers[0].output()
            engine = create_engine(db_url)
            with engine.connect() as conn:
                events = conn.execute(text("SELECT count(*) FROM events")).scalar_one()
            deadline = time.monotonic() + 30
            latest: dict[str, object] = {}
            while time.monotonic() < deadline:
                latest = client.get("/v1/audit/checkpoints/latest", headers=auditor).json()
                if latest.get("tree_size") == events:
                    break
                time.sleep(0.2)
            assert latest.get("tree_size") == events, latest
            with engine.connect() as conn:
                leaves = conn.execute(
                    text(
                        "SELECT count(*), count(DISTINCT event_id), max(leaf_index) "
                        "FROM audit_leaves"
                    )
                ).one()
            engine.dispose()
            assert tuple(leaves) == (events, events, events - 1)
            listed = client.get("/v1/audit/checkpoints?limit=1000", headers=auditor).json()
        kept = tmp_path / "kept.txt"
        kept.write_text("".join(json.dumps({"note": c["note"]}) + "\n" for c in listed["items"]))
        out = tmp_path / "export"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "powerflow",
                "audit",
                "export",
                "--out",
                str(out),
                "--database-url",
                db_url,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        report = offline.verify(
            out / "leaves.jsonl",
            offline.read_checkpoints(kept),
            key,
            stored_hashes=out / "leaf_hashes.txt",
        )
        assert report.ok, report.problems
        assert report.verified_size == events and report.checkpoints == len(listed["items"])
    finally:
        for server in servers:
            stop_server(server)


def _drive(servers: list[Server]) -> None:
    designer = servers[0].user("designer")
    clerk = servers[0].user("clerk,clerk-office")
    with httpx.Client(base_url=servers[0].url, timeout=30) as setup:
        deployed = setup.post(
            "/v1/definitions",
            headers=designer,
            files={"file": ("t.bpmn", (DATA / "three_tasks.bpmn").read_bytes())},
        )
        assert deployed.status_code == 201, deployed.text
    errors: list[str] = []

    def work(server: Server) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for _ in range(PER_THREAD):
                started = client.post(
                    "/v1/instances", headers=clerk, json={"definition_key": "three_tasks"}
                )
                if started.status_code != 201:
                    errors.append(started.text)
                    continue
                task = started.json()["tasks"][0]["id"]
                done = client.post(f"/v1/tasks/{task}/complete", headers=clerk, json={"data": {}})
                if done.status_code != 200:
                    errors.append(done.text)

    threads = [threading.Thread(target=work, args=(s,)) for s in servers for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
