#!/usr/bin/env python
"""External tasks over HTTP: the cost of fetch-and-lock and of completing a task.

Creates a fresh database (SQLite file by default, or ``--database-url``), deploys
``tests/data/external_payment.bpmn``, starts ``--instances`` instances (each waits at an external
task of the topic ``charge-card``), then one worker loop (in-process ASGI client) fetches
``--batch`` tasks at a time and completes each, until none is left. Prints p50/p99 of a
fetch-and-lock call and of a completion, and tasks completed per second.

    python bench/external_tasks.py --instances 500 --batch 10

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from powerflow.app import create_app
from powerflow.services import auth
from powerflow.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "tests" / "data" / "external_payment.bpmn"


def pct(values: list[float], q: float) -> float:
    """The q-quantile of values, in milliseconds."""
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings = Settings(
            database_url=url,
            deploy_examples=False,
            admin_token="pf_bench_admin_token_0123456789abcdef",
        )  # type: ignore[call-arg]
        app = create_app(settings, run_workers=False)
        with TestClient(app) as client:
            store = client.app.state.store  # type: ignore[attr-defined]

            def user(roles: str) -> dict[str, str]:
                token = auth.add_user(store, f"bench-{roles}-{time.monotonic_ns()}", roles)
                return {"Authorization": f"Bearer {token}"}

            deployed = client.post(
                "/v1/definitions",
                headers=user("designer"),
                files={"file": (MODEL.name, MODEL.read_bytes())},
            )
            assert deployed.status_code == 201, deployed.text
            clerk, worker = user("clerk"), user("worker")
            for i in range(args.instances):
                started = client.post(
                    "/v1/instances",
                    headers=clerk,
                    json={"definition_key": "external_payment", "variables": {"amount": i}},
                )
                assert started.status_code == 201, started.text
            fetches: list[float] = []
            completions: list[float] = []
            began = time.perf_counter()
            done = 0
            while True:
                t0 = time.perf_counter()
                got = client.post(
                    "/v1/external-tasks/fetch-and-lock",
                    headers=worker,
                    json={
                        "worker_id": "bench",
                        "max_tasks": args.batch,
                        "topics": [{"name": "charge-card", "lock_duration": 60_000}],
                    },
                )
                fetches.append(time.perf_counter() - t0)
                tasks = got.json()
                if not tasks:
                    break
                for task in tasks:
                    t0 = time.perf_counter()
                    completed = client.post(
                        f"/v1/external-tasks/{task['id']}/complete",
                        headers=worker,
                        json={"worker_id": "bench", "variables": {"transaction": "T"}},
                    )
                    completions.append(time.perf_counter() - t0)
                    assert completed.status_code == 204, completed.text
                    done += 1
            elapsed = time.perf_counter() - began
    print(f"database: {url.split(':', 1)[0]}, instances: {args.instances}, batch: {args.batch}")
    print(
        f"fetch-and-lock ({len(fetches)} calls): p50 {pct(fetches, 0.5):.2f} ms, "
        f"p99 {pct(fetches, 0.99):.2f} ms"
    )
    print(
        f"complete ({len(completions)} calls): p50 {pct(completions, 0.5):.2f} ms, "
        f"p99 {pct(completions, 0.99):.2f} ms, mean {1000 * statistics.mean(completions):.2f} ms"
    )
    print(f"tasks completed: {done} in {elapsed:.2f} s ({done / elapsed:.0f}/s, one worker loop)")


if __name__ == "__main__":
    main()
