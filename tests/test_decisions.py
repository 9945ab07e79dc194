"""DMN decision tables over HTTP: deployed alone or in a bundle, listed as definitions of kind
"decision", evaluated by business rule tasks under the restricted script engine, their cells
compiled at upload, bound at instance start. ``business_rule_task.bpmn`` with
``business_rules.dmn`` reproduces SpiffWorkflow's ``BusinessRuleTaskTest``."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from conftest import Api
from flows import complete, events, ready, start

pytestmark = pytest.mark.usefixtures("reload_every_step")
DATA = Path(__file__).resolve().parent / "data"
CORPUS = DATA / "corpus"
DECISIONS = DATA / "decisions"
TIER = DECISIONS / "approval_tier.dmn"


def upload(api: Api, *paths: Path | tuple[str, bytes]) -> httpx.Response:
    parts = []
    for p in paths:
        name, data = (p.name, p.read_bytes()) if isinstance(p, Path) else p
        parts.append(("file", (name, data)))
    return api.client.post("/v1/definitions", headers=api.user("designer"), files=parts)


def test_business_rule_task_corpus_model_with_its_dmn(api: Api) -> None:
    """BusinessRuleTaskTest: question 'X' -> answer 'Y'; the instance completes (after a
    reload from saved state)."""
    response = upload(api, CORPUS / "business_rule_task.bpmn", CORPUS / "business_rules.dmn")
    assert response.status_code == 201, response.text
    kinds = {d["key"]: d["kind"] for d in response.json()["definitions"]}
    assert kinds == {"Process_bd2e724": "process", "decision_1": "decision"}
    instance = start(api, api.user("clerk"), "Process_bd2e724")
    assert instance["status"] == "completed", instance
    assert instance["data"]["answer"] == "Y"
    assert ("task.completed", "Activity_0diq2z1") in events(api, instance)


@pytest.mark.parametrize(
    ("amount", "tier", "task"),
    [
        (500, "section", "section_approval"),
        (9999, "section", "section_approval"),
        (10000, "department", "department_approval"),
        (99999, "department", "department_approval"),
        (100000, "collective", "collective_decision"),
        (5_000_000, "collective", "collective_decision"),
    ],
)
def test_amount_tiers_route_the_approval(api: Api, amount: int, tier: str, task: str) -> None:
    assert upload(api, TIER).status_code == 201  # the table alone, then the process
    assert upload(api, DECISIONS / "disbursement.bpmn").status_code == 201
    instance = start(api, api.user("clerk"), "disbursement", amount=amount)
    assert ready(instance) == [task]
    approver = api.user(task.split("_")[0])
    shown = api.client.get(f"/v1/tasks/{instance['tasks'][0]['id']}", headers=approver).json()
    assert shown["data"]["tier"] == tier
    assert complete(api, approver, instance, task)["status"] == "completed"


def test_decisions_are_listed_and_cannot_be_started(api: Api) -> None:
    assert upload(api, TIER).status_code == 201
    listed = api.client.get(
        "/v1/definitions", headers=api.admin, params={"kind": "decision"}
    ).json()["items"]
    assert [(d["key"], d["kind"], d["version"]) for d in listed] == [
        ("approval_tier", "decision", 1)
    ]
    assert listed[0]["decision"] == {
        "hit_policy": "FIRST",
        "inputs": ["amount"],
        "outputs": ["tier"],
        "rules": 3,
    }
    assert (
        api.client.get("/v1/definitions", headers=api.admin, params={"kind": "process"}).json()[
            "items"
        ]
        == []
    )
    refused = api.client.post(
        "/v1/instances",
        headers=api.user("clerk"),
        json={"definition_key": "approval_tier", "variables": {}},
    )
    assert refused.status_code == 409
    assert "decision table" in refused.json()["detail"]


def test_a_missing_decision_is_refused_at_upload(api: Api) -> None:
    response = upload(api, DECISIONS / "disbursement.bpmn")
    assert response.status_code == 422
    (problem,) = response.json()["problems"]
    assert problem["element_id"] == "decide_tier"
    assert "approval_tier" in problem["message"] and "bundle" in problem["message"]


def test_a_running_instance_keeps_the_decision_version_it_started_with(api: Api) -> None:
    """Business rule tasks bind like call activities: at instance start. The old instance
    evaluates v1 after v2 is deployed (the task comes after a user step)."""
    assert upload(api, TIER, DECISIONS / "disbursement_late.bpmn").status_code == 201
    clerk = api.user("clerk")
    old = start(api, clerk, "disbursement_late", amount=50)
    assert ready(old) == ["intake"]
    v2 = TIER.read_bytes().replace(b"&lt; 10000", b"&lt; 10")
    response = upload(api, ("approval_tier.dmn", v2))
    assert response.status_code == 201 and response.json()["definitions"][0]["version"] == 2
    new = start(api, clerk, "disbursement_late", amount=50)
    assert ready(complete(api, clerk, new, "intake")) == ["department_approval"]
    assert ready(complete(api, clerk, old, "intake")) == ["section_approval"]


def test_dmn_cells_are_compiled_at_upload(api: Api) -> None:
    bad = TIER.read_bytes().replace(b'"section"', b"__import__('os').getcwd()")
    response = upload(api, ("approval_tier.dmn", bad))
    assert response.status_code == 422
    (problem,) = response.json()["problems"]
    assert problem["element_id"] == "r_section_out"
    assert problem["file"] == "approval_tier.dmn"
    broken = TIER.read_bytes().replace(b"&lt; 100000", b"&lt; (")
    response = upload(api, ("approval_tier.dmn", broken))
    assert response.status_code == 422
    assert response.json()["problems"][0]["element_id"] == "r_department_in"


def test_dmn_cells_run_under_the_restricted_engine(api: Api) -> None:
    """``open`` compiles but is no builtin of the restricted engine: evaluating the cell fails
    as an incident naming the business rule task (the default engine would have opened it)."""
    sneaky = TIER.read_bytes().replace(b'"section"', b"open('/etc/hostname').read()")
    assert upload(api, ("approval_tier.dmn", sneaky)).status_code == 201
    assert upload(api, DECISIONS / "disbursement.bpmn").status_code == 201
    instance = start(api, api.user("clerk"), "disbursement", amount=5)
    assert instance["status"] == "failed"
    assert instance["incident"]["element_id"] == "decide_tier"
    assert "open" in instance["incident"]["message"]


def test_a_bundle_with_one_bad_file_deploys_nothing(api: Api) -> None:
    bad = TIER.read_bytes().replace(b"<text>amount</text>", b"<text>amount +</text>")
    response = upload(api, DECISIONS / "disbursement.bpmn", ("approval_tier.dmn", bad))
    assert response.status_code == 422
    files = {p["file"] for p in response.json()["problems"]}
    assert "approval_tier.dmn" in files
    assert api.client.get("/v1/definitions", headers=api.admin).json()["items"] == []


def test_collect_hit_policy_gives_every_matching_output(api: Api) -> None:
    collect = TIER.read_bytes().replace(b'hitPolicy="FIRST"', b'hitPolicy="COLLECT"')
    assert (
        upload(api, ("approval_tier.dmn", collect), DECISIONS / "disbursement.bpmn").status_code
        == 201
    )
    instance = start(api, api.user("clerk"), "disbursement", amount=500)
    assert ready(instance) == ["collective_decision"]  # tier is a list: the default flow
    approver = api.user("collective")
    shown = api.client.get(f"/v1/tasks/{instance['tasks'][0]['id']}", headers=approver).json()
    assert shown["data"]["tier"] == ["section", "department", "collective"]


def test_a_file_with_two_decisions_is_refused(api: Api) -> None:
    source = TIER.read_bytes()
    decision = source[source.index(b"<decision ") : source.index(b"</decision>") + 11]
    second = decision.replace(b'id="approval_tier"', b'id="other_tier"').replace(b'id="', b'id="x_')
    response = upload(
        api, ("two.dmn", source.replace(b"</definitions>", second + b"</definitions>"))
    )
    assert response.status_code == 422
    assert "one decision per DMN file" in response.json()["problems"][0]["message"]


def test_decision_and_process_ids_do_not_mix(api: Api) -> None:
    assert upload(api, TIER).status_code == 201
    process = (
        (DECISIONS / "disbursement.bpmn")
        .read_bytes()
        .replace(b'<bpmn:process id="disbursement"', b'<bpmn:process id="approval_tier"')
    )
    response = upload(api, ("clash.bpmn", process))
    assert response.status_code == 422
    assert "already deployed as a decision" in response.json()["problems"][0]["message"]
