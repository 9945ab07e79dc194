"""Background loops isolate failures per item: one broken instance or subscription does not stop
the others (issue 7, item 4)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, update

from conftest import DATA, Api, Server, make_settings, start_server, stop_server
from powerflow.app import create_app
from powerflow.db.models import Definition, Deployment, Instance, Webhook
from rebind import rebind
from test_webhooks import Receiver, _run_expense, _wait

SLOW_TIMER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="D_{key}"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="{key}" name="Slow timer" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait" name="Wait a day">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition id="T1"><bpmn:timeDuration
        xsi:type="bpmn:tFormalExpression">"P1D"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="act" name="Act"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="act"/>
    <bpmn:sequenceFlow id="f3" sourceRef="act" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def _deploy(c: httpx.Client, headers: dict[str, str], name: str, xml: bytes) -> None:
    response = c.post("/v1/definitions", headers=headers, files={"file": (name, xml)})
    assert response.status_code == 201, response.text


def _start(c: httpx.Client, headers: dict[str, str], key: str) -> dict[str, Any]:
    response = c.post("/v1/instances", headers=headers, json={"definition_key": key})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _break_rows(db_url: str, bad_state: str, bad_spec: str) -> None:
    """Damage two instances as a botched migration or a hand edit would, due long ago so that
    they come first in the timer queue."""
    engine = create_engine(db_url)
    with engine.begin() as conn:
        state = json.loads(conn.scalar(select(Instance.state).where(Instance.id == bad_state)))
        state["spec"] = "0" * 64 + ":elsewhere"  # saved state that cannot be restored
        conn.execute(
            update(Instance)
            .where(Instance.id == bad_state)
            .values(state=json.dumps(state), next_timer_at=LONG_AGO)
        )
        deployment = conn.scalar(
            select(Definition.deployment_id).where(Definition.key == "bad_spec_timer")
        )
        conn.execute(  # a definition whose BPMN cannot be parsed any more
            update(Deployment).where(Deployment.id == deployment).values(xml=b"<oops/>")
        )
        conn.execute(update(Instance).where(Instance.id == bad_spec).values(next_timer_at=LONG_AGO))
    rebind(engine, bad_state)  # as a migration would: the damage is not caught as an edit
    engine.dispose()


def test_a_broken_instance_does_not_stop_the_timers_of_others(db_url: str) -> None:
    env = {"POWERFLOW_DEPLOY_EXAMPLES": "false", "POWERFLOW_TIMER_POLL_SECONDS": "0.2"}
    server = start_server(db_url, **env)
    try:
        designer, clerk = server.user("designer"), server.user("clerk")
        with httpx.Client(base_url=server.url, timeout=30) as c:
            for key in ("bad_state_timer", "bad_spec_timer"):
                _deploy(c, designer, f"{key}.bpmn", SLOW_TIMER.format(key=key).encode())
            _deploy(c, designer, "timer.bpmn", (DATA / "timer.bpmn").read_bytes())
            bad_state = _start(c, clerk, "bad_state_timer")["id"]
            bad_spec = _start(c, clerk, "bad_spec_timer")["id"]
    finally:
        stop_server(server)
    _break_rows(db_url, bad_state, bad_spec)

    server = start_server(db_url, **env)  # fresh caches: the damage is what it reads
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            healthy = _start(c, clerk, "cooling_off")  # a 0.5 s timer
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                current = c.get(f"/v1/instances/{healthy['id']}", headers=clerk).json()
                if current["tasks"]:
                    break
                time.sleep(0.1)
            assert [t["element_id"] for t in current["tasks"]] == ["decide"], current
            for broken, why, name in (
                (bad_state, "saved state", "Wait a day"),
                (bad_spec, "definition", "wait"),  # the file is unreadable: named by its id
            ):
                _wait(lambda b=broken: _status(c, clerk, b) == "failed", seconds=10)
                view = c.get(f"/v1/instances/{broken}", headers=clerk).json()
                incident = view["incident"]
                assert incident["element_id"] == "wait"
                assert incident["element_name"] == name
                assert incident["message"].startswith("The timer could not fire")
                assert why in incident["message"]
                assert view["next_timer_at"] is None
                events = c.get(f"/v1/instances/{broken}/events", headers=clerk).json()["items"]
                failed = [e for e in events if e["type"] == "instance.failed"]
                assert [(e["element_id"], e["payload"]["message"]) for e in failed] == [
                    ("wait", incident["message"])
                ]
            _assert_one_line_per_failure(server, bad_state, bad_spec)
    finally:
        stop_server(server)


def _status(c: httpx.Client, headers: dict[str, str], instance_id: str) -> str:
    return str(c.get(f"/v1/instances/{instance_id}", headers=headers).json()["status"])


def _assert_one_line_per_failure(server: Server, *instance_ids: str) -> None:
    time.sleep(0.5)  # a few more ticks: a failed instance is not tried again
    output = server.output()
    assert "Traceback" not in output
    for instance_id in instance_ids:
        assert sum(instance_id in line for line in output.splitlines()) == 1, output


@pytest.fixture
def live_api(db_url: str) -> Iterator[Api]:
    """The application with its workers, allowed to deliver to a receiver on 127.0.0.1."""
    settings = make_settings(db_url, webhook_allowed_hosts=["127.0.0.1"])
    with TestClient(create_app(settings, run_workers=True)) as client:
        yield Api(client)


def test_a_broken_subscription_does_not_stop_other_webhooks(
    live_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from powerflow.services import webhooks

    monkeypatch.setattr(webhooks, "MAX_FAILURES", 2)  # a deployment constant, lowered for speed
    api = live_api
    api.deploy("gateway.bpmn")
    monitor = api.user("monitor")
    broken_receiver, healthy_receiver = Receiver(), Receiver()
    try:
        broken = api.client.post(
            "/v1/webhooks", headers=monitor, json={"url": broken_receiver.url}
        ).json()
        with api.store.write() as session:  # a blanked secret the signer refuses (a hand edit)
            session.execute(update(Webhook).where(Webhook.id == broken["id"]).values(secret=""))
        healthy = api.client.post(
            "/v1/webhooks", headers=monitor, json={"url": healthy_receiver.url}
        ).json()
        assert broken["id"] < healthy["id"]  # the broken one is processed first
        instance_id = _run_expense(api)
        expected = api.client.get(f"/v1/instances/{instance_id}/events", headers=monitor).json()
        _wait(lambda: len(healthy_receiver.received) >= len(expected["items"]))
        assert healthy_receiver.events() == expected["items"]

        def state() -> dict[str, Any]:
            hooks = api.client.get("/v1/webhooks", headers=monitor).json()
            return dict(next(h for h in hooks if h["id"] == broken["id"]))

        _wait(lambda: state()["status"] == "paused", seconds=15)
        assert "could not be processed" in state()["paused_reason"]
        assert broken_receiver.received == []
    finally:
        broken_receiver.close()
        healthy_receiver.close()


def test_a_busy_database_backs_off_one_instance_without_failing_it(tmp_path: Path) -> None:
    """A transient error (SQLite locked by another program) fails nothing: the instance waits
    its back-off, is logged in one line, and fires once the database is free."""
    from powerflow.bootstrap import SYSTEM
    from powerflow.db.engine import Store
    from powerflow.db.migrate import upgrade
    from powerflow.periodic import Backoff
    from powerflow.services import definitions, instances
    from powerflow.services.auth import Principal
    from powerflow.workers import fire_due_timers

    path = tmp_path / "busy.db"
    store = Store(f"sqlite:///{path}", busy_timeout_ms=50)
    upgrade(store.engine)
    definitions.deploy(
        store, (DATA / "timer.bpmn").read_bytes(), "timer.bpmn", SYSTEM, max_bytes=1 << 20
    )
    clerk = Principal("clerk", frozenset({"clerk"}))
    started = instances.start_instance(store, clerk, "cooling_off")
    time.sleep(0.6)  # the 0.5 s timer is due
    backoff = Backoff(first=0.3)
    other = sqlite3.connect(path)
    other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    try:
        assert fire_due_timers(store, backoff=backoff) == 0
        assert backoff.waiting() == {started.id}
        assert fire_due_timers(store, backoff=backoff) == 0  # not tried while it waits
    finally:
        other.rollback()
        other.close()
    assert instances.get_instance(store, SYSTEM, started.id).status == "running"
    time.sleep(0.35)
    assert fire_due_timers(store, backoff=backoff) == 1
    assert backoff.waiting() == set()
    view = instances.get_instance(store, SYSTEM, started.id)
    assert view.status == "running" and [t.element_id for t in view.tasks] == ["decide"]
    store.dispose()


def test_backoff_doubles_up_to_its_maximum_and_forgets_on_success() -> None:
    from powerflow.periodic import Backoff

    backoff = Backoff(first=1, maximum=3)
    assert [backoff.failed("a") for _ in range(4)] == [1, 2, 3, 3]
    assert backoff.waiting() == {"a"}
    backoff.succeeded("a")
    assert backoff.waiting() == set() and backoff.failed("a") == 1


def test_acting_on_a_broken_instance_records_an_incident_instead_of_a_500(api: Api) -> None:
    """A person who completes a task of, sends a message to or cancels an instance whose saved
    state cannot be restored gets 409 with a sentence, and the instance shows an incident."""
    assert api.deploy(DATA / "visibility.bpmn").status_code == 201
    clerk = api.user("clerk,preparer")
    ids = []
    for _ in range(3):
        started = api.client.post(
            "/v1/instances",
            headers=clerk,
            json={"definition_key": "case_file", "variables": {"amount": 1}},
        )
        assert started.status_code == 201, started.text
        ids.append((started.json()["id"], started.json()["tasks"][0]["id"]))
    with api.store.write() as session:
        for instance_id, _ in ids:
            row = session.get(Instance, instance_id)
            assert row is not None
            state = json.loads(row.state)
            state["spec"] = "0" * 64 + ":elsewhere"  # a migration gone wrong
            row.state = json.dumps(state)
    for instance_id, _ in ids:
        rebind(api.store.engine, instance_id)
    (complete_id, task_id), (message_id, _), (cancel_id, _) = ids
    assert api.client.get(f"/v1/tasks/{task_id}", headers=clerk).status_code == 200
    attempts = {
        complete_id: api.client.post(
            f"/v1/tasks/{task_id}/complete", headers=clerk, json={"data": {"note": "x"}}
        ),
        message_id: api.client.post(
            f"/v1/instances/{message_id}/messages",
            headers=clerk,
            json={"name": "documents", "payload": {}},
        ),
        cancel_id: api.client.post(f"/v1/instances/{cancel_id}/cancel", headers=clerk),
    }
    for instance_id, response in attempts.items():
        assert response.status_code == 409, response.text
        assert "marked failed with an incident" in response.json()["detail"]
        shown = api.client.get(f"/v1/instances/{instance_id}", headers=clerk).json()
        assert shown["status"] == "failed"
        assert "cannot be loaded or run" in shown["incident"]["message"]
        assert shown["incident"]["element_id"] is not None


def test_a_timer_of_a_definition_whose_file_is_gone_fails_its_instance_once(
    tmp_path: Path,
) -> None:
    """A missing BPMN file will not come back by waiting: the instance fails with an incident
    at once instead of being retried every few minutes forever."""
    from powerflow.bootstrap import SYSTEM
    from powerflow.db.engine import Store
    from powerflow.db.migrate import upgrade
    from powerflow.periodic import Backoff
    from powerflow.services import definitions, instances
    from powerflow.services.auth import Principal
    from powerflow.workers import fire_due_timers

    path = tmp_path / "gone.db"
    store = Store(f"sqlite:///{path}")
    upgrade(store.engine)
    definitions.deploy(
        store, (DATA / "timer.bpmn").read_bytes(), "timer.bpmn", SYSTEM, max_bytes=1 << 20
    )
    started = instances.start_instance(
        store, Principal("clerk", frozenset({"clerk"})), "cooling_off"
    )
    time.sleep(0.6)  # the 0.5 s timer is due
    raw = sqlite3.connect(path)  # a restore that lost the stored files (no foreign keys here)
    raw.execute("UPDATE definitions SET content_hash = ?", ("0" * 64,))
    raw.execute("DELETE FROM deployments")
    raw.commit()
    raw.close()
    store.immutable_cache.clear()
    backoff = Backoff(first=0.3)
    assert fire_due_timers(store, backoff=backoff) == 0
    assert backoff.waiting() == set()  # not waiting for a retry
    view = instances.get_instance(store, SYSTEM, started.id)
    assert view.status == "failed"
    assert view.incident is not None and "BPMN file" in view.incident["message"]
    store.dispose()
