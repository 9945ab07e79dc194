#!/usr/bin/env python
"""What negative-list rules cost: server CPU per instance with 0 and with 20 active rules.

A two-task process (``first`` by a handler, ``second`` by an approver; start, complete,
complete) runs in-process through the services, as the HTTP routes call them (no HTTP, no
client: what is measured is the server's own work), on a SQLite file (or ``--db-url``). Two
copies of the process are deployed: ``bench_plain`` with no rule; ``bench_every`` with 16
``pf:rule`` declarations on the process (every kind, each guarding both tasks where it can) and
4 API rules for it: 20 active rules, all kept by the data, so every act evaluates them all
(declarations, lists, history and the cumulative ledger are read; ledger rows are written);
``bench_spread`` with the same 20 rules each guarding one of the two tasks.

Rounds alternate plain and ruled batches (interleaved, so drift hits both); the median CPU per
instance of each is reported with the relative cost. The bar (issue 8): at most +10 %.

    python bench/rules_cost.py
    python bench/rules_cost.py --instances 300 --rounds 7 --json /tmp/rules.json

Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from powerflow.bootstrap import prepare
from powerflow.db.engine import Store
from powerflow.services import definitions, tasks
from powerflow.services.auth import Principal
from powerflow.services.instances import start_instance
from powerflow.services.power import policy, rules
from powerflow.settings import Settings

PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:pf="urn:powerflow:bpmn:1.0" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    id="d_{key}" targetNamespace="urn:bench">
  <bpmn:process id="{key}" name="Rules bench" isExecutable="true">
    <bpmn:extensionElements><pf:acceptsData fields="*"/>{rules}</bpmn:extensionElements>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="first" name="First" camunda:candidateGroups="handler">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="second" name="Second" camunda:candidateGroups="approver">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first"/>
    <bpmn:sequenceFlow id="f2" sourceRef="first" targetRef="second"/>
    <bpmn:sequenceFlow id="f3" sourceRef="second" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
BPMN_RULES = [
    'kind="separation-of-duties" tasks="first,second" starter="true"',
    'kind="authority" variable="amount" caps="handler:100000;approver:100000"',
    'kind="authority" variable="amount" caps="handler:50000;approver:80000" effect="warn"',
    'kind="recusal" variables="payee,supplier"',
    'kind="required-before" before="first" elements="second" otherPerson="true"',
    'kind="quorum" present="present" members="members" fraction="2/3"',
    'kind="quorum" present="present" memberCount="4" fraction="1/2" effect="record"',
    'kind="speaking-order" opinions="opinions" principal="chair"',
    'kind="list" variable="supplier" list="barred"',
    'kind="list" variable="payee" list="barred" effect="warn"',
    'kind="cumulative" variable="amount" key="payee" window="P30D" threshold="1e12"',
    'kind="cumulative" variable="amount" key="payee,budget" window="calendar-year" '
    'threshold="1e12" effect="warn"',
    'kind="reason-required" variable="decision" values="rejected,refused" reason="reason"',
    'kind="reason-required" variable="decision" values="returned" reason="reason" effect="record"',
    'kind="expression" require="data.get(\'amount\', 0) &lt; 1000000"',
    'kind="expression" require="actor != starter and len(history) &lt; 10" effect="warn"',
]
API_RULES: list[dict[str, Any]] = [
    {
        "kind": "authority",
        "params": {"variable": "amount", "caps": {"handler": 1e6, "approver": 1e6}},
    },
    {"kind": "list", "params": {"variable": "supplier", "list": "barred"}},
    {
        "kind": "reason-required",
        "params": {"variable": "decision", "values": "rejected", "reason": "reason"},
    },
    {"kind": "expression", "params": {"require": "data['amount'] > 0"}},
]
VARIABLES: dict[str, Any] = {
    "amount": 500,
    "payee": "Acme Ltd",
    "supplier": "Acme Ltd",
    "budget": "30218",
    "decision": "approved",
    "present": ["a", "b", "c"],
    "members": ["a", "b", "c", "d"],
    "opinions": ["a", "b", {"member": "Chair"}],
    "chair": "chair",
}
STARTER = Principal("starter", frozenset({"clerk"}))
HANDLER = Principal("handler", frozenset({"clerk", "handler"}))
APPROVER = Principal("approver", frozenset({"clerk", "approver"}))
ADMIN = Principal("admin", frozenset({"admin", "designer"}))


PLACEMENTS = ("every", "spread")
"""every: each rule guards both tasks (every act evaluates all 20: the worst case); spread:
each rule guards one task, alternately (10 per act: rules placed on the step they concern)."""


def _where(i: int, placement: str) -> str:
    return "" if placement == "every" else ("first", "second")[i % 2]


def _rules_xml(placement: str) -> str:
    out = []
    for i, attrs in enumerate(BPMN_RULES, 1):
        where = _where(i, placement)
        if where and "elements=" in attrs:
            attrs = attrs.replace('elements="second"', f'elements="{where}"')
            if where == "first":  # required-before first-before-first cannot hold
                attrs = 'kind="authority" variable="amount" caps="handler:100000"'
        elif where:
            attrs += f' elements="{where}"'
        out.append(f'<pf:rule id="B{i:02d}" {attrs}>Rule {i} of the bench.</pf:rule>')
    return "".join(out)


def setup(store: Store) -> None:
    """Deploy the processes, the API rules, a list and a declaration of someone else's."""
    xml = PROCESS.format(key="bench_plain", rules="").encode()
    definitions.deploy(store, xml, "bench_plain.bpmn", ADMIN, max_bytes=1 << 20)
    for placement in PLACEMENTS:
        key = f"bench_{placement}"
        xml = PROCESS.format(key=key, rules=_rules_xml(placement)).encode()
        definitions.deploy(store, xml, f"{key}.bpmn", ADMIN, max_bytes=1 << 20)
        for i, body in enumerate(API_RULES, 1):
            where = _where(i, placement)
            raw = {
                **body,
                "message": f"API rule {i}.",
                "process_key": key,
                "elements": [where] if where else [],
            }
            rules.put_rule(store, ADMIN, f"A{i:02d}-{placement}", raw)
    from powerflow.services.power import declarations, lists

    lists.put_list(store, ADMIN, "barred", "Barred suppliers")
    lists.add_entry(store, ADMIN, "barred", "Evil Corp", "bench")
    declarations.declare(
        store, APPROVER, counterparty="Other Ltd", kind="other", note=None, person=None
    )


PAYEES = [f"Payee {i}" for i in range(100)]
_counter = iter(range(10**9))


def one_instance(store: Store, key: str) -> None:
    """Start, complete first (handler), complete second (approver); payees cycle over 100."""
    payee = PAYEES[next(_counter) % len(PAYEES)]
    variables = {**VARIABLES, "payee": payee}
    started = start_instance(store, STARTER, key, variables=variables)
    first = started.tasks[0].id
    done = tasks.complete(store, HANDLER, first, {"note": "ok"})
    second = done.tasks[0].id
    ended = tasks.complete(store, APPROVER, second, {"approved": True})
    if ended.status != "completed":
        raise RuntimeError(f"{key}: the instance did not complete ({ended.status})")


POLICY_CPU = [0.0]


def _timed(fn: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            POLICY_CPU[0] += time.thread_time() - t0

    return wrapper


def instrument() -> None:
    """Count the CPU spent inside the policy (check and record) directly: less noisy than the
    difference of two batches on a shared machine."""
    policy.check = _timed(policy.check)  # type: ignore[method-assign]
    policy.record = _timed(policy.record)  # type: ignore[method-assign]


def batch(store: Store, key: str, instances: int) -> float:
    """CPU seconds per instance of a batch (this process: the server's own work)."""
    cpu0 = time.process_time()
    for _ in range(instances):
        one_instance(store, key)
    return (time.process_time() - cpu0) / instances


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=200, help="instances per batch")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument("--db-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument(
        "--server-cpu-ms",
        type=float,
        default=4.5,
        help="server CPU per instance over HTTP (bench/throughput.py), for the share",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db_url or f"sqlite:///{tmp}/bench.db"
        store = Store(url)
        prepare(store, Settings(database_url=url, deploy_examples=False, admin_token="x" * 32))
        setup(store)
        keys = ["bench_plain", *(f"bench_{p}" for p in PLACEMENTS)]
        for key in keys:  # warm caches and specs
            batch(store, key, 20)
        instrument()
        cpu: dict[str, list[float]] = {key: [] for key in keys}
        inside: dict[str, list[float]] = {key: [] for key in keys}
        for _ in range(args.rounds):
            for key in keys:
                POLICY_CPU[0] = 0.0
                cpu[key].append(batch(store, key, args.instances))
                inside[key].append(POLICY_CPU[0] / args.instances)
        store.dispose()
    plain = min(cpu["bench_plain"])
    figures: dict[str, Any] = {
        "database": url.split(":", 1)[0],
        "instances_per_batch": args.instances,
        "rounds": args.rounds,
        "active_rules": len(BPMN_RULES) + len(API_RULES),
        "server_cpu_ms_over_http": args.server_cpu_ms,
    }
    print(
        f"database: {figures['database']}, {args.rounds} interleaved rounds of "
        f"{args.instances} instances (start + 2 completions each); CPU ms per instance"
    )
    print(
        f"  {'process':14s} {'median':>8s} {'fastest':>8s} {'policy':>8s} "
        f"{'policy/plain':>13s} {'policy/HTTP':>12s}"
    )
    for key in keys:
        pol = statistics.median(inside[key])
        row = {
            "median_ms": round(statistics.median(cpu[key]) * 1000, 3),
            "fastest_ms": round(min(cpu[key]) * 1000, 3),
            "rounds_ms": [round(x * 1000, 3) for x in cpu[key]],
            "policy_ms": round(pol * 1000, 3),
            "policy_share_of_plain_percent": round(pol / plain * 100, 1),
            "policy_share_of_http_percent": round(pol * 1000 / args.server_cpu_ms * 100, 1),
        }
        figures[key] = row
        print(
            f"  {key:14s} {row['median_ms']:8.3f} {row['fastest_ms']:8.3f} "
            f"{row['policy_ms']:8.3f} {row['policy_share_of_plain_percent']:+12.1f}% "
            f"{row['policy_share_of_http_percent']:+11.1f}%"
        )
    print(
        "  policy: CPU inside the rules' check and record (measured directly); policy/HTTP: as a "
        f"share of {args.server_cpu_ms} ms, the server CPU per instance over HTTP "
        "(bench/throughput.py). Bar: at most +10 %."
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
