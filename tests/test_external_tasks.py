"""External tasks over HTTP: workers fetch and lock service tasks of a topic, complete them,
report failures (retries, then an incident an administrator resolves), BPMN errors, and locks
that expire when a worker dies. On SQLite and PostgreSQL; time moves by a ManualClock, except in
the real-server test where two worker loops race for the same tasks."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from conftest import DATA, Api, Server
from powerflow.clock import ManualClock

TOPIC = "charge-card"


def _deploy_and_start(api: Api, n: int = 1) -> tuple[list[str], dict[str, str]]:
    assert api.deploy("external_payment.bpmn").status_code in (200, 201)
    starter = api.user("clerk")
    ids = []
    for i in range(n):
        started = api.client.post(
            "/v1/instances",
            headers=starter,
            json={
                "definition_key": "external_payment",
                "variables": {"amount": 100 + i, "payee": "Qinghe", "secret_note": "keep"},
            },
        )
        assert started.status_code == 201, started.text
        body = started.json()
        assert body["status"] == "running" and body["tasks"] == []  # waits for a worker
        ids.append(body["id"])
    return ids, starter


def _fetch(api: Api, worker: dict[str, str], worker_id: str = "w1", **more: Any) -> httpx.Response:
    body = {
        "worker_id": worker_id,
        "max_tasks": more.pop("max_tasks", 10),
        "topics": [{"name": more.pop("topic", TOPIC), "lock_duration": 60_000}],
        **more,
    }
    return api.client.post("/v1/external-tasks/fetch-and-lock", headers=worker, json=body)


def _events(api: Api, instance_id: str) -> list[dict[str, Any]]:
    got = api.client.get(f"/v1/instances/{instance_id}/events", headers=api.admin)
    assert got.status_code == 200, got.text
    return list(got.json()["items"])


@pytest.fixture
def clock(api: Api) -> ManualClock:
    api.store.clock = ManualClock(datetime(2026, 12, 7, 1, tzinfo=UTC))
    return api.store.clock


def test_fetch_lock_complete_advances_the_instance(
    api: Api, clock: ManualClock, reload_every_step: None
) -> None:
    [instance_id], _ = _deploy_and_start(api)
    worker = api.user("worker", "payment-worker")
    [task] = _fetch(api, worker).json()
    assert task["topic"] == TOPIC and task["instance_id"] == instance_id
    assert task["element_id"] == "charge" and task["priority"] == 5
    # least privilege: only the declared inputs (secret_note is not one)
    assert task["variables"] == {"amount": 100, "to": "Qinghe", "currency": "CNY"}
    assert task["outputs"] == ["transaction"]
    assert _fetch(api, worker, "w2").json() == []  # locked: nobody else gets it

    url = f"/v1/external-tasks/{task['id']}/complete"
    wrong = api.client.post(url, headers=worker, json={"worker_id": "w2", "variables": {}})
    assert wrong.status_code == 409 and "another worker" in wrong.json()["detail"]
    undeclared = api.client.post(
        url, headers=worker, json={"worker_id": "w1", "variables": {"amount": 0}}
    )
    assert undeclared.status_code == 422 and "amount" in undeclared.json()["detail"]
    typename = api.client.post(
        url, headers=worker, json={"worker_id": "w1", "variables": {"transaction": {"typename": 1}}}
    )
    assert typename.status_code == 422

    done = api.client.post(
        url, headers=worker, json={"worker_id": "w1", "variables": {"transaction": "T-77"}}
    )
    assert done.status_code == 204, done.text
    instance = api.client.get(f"/v1/instances/{instance_id}", headers=api.admin).json()
    assert instance["data"]["payment_id"] == "T-77"  # the output, under its process name
    assert [t["element_id"] for t in instance["tasks"]] == ["confirm"]
    again = api.client.post(
        url, headers=worker, json={"worker_id": "w1", "variables": {"transaction": "T-78"}}
    )
    assert again.status_code == 409
    types = [e["type"] for e in _events(api, instance_id)]
    assert "external_task.locked" in types and "external_task.completed" in types
    completed = next(e for e in _events(api, instance_id) if e["type"] == "external_task.completed")
    assert completed["actor"] == "payment-worker"
    assert completed["payload"] == {"topic": TOPIC, "worker_id": "w1", "variables": ["payment_id"]}
    listed = api.client.get(f"/v1/external-tasks?instance_id={instance_id}", headers=api.admin)
    assert [t["state"] for t in listed.json()["items"]] == ["completed"]


def test_lock_expiry_makes_a_task_fetchable_again(api: Api, clock: ManualClock) -> None:
    [instance_id], _ = _deploy_and_start(api)
    worker = api.user("worker")
    [task] = _fetch(api, worker, "dies").json()
    clock.advance(timedelta(seconds=59))
    assert _fetch(api, worker, "w2").json() == []
    extended = api.client.post(
        f"/v1/external-tasks/{task['id']}/extend-lock",
        headers=worker,
        json={"worker_id": "dies", "new_duration": 30_000},
    )
    assert extended.status_code == 204
    clock.advance(timedelta(seconds=29))
    assert _fetch(api, worker, "w2").json() == []
    clock.advance(timedelta(seconds=2))  # the worker died: its lock expired
    [again] = _fetch(api, worker, "w2").json()
    assert again["id"] == task["id"] and again["worker_id"] == "w2"
    late = api.client.post(
        f"/v1/external-tasks/{task['id']}/complete",
        headers=worker,
        json={"worker_id": "dies", "variables": {}},
    )
    assert late.status_code == 409
    clock.advance(timedelta(seconds=61))  # w2's lock expired too: it may not complete
    expired = api.client.post(
        f"/v1/external-tasks/{task['id']}/complete",
        headers=worker,
        json={"worker_id": "w2", "variables": {}},
    )
    assert expired.status_code == 409 and "expired" in expired.json()["detail"]
    assert api.client.get(f"/v1/instances/{instance_id}", headers=api.admin).json()["tasks"] == []


def test_failures_retry_then_an_incident_that_an_admin_resolves(
    api: Api, clock: ManualClock
) -> None:
    [instance_id], _ = _deploy_and_start(api)
    worker = api.user("worker")
    [task] = _fetch(api, worker).json()
    failure = f"/v1/external-tasks/{task['id']}/failure"
    body = {"worker_id": "w1", "error_message": "Bank timeout", "retries": 1, "retry_timeout": 5000}
    assert api.client.post(failure, headers=worker, json=body).status_code == 204
    assert _fetch(api, worker).json() == []  # not before the retry timeout
    clock.advance(timedelta(seconds=5))
    [again] = _fetch(api, worker).json()
    assert again["retries"] == 1 and again["error_message"] == "Bank timeout"
    last = {**body, "retries": 0, "error_message": "Bank down", "error_details": "trace..."}
    assert api.client.post(failure, headers=worker, json=last).status_code == 204

    instance = api.client.get(f"/v1/instances/{instance_id}", headers=api.admin).json()
    assert instance["status"] == "failed"
    assert instance["incident"]["element_id"] == "charge"
    assert instance["incident"]["external_task_id"] == task["id"]
    assert "Bank down" in instance["incident"]["message"]
    clock.advance(timedelta(hours=1))
    assert _fetch(api, worker).json() == []  # an incident: nobody fetches it
    types = [e["type"] for e in _events(api, instance_id)]
    assert types[-2:] == ["external_task.failed", "instance.failed"]
    listed = api.client.get("/v1/external-tasks?state=incident", headers=api.user("monitor"))
    assert [t["id"] for t in listed.json()["items"]] == [task["id"]]
    assert listed.json()["items"][0]["error_details"] == "trace..."

    retries = f"/v1/external-tasks/{task['id']}/retries"
    assert api.client.put(retries, headers=worker, json={"retries": 2}).status_code == 403
    reset = api.client.put(retries, headers=api.admin, json={"retries": 2})
    assert reset.status_code == 200 and reset.json()["state"] == "open"
    instance = api.client.get(f"/v1/instances/{instance_id}", headers=api.admin).json()
    assert instance["status"] == "running" and instance["incident"] is None
    [third] = _fetch(api, worker).json()
    assert third["retries"] == 2
    done = api.client.post(
        f"/v1/external-tasks/{task['id']}/complete",
        headers=worker,
        json={"worker_id": "w1", "variables": {"transaction": "T-1"}},
    )
    assert done.status_code == 204


def test_bpmn_error_takes_the_error_boundary(api: Api, clock: ManualClock) -> None:
    [instance_id], _ = _deploy_and_start(api)
    worker = api.user("worker")
    [task] = _fetch(api, worker).json()
    url = f"/v1/external-tasks/{task['id']}/bpmn-error"
    uncaught = api.client.post(url, headers=worker, json={"worker_id": "w1", "error_code": "x"})
    assert uncaught.status_code == 422 and "catches" in uncaught.json()["detail"]
    caught = api.client.post(
        url,
        headers=worker,
        json={"worker_id": "w1", "error_code": "card_declined", "error_message": "Declined"},
    )
    assert caught.status_code == 204, caught.text
    instance = api.client.get(f"/v1/instances/{instance_id}", headers=api.admin).json()
    assert [t["element_id"] for t in instance["tasks"]] == ["handle_decline"]
    thrown = next(e for e in _events(api, instance_id) if e["type"] == "external_task.error_thrown")
    assert thrown["payload"]["error_code"] == "card_declined"


def test_who_may_work_and_topic_limits(api: Api, clock: ManualClock) -> None:
    _deploy_and_start(api)
    clerk = api.user("clerk")
    assert _fetch(api, clerk).status_code == 403
    assert api.client.get("/v1/external-tasks", headers=clerk).status_code == 403
    other = api.user("worker,topic.send-mail")
    refused = _fetch(api, other)
    assert refused.status_code == 403 and "send-mail" in refused.json()["detail"]
    assert _fetch(api, other, topic="send-mail").json() == []
    assert api.client.get("/v1/external-tasks", headers=other).json()["items"] == []
    allowed = api.user("worker,topic.charge-card")
    [task] = _fetch(api, allowed).json()
    steal = api.client.post(
        f"/v1/external-tasks/{task['id']}/complete",
        headers=other,
        json={"worker_id": "w1", "variables": {}},
    )
    assert steal.status_code == 403
    missing = api.client.post(
        "/v1/external-tasks/nope/complete", headers=allowed, json={"worker_id": "w1"}
    )
    assert missing.status_code == 404


def test_cancelling_an_instance_cancels_its_external_task(api: Api, clock: ManualClock) -> None:
    [instance_id], _ = _deploy_and_start(api)
    cancelled = api.client.post(f"/v1/instances/{instance_id}/cancel", headers=api.admin)
    assert cancelled.status_code == 200, cancelled.text
    worker = api.user("worker")
    assert _fetch(api, worker).json() == []
    listed = api.client.get(f"/v1/external-tasks?instance_id={instance_id}", headers=api.admin)
    assert [t["state"] for t in listed.json()["items"]] == ["cancelled"]


def test_long_polling_waits_for_a_task(api: Api, clock: ManualClock) -> None:
    worker = api.user("worker")
    assert api.deploy("external_payment.bpmn").status_code in (200, 201)
    began = time.monotonic()
    empty = _fetch(api, worker, async_response_timeout=300)
    assert empty.status_code == 200 and empty.json() == []
    assert time.monotonic() - began >= 0.3  # it waited for a task before answering


def test_two_worker_loops_over_http_never_share_a_task(server: Server) -> None:
    """Real worker loops on a real server: each fetches, locks and completes; every instance
    advances exactly once and no task is locked by both workers."""
    designer = server.user("designer")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        deployed = client.post(
            "/v1/definitions",
            headers=designer,
            files={"file": ("p.bpmn", (DATA / "external_payment.bpmn").read_bytes())},
        )
        assert deployed.status_code in (200, 201), deployed.text
        starter = server.user("clerk")
        ids = []
        for i in range(12):
            started = client.post(
                "/v1/instances",
                headers=starter,
                json={"definition_key": "external_payment", "variables": {"amount": i}},
            )
            assert started.status_code == 201, started.text
            ids.append(started.json()["id"])
        worker = server.user("worker")

    done: dict[str, list[str]] = {"a": [], "b": []}
    errors: list[str] = []

    def loop(name: str) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            idle = 0
            while idle < 3:
                got = client.post(
                    "/v1/external-tasks/fetch-and-lock",
                    headers=worker,
                    json={
                        "worker_id": name,
                        "max_tasks": 2,
                        "topics": [{"name": TOPIC, "lock_duration": 30_000}],
                        "async_response_timeout": 200,
                    },
                )
                if got.status_code != 200:
                    errors.append(got.text)
                    return
                if not got.json():
                    idle += 1
                    continue
                for task in got.json():
                    completed = client.post(
                        f"/v1/external-tasks/{task['id']}/complete",
                        headers=worker,
                        json={
                            "worker_id": name,
                            "variables": {"transaction": f"{name}-{task['id']}"},
                        },
                    )
                    if completed.status_code != 204:
                        errors.append(completed.text)
                    done[name].append(task["instance_id"])

    threads = [threading.Thread(target=loop, args=(n,)) for n in done]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sorted(done["a"] + done["b"]) == sorted(ids)  # each exactly once, by one worker
    with httpx.Client(base_url=server.url, timeout=30) as client:
        admin = server.user("monitor")
        for instance_id in ids:
            got = client.get(f"/v1/instances/{instance_id}", headers=admin).json()
            assert [t["element_id"] for t in got["tasks"]] == ["confirm"]
            assert got["data"]["payment_id"].split("-", 1)[0] in done


def test_pf_external_task_priority_and_suspended_instances(api: Api, clock: ManualClock) -> None:
    """pf:externalTask declares topic, priority, inputs and outputs; higher priority is handed
    out first; a suspended instance's task waits."""
    [normal], _ = _deploy_and_start(api)
    assert api.deploy("external_pf.bpmn").status_code == 201
    urgent = api.client.post(
        "/v1/instances",
        headers=api.user("clerk"),
        json={"definition_key": "external_urgent", "variables": {"amount": 9, "payee": "X"}},
    )
    assert urgent.status_code == 201, urgent.text
    worker = api.user("worker")
    first, second = _fetch(api, worker, max_tasks=2).json()
    assert (first["instance_id"], first["priority"]) == (urgent.json()["id"], 9)
    assert first["variables"] == {"amount": 9} and first["outputs"] == ["payment_id"]
    assert second["instance_id"] == normal
    done = api.client.post(
        f"/v1/external-tasks/{first['id']}/complete",
        headers=worker,
        json={"worker_id": "w1", "variables": {"payment_id": "P-9"}},
    )
    assert done.status_code == 204
    ended = api.client.get(f"/v1/instances/{first['instance_id']}", headers=api.admin).json()
    assert ended["status"] == "completed" and ended["data"]["payment_id"] == "P-9"

    suspended = api.client.post(f"/v1/instances/{normal}/suspend", headers=api.admin)
    assert suspended.status_code == 200, suspended.text
    clock.advance(timedelta(minutes=5))  # the lock on it expired, but its instance is suspended
    assert _fetch(api, worker).json() == []
    assert api.client.post(f"/v1/instances/{normal}/resume", headers=api.admin).status_code == 200
    assert [t["instance_id"] for t in _fetch(api, worker).json()] == [normal]


def _service_process(task: str, namespaces: str = "") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" {namespaces}
  id="d" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="svc" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    {task}
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>""".encode()


FLOWS = "<bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>"


@pytest.mark.parametrize(
    ("task", "namespaces", "topic", "warned"),
    [
        # SpiffWorkflow's bpmn/data/service_task.bpmn: a service task naming nothing
        (
            f'<bpmn:serviceTask id="work" name="ServiceTask1">{FLOWS}</bpmn:serviceTask>',
            "",
            "work",
            True,
        ),
        (
            f'<bpmn:serviceTask id="work"><bpmn:extensionElements><zeebe:taskDefinition '
            f'type="send-mail"/></bpmn:extensionElements>{FLOWS}</bpmn:serviceTask>',
            'xmlns:zeebe="http://camunda.org/schema/zeebe/1.0"',
            "send-mail",
            False,
        ),
    ],
    ids=["naming-nothing", "zeebe-task-definition"],
)
def test_service_tasks_without_camunda_topic_are_external_too(
    api: Api, task: str, namespaces: str, topic: str, warned: bool
) -> None:
    deployed = api.client.post(
        "/v1/definitions",
        headers=api.user("designer"),
        files={"file": ("svc.bpmn", _service_process(task, namespaces))},
    )
    assert deployed.status_code == 201, deployed.text
    [definition] = deployed.json()["definitions"]
    assert definition["executable"] is True
    warnings = [w["message"] for w in definition["warnings"]]
    assert bool(warnings) is warned
    if warned:
        assert f"external task of the topic '{topic}' (its id)" in warnings[0]
    started = api.client.post(
        "/v1/instances", headers=api.user("clerk"), json={"definition_key": "svc"}
    )
    assert started.status_code == 201 and started.json()["status"] == "running"
    worker = api.user("worker")
    [locked] = _fetch(api, worker, topic=topic).json()
    assert locked["element_id"] == "work" and locked["outputs"] is None
    done = api.client.post(
        f"/v1/external-tasks/{locked['id']}/complete",
        headers=worker,
        json={"worker_id": "w1", "variables": {"anything": [1, 2]}},
    )
    assert done.status_code == 204
    ended = api.client.get(f"/v1/instances/{started.json()['id']}", headers=api.admin).json()
    assert ended["status"] == "completed" and ended["data"]["anything"] == [1, 2]


@pytest.mark.parametrize(
    ("task", "says"),
    [
        (
            '<bpmn:serviceTask id="work" camunda:type="external" camunda:topic="t">'
            "<bpmn:extensionElements><camunda:inputOutput>"
            '<camunda:inputParameter name="total">${amount * 2}</camunda:inputParameter>'
            f"</camunda:inputOutput></bpmn:extensionElements>{FLOWS}</bpmn:serviceTask>",
            "is JUEL",
        ),
        (
            '<bpmn:serviceTask id="work" camunda:type="external" camunda:topic="t">'
            "<bpmn:extensionElements><camunda:inputOutput>"
            '<camunda:outputParameter name="r"><camunda:list/></camunda:outputParameter>'
            f"</camunda:inputOutput></bpmn:extensionElements>{FLOWS}</bpmn:serviceTask>",
            "script, list or map",
        ),
        (
            f'<bpmn:serviceTask id="work" camunda:type="external">{FLOWS}</bpmn:serviceTask>',
            "needs a topic",
        ),
    ],
    ids=["juel-input", "list-output", "no-topic"],
)
def test_what_powerflow_cannot_evaluate_is_refused_at_upload(
    api: Api, task: str, says: str
) -> None:
    refused = api.client.post(
        "/v1/definitions",
        headers=api.user("designer"),
        files={"file": ("svc.bpmn", _service_process(task))},
    )
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["problems"]
    assert says in problem["message"] and problem["element_id"] == "work" and problem["line"]


def test_an_instance_retry_reopens_the_external_task_of_its_incident(
    api: Api, clock: ManualClock
) -> None:
    """POST /v1/instances/{id}/retry on an instance parked by an external task's last failure
    gives that task one more retry (fetchable again) and resolves the incident row."""
    [instance_id], _ = _deploy_and_start(api)
    worker = api.user("worker")
    [task] = _fetch(api, worker).json()
    body = {"worker_id": "w1", "error_message": "down", "retries": 0}
    failure = f"/v1/external-tasks/{task['id']}/failure"
    assert api.client.post(failure, headers=worker, json=body).status_code == 204
    monitor = api.user("monitor")
    [incident] = api.client.get("/v1/incidents?status=open", headers=monitor).json()["items"]
    assert incident["instance_id"] == instance_id and incident["element_id"] == "charge"
    retry = f"/v1/instances/{instance_id}/retry"
    fixed = api.client.post(
        retry, headers=api.admin, json={"variables": {"amount": 1}, "reason": "bank is back"}
    )
    assert fixed.status_code == 409 and "worker supplies its variables" in fixed.text
    done = api.client.post(retry, headers=api.admin, json={"reason": "bank is back"})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "running" and done.json()["incident"] is None
    assert api.client.get("/v1/incidents?status=open", headers=monitor).json()["items"] == []
    types = [e["type"] for e in _events(api, instance_id)]
    assert types[-3:] == ["external_task.retries_set", "incident.resolved", "instance.retried"]
    [again] = _fetch(api, worker).json()
    assert again["id"] == task["id"] and again["retries"] == 1
