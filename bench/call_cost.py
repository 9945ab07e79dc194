#!/usr/bin/env python
"""What a call to another file costs per step, against the same call within one file.

Over HTTP on a fresh SQLite file (in-process client): deploys approval_flow and a caller in
two files, and the same two processes in one file; then starts ``--instances`` instances of
each and completes the called user task of each, timing each completion (p50, p99). Also times
``engine.bound_refs`` on a saved state (what every step of a bound instance adds).

    python bench/call_cost.py --instances 200

Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import Api, make_settings  # noqa: E402
from powerflow import engine  # noqa: E402
from powerflow.app import create_app  # noqa: E402

CALLS = ROOT / "tests" / "data" / "calls"


def _one_file() -> bytes:
    """payment and approval_flow in one file (the same-file baseline)."""
    caller = (CALLS / "payment.bpmn").read_text().replace('id="payment"', 'id="payment_local"')
    callee = (CALLS / "approval_v1.bpmn").read_text()
    process = callee[callee.index("<bpmn:process") : callee.index("</bpmn:process>") + 15]
    return caller.replace("</bpmn:definitions>", process + "\n</bpmn:definitions>").encode()


def _run(api: Api, key: str, n: int) -> list[float]:
    clerk, supervisor = api.user("clerk"), api.user("supervisor")
    times = []
    for _ in range(n):
        started = api.client.post(
            "/v1/instances", headers=clerk, json={"definition_key": key, "variables": {"amount": 1}}
        ).json()
        task = started["tasks"][0]["id"]
        t0 = time.perf_counter()
        done = api.client.post(
            f"/v1/tasks/{task}/complete", headers=supervisor, json={"data": {"verdict": "ok"}}
        )
        times.append((time.perf_counter() - t0) * 1000)
        assert done.status_code == 200, done.text
    return times


def _figures(label: str, times: list[float]) -> None:
    ordered = sorted(times)
    p99 = ordered[max(0, int(len(ordered) * 0.99) - 1)]
    print(f"{label:<28} p50 {statistics.median(ordered):6.2f} ms   p99 {p99:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(make_settings(f"sqlite:///{tmp}/bench.db"), run_workers=False)
        with TestClient(app) as client:
            api = Api(client)
            designer = api.user("designer")
            files = [
                ("file", ("approval_v1.bpmn", (CALLS / "approval_v1.bpmn").read_bytes())),
                ("file", ("payment.bpmn", (CALLS / "payment.bpmn").read_bytes())),
            ]
            assert client.post("/v1/definitions", headers=designer, files=files).status_code == 201
            local = [("file", ("local.bpmn", _one_file()))]
            assert client.post("/v1/definitions", headers=designer, files=local).status_code == 201
            _run(api, "payment", 10)  # warm up both paths
            _run(api, "payment_local", 10)
            _figures("call within one file", _run(api, "payment_local", args.instances))
            _figures("call to another file", _run(api, "payment", args.instances))
    sample = '{"spec":"' + "a" * 64 + ':payment","subprocess_specs":{"approval_flow":"' + "b" * 64
    sample += (
        ':approval_flow"},"data":{},'
        + '"tasks":{'
        + ",".join(f'"t{i}":{{"x":{i}}}' for i in range(300))
        + "}}"
    )
    t0 = time.perf_counter()
    for _ in range(10_000):
        engine.bound_refs(sample)
    per = (time.perf_counter() - t0) / 10_000 * 1e6
    print(f"bound_refs on a {len(sample)}-byte state: {per:.1f} µs")


if __name__ == "__main__":
    main()
