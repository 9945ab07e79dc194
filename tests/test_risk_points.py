"""Risk points (issue 10 §1) over HTTP, on SQLite and PostgreSQL: a high-risk link's reasoned
comment and countersignature, the risk map, and the upload problems of bad risk points."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from conftest import Api
from powerflow.clock import ManualClock
from powerflow.services.power.alert_loop import raise_due_alerts
from powerflow.services.power.profiles import forget_cached
from rules_support import deploy_xml, events, process_xml, start, types

HIGH = (
    '<pf:risk level="high" requireComment="true" countersign="director">'
    "<pf:description>The reviewer approves a payment to a payee they chose</pf:description>"
    "<pf:measure>A second person countersigns (R11)</pf:measure></pf:risk>"
)


def _deploy(api: Api, tmp_path: Path, key: str, review: str = HIGH, **more: str) -> None:
    response = deploy_xml(api, tmp_path, process_xml(key, review=review, **more))
    assert response.status_code == 201, response.text


def _complete(
    api: Api, who: dict[str, str], task_id: str, data: dict[str, Any], comment: str | None = None
) -> Any:
    body: dict[str, Any] = {"data": data}
    if comment is not None:
        body["comment"] = comment
    return api.client.post(f"/v1/tasks/{task_id}/complete", headers=who, json=body)


def _countersign(
    api: Api, who: dict[str, str], task_id: str, decision: str, comment: str | None = None
) -> Any:
    return api.client.post(
        f"/v1/tasks/{task_id}/countersign",
        headers=who,
        json={"decision": decision, "comment": comment},
    )


def _to_review(api: Api, key: str) -> tuple[dict[str, Any], str, dict[str, dict[str, str]]]:
    """An instance whose Review (high risk) is ready; the people of the scenario."""
    people = {
        "maker": api.user("clerk,preparer"),
        "checker": api.user("clerk,reviewer", "checker"),
        "director": api.user("director", "dora"),
        "director2": api.user("director,reviewer", "dan"),
        "other": api.user("reviewer"),
    }
    instance = start(api, people["maker"], key)
    done = _complete(api, people["maker"], instance["tasks"][0]["id"], {"note": "prepared"})
    assert done.status_code == 200, done.text
    [review] = done.json()["tasks"]
    return instance, review["id"], people


def test_a_high_risk_link_refuses_a_completion_without_a_reasoned_comment(
    api: Api, tmp_path: Path
) -> None:
    _deploy(api, tmp_path, "comment_only", review='<pf:risk level="high" requireComment="true"/>')
    instance, review, people = _to_review(api, "comment_only")
    for comment in (None, "", "   "):
        refused = _complete(api, people["checker"], review, {"amount": 5}, comment)
        assert refused.status_code == 422, refused.text
        assert "needs a reasoned comment" in refused.json()["detail"]
    assert "task.completed" not in types(api, instance["id"])[-1:]
    done = _complete(api, people["checker"], review, {"amount": 5}, "Budget line 3 has room")
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed" and done.json()["data"]["amount"] == 5
    [completed] = [e for e in events(api, instance["id"]) if e["type"] == "task.completed"][-1:]
    assert completed["payload"]["comment"] == "Budget line 3 has room"
    assert completed["actor"] == "checker"


def test_a_comment_on_an_ordinary_task_is_recorded_and_old_clients_still_complete(
    api: Api, tmp_path: Path
) -> None:
    _deploy(api, tmp_path, "plain_risk", review='<pf:risk level="low"/>')
    instance, review, people = _to_review(api, "plain_risk")
    done = _complete(api, people["checker"], review, {"amount": 1})  # no comment at all
    assert done.status_code == 200 and done.json()["status"] == "completed", done.text
    last = [e for e in events(api, instance["id"]) if e["type"] == "task.completed"][-1]
    assert "comment" not in last["payload"]
    # any completion may carry a comment: recorded with the event, not mixed into the data
    second = start(api, people["maker"], "plain_risk")
    with_comment = _complete(
        api, people["maker"], second["tasks"][0]["id"], {"note": "x"}, "  Copied from file 9  "
    )
    assert with_comment.status_code == 200, with_comment.text
    assert "comment" not in with_comment.json()["data"]
    done_event = [e for e in events(api, second["id"]) if e["type"] == "task.completed"][-1]
    assert done_event["payload"]["comment"] == "Copied from file 9"


def test_countersign_happy_path(api: Api, tmp_path: Path) -> None:
    _deploy(api, tmp_path, "cs_ok")
    instance, review, people = _to_review(api, "cs_ok")
    first = _complete(api, people["checker"], review, {"amount": 900}, "Invoice 17 checked")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["status"] == "running" and "amount" not in body["data"]  # the engine waited
    assert [(t["id"], t["state"]) for t in body["tasks"]] == [(review, "awaiting_countersign")]
    # twice is a conflict, not a second request
    again = _complete(api, people["checker"], review, {"amount": 1}, "again")
    assert again.status_code == 409, again.text
    # the director sees it in their inbox (they hold no role of the task itself)
    inbox = api.client.get("/v1/tasks?state=awaiting_countersign", headers=people["director"])
    assert [t["id"] for t in inbox.json()["items"]] == [review]
    assert api.client.get(f"/v1/tasks/{review}", headers=people["director"]).status_code == 200
    # ...but not the holder of an unrelated role
    stranger = api.user("director-of-something-else")
    assert (
        api.client.get("/v1/tasks?state=awaiting_countersign", headers=stranger).json()["items"]
        == []
    )
    [waiting] = api.client.get(
        f"/v1/tasks/{review}/countersigns", headers=people["director"]
    ).json()
    assert (waiting["state"], waiting["data"], waiting["requested_by"]) == (
        "pending",
        {"amount": 900},
        "checker",
    )
    approved = _countersign(api, people["director"], review, "approve", "Seen the invoice")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "completed"
    assert approved.json()["data"]["amount"] == 900
    kinds = types(api, instance["id"])
    at = kinds.index("task.countersign_requested")
    assert kinds[at + 1 : at + 3] == ["task.countersigned", "task.completed"]
    history = events(api, instance["id"])
    signed, completed = history[at + 1], history[at + 2]
    assert signed["actor"] == "dora" and signed["payload"]["requested_by"] == "checker"
    assert completed["actor"] == "checker"
    assert completed["payload"]["countersigned_by"] == "dora"
    assert completed["payload"]["comment"] == "Invoice 17 checked"
    assert completed["payload"]["data"]["amount"] == 900
    task = api.client.get(f"/v1/tasks/{review}", headers=api.admin).json()
    assert (task["state"], task["completed_by"]) == ("completed", "checker")
    [decided] = api.client.get(f"/v1/tasks/{review}/countersigns", headers=api.admin).json()
    assert (decided["state"], decided["decided_by"]) == ("approved", "dora")
    # decided: nothing waits any more
    late = _countersign(api, people["director2"], review, "approve")
    assert late.status_code == 409, late.text
    audit = api.client.get(f"/v1/instances/{instance['id']}/audit", headers=api.admin).json()
    assert audit["verified"] is True  # the countersignature is a link of the hash chain


def test_a_refusal_sends_the_task_back_with_the_reason(api: Api, tmp_path: Path) -> None:
    _deploy(api, tmp_path, "cs_refuse")
    instance, review, people = _to_review(api, "cs_refuse")
    assert _complete(api, people["checker"], review, {"amount": 5}, "ok").status_code == 200
    bare = _countersign(api, people["director"], review, "refuse")
    assert bare.status_code == 422 and "needs a comment" in bare.json()["detail"], bare.text
    refused = _countersign(api, people["director"], review, "refuse", "No invoice attached")
    assert refused.status_code == 200, refused.text
    assert refused.json()["status"] == "running"
    assert [t["state"] for t in refused.json()["tasks"]] == ["ready"]
    last = events(api, instance["id"])[-1]
    assert last["type"] == "task.countersign_refused" and last["actor"] == "dora"
    assert last["payload"]["comment"] == "No invoice attached"
    # the clerk sees why
    [seen] = api.client.get(f"/v1/tasks/{review}/countersigns", headers=people["checker"]).json()
    assert (seen["state"], seen["decision_comment"]) == ("refused", "No invoice attached")
    # and may submit again; this time it is approved
    again = _complete(api, people["checker"], review, {"amount": 6}, "Invoice attached now")
    assert again.status_code == 200, again.text
    done = _countersign(api, people["director"], review, "approve")
    assert done.status_code == 200 and done.json()["data"]["amount"] == 6, done.text


def test_the_submitter_cannot_countersign_and_the_wrong_role_cannot_either(
    api: Api, tmp_path: Path
) -> None:
    _deploy(api, tmp_path, "cs_who")
    instance, review, people = _to_review(api, "cs_who")
    # dan holds both reviewer and director: he may complete, but not countersign himself
    first = _complete(api, people["director2"], review, {"amount": 5}, "mine")
    assert first.status_code == 200, first.text
    before = api.client.get(f"/v1/instances/{instance['id']}", headers=api.admin).json()
    own = _countersign(api, people["director2"], review, "approve")
    assert own.status_code == 403 and "second person" in own.json()["detail"], own.text
    wrong = _countersign(api, people["other"], review, "approve")
    assert wrong.status_code == 403 and "director" in wrong.json()["detail"], wrong.text
    after = api.client.get(f"/v1/instances/{instance['id']}", headers=api.admin).json()
    assert after["version"] == before["version"]
    # someone who may not see the task at all: the same 404 as an unknown task
    stranger = _countersign(api, api.user("clerk"), review, "approve")
    assert stranger.status_code == 404, stranger.text
    # a task without a countersign requirement: 409 to whoever sees it
    plain = start(api, people["maker"], "cs_who")["tasks"][0]["id"]
    needless = _countersign(api, api.admin, plain, "approve")
    assert needless.status_code == 409 and "needs no countersignature" in needless.json()["detail"]
    assert _countersign(api, people["director"], plain, "approve").status_code == 404


def test_two_countersigners_at_once_one_wins(api: Api, tmp_path: Path) -> None:
    _deploy(api, tmp_path, "cs_race")
    instance, review, people = _to_review(api, "cs_race")
    assert _complete(api, people["checker"], review, {"amount": 5}, "ok").status_code == 200
    results: list[int] = []
    barrier = threading.Barrier(2)

    def decide(who: dict[str, str]) -> None:
        barrier.wait()
        results.append(_countersign(api, who, review, "approve").status_code)

    threads = [
        threading.Thread(target=decide, args=(people[p],)) for p in ("director", "director2")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409], results
    kinds = types(api, instance["id"])
    assert kinds.count("task.countersigned") == 1 and kinds.count("task.completed") == 2


def test_rules_still_run_at_the_first_completion(api: Api, tmp_path: Path) -> None:
    rule = (
        '<pf:rule id="CAP-1" kind="authority" effect="block" variable="amount" '
        'caps="reviewer:1000">Above the reviewer\'s authority.</pf:rule>'
    )
    _deploy(api, tmp_path, "cs_rules", review=HIGH + rule)
    instance, review, people = _to_review(api, "cs_rules")
    blocked = _complete(api, people["checker"], review, {"amount": 5000}, "big one")
    assert blocked.status_code == 403 and blocked.json()["code"] == "rule_violated"
    task = api.client.get(f"/v1/tasks/{review}", headers=api.admin).json()
    assert task["state"] == "ready"  # refused before anything waits for a countersignature
    assert "violation.blocked" in types(api, instance["id"])
    ok = _complete(api, people["checker"], review, {"amount": 500}, "small one")
    assert ok.status_code == 200, ok.text
    assert ok.json()["tasks"][0]["state"] == "awaiting_countersign"


def test_risk_map(api: Api, tmp_path: Path) -> None:
    rule = (
        '<pf:rule id="SOD-1" kind="separation-of-duties" tasks="prepare,review" effect="warn">'
        "Maker and checker differ.</pf:rule>"
    )
    _deploy(
        api,
        tmp_path,
        "mapped",
        review=HIGH + '<pf:timeLimit duration="P2D" calendar="working"/>',
        prepare='<pf:risk level="low" description="Wrong amount typed"/>',
        process=rule,
    )
    for who in (api.user("designer"), api.user("monitor"), api.user("auditor"), api.user("clerk")):
        got = api.client.get("/v1/definitions/mapped/risk-map", headers=who)
        assert got.status_code == 200, got.text
    body = api.client.get("/v1/definitions/mapped/risk-map?version=1", headers=api.admin).json()
    assert (body["definition_key"], body["definition_version"]) == ("mapped", 1)
    prepare, review = body["elements"]
    assert prepare["element_id"] == "prepare" and prepare["roles"] == ["preparer"]
    assert prepare["risk"] == {"level": "low", "description": "Wrong amount typed", "measures": []}
    assert prepare["requirements"] == {"comment": False, "countersign": None}
    assert review["risk"] == {
        "level": "high",
        "description": "The reviewer approves a payment to a payee they chose",
        "measures": ["A second person countersigns (R11)"],
    }
    assert review["requirements"] == {"comment": True, "countersign": "director"}
    assert review["time_limits"]["step"]["duration"] == "P2D"
    assert [r["id"] for r in review["rules"]] == ["SOD-1"]
    assert api.client.get("/v1/definitions/nope/risk-map", headers=api.admin).status_code == 404
    missing = api.client.get("/v1/definitions/mapped/risk-map?version=9", headers=api.admin)
    assert missing.status_code == 404
    # the power list and the task carry the same risk point
    instance = start(api, api.user("clerk,preparer"), "mapped")
    task = instance["tasks"][0]
    assert task["metadata"]["risk"]["description"] == "Wrong amount typed"


def test_risk_map_of_the_fund_disbursement_example(api: Api) -> None:
    root = Path(__file__).resolve().parent.parent
    # P3 calls P1 (the collective decision) for its top tier: the callee deploys first
    assert api.deploy(root / "processes" / "collective_decision.bpmn").status_code == 201
    assert api.deploy(root / "processes" / "fund_disbursement.bpmn").status_code == 201
    got = api.client.get("/v1/definitions/fund_disbursement/risk-map", headers=api.admin)
    assert got.status_code == 200, got.text
    elements = {e["element_id"]: e for e in got.json()["elements"]}
    submit, review = elements["submit_request"], elements["review_dept_head"]
    assert submit["risk"]["level"] == "high"
    assert submit["risk"]["description"].startswith("A false or duplicate claim is paid")
    assert "Cross-matching of payee, invoices and contract" in submit["risk"]["measures"]
    assert review["risk"]["description"].startswith("The requester reviews their own request")
    assert review["requirements"] == {"comment": False, "countersign": None}
    assert review["lane"] and review["roles"]
    # the rules guarding the review: separation of duties, recusal, reasons for a rejection
    assert {"P3-R11-REVIEW", "P3-R12", "P3-R05-DEPT-HEAD"} <= {r["id"] for r in review["rules"]}
    assert "P3-R13" in {r["id"] for r in elements["finance_review"]["rules"]}
    # the script deciding the tier carries a risk point too (no rules: nobody completes it)
    tier = elements["determine_tier"]
    assert tier["risk"]["level"] == "high" and tier["rules"] == []
    # the diagram's reading order: submitting comes before the review
    order = list(elements)
    assert order.index("submit_request") < order.index("review_dept_head")


def test_camunda_properties_carry_the_same_risk_point(api: Api, tmp_path: Path) -> None:
    props = (
        "<camunda:properties>"
        '<camunda:property name="pf:riskLevel" value="high"/>'
        '<camunda:property name="pf:riskDescription" value="Payee chosen by the reviewer"/>'
        '<camunda:property name="pf:riskRequireComment" value="true"/>'
        '<camunda:property name="pf:riskCountersign" value="director"/>'
        "</camunda:properties>"
    )
    _deploy(api, tmp_path, "cs_props", review=props)
    body = api.client.get("/v1/definitions/cs_props/risk-map", headers=api.admin).json()
    review = body["elements"][1]
    assert review["risk"]["description"] == "Payee chosen by the reviewer"
    assert review["requirements"] == {"comment": True, "countersign": "director"}
    _, task, people = _to_review(api, "cs_props")
    assert _complete(api, people["checker"], task, {"a": 1}).status_code == 422
    first = _complete(api, people["checker"], task, {"a": 1}, "why")
    assert first.json()["tasks"][0]["state"] == "awaiting_countersign"


BAD = {
    "unknown level": ('<pf:risk level="severe"/>', "review", "Risk level 'severe'"),
    "comment on medium": (
        '<pf:risk level="medium" requireComment="true"/>',
        "review",
        "only for a high-risk link",
    ),
    "bad boolean": ('<pf:risk level="high" requireComment="yes"/>', "review", '"true" or "false"'),
    "bad role": ('<pf:risk level="high" countersign="two words"/>', "review", "not a valid role"),
    "empty description": ('<pf:risk level="high" description="  "/>', "review", "not be empty"),
    "property without a level": (
        '<camunda:properties><camunda:property name="pf:riskCountersign" value="director"/>'
        "</camunda:properties>",
        "review",
        "only read together with pf:riskLevel",
    ),
    "two descriptions": (
        '<pf:risk level="high" description="a"><pf:description>b</pf:description></pf:risk>',
        "review",
        "keep one",
    ),
}


def test_bad_risk_points_are_upload_problems_with_the_element_id(api: Api, tmp_path: Path) -> None:
    for what, (review, element, words) in BAD.items():
        got = deploy_xml(api, tmp_path, process_xml(f"bad_{len(what)}", review=review))
        assert got.status_code == 422, (what, got.text)
        problems = got.json()["problems"]
        assert any(p["element_id"] == element and words in p["message"] for p in problems), (
            what,
            problems,
        )
    on_process = deploy_xml(
        api,
        tmp_path,
        process_xml("bad_process", process='<pf:risk level="high" countersign="director"/>'),
    )
    assert on_process.status_code == 422
    assert "human task" in on_process.json()["problems"][0]["message"]


def test_a_countersign_on_a_service_task_is_refused(api: Api, tmp_path: Path) -> None:
    xml = (
        process_xml("bad_service")
        .replace(
            '<bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>',
            '<bpmn:scriptTask id="calc" name="Calculate" scriptFormat="python">'
            '<bpmn:extensionElements><pf:risk level="high" countersign="director"/>'
            "</bpmn:extensionElements><bpmn:incoming>f3</bpmn:incoming>"
            "<bpmn:outgoing>f4</bpmn:outgoing><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>"
            '<bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>'
            '<bpmn:sequenceFlow id="f4" sourceRef="calc" targetRef="end"/>',
        )
        .replace('targetRef="end"/>\n  </bpmn:process>', 'targetRef="calc"/>\n  </bpmn:process>')
    )
    xml = xml.replace(
        '<bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>',
        '<bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="calc"/>',
    )
    got = deploy_xml(api, tmp_path, xml)
    assert got.status_code == 422, got.text
    [problem] = [p for p in got.json()["problems"] if p["element_id"] == "calc"]
    assert "only a human task" in problem["message"]


def test_a_task_awaiting_countersignature_still_runs_against_its_time_limit(
    api: Api, tmp_path: Path
) -> None:
    """The step limit keeps counting while the completion waits for the countersigner: the
    alert loop raises on the waiting task, and the countersigned completion resolves it (here by
    ending the case)."""
    forget_cached()
    clock = ManualClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    api.store.clock = clock
    _deploy(api, tmp_path, "cs_late", review=HIGH + '<pf:timeLimit duration="PT4H"/>')
    instance, review, people = _to_review(api, "cs_late")
    assert _complete(api, people["checker"], review, {"amount": 5}, "ok").status_code == 200
    clock.advance(timedelta(hours=5))
    assert raise_due_alerts(api.store) >= 1
    raised = api.client.get(
        "/v1/alerts", headers=api.admin, params={"instance_id": instance["id"], "state": "open"}
    ).json()["items"]
    assert raised and {a["task_id"] for a in raised} == {review}
    assert _countersign(api, people["director"], review, "approve").status_code == 200
    resolved = api.client.get(
        "/v1/alerts", headers=api.admin, params={"instance_id": instance["id"]}
    ).json()["items"]
    # the countersigned completion ends the case here: its alerts resolve with it
    assert {(a["state"], a["resolution"]) for a in resolved} == {("resolved", "instance_completed")}


def test_cancelling_the_instance_closes_a_task_awaiting_countersignature(
    api: Api, tmp_path: Path
) -> None:
    _deploy(api, tmp_path, "cs_cancel")
    instance, review, people = _to_review(api, "cs_cancel")
    assert _complete(api, people["checker"], review, {"amount": 5}, "ok").status_code == 200
    cancelled = api.client.post(
        f"/v1/instances/{instance['id']}/cancel", headers=api.admin, json={"reason": "withdrawn"}
    )
    assert cancelled.status_code == 200, cancelled.text
    assert api.client.get(f"/v1/tasks/{review}", headers=api.admin).json()["state"] == "cancelled"
    late = _countersign(api, people["director"], review, "approve")
    assert late.status_code == 409 and "no completion" in late.json()["detail"], late.text
    assert _countersign(api, api.admin, review, "approve").status_code == 409
    [row] = api.client.get(f"/v1/tasks/{review}/countersigns", headers=api.admin).json()
    assert row["state"] == "cancelled"
    inbox = api.client.get("/v1/tasks?state=awaiting_countersign", headers=people["director"])
    assert inbox.json()["items"] == []


def test_the_countersigner_sees_the_case_once_a_completion_awaits_them(
    api: Api, tmp_path: Path
) -> None:
    """The second person decides on the case: from the request on, they see it as the first
    did (its data, trail and chart); before it, the case is none of their business."""
    _deploy(api, tmp_path, "cs_sees")
    instance, review, people = _to_review(api, "cs_sees")
    director, stranger = people["director"], api.user("director-of-something-else")
    path = f"/v1/instances/{instance['id']}"
    assert api.client.get(path, headers=director).status_code == 404
    first = _complete(api, people["checker"], review, {"amount": 900}, "Invoice 17 checked")
    assert first.status_code == 200, first.text
    seen = api.client.get(path, headers=director)
    assert seen.status_code == 200, seen.text
    assert [t["state"] for t in seen.json()["tasks"]] == ["awaiting_countersign"]
    trail = api.client.get(f"{path}/events", headers=director)
    assert trail.status_code == 200, trail.text
    assert "task.countersign_requested" in [e["type"] for e in trail.json()["items"]]
    listed = api.client.get("/v1/instances", headers=director).json()["items"]
    assert instance["id"] in [i["id"] for i in listed]
    for other in (path, f"{path}/events"):  # a holder of an unrelated role still sees nothing
        assert api.client.get(other, headers=stranger).status_code == 404
    assert instance["id"] not in [
        i["id"] for i in api.client.get("/v1/instances", headers=stranger).json()["items"]
    ]
    # after the decision it stays visible to them: they acted on it
    assert _countersign(api, director, review, "approve", "Seen").status_code == 200
    assert api.client.get(path, headers=director).status_code == 200
