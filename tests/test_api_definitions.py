"""Deploying and reading definitions over HTTP."""

from __future__ import annotations

from conftest import DATA, Api


def test_upload_deploys_then_identical_upload_deploys_nothing(api: Api) -> None:
    first = api.deploy("gateway.bpmn")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["created"] is True
    assert [(d["key"], d["version"], d["executable"]) for d in body["definitions"]] == [
        ("expense", 1, True)
    ]
    again = api.deploy("gateway.bpmn")
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert "nothing new" in again.json()["message"]
    assert again.json()["definitions"][0]["version"] == 1


def test_raw_xml_body_is_accepted(api: Api) -> None:
    response = api.client.post(
        "/v1/definitions",
        headers={**api.user("designer"), "Content-Type": "application/xml"},
        content=(DATA / "three_tasks.bpmn").read_bytes(),
    )
    assert response.status_code == 201, response.text
    assert response.json()["definitions"][0]["key"] == "three_tasks"


def test_changed_content_becomes_a_new_version(api: Api, tmp_path) -> None:
    assert api.deploy("gateway.bpmn").status_code == 201
    changed = tmp_path / "gateway.bpmn"
    changed.write_bytes(
        (DATA / "gateway.bpmn").read_bytes().replace(b"Submit claim", b"Submit a claim")
    )
    response = api.deploy(changed)
    assert response.status_code == 201
    assert response.json()["definitions"][0]["version"] == 2
    versions = api.client.get("/v1/definitions/expense", headers=api.admin).json()
    assert [v["version"] for v in versions] == [2, 1]
    latest = api.client.get("/v1/definitions/expense/xml", headers=api.admin)
    assert b"Submit a claim" in latest.content
    assert latest.headers["content-type"].startswith("application/xml")
    old = api.client.get("/v1/definitions/expense/xml?version=1", headers=api.admin)
    assert b"Submit claim" in old.content
    missing = api.client.get("/v1/definitions/expense/xml?version=9", headers=api.admin)
    assert missing.status_code == 404
    assert "no version 9" in missing.json()["detail"]


def test_definition_list_shows_latest_and_metadata(api: Api) -> None:
    api.deploy("gateway.bpmn")
    api.deploy("three_tasks.bpmn")
    page = api.client.get("/v1/definitions", headers=api.admin).json()
    keys = [d["key"] for d in page["items"]]
    assert keys == ["expense", "three_tasks"]
    expense = page["items"][0]
    assert expense["metadata"]["power_item"] == {
        "code": "FIN-001",
        "category": "benefit-payment",
        "name": "Expense reimbursement",
        "boundary": None,
    }
    limit = {
        "duration": "P10D",
        "calendar": "working",
        "kind": "promised",
        "extendable": None,
        "extension_approver": None,
    }
    assert expense["metadata"]["time_limit"] == limit
    assert expense["metadata"]["time_limits"] == {"promised": limit}


def test_diagram_only_file_is_stored_but_cannot_start(api: Api) -> None:
    response = api.deploy("diagram_only.bpmn")
    assert response.status_code == 201, response.text
    body = response.json()
    assert "cannot be started" in body["message"]
    definition = body["definitions"][0]
    assert definition["executable"] is False
    assert "not executable" in definition["not_executable_reason"]
    start = api.client.post(
        "/v1/instances", headers=api.user("clerk"), json={"definition_key": definition["key"]}
    )
    assert start.status_code == 409
    assert "cannot be started" in start.json()["detail"]
    xml = api.client.get(f"/v1/definitions/{definition['key']}/xml", headers=api.admin)
    assert xml.status_code == 200


def test_deploy_needs_designer_role(api: Api) -> None:
    clerk = api.user("clerk")
    response = api.deploy("gateway.bpmn", headers=clerk)
    assert response.status_code == 403
    assert "designer" in response.json()["detail"]
    anonymous = api.client.post("/v1/definitions", files={"file": ("x.bpmn", b"<x/>")})
    assert anonymous.status_code == 401


def test_unknown_definition_is_404(api: Api) -> None:
    response = api.client.get("/v1/definitions/nope", headers=api.admin)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "nope" in response.json()["detail"]
