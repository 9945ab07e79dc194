"""Call activities across files over HTTP: separate uploads, bundles (multipart and zip),
binding at instance start, pinned versions, missing callees, errors and escalations across
files. The corpus models reproduce SpiffWorkflow's ``CallActivityTest`` and
``InvalidWorkflowsTest``; every step reloads the instance from saved state."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete

from conftest import Api
from flows import complete, events, read, ready, start
from powerflow.db.models import Definition, Deployment

pytestmark = pytest.mark.usefixtures("reload_every_step")
DATA = Path(__file__).resolve().parent / "data"
CORPUS = DATA / "corpus"
CALLEE = CORPUS / "call_activity_call_activity.bpmn"


def upload(api: Api, *paths: Path | tuple[str, bytes]) -> httpx.Response:
    """Upload files together in one multipart request (several 'file' parts)."""
    parts = []
    for p in paths:
        name, data = (p.name, p.read_bytes()) if isinstance(p, Path) else p
        parts.append(("file", (name, data)))
    return api.client.post("/v1/definitions", headers=api.user("designer"), files=parts)


def zipped(*entries: tuple[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def start_raw(api: Api, key: str, **variables: Any) -> httpx.Response:
    return api.client.post(
        "/v1/instances",
        headers=api.user("clerk"),
        json={"definition_key": key, "variables": variables},
    )


# --- the corpus ---------------------------------------------------------------------------


def test_call_activity_end_event_separate_uploads(api: Api) -> None:
    """CallActivityTest: the called process (another file) sets my_var and my_other_var and
    deletes remove_this_var; the caller ends with exactly the upstream data."""
    assert upload(api, CALLEE).status_code == 201
    deployed = upload(api, CORPUS / "call_activity_end_event.bpmn")
    assert deployed.status_code == 201, deployed.text
    instance = start(api, api.user("clerk"), "Process_8200379")
    assert instance["status"] == "completed", instance
    assert instance["data"] == {"pre_var": "some string", "my_var": "World", "my_other_var": "Mike"}
    recorded = events(api, instance)
    assert ("task.completed", "Activity_Call_Activity") in recorded
    assert ("task.completed", "Sub_Bpmn_Task") in recorded  # ran inside the called file


def test_call_activity_end_event_as_a_multipart_bundle(api: Api) -> None:
    response = upload(api, CORPUS / "call_activity_end_event.bpmn", CALLEE)
    assert response.status_code == 201, response.text
    keys = sorted(d["key"] for d in response.json()["definitions"])
    assert keys == ["Call_Activity_Get_Data", "Process_8200379"]
    instance = start(api, api.user("clerk"), "Process_8200379")
    assert instance["status"] == "completed"
    assert instance["data"]["my_other_var"] == "Mike"
    again = upload(api, CORPUS / "call_activity_end_event.bpmn", CALLEE)
    assert again.status_code == 200 and again.json()["created"] is False  # nothing new


def test_call_activity_end_event_as_a_zip(api: Api) -> None:
    archive = zipped(
        (
            "models/call_activity_end_event.bpmn",
            (CORPUS / "call_activity_end_event.bpmn").read_bytes(),
        ),
        ("models/call_activity_call_activity.bpmn", CALLEE.read_bytes()),
    )
    response = api.client.post(
        "/v1/definitions",
        headers={**api.user("designer"), "Content-Type": "application/zip"},
        content=archive,
    )
    assert response.status_code == 201, response.text
    assert start(api, api.user("clerk"), "Process_8200379")["status"] == "completed"


def test_a_missing_callee_is_refused_naming_the_call_activity(api: Api) -> None:
    response = upload(api, CORPUS / "call_activity_end_event.bpmn")
    assert response.status_code == 422
    body = response.json()
    (problem,) = body["problems"]
    assert problem["element_id"] == "Activity_Call_Activity"
    assert problem["file"] == "call_activity_end_event.bpmn"
    assert "Get Data Call Activity" in problem["message"]
    assert "Call_Activity_Get_Data" in problem["message"]
    assert "bundle" in problem["message"]
    assert api.client.get("/v1/definitions", headers=api.admin).json()["items"] == []


def test_subprocess_not_found_negative_is_refused(api: Api) -> None:
    """InvalidWorkflowsTest expects the upload refused: the call activity names no process
    (Signavio kept 'Missing subprocess' in its own metadata, not in calledElement)."""
    response = upload(api, CORPUS / "Subprocess-Not-Found.bpmn20.xml")
    assert response.status_code == 422, response.text
    (problem,) = response.json()["problems"]
    assert problem["element_id"] == "sid-617B0E1F-42DB-4D40-9B4C-ED631BF6E43A"
    assert "Subprocess for Subprocess Not Found" in problem["message"]
    assert "calledElement" in problem["message"]
    assert problem["file"] == "Subprocess-Not-Found.bpmn20.xml"


def test_call_activity_with_error_names_the_trace_across_files(api: Api) -> None:
    """CallActivityTest: the called script fails (remove_this_var is not defined); the incident
    names 'Create Data' in the called file and the call activity in the caller."""
    assert upload(api, CORPUS / "call_activity_with_error.bpmn", CALLEE).status_code == 201
    instance = start(api, api.user("clerk"), "ErroringBPMN")
    assert instance["status"] == "failed", instance
    incident = instance["incident"]
    assert incident["element_id"] == "Sub_Bpmn_Task"
    assert "Create Data" in incident["message"]
    assert "Get Data Call Activity" in incident["message"]
    assert "call_activity_call_activity.bpmn" in incident["message"]
    assert "call_activity_with_error.bpmn" in incident["message"]


# --- binding, versions, roles -------------------------------------------------------------

CALLS = DATA / "calls"


def approver_task(api: Api, instance: dict[str, Any]) -> dict[str, Any]:
    (found,) = instance["tasks"]
    return found


def test_called_tasks_take_roles_and_forms_from_the_called_file(api: Api) -> None:
    assert upload(api, CALLS / "approval_v1.bpmn").status_code == 201
    assert upload(api, CALLS / "payment.bpmn").status_code == 201
    clerk, supervisor = api.user("clerk"), api.user("supervisor")
    instance = start(api, clerk, "payment", amount=500)
    task = approver_task(api, instance)
    assert (task["element_id"], task["roles"]) == ("approve", ["supervisor"])
    shown = api.client.get(f"/v1/tasks/{task['id']}", headers=supervisor).json()
    assert [f["id"] for f in shown["form"]] == ["verdict"]
    refused = api.client.post(
        f"/v1/tasks/{task['id']}/complete", headers=clerk, json={"data": {"verdict": "ok"}}
    )
    assert refused.status_code == 403  # the called file's role, not the caller's
    bad = api.client.post(
        f"/v1/tasks/{task['id']}/complete", headers=supervisor, json={"data": {"verdict": "maybe"}}
    )
    assert bad.status_code == 422  # the called file's enum form
    instance = complete(api, supervisor, instance, "approve", verdict="ok")
    assert ready(instance) == ["pay"]
    instance = complete(api, clerk, instance, "pay")
    assert instance["status"] == "completed"


def test_a_running_instance_keeps_the_version_it_started_with(api: Api) -> None:
    """Binding happens at start: deploying approval v2 changes new instances only, and the
    old instance is restored (reload every step) with specs from two deployments."""
    assert upload(api, CALLS / "approval_v1.bpmn").status_code == 201
    assert upload(api, CALLS / "payment.bpmn").status_code == 201
    clerk, supervisor = api.user("clerk"), api.user("supervisor")
    director = api.user("director")
    old = start(api, clerk, "payment", amount=1)
    v2 = upload(api, CALLS / "approval_v2.bpmn")
    assert v2.status_code == 201 and v2.json()["definitions"][0]["version"] == 2
    new = start(api, clerk, "payment", amount=2)
    assert approver_task(api, new)["element_id"] == "approve2"
    assert approver_task(api, new)["roles"] == ["director"]
    assert approver_task(api, read(api, old))["element_id"] == "approve"

    old = complete(api, supervisor, old, "approve", verdict="ok")
    assert ready(old) == ["pay"]
    new = complete(api, director, new, "approve2", verdict="ok")
    assert ready(new) == ["pay"]
    assert complete(api, clerk, old, "pay")["status"] == "completed"


def test_a_pinned_version_is_used_even_when_a_newer_one_exists(api: Api) -> None:
    assert upload(api, CALLS / "approval_v1.bpmn").status_code == 201
    assert upload(api, CALLS / "approval_v2.bpmn").status_code == 201
    assert upload(api, CALLS / "payment_pinned.bpmn").status_code == 201
    assert upload(api, CALLS / "payment.bpmn").status_code == 201
    clerk = api.user("clerk")
    pinned = start(api, clerk, "payment_pinned", amount=1)
    assert approver_task(api, pinned)["element_id"] == "approve"
    latest = start(api, clerk, "payment", amount=1)
    assert approver_task(api, latest)["element_id"] == "approve2"


def test_a_pinned_version_that_does_not_exist_is_refused_at_upload(api: Api) -> None:
    assert upload(api, CALLS / "approval_v1.bpmn").status_code == 201
    source = (
        (CALLS / "payment_pinned.bpmn")
        .read_bytes()
        .replace(b'calledElementVersion="1"', b'calledElementVersion="7"')
    )
    response = upload(api, ("payment_pinned.bpmn", source))
    assert response.status_code == 422
    (problem,) = response.json()["problems"]
    assert problem["element_id"] == "approval"
    assert "version 7" in problem["message"]


def test_a_bad_binding_is_refused(api: Api) -> None:
    source = (
        (CALLS / "payment_pinned.bpmn")
        .read_bytes()
        .replace(b'calledElementVersion="1"', b'calledElementVersion="latest-ish"')
    )
    response = upload(api, ("payment_pinned.bpmn", source), CALLS / "approval_v1.bpmn")
    assert response.status_code == 422
    assert "calledElementVersion" in response.json()["problems"][0]["message"]
    deployment = (
        (CALLS / "payment.bpmn")
        .read_bytes()
        .replace(
            b'calledElement="approval_flow"',
            b'calledElement="approval_flow" camunda:calledElementBinding="deployment"',
        )
    )
    response = upload(api, ("payment.bpmn", deployment), CALLS / "approval_v1.bpmn")
    assert response.status_code == 422
    assert '"deployment"' in response.json()["problems"][0]["message"]


# --- errors and escalations across files -------------------------------------------------


@pytest.mark.parametrize(
    ("verdict", "expected", "role"),
    [("reject", "tell_rejection", "clerk"), ("escalate", "director_review", "supervisor")],
)
def test_error_and_escalation_end_events_reach_the_boundary_of_the_call_activity(
    api: Api, verdict: str, expected: str, role: str
) -> None:
    assert upload(api, CALLS / "payment.bpmn", CALLS / "approval_v1.bpmn").status_code == 201
    supervisor = api.user("supervisor")
    instance = start(api, api.user("clerk"), "payment", amount=5)
    instance = complete(api, supervisor, instance, "approve", verdict=verdict)
    assert instance["status"] == "running"
    assert ready(instance) == [expected]
    assert approver_task(api, instance)["roles"] == [role]
    instance = complete(api, api.user(role), instance, expected)
    assert instance["status"] == "completed"
    recorded = events(api, instance)
    assert ("task.completed", "pay") not in recorded


def test_an_uncaught_error_in_a_called_file_is_an_incident_with_the_trace(api: Api) -> None:
    """No boundary catches the error: the instance fails with an incident naming the called
    element and the chain of calls across both files."""
    caller = (CALLS / "payment.bpmn").read_bytes()
    caller = caller.replace(b'errorCode="rejected"', b'errorCode="something-else"')
    assert upload(api, ("payment.bpmn", caller), CALLS / "approval_v1.bpmn").status_code == 201
    supervisor = api.user("supervisor")
    instance = start(api, api.user("clerk"), "payment", amount=5)
    response = api.client.post(
        f"/v1/tasks/{approver_task(api, instance)['id']}/complete",
        headers=supervisor,
        json={"data": {"verdict": "reject"}},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "failed", body
    incident = body["incident"]
    assert incident["element_id"] == "throw_rejected"
    assert "rejected" in incident["message"]
    assert "approval_v1.bpmn" in incident["message"]
    assert "payment.bpmn" in incident["message"]


def test_a_callee_gone_at_run_time_is_an_incident_not_a_500(api: Api) -> None:
    """The bound callee's deployment disappears (an operator's hand edit): the next step
    records an incident naming it and answers 409."""
    from powerflow.engine import calls, compiler

    assert upload(api, CALLS / "payment.bpmn", CALLS / "approval_v1.bpmn").status_code == 201
    instance = start(api, api.user("clerk"), "payment", amount=5)
    with api.store.begin(write=True) as conn:
        conn.execute(delete(Definition).where(Definition.key == "approval_flow"))
        conn.execute(delete(Deployment).where(Deployment.filename == "approval_v1.bpmn"))
    compiler.SPEC_CACHE._items.clear()  # a fresh worker: nothing parsed yet
    calls.BOUND._items.clear()
    response = api.client.post(
        f"/v1/tasks/{approver_task(api, instance)['id']}/complete",
        headers=api.user("supervisor"),
        json={"data": {"verdict": "ok"}},
    )
    assert response.status_code == 409, response.text
    assert "approval_flow" in response.json()["detail"]
    failed = read(api, instance)
    assert failed["status"] == "failed"
    assert "approval_flow" in failed["incident"]["message"]


def test_a_callee_that_cannot_run_refuses_the_start_naming_the_call(api: Api) -> None:
    assert upload(api, CALLS / "payment.bpmn", CALLS / "approval_v1.bpmn").status_code == 201
    viewing = (
        (CALLS / "approval_v1.bpmn")
        .read_bytes()
        .replace(b'isExecutable="true"', b'isExecutable="false"')
    )
    assert upload(api, ("approval_v3.bpmn", viewing)).status_code == 201
    response = start_raw(api, "payment", amount=1)
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "Approve the payment" in detail and "approval_flow" in detail and "v2" in detail


# --- bundles: all or nothing, hardened zips ------------------------------------------------


def test_one_bad_file_refuses_the_whole_bundle_naming_each_file(api: Api) -> None:
    broken = b"<bpmn:definitions"
    response = upload(
        api, CALLS / "approval_v1.bpmn", ("broken.bpmn", broken), CALLS / "payment.bpmn"
    )
    assert response.status_code == 422
    body = response.json()
    assert {p["file"] for p in body["problems"]} == {"broken.bpmn"}
    assert "broken.bpmn" in body["detail"] and "nothing was" in body["detail"]
    assert api.client.get("/v1/definitions", headers=api.admin).json()["items"] == []


def post_zip(api: Api, archive: bytes, name: str = "bundle.zip") -> httpx.Response:
    return api.client.post(
        "/v1/definitions",
        headers=api.user("designer"),
        files=[("file", (name, archive, "application/zip"))],
    )


@pytest.mark.parametrize(
    "name", ["../evil.bpmn", "/etc/evil.bpmn", "a/../../evil.bpmn", "C:/x.bpmn"]
)
def test_zip_entries_with_unsafe_paths_are_refused(api: Api, name: str) -> None:
    response = post_zip(api, zipped((name, CALLEE.read_bytes())))
    assert response.status_code == 422, response.text
    assert "relative path" in response.json()["detail"]


def test_a_zip_bomb_is_refused_without_inflating_it(sqlite_api: Api) -> None:
    """64 MB of zeros deflate to about 64 KB; the entry is read only up to the per-file limit
    (5 MB by default) and refused."""
    bomb = zipped(("bomb.bpmn", b"\0" * (64 * 1024 * 1024)))
    assert len(bomb) < 200_000
    response = post_zip(sqlite_api, bomb)
    assert response.status_code == 413, response.text
    assert "unzips to more than" in response.json()["detail"]


def test_a_zip_with_too_many_entries_is_refused(sqlite_api: Api) -> None:
    archive = zipped(*[(f"m{i}.bpmn", b"x") for i in range(51)])
    response = post_zip(sqlite_api, archive)
    assert response.status_code == 413
    assert "at most 50" in response.json()["detail"]


def test_zips_that_are_not_model_files_or_not_zips_are_refused(sqlite_api: Api) -> None:
    response = post_zip(sqlite_api, zipped(("notes.txt", b"hello")))
    assert response.status_code == 422 and "not a model file" in response.json()["detail"]
    response = post_zip(sqlite_api, b"PK\x03\x04 this is no archive")
    assert response.status_code == 422 and "not a readable zip" in response.json()["detail"]
    response = post_zip(sqlite_api, zipped(("__MACOSX/._x.bpmn", b"junk")))
    assert response.status_code == 422 and "no file to deploy" in response.json()["detail"]


def test_a_zip_part_beside_plain_files(api: Api) -> None:
    """A multipart upload may mix a zip part with plain file parts."""
    archive = zipped(("approval_v1.bpmn", (CALLS / "approval_v1.bpmn").read_bytes()))
    response = api.client.post(
        "/v1/definitions",
        headers=api.user("designer"),
        files=[
            ("file", ("approvals.zip", archive, "application/zip")),
            ("file", ("payment.bpmn", (CALLS / "payment.bpmn").read_bytes())),
        ],
    )
    assert response.status_code == 201, response.text
    assert sorted(d["key"] for d in response.json()["definitions"]) == ["approval_flow", "payment"]


def test_two_versions_of_one_called_process_refuse_the_start(api: Api) -> None:
    """An instance runs one version of each called process: a call pinned to v1 beside a call
    to the latest (v2) cannot start."""
    source = (
        (CALLS / "payment_pinned.bpmn")
        .read_bytes()
        .replace(
            b'<bpmn:userTask id="pay" name="Pay" camunda:candidateGroups="clerk">',
            b'<bpmn:callActivity id="second" name="Approve again" calledElement="approval_flow">'
            b"<bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f8</bpmn:outgoing>"
            b'</bpmn:callActivity><bpmn:sequenceFlow id="f8" sourceRef="second" targetRef="pay"/>'
            b'<bpmn:userTask id="pay" name="Pay" camunda:candidateGroups="clerk">',
        )
        .replace(
            b'<bpmn:sequenceFlow id="f2" sourceRef="approval" targetRef="pay"/>',
            b'<bpmn:sequenceFlow id="f2" sourceRef="approval" targetRef="second"/>',
        )
        .replace(
            b"<bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>",
            b"<bpmn:incoming>f8</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>",
        )
    )
    assert upload(api, CALLS / "approval_v1.bpmn").status_code == 201
    assert upload(api, CALLS / "approval_v2.bpmn").status_code == 201
    assert upload(api, ("two_calls.bpmn", source)).status_code == 201
    response = start_raw(api, "payment_pinned", amount=1)
    assert response.status_code == 409, response.text
    assert "one version of each called process" in response.json()["detail"]


# --- rules of a called file ----------------------------------------------------------------

NEVER = '<pf:rule id="NEVER" kind="expression" require="False">Never allowed.</pf:rule>'


def _split_call_activity(rule: str) -> tuple[tuple[str, bytes], tuple[str, bytes]]:
    """tests/data/call_activity.bpmn as two files: the caller, and the called identity_check
    (with ``rule`` on its task 'verify')."""
    xml = (
        (DATA / "call_activity.bpmn")
        .read_text()
        .replace(
            'xmlns:camunda="http://camunda.org/schema/1.0/bpmn"',
            'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:pf="urn:powerflow:bpmn:1.0"',
            1,
        )
    )
    head, rest = xml.split('  <bpmn:process id="licence_application"', 1)
    caller, callee = rest.split('  <bpmn:process id="identity_check"', 1)
    callee = callee.replace(
        '<bpmn:extensionElements><camunda:formData><camunda:formField id="verified"',
        f'<bpmn:extensionElements>{rule}<camunda:formData><camunda:formField id="verified"',
        1,
    )
    caller_file = (
        head + '  <bpmn:process id="licence_application"' + caller + "</bpmn:definitions>\n"
    )
    callee_file = head + '  <bpmn:process id="identity_check"' + callee
    return ("licence.bpmn", caller_file.encode()), ("identity.bpmn", callee_file.encode())


def test_a_rule_of_a_called_file_guards_its_task_inside_the_caller(api: Api) -> None:
    caller, callee = _split_call_activity(NEVER)
    assert upload(api, caller, callee).status_code == 201
    instance = start(api, api.user("clerk"), "licence_application", applicant="ada")
    (task,) = instance["tasks"]
    assert (task["element_id"], task["roles"]) == ("verify", ["registrar"])
    refused = api.client.post(
        f"/v1/tasks/{task['id']}/complete",
        headers=api.user("registrar"),
        json={"data": {"verified": True}},
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["rule_id"] == "NEVER"


def test_an_api_rule_for_the_called_key_guards_its_task_across_files(api: Api) -> None:
    caller, callee = _split_call_activity("")
    assert upload(api, callee).status_code == 201
    assert upload(api, caller).status_code == 201
    body = {
        "kind": "expression",
        "effect": "block",
        "message": "Never verify.",
        "process_key": "identity_check",
        "elements": ["verify"],
        "params": {"require": "False"},
    }
    assert api.client.put("/v1/rules/ORG-NEVER", headers=api.admin, json=body).status_code == 201
    instance = start(api, api.user("clerk"), "licence_application", applicant="ada")
    refused = api.client.post(
        f"/v1/tasks/{instance['tasks'][0]['id']}/complete",
        headers=api.user("registrar"),
        json={"data": {"verified": True}},
    )
    assert refused.status_code == 403, refused.text
