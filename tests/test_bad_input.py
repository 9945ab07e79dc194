"""Bad input through the HTTP API: every rejection is a problem+json sentence, never a 500,
and nothing is half-applied (no definition deployed, no instance started, no event recorded)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import DATA, Api, make_settings
from powerflow.app import create_app

BAD = DATA / "bad"


# --------------------------------------------------------------------------- helpers


def assert_problem(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status and a sentence naming ``words``."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    detail = body.get("detail")
    assert isinstance(detail, str) and len(detail.split()) >= 3, body
    for word in words:
        assert word.lower() in detail.lower(), (word, detail)
    return body


def deployed_keys(api: Api) -> list[str]:
    page = api.client.get("/v1/definitions", headers=api.admin)
    assert page.status_code == 200, page.text
    return [d["key"] for d in page.json()["items"]]


def assert_rejected_upload(
    api: Api,
    name: str,
    *words: str,
    line: int | None = None,
    element_id: str | None = None,
    problem_words: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Uploading tests/data/bad/<name> gives 422 with a located problem and deploys nothing."""
    keys_before = deployed_keys(api)
    body = assert_problem(api.deploy(BAD / name), 422, *words)
    problems = body.get("problems")
    assert isinstance(problems, list) and problems, body
    if line is not None:
        assert any(p.get("line") == line for p in problems), problems
    if element_id is not None:
        assert any(
            p.get("element_id") == element_id and isinstance(p.get("line"), int) for p in problems
        ), problems
    for word in problem_words:
        assert any(word.lower() in p["message"].lower() for p in problems), (word, problems)
    assert deployed_keys(api) == keys_before
    return body


def events_of(api: Api, instance_id: str) -> list[dict[str, Any]]:
    response = api.client.get(f"/v1/instances/{instance_id}/events", headers=api.admin)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def snapshot(api: Api, instance_id: str) -> tuple[Any, ...]:
    """What a rejected request must leave untouched: instance, ready tasks, events."""
    instance = api.client.get(f"/v1/instances/{instance_id}", headers=api.admin).json()
    tasks = sorted((t["id"], t["state"], t["assignee"]) for t in instance["tasks"])
    events = [(e["seq"], e["type"], e["hash"]) for e in events_of(api, instance_id)]
    return (instance["status"], instance["version"], instance["data"], tasks, events)


def task_state(api: Api, task_id: str) -> str:
    response = api.client.get(f"/v1/tasks/{task_id}", headers=api.admin)
    assert response.status_code == 200, response.text
    return str(response.json()["state"])


def start_expense(api: Api) -> tuple[dict[str, str], dict[str, Any]]:
    """Deploy gateway.bpmn and start an expense claim; returns (employee, instance)."""
    assert api.deploy("gateway.bpmn").status_code == 201
    employee = api.user("clerk,employee")
    started = api.client.post("/v1/instances", headers=employee, json={"definition_key": "expense"})
    assert started.status_code == 201, started.text
    instance = started.json()
    assert [t["element_id"] for t in instance["tasks"]] == ["submit"]
    return employee, instance


def start_three(api: Api) -> tuple[dict[str, str], dict[str, Any]]:
    """Deploy three_tasks.bpmn and start it; returns (a clerk-office user, instance)."""
    assert api.deploy("three_tasks.bpmn").status_code == 201
    starter = api.user("clerk,clerk-office")
    started = api.client.post(
        "/v1/instances", headers=starter, json={"definition_key": "three_tasks"}
    )
    assert started.status_code == 201, started.text
    instance = started.json()
    assert [t["element_id"] for t in instance["tasks"]] == ["first"]
    return starter, instance


# --------------------------------------------------------------------------- uploads


UPLOAD_CASES: list[tuple[str, tuple[str, ...], dict[str, Any]]] = [
    # (file under tests/data/bad, words of the detail sentence, expectations on the problems)
    ("malformed.bpmn", ("well-formed",), {"line": 8}),
    ("not_bpmn.xml", ("root element", "bpmn:definitions"), {"problem_words": ("invoice",)}),
    ("no_start_event.bpmn", ("start event",), {"line": 3, "element_id": "no_start"}),
    ("flow_to_missing.bpmn", ("nowhere", "not an element"), {"element_id": "work"}),
    ("invalid_iso_timer.bpmn", ("PT1HOUR", "ISO 8601"), {"line": 8, "element_id": "wait_hour"}),
    ("link_event.bpmn", ("link event",), {"line": 5, "element_id": "jump"}),
    ("unknown_pf_element.bpmn", ("pf:requiredRole",), {"line": 7, "element_id": "review"}),
    ("bad_time_limit.bpmn", ("five days", "ISO 8601"), {"line": 7, "element_id": "review"}),
    ("bad_risk_level.bpmn", ("extreme", "risk level"), {"line": 7, "element_id": "review"}),
]


def test_invalid_uploads_are_422_with_located_problems(api: Api, subtests: Any) -> None:
    """Each file in the table is rejected with a sentence and a line, and nothing is deployed."""
    for name, words, expect in UPLOAD_CASES:
        with subtests.test(msg=name):
            assert_rejected_upload(api, name, *words, **expect)


def test_xxe_file_entity_is_refused_and_nothing_deployed(api: Api) -> None:
    body = assert_rejected_upload(api, "xxe.bpmn", "DOCTYPE", "not allowed")
    hostname = Path("/etc/hostname")
    if hostname.exists() and hostname.read_text().strip():
        assert hostname.read_text().strip() not in str(body)
    assert api.client.get("/v1/definitions/xxe", headers=api.admin).status_code == 404
    started = api.client.post(
        "/v1/instances", headers=api.user("clerk"), json={"definition_key": "xxe"}
    )
    assert_problem(started, 404, "xxe")


def test_xxe_as_raw_xml_body_is_refused_too(api: Api) -> None:
    response = api.client.post(
        "/v1/definitions",
        headers={**api.user("designer"), "Content-Type": "application/xml"},
        content=(BAD / "xxe.bpmn").read_bytes(),
    )
    assert_problem(response, 422, "DOCTYPE", "not allowed")
    assert deployed_keys(api) == []


def test_billion_laughs_is_refused_quickly(api: Api) -> None:
    began = time.monotonic()
    body = assert_rejected_upload(api, "billion_laughs.bpmn")
    assert time.monotonic() - began < 5
    text = (body["detail"] + " ".join(p["message"] for p in body["problems"])).lower()
    assert "doctype" in text or "entit" in text, body


@pytest.fixture
def small_upload_api(db_url: str) -> Iterator[Api]:
    """The application with a 2 KiB upload limit."""
    app = create_app(make_settings(db_url, max_upload_bytes=2048), run_workers=False)
    with TestClient(app) as client:
        yield Api(client)


def test_upload_far_over_the_limit_is_413(small_upload_api: Api) -> None:
    api = small_upload_api
    big = (
        (DATA / "three_tasks.bpmn")
        .read_bytes()
        .replace(b"<bpmn:process", b"<!--" + b"x" * 200_000 + b"-->\n  <bpmn:process", 1)
    )
    response = api.client.post(
        "/v1/definitions",
        headers=api.user("designer"),
        files={"file": ("big.bpmn", big)},
    )
    assert_problem(response, 413, "larger than", "limit")
    assert deployed_keys(api) == []


def test_upload_just_over_the_limit_is_413(small_upload_api: Api) -> None:
    """gateway.bpmn (3.5 KB) is over a 2 KiB limit: that is 'payload too large', not 422."""
    api = small_upload_api
    assert len((DATA / "gateway.bpmn").read_bytes()) > 2048
    assert_problem(api.deploy("gateway.bpmn"), 413, "limit")
    raw = api.client.post(
        "/v1/definitions",
        headers={**api.user("designer"), "Content-Type": "application/xml"},
        content=(DATA / "gateway.bpmn").read_bytes(),
    )
    assert_problem(raw, 413, "limit")
    assert deployed_keys(api) == []
    # A file under the limit still deploys on the same service.
    assert len((DATA / "three_tasks.bpmn").read_bytes()) < 2048
    assert api.deploy("three_tasks.bpmn").status_code == 201


def test_empty_body_is_422(api: Api) -> None:
    designer = api.user("designer")
    raw = api.client.post(
        "/v1/definitions", headers={**designer, "Content-Type": "application/xml"}, content=b""
    )
    assert_problem(raw, 422, "empty")
    blank = api.client.post(
        "/v1/definitions", headers=designer, files={"file": ("blank.bpmn", b"  \n ")}
    )
    assert_problem(blank, 422, "empty")
    no_file = api.client.post(
        "/v1/definitions", headers=designer, files={"other": ("x.bpmn", b"<x/>")}
    )
    assert_problem(no_file, 422, "file")
    assert deployed_keys(api) == []


def test_unsupported_content_type_is_415(api: Api) -> None:
    response = api.client.post(
        "/v1/definitions",
        headers={**api.user("designer"), "Content-Type": "text/plain"},
        content=(DATA / "three_tasks.bpmn").read_bytes(),
    )
    assert_problem(response, 415, "content type", "text/plain")
    assert deployed_keys(api) == []


@pytest.mark.parametrize(
    ("name", "element_id", "line", "words"),
    [
        pytest.param("script_import_os.bpmn", "evil_import", 5, ("import",), id="import-os"),
        pytest.param("script_dunder.bpmn", "evil_walk", 5, ("__subclasses__",), id="dunder-walk"),
    ],
)
def test_unsafe_script_is_rejected_at_deploy(
    api: Api, name: str, element_id: str, line: int, words: tuple[str, ...]
) -> None:
    body = assert_rejected_upload(api, name, "not allowed", element_id=element_id)
    located = [p for p in body["problems"] if p["element_id"] == element_id]
    assert located and located[0]["line"] == line, body["problems"]
    for word in words:
        assert word.lower() in located[0]["message"].lower(), located


# --------------------------------------------------------------------------- starting


def test_starting_an_unknown_definition_is_404(api: Api) -> None:
    response = api.client.post(
        "/v1/instances", headers=api.user("clerk"), json={"definition_key": "no_such_process"}
    )
    assert_problem(response, 404, "no_such_process")
    assert api.deploy("three_tasks.bpmn").status_code == 201
    wrong_version = api.client.post(
        "/v1/instances",
        headers=api.user("clerk"),
        json={"definition_key": "three_tasks", "version": 7},
    )
    assert_problem(wrong_version, 404, "three_tasks", "version 7")


BAD_VARIABLES: list[tuple[str, Any, tuple[str, ...]]] = [
    ("list", [1, 2], ("variables",)),
    ("string", "amount=5", ("variables",)),
    ("number", 42, ("variables",)),
    ("typename", {"typename": "invoice"}, ("typename", "reserved")),
    ("nested typename", {"order": {"typename": "x", "n": 1}}, ("typename",)),
    ("underscore", {"_secret": 1}, ("_secret", "reserved")),
    ("nested underscore", {"order": {"_getattr_": 1}}, ("reserved",)),
    ("not an identifier", {"not an identifier": 1}, ("identifier",)),
]


def test_bad_variables_are_422_and_start_nothing(api: Api, subtests: Any) -> None:
    assert api.deploy("three_tasks.bpmn").status_code == 201
    clerk = api.user("clerk")
    for case, variables, words in BAD_VARIABLES:
        with subtests.test(msg=case):
            response = api.client.post(
                "/v1/instances",
                headers=clerk,
                json={"definition_key": "three_tasks", "variables": variables},
            )
            assert_problem(response, 422, *words)
            assert api.client.get("/v1/instances", headers=api.admin).json()["items"] == []
            assert api.client.get("/v1/tasks", headers=api.admin).json()["items"] == []


def test_start_body_that_is_not_json_is_422(api: Api) -> None:
    response = api.client.post(
        "/v1/instances",
        headers={**api.user("clerk"), "Content-Type": "application/json"},
        content=b"{definition_key: three_tasks",
    )
    assert_problem(response, 422, "not valid")
    extra = api.client.post(
        "/v1/instances",
        headers=api.user("clerk"),
        json={"definition_key": "three_tasks", "unexpected": True},
    )
    assert_problem(extra, 422, "unexpected")


def test_business_key_reused_is_409(api: Api) -> None:
    assert api.deploy("three_tasks.bpmn").status_code == 201
    clerk = api.user("clerk")
    body = {"definition_key": "three_tasks", "business_key": "case-2024-17"}
    first = api.client.post("/v1/instances", headers=clerk, json=body)
    assert first.status_code == 201, first.text
    again = api.client.post("/v1/instances", headers=api.user("clerk"), json=body)
    assert_problem(again, 409, "case-2024-17", "already exists")
    listed = api.client.get(
        "/v1/instances", headers=api.admin, params={"business_key": "case-2024-17"}
    ).json()
    assert [i["id"] for i in listed["items"]] == [first.json()["id"]]
    assert len(events_of(api, first.json()["id"])) == 2  # started + first task ready


# --------------------------------------------------------------------------- unknown ids


def test_unknown_instance_id_is_404(api: Api) -> None:
    missing = str(uuid.uuid4())
    clerk = api.user("clerk")
    for response in (
        api.client.get(f"/v1/instances/{missing}", headers=clerk),
        api.client.get(f"/v1/instances/{missing}/events", headers=clerk),
        api.client.post(f"/v1/instances/{missing}/cancel", headers=api.admin),
        api.client.post(f"/v1/instances/{missing}/messages", headers=clerk, json={"name": "go"}),
        api.client.get("/v1/instances/not-a-uuid", headers=clerk),
    ):
        body = assert_problem(response, 404, "does not exist")
        assert missing in body["detail"] or "not-a-uuid" in body["detail"]


def test_unknown_task_id_is_404(api: Api) -> None:
    missing = str(uuid.uuid4())
    clerk = api.user("clerk")
    for response in (
        api.client.get(f"/v1/tasks/{missing}", headers=clerk),
        api.client.post(f"/v1/tasks/{missing}/claim", headers=clerk),
        api.client.post(f"/v1/tasks/{missing}/unclaim", headers=clerk),
        api.client.post(f"/v1/tasks/{missing}/complete", headers=clerk, json={"data": {}}),
    ):
        body = assert_problem(response, 404, "does not exist")
        assert missing in body["detail"]


# --------------------------------------------------------------------------- completing


FORM_MISFITS: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("text for long", {"amount": "lots"}, ("amount", "whole number")),
    ("float for long", {"amount": 12.5}, ("amount", "whole number")),
    ("bool for long", {"amount": True}, ("amount", "whole number")),
    ("missing required", {"reason": "taxi"}, ("amount", "required")),
    ("null for required", {"amount": None}, ("amount", "required")),
    ("number for string", {"amount": 5, "reason": 7}, ("reason", "text")),
]
UNSTORABLE: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("nested typename", {"data": {"amount": 5, "payload": {"typename": "invoice"}}}, ("typename",)),
    ("underscore", {"data": {"amount": 5, "_x": 1}}, ("reserved",)),
    ("data not an object", {"data": [1, 2]}, ("data",)),
    ("extra field", {"data": {"amount": 5}, "extra": 1}, ("extra",)),
]


def test_rejected_completions_change_nothing(api: Api, subtests: Any) -> None:
    """Data that does not fit the form, or cannot be stored, is 422; the task stays ready and
    the instance (status, version, data, tasks, events) is exactly as before."""
    employee, instance = start_expense(api)
    task_id = instance["tasks"][0]["id"]
    before = snapshot(api, instance["id"])
    cases = [(c, {"data": d}, ("form", *w)) for c, d, w in FORM_MISFITS] + UNSTORABLE
    for case, body, words in cases:
        with subtests.test(msg=case):
            response = api.client.post(f"/v1/tasks/{task_id}/complete", headers=employee, json=body)
            assert_problem(response, 422, *words)
            assert task_state(api, task_id) == "ready"
            assert snapshot(api, instance["id"]) == before
    # The same task still completes with good data afterwards, and nothing rejected leaked in.
    ok = api.client.post(
        f"/v1/tasks/{task_id}/complete", headers=employee, json={"data": {"amount": 5}}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "completed"
    assert ok.json()["data"]["amount"] == 5
    assert not {"reason", "_x", "payload", "extra"} & set(ok.json()["data"])


def test_completing_a_completed_task_is_409(api: Api) -> None:
    user, instance = start_three(api)
    first = instance["tasks"][0]["id"]
    done = api.client.post(f"/v1/tasks/{first}/complete", headers=user, json={"data": {}})
    assert done.status_code == 200, done.text
    before = snapshot(api, instance["id"])
    again = api.client.post(f"/v1/tasks/{first}/complete", headers=user, json={"data": {}})
    assert_problem(again, 409, "already completed")
    assert snapshot(api, instance["id"]) == before
    claim = api.client.post(f"/v1/tasks/{first}/claim", headers=user)
    assert_problem(claim, 409, "completed")
    assert snapshot(api, instance["id"]) == before


def test_completing_a_task_of_a_cancelled_instance_is_409(api: Api) -> None:
    user, instance = start_three(api)
    first = instance["tasks"][0]["id"]
    cancelled = api.client.post(f"/v1/instances/{instance['id']}/cancel", headers=api.admin)
    assert cancelled.status_code == 200, cancelled.text
    before = snapshot(api, instance["id"])
    response = api.client.post(f"/v1/tasks/{first}/complete", headers=user, json={"data": {}})
    assert_problem(response, 409, "cancelled")
    assert snapshot(api, instance["id"]) == before


def test_completing_without_the_role_is_403(api: Api) -> None:
    employee, instance = start_expense(api)
    submit = instance["tasks"][0]["id"]
    done = api.client.post(
        f"/v1/tasks/{submit}/complete", headers=employee, json={"data": {"amount": 5000}}
    )
    assert done.status_code == 200, done.text
    approve = [t for t in done.json()["tasks"] if t["element_id"] == "approve"]
    assert approve and approve[0]["roles"] == ["manager", "deputy"]
    approve_id = approve[0]["id"]
    before = snapshot(api, instance["id"])
    for headers in (employee, api.admin, api.user("monitor")):
        response = api.client.post(
            f"/v1/tasks/{approve_id}/complete", headers=headers, json={"data": {"approved": True}}
        )
        assert_problem(response, 403, "manager")
        claim = api.client.post(f"/v1/tasks/{approve_id}/claim", headers=headers)
        assert_problem(claim, 403, "manager")
    stranger = api.user("clerk")  # not involved in the instance: the task does not exist for them
    for action in ("complete", "claim"):
        response = api.client.post(
            f"/v1/tasks/{approve_id}/{action}", headers=stranger, json={"data": {"approved": True}}
        )
        assert_problem(response, 404, "does not exist")
    assert task_state(api, approve_id) == "ready"
    assert snapshot(api, instance["id"]) == before
    deputy = api.client.post(
        f"/v1/tasks/{approve_id}/complete",
        headers=api.user("deputy"),
        json={"data": {"approved": True}},
    )
    assert deputy.status_code == 200, deputy.text
    assert deputy.json()["status"] == "completed"


def test_claiming_a_task_claimed_by_someone_else_is_409(api: Api) -> None:
    _, instance = start_three(api)
    first = instance["tasks"][0]["id"]
    alice = api.user("clerk-office", name="alice")
    bob = api.user("clerk-office", name="bob")
    claimed = api.client.post(f"/v1/tasks/{first}/claim", headers=alice)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["assignee"] == "alice"
    before = snapshot(api, instance["id"])
    steal = api.client.post(f"/v1/tasks/{first}/claim", headers=bob)
    assert_problem(steal, 409, "claimed", "alice")
    complete = api.client.post(f"/v1/tasks/{first}/complete", headers=bob, json={"data": {}})
    assert_problem(complete, 409, "claimed", "alice")
    release = api.client.post(f"/v1/tasks/{first}/unclaim", headers=bob)
    assert_problem(release, 403, "alice")
    assert snapshot(api, instance["id"]) == before
    task = api.client.get(f"/v1/tasks/{first}", headers=api.admin).json()
    assert (task["state"], task["assignee"]) == ("ready", "alice")


# --------------------------------------------------------------------------- authentication


def test_unauthenticated_write_is_401(api: Api) -> None:
    assert api.deploy("three_tasks.bpmn").status_code == 201
    for response in (
        api.client.post("/v1/instances", json={"definition_key": "three_tasks"}),
        api.client.post(
            "/v1/definitions", files={"file": ("t.bpmn", (DATA / "gateway.bpmn").read_bytes())}
        ),
        api.client.post(f"/v1/tasks/{uuid.uuid4()}/complete", json={"data": {}}),
    ):
        assert_problem(response, 401, "Authorization", "Bearer")
        assert response.headers.get("www-authenticate") == "Bearer"
    assert api.client.get("/v1/instances", headers=api.admin).json()["items"] == []
    assert deployed_keys(api) == ["three_tasks"]


INVALID_AUTHORIZATION = [
    "Bearer pf_not_a_real_token",
    "Bearer ",
    "Basic YWRtaW46YWRtaW4=",
    "pf_test_admin_token",
]


def test_invalid_token_is_401(api: Api, subtests: Any) -> None:
    assert api.deploy("three_tasks.bpmn").status_code == 201
    for authorization in INVALID_AUTHORIZATION:
        with subtests.test(msg=authorization):
            response = api.client.post(
                "/v1/instances",
                headers={"Authorization": authorization},
                json={"definition_key": "three_tasks"},
            )
            assert_problem(response, 401)
            assert response.json()["code"] == "unauthenticated"
            assert_problem(api.client.get("/v1/me", headers={"Authorization": authorization}), 401)
    assert api.client.get("/v1/instances", headers=api.admin).json()["items"] == []


# --------------------------------------------------------------------------- query parameters


INVALID_QUERIES: list[tuple[str, dict[str, str]]] = [
    ("/v1/tasks", {"limit": "0"}),
    ("/v1/tasks", {"limit": "abc"}),
    ("/v1/tasks", {"limit": "100000"}),
    ("/v1/tasks", {"limit": "1e3"}),
    ("/v1/tasks", {"offset": "-1"}),
    ("/v1/tasks", {"state": "done"}),
    ("/v1/instances", {"status": "bogus"}),
    ("/v1/instances", {"limit": "-5"}),
    ("/v1/instances", {"offset": "many"}),
    ("/v1/definitions", {"limit": "0"}),
    ("/v1/definitions", {"offset": "x"}),
    ("/v1/definitions/three_tasks/xml", {"version": "0"}),
    ("/v1/definitions/three_tasks/xml", {"version": "latest"}),
    ("/v1/instances/{iid}/events", {"after": "-1"}),
    ("/v1/instances/{iid}/events", {"limit": "0"}),
    ("/v1/instances/{iid}/events", {"limit": "99999999999999999999999"}),
]


def test_invalid_query_parameters_are_422(api: Api, subtests: Any) -> None:
    _, instance = start_three(api)
    for path, params in INVALID_QUERIES:
        with subtests.test(msg=f"{path} {params}"):
            response = api.client.get(
                path.format(iid=instance["id"]), headers=api.admin, params=params
            )
            body = assert_problem(response, 422, "not valid")
            assert next(iter(params)) in body["detail"], body


def test_overlong_ids_and_lane_names_are_refused_at_upload(api: Api) -> None:
    long_id = "f" * 300
    xml = (DATA / "three_tasks.bpmn").read_text()
    xml = xml.replace('name="clerk-office"', 'name="' + "L" * 300 + '"')
    xml = xml.replace(">first<", f">{long_id}<").replace('"first"', f'"{long_id}"')
    response = api.client.post(
        "/v1/definitions",
        headers={**api.user("designer"), "Content-Type": "application/xml"},
        content=xml.encode(),
    )
    assert response.status_code == 422, response.text
    messages = [p["message"] for p in response.json()["problems"]]
    assert any("at most 255 characters" in m and "ids" in m for m in messages)
    assert any("lane name" in m for m in messages)
    assert api.client.get("/v1/definitions/three_tasks", headers=api.admin).status_code == 404
