"""Defects found reviewing issue 9's merged work, each pinned by a test over HTTP."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from conftest import Api
from rebind import rebind

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'id="d" targetNamespace="urn:test">\n'
)
SIMPLE = (
    HEAD
    + """<bpmn:process id="simple" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
  <bpmn:userTask id="work" name="Work"/>
  <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>
</bpmn:definitions>
"""
)


def _upload(api: Api, xml: str, name: str, **params: Any) -> Any:
    return api.client.post(
        "/v1/definitions",
        params=params,
        headers=api.user("designer"),
        files={"file": (name, xml.encode())},
    )


def test_the_same_file_uploaded_to_run_after_viewing_is_deployed_to_run(api: Api) -> None:
    viewed = _upload(api, SIMPLE, "simple.bpmn", purpose="view")
    assert viewed.status_code == 201, viewed.text
    assert viewed.json()["definitions"][0]["executable"] is False
    run = _upload(api, SIMPLE, "simple.bpmn")
    assert run.status_code == 201, run.text
    (definition,) = run.json()["definitions"]
    assert definition["executable"] is True
    assert definition["version"] == 2
    started = api.client.post("/v1/instances", headers=api.admin, json={"definition_key": "simple"})
    assert started.status_code == 201, started.text


def test_accept_any_data_is_not_dropped_for_content_deployed_without_it(api: Api) -> None:
    assert _upload(api, SIMPLE, "simple.bpmn").status_code == 201
    opted = _upload(api, SIMPLE, "simple.bpmn", accept_any_data="true")
    assert opted.status_code == 201, opted.text
    (definition,) = opted.json()["definitions"]
    assert any("accept_any_data" in w["message"] for w in definition["warnings"])
    strict = _upload(api, SIMPLE, "simple.bpmn")  # the strict form again: back to strict
    assert strict.status_code in (200, 201)
    assert not any(
        "accept_any_data" in w["message"] for w in strict.json()["definitions"][0]["warnings"]
    )


def _zip(*entries: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_non_designer_is_refused_before_any_zip_is_inflated(sqlite_api: Api) -> None:
    api = sqlite_api
    bomb = _zip(("big.bpmn", b"\0" * 50_000_000))
    response = api.client.post(
        "/v1/definitions",
        headers={**api.user("clerk"), "content-type": "application/zip"},
        content=bomb,
    )
    assert response.status_code == 403, response.text


def _external_started(api: Api) -> tuple[str, dict[str, str]]:
    assert api.deploy("external_payment.bpmn").status_code in (200, 201)
    started = api.client.post(
        "/v1/instances",
        headers=api.admin,
        json={
            "definition_key": "external_payment",
            "variables": {"amount": 100, "payee": "Qinghe", "secret_note": "keep"},
        },
    )
    assert started.status_code == 201, started.text
    return started.json()["id"], api.user("worker")


def _fetch(api: Api, worker: dict[str, str]) -> list[dict[str, Any]]:
    got = api.client.post(
        "/v1/external-tasks/fetch-and-lock",
        headers=worker,
        json={
            "worker_id": "w1",
            "max_tasks": 5,
            "topics": [{"name": "charge-card", "lock_duration": 60_000}],
        },
    )
    assert got.status_code == 200, got.text
    return list(got.json())


def test_moving_the_token_back_to_an_external_task_reopens_it_for_workers(api: Api) -> None:
    instance_id, worker = _external_started(api)
    (task,) = _fetch(api, worker)
    done = api.client.post(
        f"/v1/external-tasks/{task['id']}/complete",
        headers=worker,
        json={"worker_id": "w1", "variables": {"transaction": "t-1"}},
    )
    assert done.status_code == 204, done.text
    moved = api.client.post(
        f"/v1/instances/{instance_id}/move",
        headers=api.admin,
        json={"to_element": "charge", "reason": "charge again"},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["tasks"] == []  # waits for a worker again
    (again,) = _fetch(api, worker)
    assert again["instance_id"] == instance_id
    done = api.client.post(
        f"/v1/external-tasks/{again['id']}/complete",
        headers=worker,
        json={"worker_id": "w1", "variables": {"transaction": "t-2"}},
    )
    assert done.status_code == 204, done.text
    shown = api.client.get(f"/v1/instances/{instance_id}", headers=api.admin).json()
    assert [t["element_id"] for t in shown["tasks"]] == ["confirm"]


CAMUNDA_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="urn:test">\n'
)
CALLER = (
    CAMUNDA_HEAD
    + """<bpmn:process id="caller" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call"/>
  <bpmn:callActivity id="call" name="Pay" calledElement="payer"/>
  <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>
</bpmn:definitions>
"""
)
PAYER_BY_HAND = (
    CAMUNDA_HEAD
    + """<bpmn:process id="payer" isExecutable="true">
  <bpmn:startEvent id="s"/>
  <bpmn:sequenceFlow id="g1" sourceRef="s" targetRef="pay"/>
  <bpmn:userTask id="pay" name="Pay by hand"/>
  <bpmn:sequenceFlow id="g2" sourceRef="pay" targetRef="e"/>
  <bpmn:endEvent id="e"/>
</bpmn:process>
</bpmn:definitions>
"""
)
PAYER_BY_WORKER = (
    CAMUNDA_HEAD
    + """<bpmn:process id="payer" isExecutable="true">
  <bpmn:startEvent id="s"/>
  <bpmn:sequenceFlow id="g1" sourceRef="s" targetRef="pay"/>
  <bpmn:serviceTask id="pay" name="Pay by a worker" camunda:type="external"
    camunda:topic="charge-card"/>
  <bpmn:sequenceFlow id="g2" sourceRef="pay" targetRef="e"/>
  <bpmn:endEvent id="e"/>
</bpmn:process>
</bpmn:definitions>
"""
)


def test_an_external_task_in_a_newer_called_version_reaches_workers(api: Api) -> None:
    assert _upload(api, PAYER_BY_HAND, "payer.bpmn").status_code == 201
    assert _upload(api, CALLER, "caller.bpmn").status_code == 201
    first = api.client.post("/v1/instances", headers=api.admin, json={"definition_key": "caller"})
    assert first.status_code == 201, first.text
    assert [t["element_id"] for t in first.json()["tasks"]] == ["pay"]
    assert _upload(api, PAYER_BY_WORKER, "payer.bpmn").status_code == 201
    second = api.client.post("/v1/instances", headers=api.admin, json={"definition_key": "caller"})
    assert second.status_code == 201, second.text
    assert second.json()["tasks"] == []
    (task,) = _fetch(api, api.user("worker"))
    assert task["instance_id"] == second.json()["id"]


def _park_by_worker(api: Api) -> tuple[str, dict[str, str], str]:
    instance_id, worker = _external_started(api)
    (task,) = _fetch(api, worker)
    failed = api.client.post(
        f"/v1/external-tasks/{task['id']}/failure",
        headers=worker,
        json={"worker_id": "w1", "error_message": "card service down", "retries": 0},
    )
    assert failed.status_code == 204, failed.text
    shown = api.client.get(f"/v1/instances/{instance_id}", headers=api.admin).json()
    assert shown["status"] == "failed"
    return instance_id, worker, task["id"]


def test_skipping_an_external_task_a_worker_gave_up_on_closes_it(api: Api) -> None:
    instance_id, worker, _task = _park_by_worker(api)
    skipped = api.client.post(
        f"/v1/instances/{instance_id}/skip", headers=api.admin, json={"reason": "paid by hand"}
    )
    assert skipped.status_code == 200, skipped.text
    assert skipped.json()["status"] == "running"
    assert [t["element_id"] for t in skipped.json()["tasks"]] == ["confirm"]
    rows = api.client.get(
        "/v1/external-tasks", headers=api.admin, params={"instance_id": instance_id}
    ).json()["items"]
    assert [r["state"] for r in rows] == ["cancelled"]
    assert _fetch(api, worker) == []
    incidents = api.client.get(f"/v1/instances/{instance_id}/incidents", headers=api.admin).json()[
        "items"
    ]
    assert [(i["status"], i["resolution"]) for i in incidents] == [("resolved", "skipped")]


def test_moving_a_parked_external_task_to_itself_is_refused_not_a_500(api: Api) -> None:
    instance_id, _worker, _task = _park_by_worker(api)
    moved = api.client.post(
        f"/v1/instances/{instance_id}/move",
        headers=api.admin,
        json={"to_element": "charge", "reason": "try again"},
    )
    # the token is at 'charge' already: nothing to move back to; retry is the way
    assert moved.status_code == 409, moved.text
    assert "does not lie before" in moved.json()["detail"]


def test_a_long_loop_after_compaction_migrates_moves_and_runs_on(api: Api) -> None:
    from pathlib import Path

    from conftest import DATA

    xml = Path(DATA / "long_instances.bpmn").read_text()
    assert _upload(api, xml, "long_instances.bpmn").status_code == 201
    clerk = api.user("clerk")
    started = api.client.post(
        "/v1/instances",
        headers=clerk,
        json={"definition_key": "long_loop", "variables": {"iterations": 100}},
    )
    assert started.status_code == 201, started.text
    instance = started.json()
    for n in range(60):  # past the compaction slack: earlier rounds are pruned
        (task,) = instance["tasks"]
        done = api.client.post(
            f"/v1/tasks/{task['id']}/complete",
            headers=clerk,
            json={"data": {"amount": 1, "note": f"round {n}"}},
        )
        assert done.status_code == 200, done.text
        instance = done.json()
    v2 = xml.replace(
        'name="Work" camunda:candidateGroups="clerk"',
        'name="Work (v2)" camunda:candidateGroups="clerk"',
        1,
    )
    assert _upload(api, v2, "long_instances.bpmn").status_code == 201
    url = f"/v1/instances/{instance['id']}/migrate"
    dry = api.client.post(url, headers=api.admin, json={"to_version": 2, "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert dry.json()["possible"] is True
    migrated = api.client.post(url, headers=api.admin, json={"to_version": 2, "reason": "v2"})
    assert migrated.status_code == 200, migrated.text
    assert [t["name"] for t in migrated.json()["instance"]["tasks"]] == ["Work (v2)"]
    moved = api.client.post(
        f"/v1/instances/{instance['id']}/move",
        headers=api.admin,
        json={"to_element": "init", "reason": "start over"},
    )
    assert moved.status_code == 200, moved.text
    (task,) = moved.json()["tasks"]
    done = api.client.post(
        f"/v1/tasks/{task['id']}/complete", headers=clerk, json={"data": {"amount": 5}}
    )
    assert done.status_code == 200, done.text
    assert done.json()["data"]["i"] == 1


WAITER = (
    HEAD
    + """<bpmn:message id="m_go" name="go"/>
<bpmn:signal id="s_stop" name="stop"/>
<bpmn:process id="waiter" isExecutable="true">
  <bpmn:startEvent id="ws"/>
  <bpmn:sequenceFlow id="w1" sourceRef="ws" targetRef="wait"/>
  <bpmn:intermediateCatchEvent id="wait" name="Go">
    <bpmn:messageEventDefinition messageRef="m_go"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="w2" sourceRef="wait" targetRef="after"/>
  <bpmn:userTask id="after" name="After the message"/>
  <bpmn:sequenceFlow id="w3" sourceRef="after" targetRef="wend"/>
  <bpmn:endEvent id="wend"/>
</bpmn:process>
</bpmn:definitions>
"""
)
CALLS_WAITER = (
    HEAD
    + """<bpmn:process id="calls_waiter" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call"/>
  <bpmn:callActivity id="call" name="Wait" calledElement="waiter"/>
  <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>
</bpmn:definitions>
"""
)


def test_a_message_reaches_a_catch_inside_a_process_called_from_another_file(api: Api) -> None:
    assert _upload(api, WAITER, "waiter.bpmn").status_code == 201
    assert _upload(api, CALLS_WAITER, "calls_waiter.bpmn").status_code == 201
    started = api.client.post(
        "/v1/instances", headers=api.admin, json={"definition_key": "calls_waiter"}
    )
    assert started.status_code == 201, started.text
    instance_id = started.json()["id"]
    sent = api.client.post("/v1/messages", headers=api.admin, json={"name": "go", "payload": {}})
    assert sent.status_code == 200, sent.text
    assert sent.json()["delivered_to"] == [instance_id]
    shown = api.client.get(f"/v1/instances/{instance_id}", headers=api.admin).json()
    assert [t["element_id"] for t in shown["tasks"]] == ["after"]


def test_an_instance_waiting_for_a_worker_migrates_and_the_worker_finishes_it(api: Api) -> None:
    from conftest import DATA

    instance_id, worker = _external_started(api)
    xml = (DATA / "external_payment.bpmn").read_text()
    v2 = xml.replace('name="Confirm the payment"', 'name="Confirm the payment (v2)"')
    assert _upload(api, v2, "external_payment.bpmn").status_code == 201
    url = f"/v1/instances/{instance_id}/migrate"
    dry = api.client.post(url, headers=api.admin, json={"to_version": 2, "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert dry.json()["possible"] is True
    migrated = api.client.post(url, headers=api.admin, json={"to_version": 2, "reason": "v2"})
    assert migrated.status_code == 200, migrated.text
    (task,) = _fetch(api, worker)
    done = api.client.post(
        f"/v1/external-tasks/{task['id']}/complete",
        headers=worker,
        json={"worker_id": "w1", "variables": {"transaction": "t-1"}},
    )
    assert done.status_code == 204, done.text
    shown = api.client.get(f"/v1/instances/{instance_id}", headers=api.admin).json()
    assert [t["name"] for t in shown["tasks"]] == ["Confirm the payment (v2)"]


def test_changing_an_external_tasks_topic_is_named_by_a_migration(api: Api) -> None:
    from conftest import DATA

    instance_id, _worker = _external_started(api)
    xml = (DATA / "external_payment.bpmn").read_text()
    v2 = xml.replace('camunda:topic="charge-card"', 'camunda:topic="charge-card-v2"')
    assert _upload(api, v2, "external_payment.bpmn").status_code == 201
    url = f"/v1/instances/{instance_id}/migrate"
    dry = api.client.post(url, headers=api.admin, json={"to_version": 2, "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert "topic" in dry.json()["changed"]["charge"], dry.json()
    migrated = api.client.post(url, headers=api.admin, json={"to_version": 2, "reason": "v2"})
    assert migrated.status_code == 200, migrated.text
    worker = api.user("worker")
    got = api.client.post(
        "/v1/external-tasks/fetch-and-lock",
        headers=worker,
        json={
            "worker_id": "w2",
            "max_tasks": 5,
            "topics": [{"name": "charge-card-v2", "lock_duration": 60_000}],
        },
    )
    assert got.status_code == 200, got.text
    assert [t["instance_id"] for t in got.json()] == [instance_id]
    assert _fetch(api, worker) == []  # the old topic has nothing of it any more


def test_an_instance_parked_at_a_connector_can_be_migrated(api: Api) -> None:
    from conftest import DATA
    from powerflow.engine import connectors

    connectors.refresh()  # none installed: the instance parks at the first operator
    xml = (DATA / "corpus" / "service_task.bpmn").read_text()
    assert _upload(api, xml, "service_task.bpmn").status_code == 201
    started = api.client.post(
        "/v1/instances", headers=api.admin, json={"definition_key": "service_task_example1"}
    )
    assert started.json()["status"] == "failed", started.text
    v2 = xml.replace('name="ServiceTask2"', 'name="Second service task"')
    assert _upload(api, v2, "service_task.bpmn").status_code == 201
    url = f"/v1/instances/{started.json()['id']}/migrate"
    dry = api.client.post(url, headers=api.admin, json={"to_version": 2, "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert dry.json()["possible"] is True
    migrated = api.client.post(url, headers=api.admin, json={"to_version": 2, "reason": "v2"})
    assert migrated.status_code == 200, migrated.text
    assert migrated.json()["instance"]["status"] == "failed"  # parked still: retry after


def test_several_zip_parts_are_inflated_only_up_to_the_bundle_limit(sqlite_api: Api) -> None:
    api = sqlite_api
    part = _zip(*[(f"m{i}.bpmn", b"\0" * 4_500_000) for i in range(4)])  # 18 MB unzipped
    response = api.client.post(
        "/v1/definitions",
        headers=api.user("designer"),
        files=[("file", (f"p{n}.zip", part, "application/zip")) for n in range(3)],
    )
    assert response.status_code == 413, response.text
    # refused while the second archive inflates, not after all three were inflated in memory
    assert "p1.zip unzips to more than" in response.json()["detail"], response.text


def test_sending_a_message_or_signal_grants_no_sight_of_the_instances_it_reaches(
    api: Api,
) -> None:
    waiter = WAITER.replace(HEAD, CAMUNDA_HEAD).replace(
        'name="After the message"', 'name="After the message" camunda:candidateGroups="reviewer"'
    )
    assert _upload(api, waiter, "waiter.bpmn").status_code == 201
    starter = api.user("clerk")
    ids = []
    for _ in range(2):
        started = api.client.post(
            "/v1/instances", headers=starter, json={"definition_key": "waiter"}
        )
        assert started.status_code == 201, started.text
        ids.append(started.json()["id"])
    clerk = api.user("clerk")  # another clerk's message does not reach these cases at all
    kept = api.client.post("/v1/messages", headers=clerk, json={"name": "go", "payload": {}})
    assert kept.status_code == 200 and kept.json()["status"] == "kept", kept.text
    stranger = api.user("worker")  # an integration reaches them, and sees none of them
    sent = api.client.post(
        "/v1/messages", headers=stranger, json={"name": "go", "payload": {}, "all": True}
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "delivered"
    assert sent.json()["delivered_to"] == []
    for instance_id in ids:
        shown = api.client.get(f"/v1/instances/{instance_id}", headers=stranger)
        assert shown.status_code == 404, shown.text
        events = api.client.get(f"/v1/instances/{instance_id}/events", headers=stranger)
        assert events.status_code == 404
    listed = api.client.get("/v1/instances", headers=stranger).json()["items"]
    assert [i["id"] for i in listed] == []
    # the starter sees who did it: the message, named in the log supervisors read
    received = [
        e
        for e in api.client.get(f"/v1/instances/{ids[0]}/events", headers=starter).json()["items"]
        if e["type"] == "message.received"
    ]
    assert received and received[0]["payload"]["message_id"] == sent.json()["id"]
    log = api.client.get("/v1/messages", headers=api.admin).json()["items"]
    assert log[0]["sender"] == sent.json()["sender"]


def test_cancelling_a_parked_instance_whose_state_no_longer_loads_closes_its_external_task(
    api: Api,
) -> None:
    import json

    import sqlalchemy as sa

    instance_id, _worker, task_id = _park_by_worker(api)
    with api.store.engine.begin() as conn:
        state = json.loads(
            conn.execute(
                sa.text("SELECT state FROM instances WHERE id = :id"), {"id": instance_id}
            ).scalar_one()
        )
        state["spec"] = "0" * 64 + ":elsewhere"  # saved state that cannot be restored
        conn.execute(
            sa.text("UPDATE instances SET state = :s WHERE id = :id"),
            {"s": json.dumps(state), "id": instance_id},
        )
    rebind(api.store.engine, instance_id)  # as a migration would: not an edit
    cancelled = api.client.post(
        f"/v1/instances/{instance_id}/cancel", headers=api.admin, json={"reason": "withdrawn"}
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    rows = api.client.get(
        "/v1/external-tasks", headers=api.admin, params={"instance_id": instance_id}
    ).json()["items"]
    assert [r["state"] for r in rows] == ["cancelled"]
    again = api.client.put(
        f"/v1/external-tasks/{task_id}/retries", headers=api.admin, json={"retries": 2}
    )
    assert again.status_code == 409, again.text


def test_a_message_kept_while_its_instance_was_suspended_arrives_when_it_resumes(
    api: Api,
) -> None:
    assert _upload(api, WAITER, "waiter.bpmn").status_code == 201
    started = api.client.post("/v1/instances", headers=api.admin, json={"definition_key": "waiter"})
    instance_id = started.json()["id"]
    monitor = api.user("monitor")
    url = f"/v1/instances/{instance_id}"
    assert api.client.post(f"{url}/suspend", headers=monitor, json={}).status_code == 200
    sent = api.client.post("/v1/messages", headers=api.admin, json={"name": "go", "payload": {}})
    assert sent.json()["status"] == "kept", sent.text
    resumed = api.client.post(f"{url}/resume", headers=monitor, json={})
    assert resumed.status_code == 200, resumed.text
    shown = api.client.get(url, headers=api.admin).json()
    assert [t["element_id"] for t in shown["tasks"]] == ["after"]
    log = api.client.get("/v1/messages", headers=api.admin).json()["items"]
    assert log[0]["status"] == "delivered"


BOTH = (
    CAMUNDA_HEAD
    + """<bpmn:message id="m_go" name="go"/>
<bpmn:process id="both" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split"/>
  <bpmn:parallelGateway id="split"/>
  <bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="charge"/>
  <bpmn:sequenceFlow id="f3" sourceRef="split" targetRef="wait"/>
  <bpmn:serviceTask id="charge" name="Charge" camunda:type="external"
    camunda:topic="charge-card"/>
  <bpmn:intermediateCatchEvent id="wait" name="Go">
    <bpmn:messageEventDefinition messageRef="m_go"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f4" sourceRef="charge" targetRef="join"/>
  <bpmn:sequenceFlow id="f5" sourceRef="wait" targetRef="join"/>
  <bpmn:parallelGateway id="join"/>
  <bpmn:sequenceFlow id="f6" sourceRef="join" targetRef="after"/>
  <bpmn:userTask id="after" name="After both"/>
  <bpmn:sequenceFlow id="f7" sourceRef="after" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>
</bpmn:definitions>
"""
)


def test_a_message_kept_while_a_worker_had_parked_its_instance_arrives_after_new_retries(
    api: Api,
) -> None:
    assert _upload(api, BOTH, "both.bpmn").status_code == 201
    started = api.client.post("/v1/instances", headers=api.admin, json={"definition_key": "both"})
    instance_id = started.json()["id"]
    worker = api.user("worker")
    (task,) = _fetch(api, worker)
    failed = api.client.post(
        f"/v1/external-tasks/{task['id']}/failure",
        headers=worker,
        json={"worker_id": "w1", "error_message": "down", "retries": 0},
    )
    assert failed.status_code == 204, failed.text
    sent = api.client.post("/v1/messages", headers=api.admin, json={"name": "go", "payload": {}})
    assert sent.json()["status"] == "kept", sent.text
    retried = api.client.put(
        f"/v1/external-tasks/{task['id']}/retries", headers=api.admin, json={"retries": 1}
    )
    assert retried.status_code == 200, retried.text
    log = api.client.get("/v1/messages", headers=api.admin).json()["items"]
    assert log[0]["status"] == "delivered"
    (again,) = _fetch(api, worker)
    done = api.client.post(
        f"/v1/external-tasks/{again['id']}/complete",
        headers=worker,
        json={"worker_id": "w1", "variables": {}},
    )
    assert done.status_code == 204, done.text
    shown = api.client.get(f"/v1/instances/{instance_id}", headers=api.admin).json()
    assert [t["element_id"] for t in shown["tasks"]] == ["after"]


def test_a_bundle_holding_one_process_in_two_files_is_refused_naming_both(api: Api) -> None:
    other = SIMPLE.replace('name="Work"', 'name="Work, edited"')
    response = api.client.post(
        "/v1/definitions",
        headers=api.user("designer"),
        files=[
            ("file", ("order.bpmn", SIMPLE.encode())),
            ("file", ("order copy.bpmn", other.encode())),
        ],
    )
    assert response.status_code == 422, response.text
    detail = response.json()
    assert "order.bpmn" in detail["detail"] and "order copy.bpmn" in detail["detail"]
    assert api.client.get("/v1/definitions/simple", headers=api.admin).status_code == 404
