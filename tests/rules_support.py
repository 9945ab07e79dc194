"""Helpers of the rules tests: a small process with a rule, users, and acting over HTTP."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from conftest import Api

PROCESS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:pf="urn:powerflow:bpmn:1.0" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    id="d_{key}" targetNamespace="urn:test">
  <bpmn:process id="{key}" name="Rules test" isExecutable="true">
    <bpmn:extensionElements><pf:acceptsData fields="*"/>{process_rules}</bpmn:extensionElements>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="prepare" name="Prepare" camunda:candidateGroups="preparer">
      <bpmn:extensionElements>{prepare_rules}</bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="review" name="Review" camunda:candidateGroups="reviewer">
      <bpmn:extensionElements>{review_rules}</bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="prepare"/>
    <bpmn:sequenceFlow id="f2" sourceRef="prepare" targetRef="review"/>
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def process_xml(key: str, *, review: str = "", prepare: str = "", process: str = "") -> str:
    """The two-task process (prepare by preparer, review by reviewer) with rules placed."""
    return PROCESS.format(
        key=key, review_rules=review, prepare_rules=prepare, process_rules=process
    )


def deploy_xml(api: Api, tmp_path: Path, xml: str, name: str | None = None) -> Any:
    """Upload BPMN text; the response."""
    path = tmp_path / f"{name or uuid.uuid4().hex[:8]}.bpmn"
    path.write_text(xml)
    return api.deploy(path)


def start(api: Api, headers: dict[str, str], key: str, **variables: Any) -> dict[str, Any]:
    """Start an instance; its body."""
    response = api.client.post(
        "/v1/instances", headers=headers, json={"definition_key": key, "variables": variables}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def complete(api: Api, headers: dict[str, str], task_id: str, **data: Any) -> Any:
    """Complete a task with data; the response."""
    return api.client.post(f"/v1/tasks/{task_id}/complete", headers=headers, json={"data": data})


def events(api: Api, instance_id: str) -> list[dict[str, Any]]:
    """Every event of an instance, in order."""
    response = api.client.get(f"/v1/instances/{instance_id}/events?limit=1000", headers=api.admin)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def types(api: Api, instance_id: str) -> list[str]:
    """The event types of an instance, in order."""
    return [e["type"] for e in events(api, instance_id)]


def snapshot(api: Api, instance_id: str) -> dict[str, Any]:
    """What an act may change of an instance (not its event chain): status, data, tasks."""
    body = api.client.get(f"/v1/instances/{instance_id}", headers=api.admin).json()
    return {
        "status": body["status"],
        "data": body["data"],
        "tasks": [(t["id"], t["state"], t["assignee"]) for t in body["tasks"]],
    }
