"""Review of issue 10 (supervision cases, risk points, disclosure, notices): each test names a
defect found by walking the features over HTTP; it failed before its fix.

Both databases through the ``api`` fixture where it matters; the rate limit against a real
``powerflow serve`` (the proxy-header handling is uvicorn's, outside the test client)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from conftest import DATA, Api, start_server, stop_server
from powerflow.clock import ManualClock
from rebind import rebind

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


# ------------------------------------------------- review of the notices (issue 10, section 3)

FORK = "public_notice_fork.bpmn"


def _fork_case(
    api: Api, business_key: str, *, divisor: int = 0, xml: str | None = None
) -> tuple[dict[str, Any], int, dict[str, str]]:
    """A case of ``public_fork`` whose notice is open; with ``divisor`` 0 it is parked at an
    incident (the check beside the appointment failed) while its notice runs."""
    api.store.clock = ManualClock(MONDAY)
    if xml is None:
        deployed = api.deploy(FORK)
    else:
        deployed = api.client.post(
            "/v1/definitions",
            headers=api.user("designer"),
            files={"file": ("fork.bpmn", xml.encode())},
        )
    assert deployed.status_code in (200, 201), deployed.text
    clerk = api.user("clerk", "clerk_f")
    started = api.client.post(
        "/v1/instances",
        headers=clerk,
        json={
            "definition_key": "public_fork",
            "business_key": business_key,
            "variables": {"divisor": divisor},
        },
    )
    assert started.status_code == 201, started.text
    instance = _complete(api, clerk, started.json(), candidate="Wang", objection="internal note")
    instance = _complete(api, clerk, instance)  # the notice task: the fork runs
    published = api.client.get(f"/v1/instances/{instance['id']}/events", headers=api.admin)
    [notice_id] = [
        e["payload"]["notice_id"]
        for e in published.json()["items"]
        if e["type"] == "notice.published"
    ]
    return instance, int(notice_id), clerk


def _object(api: Api, notice_id: int, text: str = "He never served there.") -> dict[str, Any]:
    response = api.client.post(f"/public/notices/{notice_id}/objections", json={"text": text})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _reviews(instance: dict[str, Any]) -> int:
    return sum(1 for t in instance["tasks"] if t["element_id"] == "review_objection")


def _objection_rows(api: Api, notice_id: int) -> list[dict[str, Any]]:
    listed = api.client.get(f"/v1/notices/{notice_id}/objections", headers=api.user("monitor"))
    assert listed.status_code == 200, listed.text
    rows: list[dict[str, Any]] = listed.json()
    return rows


def _events_of(api: Api, instance: dict[str, Any]) -> list[dict[str, Any]]:
    got = api.client.get(f"/v1/instances/{instance['id']}/events?limit=500", headers=api.admin)
    assert got.status_code == 200, got.text
    items: list[dict[str, Any]] = got.json()["items"]
    return items


def test_an_objection_to_a_parked_case_reaches_it_when_it_is_retried(api: Api) -> None:
    """Defect: an objection raised while the case was parked at an incident was stored
    undelivered and never reached the case: held objections were delivered on resume only,
    so after a retry the review the model opens for an objection never opened."""
    instance, notice_id, _ = _fork_case(api, "FORK-1")
    assert instance["status"] == "failed"
    assert _object(api, notice_id)["delivered"] is False
    retried = api.client.post(
        f"/v1/instances/{instance['id']}/retry",
        headers=api.admin,
        json={"variables": {"divisor": 2}, "reason": "figures fixed"},
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "running"
    assert _reviews(retried.json()) == 1
    assert [(o["delivered"], o["held"]) for o in _objection_rows(api, notice_id)] == [(True, False)]
    # once: a later suspension and resume delivers nothing again
    url = f"/v1/instances/{instance['id']}"
    assert api.client.post(f"{url}/suspend", headers=api.admin, json={}).status_code == 200
    resumed = api.client.post(f"{url}/resume", headers=api.admin, json={})
    assert resumed.status_code == 200, resumed.text
    assert _reviews(resumed.json()) == 1


def test_an_objection_to_a_parked_case_reaches_it_when_its_element_is_skipped(api: Api) -> None:
    """The same defect through a skip: the failed check is skipped, the case runs again and
    takes the objections raised meanwhile, oldest first, as it would have taken them then: its
    non-interrupting boundary event stays armed while its task is open, so each objection
    opens a review, and neither is held any more."""
    instance, notice_id, _ = _fork_case(api, "FORK-2")
    first = _object(api, notice_id)
    second = _object(api, notice_id, "A second report.")
    rows = _objection_rows(api, notice_id)
    assert [(o["delivered"], o["held"]) for o in rows] == [(False, True), (False, True)]
    skipped = api.client.post(
        f"/v1/instances/{instance['id']}/skip", headers=api.admin, json={"reason": "not needed"}
    )
    assert skipped.status_code == 200, skipped.text
    assert skipped.json()["status"] == "running"
    assert _reviews(skipped.json()) == 2
    rows = _objection_rows(api, notice_id)
    assert [(o["delivered"], o["held"]) for o in rows] == [(True, False), (True, False)]
    caught = [
        e["payload"]["payload"]["notice_objection"]["objection_id"]
        for e in _events_of(api, instance)
        if e["type"] == "message.received" and e["element_id"] == "objected"
    ]
    assert caught == [first["id"], second["id"]]


@pytest.mark.parametrize("revive", ["instance retry", "task retries"])
def test_an_objection_to_a_case_parked_by_an_external_task_reaches_it_on_retry(
    api: Api, revive: str
) -> None:
    """The same defect where the incident is an external task's last failure: the instance's
    retry, or new retries for the task, give the task another try without an engine step, and
    the case takes the held objection."""
    xml = (DATA / FORK).read_text()
    start = xml.index('<bpmn:scriptTask id="divide"')
    end = xml.index("</bpmn:scriptTask>") + len("</bpmn:scriptTask>")
    external = (
        '<bpmn:serviceTask id="divide" name="Check the figures"><bpmn:extensionElements>'
        '<pf:externalTask topic="check-figures"/></bpmn:extensionElements>'
        "<bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f9</bpmn:outgoing></bpmn:serviceTask>"
    )
    instance, notice_id, _ = _fork_case(api, "FORK-3", xml=xml[:start] + external + xml[end:])
    assert instance["status"] == "running"
    worker = api.user("worker")
    fetched = api.client.post(
        "/v1/external-tasks/fetch-and-lock",
        headers=worker,
        json={"worker_id": "w1", "topics": [{"name": "check-figures", "lock_duration": 60_000}]},
    )
    [task] = fetched.json()
    failed = api.client.post(
        f"/v1/external-tasks/{task['id']}/failure",
        headers=worker,
        json={"worker_id": "w1", "error_message": "down", "retries": 0},
    )
    assert failed.status_code == 204, failed.text
    assert _object(api, notice_id)["delivered"] is False
    if revive == "instance retry":
        retried = api.client.post(
            f"/v1/instances/{instance['id']}/retry", headers=api.admin, json={"reason": "back"}
        )
    else:
        retried = api.client.put(
            f"/v1/external-tasks/{task['id']}/retries", headers=api.admin, json={"retries": 1}
        )
    assert retried.status_code == 200, retried.text
    after = api.client.get(f"/v1/instances/{instance['id']}", headers=api.admin).json()
    assert after["status"] == "running" and _reviews(after) == 1
    assert [o["delivered"] for o in _objection_rows(api, notice_id)] == [True]


def test_a_withdrawn_notice_is_recorded_and_listed_as_withdrawn(api: Api) -> None:
    """Defect: the notice of a cancelled case wrote no event and vanished from both public
    listings (not open, and not among the closed ones either, although its case had ended)."""
    instance, notice_id, clerk = _fork_case(api, "FORK-4", divisor=1)
    api.store.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    cancelled = api.client.post(
        f"/v1/instances/{instance['id']}/cancel", headers=clerk, json={"reason": "withdrawn"}
    )
    assert cancelled.status_code == 200, cancelled.text
    withdrawn = [e for e in _events_of(api, instance) if e["type"] == "notice.withdrawn"]
    assert [e["payload"]["notice_id"] for e in withdrawn] == [notice_id]
    assert withdrawn[0]["payload"]["reason"] == "instance_cancelled"
    assert api.client.get("/public/notices").json() == []
    closed = api.client.get("/public/notices?closed=true").json()
    assert [(n["id"], n["state"], n["open"]) for n in closed] == [(notice_id, "withdrawn", False)]
    assert closed[0]["withdrawn_at"] is not None
    one = api.client.get(f"/public/notices/{notice_id}").json()
    assert one["state"] == "withdrawn" and one["accepts_objections"] is False
    refused = api.client.post(f"/public/notices/{notice_id}/objections", json={"text": "late"})
    assert refused.status_code == 409, refused.text
    assert "withdrawn" in refused.json()["detail"]
    # its period ends later without another event: it stays withdrawn, never "closed"
    api.store.clock.advance(timedelta(days=30))  # type: ignore[attr-defined]
    again = api.client.get("/public/notices?closed=true").json()
    assert [(n["id"], n["state"]) for n in again] == [(notice_id, "withdrawn")]
    kinds = [e["type"] for e in _events_of(api, instance)]
    assert kinds.count("notice.withdrawn") == 1 and "notice.closed" not in kinds


def test_cancelling_a_parked_case_whose_state_no_longer_loads_withdraws_its_notice(
    api: Api,
) -> None:
    """The same defect where the cancellation cannot run the engine (the parked case's saved
    state no longer loads): the notice is withdrawn and recorded there too."""
    import json

    import sqlalchemy as sa

    instance, notice_id, _ = _fork_case(api, "FORK-7")
    assert instance["status"] == "failed"
    _object(api, notice_id)  # held
    with api.store.engine.begin() as conn:
        query = sa.text("SELECT state FROM instances WHERE id = :id")
        state = json.loads(conn.execute(query, {"id": instance["id"]}).scalar_one())
        state["spec"] = "0" * 64 + ":elsewhere"  # saved state that cannot be restored
        conn.execute(
            sa.text("UPDATE instances SET state = :s WHERE id = :id"),
            {"s": json.dumps(state), "id": instance["id"]},
        )
    rebind(api.store.engine, instance["id"])  # as a migration would: not an edit
    cancelled = api.client.post(
        f"/v1/instances/{instance['id']}/cancel", headers=api.admin, json={"reason": "withdrawn"}
    )
    assert cancelled.status_code == 200, cancelled.text
    kinds = [e["type"] for e in _events_of(api, instance)]
    # the objection held for it is let go, and that is recorded too
    assert kinds[-3:] == ["instance.cancelled", "notice.withdrawn", "notice.objections_undelivered"]
    assert api.client.get(f"/public/notices/{notice_id}").json()["state"] == "withdrawn"
    assert [o["held"] for o in _objection_rows(api, notice_id)] == [False]


def test_listing_the_notices_takes_as_many_statements_for_twenty_as_for_one(api: Api) -> None:
    """Defect: GET /public/notices looked up each notice's case and definition one statement
    at a time (up to 1,000 notices read)."""
    from sqlalchemy import event

    clerk = api.user("clerk", "clerk_n")
    api.store.clock = ManualClock(MONDAY)
    assert api.deploy("public_appointment.bpmn").status_code == 201

    def publish(n: int) -> None:
        started = api.client.post(
            "/v1/instances",
            headers=clerk,
            json={"definition_key": "public_appointment", "business_key": f"N-{n}"},
        )
        assert started.status_code == 201, started.text
        _complete(api, clerk, _complete(api, clerk, started.json(), candidate="W", post="P"))

    def statements(closed: bool = False) -> tuple[int, list[Any]]:
        api.store.immutable_cache.clear()  # definitions read from the database too
        seen: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            seen.append(statement)

        event.listen(api.store.engine, "before_cursor_execute", count)
        try:
            answer = api.client.get(f"/public/notices?closed={str(closed).lower()}")
        finally:
            event.remove(api.store.engine, "before_cursor_execute", count)
        assert answer.status_code == 200, answer.text
        return len(seen), answer.json()

    publish(0)
    one, listed = statements()
    assert len(listed) == 1
    for n in range(1, 20):
        publish(n)
    twenty, listed = statements()
    assert len(listed) == 20
    assert twenty == one, (one, twenty)
    api.store.clock.advance(timedelta(days=30))  # type: ignore[attr-defined]
    closed, listed = statements(closed=True)
    assert len(listed) == 20 and closed == one


def test_an_objection_does_not_replace_a_model_variable_of_the_same_name(api: Api) -> None:
    """Defect: the objection message's payload (``notice_id``, ``objection_id``,
    ``objection``) was merged into the catching task's data name by name, so a model's own
    variable ``objection`` (here an internal note taken at the nomination) was replaced by
    the public's text. The payload now arrives under the one name ``notice_objection``."""
    instance, notice_id, _ = _fork_case(api, "FORK-5", divisor=1)
    receipt = _object(api, notice_id, "He never served there.")
    assert receipt["delivered"] is True
    after = api.client.get(f"/v1/instances/{instance['id']}", headers=api.admin).json()
    assert after["data"]["objection"] == "internal note"
    assert after["data"]["notice_objection"] == {
        "notice_id": notice_id,
        "objection_id": receipt["id"],
        "text": "He never served there.",
    }
    assert "notice_id" not in after["data"] and "objection_id" not in after["data"]


def test_a_model_that_declares_the_objection_payload_name_is_refused(api: Api) -> None:
    """The name the objection arrives under is reserved in a process whose notice takes
    objections: declaring it (a form field, here) is an upload error with a sentence."""
    xml = (
        (DATA / FORK)
        .read_text()
        .replace(
            '<camunda:formField id="objection" type="string"/>',
            '<camunda:formField id="notice_objection" type="string"/>',
        )
    )
    refused = api.client.post(
        "/v1/definitions", headers=api.user("designer"), files={"file": ("f.bpmn", xml.encode())}
    )
    assert refused.status_code == 422, refused.text
    assert "notice_objection" in refused.text and "reserved" in refused.text
    scripted = (
        (DATA / FORK).read_text().replace("ratio = 10 / divisor", "notice_objection = 'mine'")
    )
    refused = api.client.post(
        "/v1/definitions",
        headers=api.user("designer"),
        files={"file": ("g.bpmn", scripted.encode())},
    )
    assert refused.status_code == 422, refused.text
    assert "notice_objection" in refused.text
    # without an objection message the name is the model's to use
    quiet = xml.replace(' objectionMessage="objection"', "")
    taken = api.client.post(
        "/v1/definitions", headers=api.user("designer"), files={"file": ("h.bpmn", quiet.encode())}
    )
    assert taken.status_code == 201, taken.text


def _reviewed_by_event_subprocess() -> str:
    """``public_fork`` catching objections with a message event subprocess instead of a
    boundary event: every objection starts one more review beside the main flow."""
    xml = (DATA / FORK).read_text()
    start = xml.index('<bpmn:boundaryEvent id="objected"')
    end = xml.index("</bpmn:endEvent>", xml.index('<bpmn:endEvent id="end_review">'))
    sub = (
        '<bpmn:subProcess id="on_objection" triggeredByEvent="true">'
        '<bpmn:startEvent id="objected" isInterrupting="false"><bpmn:outgoing>f7</bpmn:outgoing>'
        '<bpmn:messageEventDefinition id="ObjDef" messageRef="Msg_objection"/></bpmn:startEvent>'
        '<bpmn:userTask id="review_objection" name="Review" camunda:candidateGroups="clerk">'
        "<bpmn:incoming>f7</bpmn:incoming><bpmn:outgoing>f8</bpmn:outgoing></bpmn:userTask>"
        '<bpmn:endEvent id="end_review"><bpmn:incoming>f8</bpmn:incoming></bpmn:endEvent>'
        '<bpmn:sequenceFlow id="f7" sourceRef="objected" targetRef="review_objection"/>'
        '<bpmn:sequenceFlow id="f8" sourceRef="review_objection" targetRef="end_review"/>'
        "</bpmn:subProcess>"
    )
    xml = xml[:start] + sub + xml[end + len("</bpmn:endEvent>") :]
    for flow in ("f7", "f8"):
        at = xml.rindex(f'<bpmn:sequenceFlow id="{flow}"')
        xml = xml[:at] + xml[xml.index("/>", at) + 2 :]
    return xml


def test_a_held_objection_whose_delivery_parks_the_case_keeps_the_others_held(
    api: Api,
) -> None:
    """A held objection's delivery may itself stop the case (the review's first step fails):
    the objections after it stay held, and the recovery that follows delivers them."""
    xml = _reviewed_by_event_subprocess().replace(
        '<bpmn:userTask id="review_objection"',
        '<bpmn:scriptTask id="weigh"><bpmn:incoming>f7</bpmn:incoming>'
        "<bpmn:outgoing>f7b</bpmn:outgoing>"
        '<bpmn:script>weight = 10 / (len(notice_objection["text"]) - 3)</bpmn:script>'
        "</bpmn:scriptTask>"
        '<bpmn:sequenceFlow id="f7b" sourceRef="weigh" targetRef="review_objection"/>'
        '<bpmn:userTask id="review_objection"',
    )
    xml = xml.replace(
        '<bpmn:sequenceFlow id="f7" sourceRef="objected" targetRef="review_objection"/>',
        '<bpmn:sequenceFlow id="f7" sourceRef="objected" targetRef="weigh"/>',
    ).replace(
        "<bpmn:incoming>f7</bpmn:incoming><bpmn:outgoing>f8",
        "<bpmn:incoming>f7b</bpmn:incoming><bpmn:outgoing>f8",
    )
    instance, notice_id, _ = _fork_case(api, "FORK-8", divisor=1, xml=xml)
    url = f"/v1/instances/{instance['id']}"
    assert api.client.post(f"{url}/suspend", headers=api.admin, json={}).status_code == 200
    _object(api, notice_id, "abc")  # its weighing divides by zero
    _object(api, notice_id, "A longer report.")
    resumed = api.client.post(f"{url}/resume", headers=api.admin, json={})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "failed"
    rows = _objection_rows(api, notice_id)
    assert [(o["delivered"], o["held"]) for o in rows] == [(True, False), (False, True)]
    skipped = api.client.post(f"{url}/skip", headers=api.admin, json={"reason": "weigh later"})
    assert skipped.status_code == 200, skipped.text
    assert skipped.json()["status"] == "running" and _reviews(skipped.json()) == 2
    rows = _objection_rows(api, notice_id)
    assert [(o["delivered"], o["held"]) for o in rows] == [(True, False), (True, False)]


def test_objections_to_one_notice_are_bounded(db_url: str) -> None:
    """Defect: with a message event subprocess catching the objection message, every
    objection started one more review on the case, without limit: a flood of objections from
    many addresses piled up open tasks, each making every later step of the case slower. A
    notice takes at most POWERFLOW_NOTICE_MAX_OBJECTIONS; past it, 409 with a sentence and
    nothing stored. (A non-interrupting boundary event catches one message only.)"""
    from fastapi.testclient import TestClient

    from conftest import make_settings
    from powerflow.app import create_app

    app = create_app(make_settings(db_url, notice_max_objections=2), run_workers=False)
    with TestClient(app) as client:
        _bounded(Api(client))


def _bounded(api: Api) -> None:
    xml = _reviewed_by_event_subprocess()
    instance, notice_id, _ = _fork_case(api, "FORK-6", divisor=1, xml=xml)
    _object(api, notice_id, "one")
    _object(api, notice_id, "two")
    third = api.client.post(f"/public/notices/{notice_id}/objections", json={"text": "three"})
    assert third.status_code == 409, third.text
    assert "2 objections" in third.json()["detail"]
    assert len(_objection_rows(api, notice_id)) == 2
    after = api.client.get(f"/v1/instances/{instance['id']}", headers=api.admin).json()
    assert _reviews(after) == 2
    kinds = [e["type"] for e in _events_of(api, instance)]
    assert kinds.count("notice.objection_received") == 2


def test_the_upgrade_holds_objections_to_stopped_cases_and_withdraws_cancelled_notices(
    db_url: str,
) -> None:
    """Revision 0019 brings existing rows in line: an undelivered objection raised since a still
    suspended case was suspended is held (its resume delivers it), an earlier one is not; the
    open notice of a case already cancelled is withdrawn at the cancellation."""
    import sqlalchemy as sa
    from alembic import command

    from powerflow.bootstrap import SYSTEM
    from powerflow.db.engine import Store
    from powerflow.db.migrate import alembic_config, upgrade
    from powerflow.db.models import UTCDateTime
    from powerflow.services import definitions, instances, tasks
    from powerflow.services.auth import Principal
    from powerflow.services.supervision import disclosure

    store = Store(db_url)
    try:
        upgrade(store.engine)  # today's code runs the cases; then the schema goes back to 0018
        clock = store.clock = ManualClock(MONDAY)
        definitions.deploy(store, (DATA / FORK).read_bytes(), FORK, SYSTEM, max_bytes=1 << 20)
        clerk = Principal("clara", frozenset({"clerk"}))
        admin = Principal("admin", frozenset({"admin"}))

        def to_notice(business_key: str) -> str:
            view = instances.start_instance(
                store, clerk, "public_fork", business_key=business_key, variables={"divisor": 1}
            )
            for data in ({"candidate": "Wang"}, {}):
                view = tasks.complete(store, clerk, view.tasks[0].id, data)
            return view.id

        suspended, cancelled = to_notice("OLD-1"), to_notice("OLD-2")
        objections = sa.table(
            "notice_objections",
            sa.column("notice_id"),
            sa.column("text"),
            sa.column("delivered"),
            sa.column("received_at", UTCDateTime()),
        )
        notices_table = sa.table("notices", sa.column("id"), sa.column("instance_id"))
        instances_table = sa.table(
            "instances",
            sa.column("id"),
            sa.column("status"),
            sa.column("ended_at", UTCDateTime()),
        )
        with store.engine.begin() as conn:
            ids = dict(
                conn.execute(sa.select(notices_table.c.instance_id, notices_table.c.id)).all()
            )
        clock.advance(timedelta(hours=1))
        with store.engine.begin() as conn:  # not delivered although the case ran: not held
            conn.execute(
                objections.insert(),
                {
                    "notice_id": ids[suspended],
                    "text": "early",
                    "delivered": False,
                    "received_at": clock.now(),
                },
            )
        clock.advance(timedelta(hours=1))
        instances.set_suspended(store, admin, suspended, suspend=True, reason="check")
        plain = sa.create_engine(db_url)  # SQLite: no foreign keys while tables are rebuilt
        command.downgrade(alembic_config(plain), "0018")
        plain.dispose()
        clock.advance(timedelta(hours=1))
        with store.engine.begin() as conn:
            conn.execute(
                objections.insert(),
                {
                    "notice_id": ids[suspended],
                    "text": "while suspended",
                    "delivered": False,
                    "received_at": clock.now(),
                },
            )
            conn.execute(
                instances_table.update()
                .where(instances_table.c.id == cancelled)
                .values(status="cancelled", ended_at=clock.now())
            )
        cancelled_at = clock.now()
        clock.advance(timedelta(hours=1))

        upgrade(store.engine)
        with store.engine.begin() as conn:
            held = conn.execute(
                sa.text("SELECT text, held FROM notice_objections ORDER BY id")
            ).all()
        assert [(text, bool(flag)) for text, flag in held] == [
            ("early", False),
            ("while suspended", True),
        ]
        [withdrawn] = disclosure.list_notices(store, closed=True)
        assert withdrawn["id"] == ids[cancelled] and withdrawn["state"] == "withdrawn"
        assert withdrawn["withdrawn_at"] == cancelled_at
        resumed = instances.set_suspended(store, admin, suspended, suspend=False, reason="ok")
        assert [t.element_id for t in resumed.tasks].count("review_objection") == 1
    finally:
        store.dispose()


def test_a_form_that_accepts_any_data_cannot_submit_the_objection_payload_name(api: Api) -> None:
    """Defect: the name objections arrive under was refused at upload as a declared field, but
    a task (or start) accepting any data (``pf:acceptsData fields="*"``) took it at run time,
    so a clerk could forge an objection in the case's data. Refused with a sentence (422)."""
    assert api.deploy("public_appointment.bpmn").status_code == 201
    clerk = api.user("clerk", "clerk_reserved")
    forged = {"notice_objection": {"notice_id": 1, "objection_id": 1, "text": "forged"}}
    refused = api.client.post(
        "/v1/instances",
        headers=clerk,
        json={"definition_key": "public_appointment", "variables": forged},
    )
    assert refused.status_code == 422, refused.text
    assert "'notice_objection' is reserved" in refused.json()["detail"]
    started = api.client.post(
        "/v1/instances", headers=clerk, json={"definition_key": "public_appointment"}
    )
    assert started.status_code == 201, started.text
    instance = _complete(api, clerk, started.json(), candidate="Wang Fang", post="Head")
    (task,) = [t for t in instance["tasks"] if t["state"] == "ready"]
    assert task["element_id"] == "post_notice"  # accepts any data: the process's "*"
    response = api.client.post(
        f"/v1/tasks/{task['id']}/complete", headers=clerk, json={"data": {**forged, "x": 1}}
    )
    assert response.status_code == 422, response.text
    assert "'notice_objection' is reserved" in response.json()["detail"]
    assert "notice_objection" not in read_data(api, instance["id"])
    # any other name is still taken
    _complete(api, clerk, instance, note="posted")


def read_data(api: Api, instance_id: str) -> dict[str, Any]:
    """The instance's data as an administrator reads it."""
    response = api.client.get(f"/v1/instances/{instance_id}", headers=api.admin)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _undelivered(api: Api, instance: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        e["payload"]
        for e in _events_of(api, instance)
        if e["type"] == "notice.objections_undelivered"
    ]


def test_objections_held_for_a_case_cancelled_after_the_notice_ended_are_no_longer_held(
    api: Api,
) -> None:
    """Defect: cancelling a case let go of the objections held for its notices still open
    only; one held for a notice whose period had ended while the case was stopped stayed held
    for ever (listed as waiting for a case that will never run), and nothing recorded it."""
    instance, notice_id, _ = _fork_case(api, "FORK-9")
    assert instance["status"] == "failed"
    objection = _object(api, notice_id)
    assert [o["held"] for o in _objection_rows(api, notice_id)] == [True]
    assert isinstance(api.store.clock, ManualClock)
    api.store.clock.advance(timedelta(days=10))  # the notice's five working days are over
    cancelled = api.client.post(
        f"/v1/instances/{instance['id']}/cancel", headers=api.admin, json={"reason": "withdrawn"}
    )
    assert cancelled.status_code == 200, cancelled.text
    assert [(o["delivered"], o["held"]) for o in _objection_rows(api, notice_id)] == [
        (False, False)
    ]
    assert _undelivered(api, instance) == [
        {"notice_id": notice_id, "objection_ids": [objection["id"]], "reason": "instance_cancelled"}
    ]
    assert api.client.get(f"/public/notices/{notice_id}").json()["state"] == "closed"


LAST = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:pf="urn:powerflow:bpmn:1.0"
    id="Definitions_last" targetNamespace="urn:powerflow:tests">
  <bpmn:message id="Msg_objection" name="objection"/>
  <bpmn:process id="public_last" name="A notice, then a fragile check" isExecutable="true">
    <bpmn:extensionElements>
      <pf:disclosure public="true" progress="true"/>
      <pf:acceptsData fields="divisor"/>
    </bpmn:extensionElements>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="post_notice" name="Post the notice" camunda:candidateGroups="clerk">
      <bpmn:extensionElements>
        <pf:notice period="P5D" calendar="working" objectionMessage="objection"/>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:scriptTask id="divide" name="Check the figures">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>ratio = 10 / divisor</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="post_notice"/>
    <bpmn:sequenceFlow id="f2" sourceRef="post_notice" targetRef="divide"/>
    <bpmn:sequenceFlow id="f3" sourceRef="divide" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_objections_held_for_a_parked_case_that_completes_on_recovery_are_let_go(
    api: Api,
) -> None:
    """Defect: a parked case whose recovery (here a skip) ran it to its end kept the
    objections held for it: they were delivered only to a case running again, so they stayed
    held for ever. They are let go and recorded; the notice runs on (a completed case leaves
    its notice open)."""
    api.store.clock = ManualClock(MONDAY)
    deployed = api.client.post(
        "/v1/definitions",
        headers=api.user("designer"),
        files={"file": ("last.bpmn", LAST.encode())},
    )
    assert deployed.status_code == 201, deployed.text
    clerk = api.user("clerk", "clerk_l")
    started = api.client.post(
        "/v1/instances",
        headers=clerk,
        json={"definition_key": "public_last", "business_key": "L-1", "variables": {"divisor": 0}},
    )
    assert started.status_code == 201, started.text
    instance = _complete(api, clerk, started.json())
    assert instance["status"] == "failed"
    [notice_id] = [
        e["payload"]["notice_id"]
        for e in _events_of(api, instance)
        if e["type"] == "notice.published"
    ]
    objection = _object(api, notice_id)
    assert [o["held"] for o in _objection_rows(api, notice_id)] == [True]
    skipped = api.client.post(
        f"/v1/instances/{instance['id']}/skip", headers=api.admin, json={"reason": "not needed"}
    )
    assert skipped.status_code == 200, skipped.text
    assert skipped.json()["status"] == "completed"
    assert [(o["delivered"], o["held"]) for o in _objection_rows(api, notice_id)] == [
        (False, False)
    ]
    assert _undelivered(api, instance) == [
        {"notice_id": notice_id, "objection_ids": [objection["id"]], "reason": "instance_completed"}
    ]
    assert api.client.get(f"/public/notices/{notice_id}").json()["state"] == "open"


def test_objections_held_after_one_whose_delivery_ends_the_case_are_let_go(api: Api) -> None:
    """The same defect when the case ends by a held objection's delivery (its interrupting
    catch ends the case): the objections after it can reach nothing; they are let go and
    recorded rather than tried on an ended case unrecorded."""
    xml = (
        (DATA / FORK)
        .read_text()
        .replace('cancelActivity="false"', 'cancelActivity="true"')
        .replace(
            '<bpmn:sequenceFlow id="f7" sourceRef="objected" targetRef="review_objection"/>',
            '<bpmn:sequenceFlow id="f7" sourceRef="objected" targetRef="end_review"/>',
        )
        .replace(
            "<bpmn:incoming>f8</bpmn:incoming></bpmn:endEvent>",
            "<bpmn:incoming>f7</bpmn:incoming></bpmn:endEvent>",
        )
    )
    start = xml.index('<bpmn:userTask id="review_objection"')
    xml = xml[:start] + xml[xml.index("</bpmn:userTask>", start) + len("</bpmn:userTask>") :]
    at = xml.index('<bpmn:sequenceFlow id="f8"')
    xml = xml[:at] + xml[xml.index("/>", at) + 2 :]
    instance, notice_id, _ = _fork_case(api, "FORK-10", xml=xml)
    assert instance["status"] == "failed"
    first = _object(api, notice_id)
    second = _object(api, notice_id, "A second report.")
    skipped = api.client.post(
        f"/v1/instances/{instance['id']}/skip", headers=api.admin, json={"reason": "not needed"}
    )
    assert skipped.status_code == 200, skipped.text
    assert skipped.json()["status"] == "completed"  # the first objection ended it
    rows = _objection_rows(api, notice_id)
    assert [(o["id"], o["delivered"], o["held"]) for o in rows] == [
        (first["id"], True, False),
        (second["id"], False, False),
    ]
    assert _undelivered(api, instance) == [
        {"notice_id": notice_id, "objection_ids": [second["id"]], "reason": "instance_completed"}
    ]
