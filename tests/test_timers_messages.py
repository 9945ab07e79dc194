"""Timers fired by the service's timer worker; messages delivered over HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import Api, make_settings
from powerflow.app import create_app


@pytest.fixture
def api_with_workers(tmp_path: Path) -> Iterator[Api]:
    """The application with its background timer worker running, on a SQLite file."""
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'pf.db'}"), run_workers=True)
    with TestClient(app) as client:
        yield Api(client)


def test_timer_worker_fires_a_due_timer(api_with_workers: Api) -> None:
    api = api_with_workers
    assert api.deploy("timer.bpmn").status_code == 201
    clerk = api.user("clerk")
    started = api.client.post(
        "/v1/instances", headers=clerk, json={"definition_key": "cooling_off"}
    )
    instance = started.json()
    assert instance["tasks"] == []
    assert instance["next_timer_at"] is not None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        current = api.client.get(f"/v1/instances/{instance['id']}", headers=clerk).json()
        if current["tasks"]:
            break
        time.sleep(0.1)
    assert [t["element_id"] for t in current["tasks"]] == ["decide"]
    assert current["next_timer_at"] is None
    events = api.client.get(f"/v1/instances/{instance['id']}/events", headers=clerk).json()["items"]
    fired = [e for e in events if e["type"] == "timer.fired"]
    assert [(e["element_id"], e["actor"]) for e in fired] == [("wait", "system")]


def test_message_is_delivered_to_a_waiting_instance(api: Api) -> None:
    assert api.deploy("message.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = api.client.post(
        "/v1/instances", headers=clerk, json={"definition_key": "await_reply"}
    ).json()
    assert instance["waiting_messages"] == ["applicant_reply"]
    wrong = api.client.post(
        f"/v1/instances/{instance['id']}/messages",
        headers=clerk,
        json={"name": "something_else", "payload": {}},
    )
    assert wrong.status_code == 409
    assert "not waiting" in wrong.json()["detail"]
    delivered = api.client.post(
        f"/v1/instances/{instance['id']}/messages",
        headers=clerk,
        json={"name": "applicant_reply", "payload": {"answer": "yes"}},
    )
    assert delivered.status_code == 200, delivered.text
    body = delivered.json()
    assert [t["element_id"] for t in body["tasks"]] == ["review"]
    assert body["waiting_messages"] == []
    events = api.client.get(f"/v1/instances/{instance['id']}/events", headers=clerk).json()["items"]
    received = [e for e in events if e["type"] == "message.received"]
    assert received and received[0]["payload"]["payload"] == {"answer": "yes"}
