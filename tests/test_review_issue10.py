"""Review of issue 10 (supervision cases, risk points, disclosure, notices): each test names a
defect found by walking the features over HTTP; it failed before its fix.

Both databases through the ``api`` fixture where it matters; the rate limit against a real
``powerflow serve`` (the proxy-header handling is uvicorn's, outside the test client)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from conftest import DATA, Api, start_server, stop_server
from powerflow.clock import ManualClock

KEY = "review_public_countersign"
MONDAY = datetime(2026, 3, 2, 2, tzinfo=UTC)


def _start(api: Api, clerk: dict[str, str], business_key: str = "G-1") -> dict[str, Any]:
    api.store.clock = ManualClock(MONDAY)
    assert api.deploy(f"{KEY}.bpmn").status_code == 201
    response = api.client.post(
        "/v1/instances",
        headers=clerk,
        json={"definition_key": KEY, "business_key": business_key, "variables": {"amount": 5}},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _complete(api: Api, who: dict[str, str], instance: dict[str, Any], **data: Any) -> Any:
    (task,) = [t for t in instance["tasks"] if t["state"] == "ready"]
    response = api.client.post(f"/v1/tasks/{task['id']}/complete", headers=who, json={"data": data})
    assert response.status_code == 200, response.text
    return response.json()


def _approved(api: Api) -> tuple[dict[str, Any], dict[str, str]]:
    """An instance whose countersigned approval went through: the notice is published."""
    clerk = api.user("clerk", "clerk_a")
    head = api.user("finance-head", "head_c")
    instance = _complete(api, clerk, _start(api, clerk), amount=7)
    response = api.client.post(
        f"/v1/tasks/{instance['tasks'][0]['id']}/countersign",
        headers=head,
        json={"decision": "approve"},
    )
    assert response.status_code == 200, response.text
    return response.json(), clerk


def test_cancelling_an_instance_keeps_its_data(api: Api) -> None:
    """Defect: cancelling reset the instance's data to its start variables (the root task's
    data), losing every completed step's data from the instance view and from what the public
    progress of a cancelled case reads."""
    instance, clerk = _approved(api)
    assert instance["data"] == {"amount": 7}
    response = api.client.post(
        f"/v1/instances/{instance['id']}/cancel", headers=clerk, json={"reason": "withdrawn"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"amount": 7}
    again = api.client.get(f"/v1/instances/{instance['id']}", headers=api.admin).json()
    assert again["status"] == "cancelled"
    assert again["data"] == {"amount": 7}


def test_a_step_awaiting_countersignature_is_a_current_step_in_public_progress(api: Api) -> None:
    """Defect: /public/progress listed only ready tasks as current, so a step whose completion
    waited for its countersignature vanished (neither done nor current) from the public view."""
    clerk = api.user("clerk", "clerk_a")
    instance = _complete(api, clerk, _start(api, clerk), amount=7)
    assert instance["tasks"][0]["state"] == "awaiting_countersign"
    progress = api.client.get(f"/public/progress/{KEY}/G-1")
    assert progress.status_code == 200, progress.text
    body = progress.json()
    assert body["steps_done"] == []
    assert [s["element_id"] for s in body["current_steps"]] == ["approve"]
    assert "awaiting" not in progress.text and "clerk_a" not in progress.text


def test_the_notice_of_a_cancelled_case_takes_no_objections(api: Api) -> None:
    """Defect: a notice whose case was cancelled stayed listed as open under /public/notices
    and accepted objections (201, stored on a cancelled case) until its period ran out."""
    instance, clerk = _approved(api)
    notices = api.client.get("/public/notices").json()
    assert [n["open"] for n in notices] == [True]
    notice_id = notices[0]["id"]
    response = api.client.post(
        f"/v1/instances/{instance['id']}/cancel", headers=clerk, json={"reason": "withdrawn"}
    )
    assert response.status_code == 200, response.text
    assert api.client.get("/public/notices").json() == []
    one = api.client.get(f"/public/notices/{notice_id}")
    assert one.status_code == 200, one.text
    assert one.json()["open"] is False and one.json()["accepts_objections"] is False
    objection = api.client.post(
        f"/public/notices/{notice_id}/objections", json={"text": "too late"}
    )
    assert objection.status_code == 409, objection.text
    assert "cancelled" in objection.json()["detail"]
    supervisor = api.user("monitor")
    assert api.client.get(f"/v1/notices/{notice_id}/objections", headers=supervisor).json() == []


def test_x_forwarded_for_does_not_bypass_the_public_rate_limit(sqlite_url: str) -> None:
    """Defect: `powerflow serve` ran uvicorn with its default proxy_headers=True, which trusts
    X-Forwarded-For from 127.0.0.1: a client there (or behind a local proxy passing the header
    through) got a fresh bucket per forged address, although docs/public.md says the header is
    not trusted and the TCP peer's address is used."""
    server = start_server(
        sqlite_url,
        POWERFLOW_DEPLOY_EXAMPLES="false",
        POWERFLOW_PUBLIC_BURST="3",
        POWERFLOW_PUBLIC_RATE_PER_MINUTE="1",
    )
    try:
        codes = [
            httpx.get(
                f"{server.url}/public/powers",
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
                timeout=10,
            ).status_code
            for n in range(6)
        ]
    finally:
        stop_server(server)
    assert codes[:3] == [200, 200, 200]
    assert codes[3:] == [429, 429, 429]


def test_a_case_parked_at_an_incident_is_in_progress_publicly(api: Api, tmp_path: Any) -> None:
    """Defect: docs/public.md says a case parked at an incident shows as ``in_progress``, but
    the parked status is ``failed`` (services/incidents.PARKED), which the public view mapped
    to ``ended``: a case still open looked finished to the public."""
    xml = (DATA / "fragile.bpmn").read_text()
    xml = xml.replace('id="fragile" name="Fragile division"', 'id="pub_fragile" name="Division"')
    xml = xml.replace(
        '<pf:acceptsData fields="divisor,note"/>',
        '<pf:acceptsData fields="divisor,note"/><pf:disclosure public="true" progress="true"/>',
    )
    path = tmp_path / "pub_fragile.bpmn"
    path.write_text(xml)
    assert api.deploy(path).status_code == 201
    clerk = api.user("clerk")
    started = api.client.post(
        "/v1/instances",
        headers=clerk,
        json={"definition_key": "pub_fragile", "business_key": "F-1", "variables": {"divisor": 0}},
    )
    assert started.status_code == 201, started.text
    parked = _complete(api, clerk, started.json(), note="figures entered")
    assert parked["status"] == "failed" and parked["ended_at"] is None
    progress = api.client.get("/public/progress/pub_fragile/F-1")
    assert progress.status_code == 200, progress.text
    assert progress.json()["status"] == "in_progress"
    assert progress.json()["ended_at"] is None


def test_the_diagram_of_a_public_process_does_not_publish_its_undisclosed_neighbours(
    api: Api,
) -> None:
    """Defect: /public/processes/{key}/diagram served the whole uploaded file, so a public
    process deployed in one file with an undisclosed one published the other's model (names,
    steps, scripts). Such a file is not served; the process page says so (diagram null)."""
    assert api.deploy("review_two_processes.bpmn").status_code == 201
    page = api.client.get("/public/processes/review_open_part")
    assert page.status_code == 200, page.text
    assert page.json()["diagram"] is None
    diagram = api.client.get("/public/processes/review_open_part/diagram")
    assert diagram.status_code == 404, diagram.text
    assert "SENTINEL" not in diagram.text
    assert api.client.get("/public/processes/review_secret_part").status_code == 404
    # a file holding only public processes is served as before
    assert api.deploy(f"{KEY}.bpmn").status_code == 201
    assert api.client.get(f"/public/processes/{KEY}").json()["diagram"].endswith("/diagram")
    whole = api.client.get(f"/public/processes/{KEY}/diagram")
    assert whole.status_code == 200 and f'id="{KEY}"' in whole.text


def test_the_public_power_list_shows_only_what_public_processes_declare(
    api: Api, tmp_path: Any
) -> None:
    """Defect: /public/powers took an item's legal basis, responsible roles, time limits and
    wording from every process sharing its code, so an undisclosed process exercising the same
    power item published its own (here its legal basis, owner role, time limit and name)."""
    xml = (DATA / f"{KEY}.bpmn").read_text()
    xml = xml.replace(f'id="{KEY}" name="Public grant', 'id="aaa_secret_grant" name="Secret grant')
    xml = xml.replace(
        '<pf:powerItem code="REV-GRANT" category="confirmation">A small grant</pf:powerItem>',
        '<pf:powerItem code="REV-GRANT" category="confirmation">SENTINEL-ITEM</pf:powerItem>'
        "<pf:responsibleRole>sentinel-owner</pf:responsibleRole>"
        '<pf:timeLimit duration="P9D" calendar="calendar" kind="statutory"/>',
    )
    xml = xml.replace("Test regulation, art. 1", "SENTINEL-BASIS")
    xml = xml.replace('<pf:disclosure public="true" progress="true"/>', "")
    secret = tmp_path / "aaa_secret_grant.bpmn"
    secret.write_text(xml)
    deployed = api.deploy(secret)
    assert deployed.status_code == 201, deployed.text
    assert api.deploy(f"{KEY}.bpmn").status_code == 201
    internal = api.client.get("/v1/powers", headers=api.user("clerk"))
    assert "SENTINEL-BASIS" in internal.text  # the internal list merges both, as it should
    answer = api.client.get("/public/powers")
    assert answer.status_code == 200, answer.text
    (item,) = answer.json()
    assert [p["key"] for p in item["processes"]] == [KEY]
    assert item["name"] == "A small grant"
    assert item["legal_basis"] == ["Test regulation, art. 1"]
    assert item["time_limits"] == {}
    assert "SENTINEL" not in answer.text and "sentinel-owner" not in answer.text


def test_an_objection_to_a_suspended_case_reaches_it_when_it_resumes(api: Api) -> None:
    """Defect: an objection raised while the case was suspended (e.g. by a supervision case)
    was stored with delivered false and never reached the case: on resume the review the
    model starts for an objection did not start, although the case still waited for it."""
    api.store.clock = ManualClock(MONDAY)
    assert api.deploy("public_appointment.bpmn").status_code == 201
    clerk = api.user("clerk", "clerk_a")
    started = api.client.post(
        "/v1/instances",
        headers=clerk,
        json={"definition_key": "public_appointment", "business_key": "APP-9"},
    )
    assert started.status_code == 201, started.text
    instance = _complete(api, clerk, started.json(), candidate="Wang", post="Head")
    instance = _complete(api, clerk, instance)  # the notice is published; 'appoint' waits
    (notice,) = api.client.get("/public/notices").json()
    suspended = api.client.post(
        f"/v1/instances/{instance['id']}/suspend", headers=api.admin, json={"reason": "check"}
    )
    assert suspended.status_code == 200, suspended.text
    objection = api.client.post(
        f"/public/notices/{notice['id']}/objections", json={"text": "He never served there."}
    )
    assert objection.status_code == 201, objection.text
    assert objection.json()["delivered"] is False
    resumed = api.client.post(
        f"/v1/instances/{instance['id']}/resume", headers=api.admin, json={"reason": "ok"}
    )
    assert resumed.status_code == 200, resumed.text
    assert "review_objection" in [t["element_id"] for t in resumed.json()["tasks"]]
    listed = api.client.get(
        f"/v1/notices/{notice['id']}/objections", headers=api.user("monitor")
    ).json()
    assert [o["delivered"] for o in listed] == [True]
    # a delivered objection is not delivered again by a later resume
    again = api.client.post(
        f"/v1/instances/{instance['id']}/suspend", headers=api.admin, json={"reason": "again"}
    )
    assert again.status_code == 200, again.text
    back = api.client.post(
        f"/v1/instances/{instance['id']}/resume", headers=api.admin, json={"reason": "ok"}
    )
    review = [t for t in back.json()["tasks"] if t["element_id"] == "review_objection"]
    assert len(review) == 1


def test_tasks_total_counts_a_task_awaiting_its_countersignature(api: Api) -> None:
    """Docs defect: docs/api.md said an instance embeds and counts its *ready* tasks, but a
    task awaiting its countersignature is embedded and counted too (it is open); the paging
    hint (state=ready) missed it."""
    clerk = api.user("clerk", "clerk_a")
    instance = _complete(api, clerk, _start(api, clerk), amount=7)
    assert instance["tasks_total"] == 1
    assert [t["state"] for t in instance["tasks"]] == ["awaiting_countersign"]
    listed = api.client.get(
        f"/v1/tasks?instance_id={instance['id']}&state=awaiting_countersign", headers=clerk
    )
    assert [t["id"] for t in listed.json()["items"]] == [instance["tasks"][0]["id"]]
    ready = api.client.get(f"/v1/tasks?instance_id={instance['id']}&state=ready", headers=clerk)
    assert ready.json()["items"] == []


def test_a_countersigner_is_held_to_the_tasks_separation_of_duties(api: Api, tmp_path: Any) -> None:
    """Defect: a countersignature was checked only against the person who submitted; the task's
    separation-of-duties (and recusal) rules never saw the countersigner, so the requester of a
    payment could countersign its verification (P3's finance-head) although the rule forbids
    them any part in it. The countersigner's approval is refused (403 rule_violated, recorded),
    another holder of the role countersigns."""
    xml = (DATA / f"{KEY}.bpmn").read_text()
    xml = xml.replace(f'id="{KEY}" name="Public', 'id="review_sod_grant" name="Guarded')
    xml = xml.replace(
        "<pf:measure>A second person countersigns</pf:measure></pf:risk>",
        "<pf:measure>A second person countersigns</pf:measure></pf:risk>"
        '<pf:rule id="REV-SOD" kind="separation-of-duties" tasks="approve" starter="true">'
        "The requester of a grant takes no part in approving it.</pf:rule>",
    )
    path = tmp_path / "review_sod_grant.bpmn"
    path.write_text(xml)
    deployed = api.deploy(path)
    assert deployed.status_code == 201, deployed.text
    requester = api.user("clerk,finance-head", "head_requester")
    clerk = api.user("clerk", "clerk_a")
    other_head = api.user("finance-head", "head_other")
    started = api.client.post(
        "/v1/instances",
        headers=requester,
        json={"definition_key": "review_sod_grant", "variables": {"amount": 5}},
    )
    assert started.status_code == 201, started.text
    instance = _complete(api, clerk, started.json(), amount=7)
    task_id = instance["tasks"][0]["id"]
    refused = api.client.post(
        f"/v1/tasks/{task_id}/countersign", headers=requester, json={"decision": "approve"}
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "rule_violated"
    violations = api.client.get("/v1/violations?rule_id=REV-SOD", headers=api.admin).json()
    assert [v["actor"] for v in violations["items"]] == ["head_requester"]
    still = api.client.get(f"/v1/tasks/{task_id}", headers=clerk).json()
    assert still["state"] == "awaiting_countersign"
    approved = api.client.post(
        f"/v1/tasks/{task_id}/countersign", headers=other_head, json={"decision": "approve"}
    )
    assert approved.status_code == 200, approved.text
    assert [t["element_id"] for t in approved.json()["tasks"]] == ["post_notice"]


def test_the_starter_cannot_cancel_an_instance_a_supervision_case_suspended(api: Api) -> None:
    """Defect: a supervision case suspends an instance so that nothing advances it while it is
    examined, but its starter (a clerk, possibly the person examined) could still cancel it,
    ending the case's subject. Cancelling a suspended instance is left to administrators."""
    clerk = api.user("clerk", "clerk_a")
    instance = _start(api, clerk)
    monitor = api.user("monitor", "mon_d")
    case = api.client.post(
        "/v1/cases",
        headers=monitor,
        json={"instance_id": instance["id"], "title": "Grant G-1", "reason": "Split payments"},
    )
    assert case.status_code == 201, case.text
    suspended = api.client.post(
        f"/v1/cases/{case.json()['id']}/suspend", headers=monitor, json={"reason": "examined"}
    )
    assert suspended.status_code == 200, suspended.text
    cancel = api.client.post(
        f"/v1/instances/{instance['id']}/cancel", headers=clerk, json={"reason": "mine"}
    )
    assert cancel.status_code == 403, cancel.text
    assert "suspended" in cancel.json()["detail"]
    still = api.client.get(f"/v1/instances/{instance['id']}", headers=api.admin).json()
    assert still["status"] == "suspended"
    by_admin = api.client.post(
        f"/v1/instances/{instance['id']}/cancel", headers=api.admin, json={"reason": "closed"}
    )
    assert by_admin.status_code == 200, by_admin.text
