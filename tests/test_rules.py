"""Negative-list rules over HTTP: every kind with every effect, on SQLite and PostgreSQL.

Each kind is declared on the Review task of a two-task process; one act breaks it and one
keeps it. A blocked act answers 403 with the rule, leaves the instance as it was and appends
exactly one ``violation.blocked`` event; warn and record let the act through and record it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conftest import Api
from rules_support import complete, deploy_xml, process_xml, snapshot, start, types


@dataclass
class Scenario:
    """A kind of rule, an act that breaks it and one that keeps it."""

    attrs: str
    bad: dict[str, Any]
    good: dict[str, Any]
    bad_actor: str = "checker"
    good_actor: str = "checker"
    variables: dict[str, Any] = field(default_factory=dict)
    setup: Callable[[Api, dict[str, dict[str, str]], str], None] | None = None


def _declare(api: Api, users: dict[str, dict[str, str]], key: str) -> None:
    response = api.client.post(
        "/v1/declarations",
        headers=users["checker"],
        json={"counterparty": "Qinghe Supplies", "kind": "spouse", "note": "my wife's firm"},
    )
    assert response.status_code == 201, response.text


def _blacklist(api: Api, users: dict[str, dict[str, str]], key: str) -> None:
    assert (
        api.client.put(
            "/v1/lists/blacklist", headers=api.admin, json={"description": "Barred suppliers"}
        ).status_code
        == 201
    )
    added = api.client.post(
        "/v1/lists/blacklist/entries",
        headers=api.admin,
        json={"value": "Bad Co", "reason": "Fraud, 2025"},
    )
    assert added.status_code == 201, added.text


def _earlier_payment(api: Api, users: dict[str, dict[str, str]], key: str) -> None:
    run_through(api, users, key, {"amount": 800, "payee": "X Ltd"})


def run_through(
    api: Api, users: dict[str, dict[str, str]], key: str, review: dict[str, Any]
) -> dict[str, Any]:
    """An instance prepared by the maker and reviewed by the checker with this data."""
    instance = start(api, users["maker"], key)
    [prepare] = instance["tasks"]
    done = complete(api, users["maker"], prepare["id"])
    assert done.status_code == 200, done.text
    [review_task] = done.json()["tasks"]
    finished = complete(api, users["checker"], review_task["id"], **review)
    assert finished.status_code == 200, finished.text
    return dict(finished.json())


SCENARIOS: dict[str, Scenario] = {
    "separation-of-duties": Scenario('tasks="prepare,review"', bad={}, good={}, bad_actor="maker"),
    "authority": Scenario(
        'variable="amount" caps="reviewer:1000;director:100000"',
        bad={"amount": 5000},
        good={"amount": 500},
    ),
    "recusal": Scenario(
        'variables="payee,supplier"',
        bad={"payee": "  qinghe SUPPLIES "},
        good={"payee": "Other Co"},
        setup=_declare,
    ),
    "required-before": Scenario(
        'before="prepare" otherPerson="true"', bad={}, good={}, bad_actor="maker"
    ),
    "quorum": Scenario(
        'present="present" members="members" fraction="2/3"',
        bad={"present": ["a", "b"], "members": ["a", "b", "c", "d"]},
        good={"present": ["a", "b", "c"], "members": ["a", "b", "c", "d"]},
    ),
    "speaking-order": Scenario(
        'opinions="opinions" principal="chair"',
        bad={"chair": "Zhang", "opinions": ["zhang", "Li"]},
        good={"chair": "Zhang", "opinions": ["Li", {"member": "Zhang", "text": "Agreed"}]},
    ),
    "list": Scenario(
        'variable="supplier" list="blacklist"',
        bad={"supplier": " bad co"},
        good={"supplier": "Good Co"},
        setup=_blacklist,
    ),
    "cumulative": Scenario(
        'variable="amount" key="payee" window="P30D" threshold="1000"',
        bad={"amount": 300, "payee": "x ltd"},
        good={"amount": 300, "payee": "Y Ltd"},
        setup=_earlier_payment,
    ),
    "reason-required": Scenario(
        'variable="decision" values="rejected,refused" reason="reason"',
        bad={"decision": "rejected", "reason": "  "},
        good={"decision": "rejected", "reason": "Documents incomplete"},
    ),
    "expression": Scenario(
        "require=\"data.get('amount', 0) &lt; 1000 or 'director' in actor_roles\"",
        bad={"amount": 5000},
        good={"amount": 999},
    ),
}


def _users(api: Api) -> dict[str, dict[str, str]]:
    return {
        "maker": api.user("clerk,preparer,reviewer", "maker"),
        "checker": api.user("clerk,reviewer", "checker"),
    }


@pytest.mark.parametrize("effect", ["block", "warn", "record"])
@pytest.mark.parametrize("kind", list(SCENARIOS))
def test_each_kind_with_each_effect(api: Api, tmp_path: Path, kind: str, effect: str) -> None:
    scenario = SCENARIOS[kind]
    key = "p_" + kind.replace("-", "_")
    rule = (
        f'<pf:rule id="R-{kind}" kind="{kind}" effect="{effect}" {scenario.attrs} '
        f'legalBasis="Rulebook art. 7">The act breaks the {kind} rule.</pf:rule>'
    )
    deployed = deploy_xml(api, tmp_path, process_xml(key, review=rule))
    assert deployed.status_code == 201, deployed.text
    users = _users(api)
    if scenario.setup:
        scenario.setup(api, users, key)

    def review_task(actor: str) -> tuple[str, str]:
        instance = start(api, users["maker"], key, **scenario.variables)
        done = complete(api, users["maker"], instance["tasks"][0]["id"])
        assert done.status_code == 200, done.text
        return instance["id"], done.json()["tasks"][0]["id"]

    # the act that keeps the rule: nothing is recorded
    instance_id, task_id = review_task(scenario.good_actor)
    ok = complete(api, users[scenario.good_actor], task_id, **scenario.good)
    assert ok.status_code == 200, ok.text
    assert not [t for t in types(api, instance_id) if t.startswith(("violation.", "alert."))]

    # the act that breaks it
    instance_id, task_id = review_task(scenario.bad_actor)
    before = snapshot(api, instance_id)
    seen = types(api, instance_id)
    response = complete(api, users[scenario.bad_actor], task_id, **scenario.bad)
    new = types(api, instance_id)[len(seen) :]
    if effect == "block":
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["code"] == "rule_violated"
        assert (problem["rule_id"], problem["rule_version"]) == (f"R-{kind}", 1)
        assert problem["message"] == f"The act breaks the {kind} rule."
        assert problem["legal_basis"] == ["Rulebook art. 7"]
        assert problem["detail"].startswith(f"The act breaks the {kind} rule.")
        assert snapshot(api, instance_id) == before
        assert new == ["violation.blocked", "alert.raised"]
    else:
        assert response.status_code == 200, response.text
        expected = ["violation.recorded"] + (["alert.raised"] if effect == "warn" else [])
        assert new[: len(expected)] == expected
        assert "task.completed" in new
    found = api.client.get(
        "/v1/violations", headers=api.admin, params={"instance_id": instance_id}
    ).json()["items"]
    assert [(v["rule_id"], v["rule_version"], v["effect"], v["kind"]) for v in found] == [
        (f"R-{kind}", 1, effect, kind)
    ]
    assert found[0]["actor"] == ("maker" if scenario.bad_actor == "maker" else "checker")
    assert found[0]["evidence"]
    if effect != "record":
        alerts = [e for e in _events(api, instance_id) if e["type"] == "alert.raised"]
        assert alerts[0]["payload"]["level"] == ("red" if effect == "block" else "yellow")
        assert alerts[0]["payload"]["rule_id"] == f"R-{kind}"


def _events(api: Api, instance_id: str) -> list[dict[str, Any]]:
    from rules_support import events

    return events(api, instance_id)
