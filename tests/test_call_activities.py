"""Call activities across files over HTTP: separate uploads, bundles (multipart and zip),
binding at instance start, pinned versions, missing callees, errors and escalations across
files. The corpus models reproduce SpiffWorkflow's ``CallActivityTest`` and
``InvalidWorkflowsTest``; every step reloads the instance from saved state."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from conftest import Api
from flows import complete, events, read, ready, start

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
        ("models/call_activity_end_event.bpmn", (CORPUS / "call_activity_end_event.bpmn").read_bytes()),
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
