"""Fixes of the rules review: rules of called processes, claim rules on unclaimed completion,
non-numbers, cumulative windows and ledger, the advisory lock, declarations, repeated refusals."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import insert, select

from conftest import DATA, Api
from powerflow.db.advisory import lock_keys
from powerflow.db.models import RuleLedger
from rules_support import complete, deploy_xml, events, process_xml, start, types

NEVER = '<pf:rule id="NEVER" kind="expression" require="False">Never allowed.</pf:rule>'


def _call_activity_xml(rule: str = "") -> str:
    xml = (DATA / "call_activity.bpmn").read_text()
    xml = xml.replace(
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"',
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:pf="urn:powerflow:bpmn:1.0"',
        1,
    )
    return xml.replace(
        '<bpmn:extensionElements><camunda:formData><camunda:formField id="verified"',
        f'<bpmn:extensionElements>{rule}<camunda:formData><camunda:formField id="verified"',
        1,
    )


def _verify(api: Api, key: str) -> tuple[str, dict[str, str]]:
    clerk, registrar = api.user("clerk"), api.user("registrar")
    instance = start(api, clerk, key, **({"applicant": "ada"} if key != "identity_check" else {}))
    task = next(t for t in instance["tasks"] if t["element_id"] == "verify")
    return str(task["id"]), registrar


def test_a_rule_of_a_called_process_guards_its_task_inside_the_caller(
    api: Api, tmp_path: Path
) -> None:
    """H1: before the fix the caller's catalog dropped the called process's rules (200)."""
    assert deploy_xml(api, tmp_path, _call_activity_xml(NEVER)).status_code == 201
    for key in ("identity_check", "licence_application"):
        task_id, registrar = _verify(api, key)
        refused = complete(api, registrar, task_id, verified=True)
        assert refused.status_code == 403, (key, refused.text)
        assert refused.json()["rule_id"] == "NEVER"


def test_an_api_rule_matches_the_process_that_owns_the_task(api: Api, tmp_path: Path) -> None:
    """H1: an API rule for the called process's key guards its task when called too."""
    assert deploy_xml(api, tmp_path, _call_activity_xml()).status_code == 201
    body = {
        "kind": "expression",
        "effect": "block",
        "message": "Never verify.",
        "process_key": "identity_check",
        "elements": ["verify"],
        "params": {"require": "False"},
    }
    assert api.client.put("/v1/rules/ORG-NEVER", headers=api.admin, json=body).status_code == 201
    for key in ("identity_check", "licence_application"):
        task_id, registrar = _verify(api, key)
        refused = complete(api, registrar, task_id, verified=True)
        assert refused.status_code == 403, (key, refused.text)
    body["process_key"] = "licence_application"  # the caller's key: not the task's process
    assert api.client.put("/v1/rules/ORG-NEVER", headers=api.admin, json=body).status_code == 200
    task_id, registrar = _verify(api, "licence_application")
    assert complete(api, registrar, task_id, verified=True).status_code == 200


def test_a_claim_rule_also_guards_a_completion_without_a_claim(api: Api, tmp_path: Path) -> None:
    """H2: before the fix, completing an unclaimed task passed by an on="claim" rule."""
    rule = NEVER.replace("kind=", 'on="claim" kind=')
    assert deploy_xml(api, tmp_path, process_xml("p", review=rule)).status_code == 201
    maker, checker = api.user("clerk,preparer"), api.user("clerk,reviewer")
    instance = start(api, maker, "p")
    review = complete(api, maker, instance["tasks"][0]["id"]).json()["tasks"][0]["id"]
    refused = complete(api, checker, review)
    assert refused.status_code == 403, refused.text
    assert refused.json()["rule_id"] == "NEVER"
    assert types(api, instance["id"])[-2:] == ["violation.blocked", "alert.raised"]
    claimed = api.client.post(f"/v1/tasks/{review}/claim", headers=checker)
    assert claimed.status_code == 403


CAP = (
    '<pf:rule id="CAP" kind="authority" variable="amount" caps="reviewer:1000">Too much.</pf:rule>'
)
SUM = (
    '<pf:rule id="SUM" kind="cumulative" variable="amount" key="payee" window="P30D" '
    'threshold="1000">Too much for one payee.</pf:rule>'
)


def _review(api: Api, key: str) -> tuple[str, str, dict[str, str]]:
    maker, checker = api.user("clerk,preparer"), api.user("clerk,reviewer")
    instance = start(api, maker, key)
    review = complete(api, maker, instance["tasks"][0]["id"]).json()["tasks"][0]["id"]
    return str(instance["id"]), str(review), checker


def test_not_a_finite_amount_is_refused_by_authority_and_cumulative(
    api: Api, tmp_path: Path
) -> None:
    """M1: "NaN" passed the cap (NaN > cap is false) and wrote NaN to the ledger (500 on
    SQLite); now a present amount that is no finite number is refused, and nothing summed."""
    assert deploy_xml(api, tmp_path, process_xml("cap", review=CAP)).status_code == 201
    assert deploy_xml(api, tmp_path, process_xml("sum", review=SUM)).status_code == 201
    for key in ("cap", "sum"):
        for amount in ("NaN", "inf", "-Infinity", "lots"):
            _, review, checker = _review(api, key)
            refused = complete(api, checker, review, amount=amount, payee="Qinghe")
            assert refused.status_code == 403, (key, amount, refused.text)
            assert refused.json()["violations"][0]["evidence"]["not_a_number"] is True
    _, review, checker = _review(api, "sum")
    assert complete(api, checker, review, amount=999, payee="Qinghe").status_code == 200
    _, review, checker = _review(api, "cap")
    assert complete(api, checker, review).status_code == 200  # no amount: nothing to compare


def test_a_negative_or_oversized_window_is_refused(api: Api, tmp_path: Path) -> None:
    """M2: "P1000000D" was accepted, then every completion raised OverflowError (500)."""
    body: dict[str, object] = {
        "kind": "cumulative",
        "message": "Too much.",
        "params": {"variable": "amount", "key": ["payee"], "threshold": 10},
    }
    for window in ("P1000000D", "-P30D", "P101Y", "P0D"):
        body["params"] = {**body["params"], "window": window}  # type: ignore[dict-item]
        response = api.client.put("/v1/rules/W", headers=api.admin, json=body)
        assert response.status_code == 422, (window, response.text)
        assert "window" in response.json()["detail"]
        bad = SUM.replace("P30D", window)
        assert deploy_xml(api, tmp_path, process_xml("w", review=bad)).status_code == 422
    body["params"] = {**body["params"], "window": "P100Y"}  # type: ignore[dict-item]
    assert api.client.put("/v1/rules/W", headers=api.admin, json=body).status_code == 201


def _ledger_rows(api: Api, instance_id: str) -> list[float]:
    with api.store.engine.begin() as conn:
        rows = conn.execute(
            select(RuleLedger.amount).where(RuleLedger.instance_id == instance_id)
        ).all()
    return [float(r[0]) for r in rows]


def test_a_task_done_again_replaces_its_ledger_row(api: Api, tmp_path: Path) -> None:
    """M8: a process-level cumulative rule guards both tasks; the second completion of one
    instance counted its amount twice (600 + 600 refused at 1000) before the fix."""
    rule = SUM.replace('threshold="1000"', 'threshold="1000" on="complete"')
    assert deploy_xml(api, tmp_path, process_xml("again", process=rule)).status_code == 201
    maker, checker = api.user("clerk,preparer"), api.user("clerk,reviewer")
    instance = start(api, maker, "again")
    done = complete(api, maker, instance["tasks"][0]["id"], amount=600, payee="Qinghe")
    assert done.status_code == 200, done.text
    review = done.json()["tasks"][0]["id"]
    assert complete(api, checker, review, amount=600, payee="Qinghe").status_code == 200
    assert _ledger_rows(api, instance["id"]) == [600.0]
    other = start(api, maker, "again")
    refused = complete(api, maker, other["tasks"][0]["id"], amount=600, payee="Qinghe")
    assert refused.status_code == 403  # 600 of the first instance + 600
    assert refused.json()["violations"][0]["evidence"]["sum_before"] == 600


def test_concurrent_cumulative_completions_wait_for_each_other(api: Api, tmp_path: Path) -> None:
    """M9: on PostgreSQL a completion reads the sum only after a concurrent writer of the same
    (rule, key) committed; before the fix it read the old sum and passed (200)."""
    if api.store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: nothing to serialise")
    assert deploy_xml(api, tmp_path, process_xml("race", review=SUM)).status_code == 201
    _, review, checker = _review(api, "race")
    key_hash = hashlib.sha256(orjson.dumps(["qinghe"])).hexdigest()
    result: dict[str, Any] = {}

    def act() -> None:
        result["response"] = complete(api, checker, review, amount=600, payee="Qinghe")

    with api.store.engine.begin() as conn:  # another instance's completion, not yet committed
        lock_keys(conn, [("SUM", "race", key_hash)])
        conn.execute(
            insert(RuleLedger).values(
                rule_id="SUM",
                definition_key="race",
                key_hash=key_hash,
                instance_id="other",
                amount=600.0,
                occurred_at=api.store.now(),
            )
        )
        thread = threading.Thread(target=act)
        thread.start()
        thread.join(timeout=1.0)
        assert thread.is_alive(), "the completion did not wait for the lock"
    thread.join(timeout=30)
    assert result["response"].status_code == 403, result["response"].text


def test_repeated_refusals_raise_one_alert_while_it_is_open(api: Api, tmp_path: Path) -> None:
    """L2: each refused attempt wrote a new red alert; now one per (rule, task, actor) while
    it is open (the violation row and event are still written each time)."""
    assert deploy_xml(api, tmp_path, process_xml("rep", review=NEVER)).status_code == 201
    instance_id, review, checker = _review(api, "rep")
    seen = len(types(api, instance_id))
    for _ in range(3):
        assert complete(api, checker, review).status_code == 403
    assert types(api, instance_id)[seen:] == [
        "violation.blocked",
        "alert.raised",
        "violation.blocked",
        "violation.blocked",
    ]
    other = api.user("clerk,reviewer")
    assert complete(api, other, review).status_code == 403  # another person: its own alert
    assert types(api, instance_id)[-2:] == ["violation.blocked", "alert.raised"]
    alerts = api.client.get(f"/v1/alerts?instance_id={instance_id}", headers=api.admin).json()
    for alert in alerts["items"]:  # once acknowledged, the next refusal alerts again
        path = f"/v1/alerts/{alert['id']}/acknowledge"
        assert api.client.post(path, headers=api.admin, json={}).status_code == 200
    assert complete(api, checker, review).status_code == 403
    assert types(api, instance_id)[-2:] == ["violation.blocked", "alert.raised"]
    violations = api.client.get("/v1/violations", headers=api.admin).json()["items"]
    assert len([v for v in violations if v["rule_id"] == "NEVER"]) == 5


def test_a_refusal_that_cannot_be_recorded_still_names_its_rule(api: Api, tmp_path: Path) -> None:
    """L2: giving up recording a refused attempt raised Conflict (409) instead of the 403."""
    from powerflow.services.errors import RuleViolated
    from powerflow.services.power import policy

    assert deploy_xml(api, tmp_path, process_xml("gone", review=NEVER)).status_code == 201
    instance_id, review, checker = _review(api, "gone")
    refused = complete(api, checker, review)
    assert refused.status_code == 403
    exc = RuleViolated("x")
    exc.blocked = policy.Blocked(
        policy.Outcome("complete", "someone", review, "Review", "review", ["reviewer"]),
        instance_id,
    )
    policy.record_blocked(api.store, exc, attempts=0)  # every try lost its race: no Conflict


def test_a_recusal_event_does_not_show_the_counterparty(api: Api, tmp_path: Path) -> None:
    """L3: the counterparty of a private declaration went into the violation.blocked event,
    readable by every participant; it stays in the violations row for supervisors."""
    rule = '<pf:rule id="R12" kind="recusal" variables="payee">Step aside.</pf:rule>'
    assert deploy_xml(api, tmp_path, process_xml("rec", review=rule)).status_code == 201
    maker, checker = api.user("clerk,preparer"), api.user("clerk,reviewer", "kin")
    declared = api.client.post(
        "/v1/declarations",
        headers=checker,
        json={"counterparty": "Qinghe Supplies", "kind": "spouse"},
    )
    assert declared.status_code == 201, declared.text
    instance = start(api, maker, "rec", payee="Qinghe Supplies")
    review = complete(api, maker, instance["tasks"][0]["id"]).json()["tasks"][0]["id"]
    assert complete(api, checker, review).status_code == 403
    blocked = [e for e in events(api, instance["id"]) if e["type"] == "violation.blocked"]
    assert blocked and "counterparty" not in blocked[0]["payload"]["evidence"]
    assert blocked[0]["payload"]["evidence"]["variable"] == "payee"
    rows = api.client.get("/v1/violations", headers=api.admin).json()["items"]
    assert rows[0]["evidence"]["counterparty"] == "Qinghe Supplies"
