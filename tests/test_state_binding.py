"""The live state bound to the audit log: an edit of the saved state, the data, the status or
the task rows is found by `audit verify`, and a step on an edited state is refused with an
incident instead of carrying the forged value on (issue 12, part 1)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from sqlalchemy import text

from conftest import Api
from powerflow.services import audit
from powerflow.services.state_binding import TAMPERED


def _first_step(api: Api) -> tuple[str, str, dict[str, str]]:
    """An expense whose first task is done (amount 5000); returns the instance, the ready
    approval task and the manager who may complete it."""
    api.deploy("gateway.bpmn")
    employee = api.user("clerk,employee")
    manager = api.user("clerk,manager")
    started = api.client.post(
        "/v1/instances", headers=employee, json={"definition_key": "expense"}
    ).json()
    first = api.client.post(
        f"/v1/tasks/{started['tasks'][0]['id']}/complete",
        headers=employee,
        json={"data": {"amount": 5000, "note": "bus"}},
    )
    assert first.status_code == 200, first.text
    return started["id"], first.json()["tasks"][0]["id"], manager


def _sql(api: Api, statement: str, **params: Any) -> Any:
    with api.store.engine.begin() as conn:
        return conn.execute(text(statement), params)


def _instance(api: Api, instance_id: str) -> dict[str, Any]:
    response = api.client.get(f"/v1/instances/{instance_id}", headers=api.admin)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _broken(api: Api) -> Any:
    return audit.verify_all(api.store).broken


def _cli_verify(api: Api) -> subprocess.CompletedProcess[str]:
    url = api.store.url.render_as_string(hide_password=False)
    return subprocess.run(
        [sys.executable, "-m", "powerflow", "audit", "verify", "--database-url", url],
        capture_output=True,
        text=True,
        check=False,
    )


def _forge_amount(api: Api, instance_id: str) -> str:
    """Change the amount in the saved engine state, as someone with database access could;
    returns the state as it was."""
    state = _sql(api, "SELECT state FROM instances WHERE id = :i", i=instance_id).scalar_one()
    forged = state.replace('"amount":5000', '"amount":999999')
    assert forged != state  # the saved state does hold the amount
    _sql(api, "UPDATE instances SET state = :s WHERE id = :i", s=forged, i=instance_id)
    return str(state)


def test_untouched_instances_verify_and_each_step_binds_its_state(api: Api) -> None:
    instance_id, task_id, manager = _first_step(api)
    assert _broken(api) is None
    digests = _sql(
        api,
        "SELECT seq, state_digest FROM events WHERE instance_id = :i ORDER BY seq",
        i=instance_id,
    ).all()
    bound = [seq for seq, digest in digests if digest is not None]
    assert bound and bound[-1] == digests[-1][0]  # the last event binds the current state
    assert len(bound) == 2  # one per batch: the start, the first completion
    done = api.client.post(f"/v1/tasks/{task_id}/complete", headers=manager, json={"data": {}})
    assert done.status_code == 200, done.text
    assert _broken(api) is None
    assert _cli_verify(api).returncode == 0


def test_a_step_on_a_forged_state_is_refused_with_an_incident(api: Api) -> None:
    instance_id, task_id, manager = _first_step(api)
    _forge_amount(api, instance_id)

    broken = _broken(api)
    assert broken is not None and broken.instance_id == instance_id
    assert "saved state" in broken.reason
    cli = _cli_verify(api)
    assert cli.returncode == 1 and instance_id in cli.stdout + cli.stderr

    refused = api.client.post(
        f"/v1/tasks/{task_id}/complete", headers=manager, json={"data": {"approved": True}}
    )
    assert refused.status_code == 409, refused.text
    assert "changed outside powerflow" in refused.json()["detail"]
    view = _instance(api, instance_id)
    assert view["status"] == "failed"
    assert view["incident"]["message"].startswith(TAMPERED)
    events = api.client.get(f"/v1/instances/{instance_id}/events", headers=api.admin).json()
    types = [e["type"] for e in events["items"]]
    assert types[-2:] == ["task.ready", "instance.failed"]  # the approval was not recorded
    task = api.client.get(f"/v1/tasks/{task_id}", headers=api.admin).json()
    assert task["state"] == "ready" and task["completed_by"] is None  # nothing carried on

    # Asking again changes nothing more: still refused, one incident.
    again = api.client.post(f"/v1/tasks/{task_id}/complete", headers=manager, json={"data": {}})
    assert again.status_code == 409
    assert (
        api.client.post(
            f"/v1/instances/{instance_id}/retry", headers=api.admin, json={"reason": "try"}
        ).status_code
        == 409
    )
    incidents = _sql(
        api, "SELECT count(*) FROM incidents WHERE instance_id = :i", i=instance_id
    ).scalar_one()
    assert incidents == 1


def test_restoring_the_saved_state_lets_the_instance_go_on(api: Api) -> None:
    instance_id, task_id, manager = _first_step(api)
    status = _sql(api, "SELECT status FROM instances WHERE id = :i", i=instance_id).scalar_one()
    original = _forge_amount(api, instance_id)
    refused = api.client.post(f"/v1/tasks/{task_id}/complete", headers=manager, json={"data": {}})
    assert refused.status_code == 409 and _instance(api, instance_id)["status"] == "failed"
    _sql(  # the operator restores the saved state and status from a backup
        api,
        "UPDATE instances SET state = :s, status = :st, incident = NULL WHERE id = :i",
        s=original,
        st=status,
        i=instance_id,
    )
    done = api.client.post(
        f"/v1/tasks/{task_id}/complete", headers=manager, json={"data": {"approved": True}}
    )
    assert done.status_code == 200, done.text
    assert done.json()["data"]["amount"] == 5000


def test_edited_data_status_and_chain_head_are_refused(api: Api) -> None:
    instance_id, task_id, manager = _first_step(api)
    if api.store.engine.dialect.name == "postgresql":
        _sql(
            api,
            "UPDATE instances SET data = jsonb_set(data, '{amount}', '1') WHERE id = :i",
            i=instance_id,
        )
    else:
        _sql(
            api,
            "UPDATE instances SET data = json_set(data, '$.amount', 1) WHERE id = :i",
            i=instance_id,
        )
    assert _instance(api, instance_id)["data"]["amount"] == 1
    assert _broken(api) is not None
    refused = api.client.post(f"/v1/tasks/{task_id}/complete", headers=manager, json={"data": {}})
    assert refused.status_code == 409 and "changed outside powerflow" in refused.text

    other, other_task, _ = _first_step(api)
    _sql(api, "UPDATE instances SET event_seq = event_seq - 1 WHERE id = :i", i=other)
    employee_refused = api.client.post(
        f"/v1/tasks/{other_task}/complete", headers=manager, json={"data": {}}
    )
    assert employee_refused.status_code == 409
    assert _instance(api, other)["incident"]["message"].startswith(TAMPERED)


def test_edited_recorded_digest_breaks_the_chain(api: Api) -> None:
    instance_id, _task_id, _manager = _first_step(api)
    _sql(
        api,
        "UPDATE events SET state_digest = :d WHERE instance_id = :i AND state_digest IS NOT NULL",
        d="0" * 64,
        i=instance_id,
    )
    broken = _broken(api)
    assert broken is not None and "content was changed" in broken.reason


def test_edited_task_rows_are_found(api: Api) -> None:
    _instance_id, task_id, manager = _first_step(api)
    done = api.client.post(f"/v1/tasks/{task_id}/complete", headers=manager, json={"data": {}})
    assert done.status_code == 200
    assert _broken(api) is None

    _sql(api, "UPDATE tasks SET completed_by = 'someone-else' WHERE id = :t", t=task_id)
    broken = _broken(api)
    assert broken is not None and task_id in broken.reason and "someone-else" in broken.reason

    _sql(api, "UPDATE tasks SET completed_by = NULL, state = 'ready' WHERE id = :t", t=task_id)
    broken = _broken(api)
    assert broken is not None and "its row says ready" in broken.reason

    _sql(api, "DELETE FROM task_roles WHERE task_id = :t", t=task_id)
    _sql(api, "DELETE FROM tasks WHERE id = :t", t=task_id)
    broken = _broken(api)
    assert broken is not None and "row is missing" in broken.reason


def test_a_task_row_without_events_is_found(api: Api) -> None:
    _instance_id, task_id, _manager = _first_step(api)
    _sql(
        api,
        "INSERT INTO tasks (id, instance_id, element_id, name, kind, roles, state, created_at) "
        "SELECT 'forged-task', instance_id, element_id, name, kind, roles, 'ready', created_at "
        "FROM tasks WHERE id = :t",
        t=task_id,
    )
    broken = _broken(api)
    assert broken is not None and "forged-task" in broken.reason


def test_a_timer_on_a_forged_state_stops_that_instance_alone(api: Api) -> None:
    """The timer worker fires a batch in one transaction: the forged instance is stopped with
    an incident and the others' timers fire."""
    import time

    from powerflow.workers import fire_due_timers

    assert api.deploy("timer.bpmn").status_code == 201
    clerk = api.user("clerk")
    ids = [
        api.client.post(
            "/v1/instances", headers=clerk, json={"definition_key": "cooling_off"}
        ).json()["id"]
        for _ in range(3)
    ]
    forged = ids[1]
    state = _sql(api, "SELECT state FROM instances WHERE id = :i", i=forged).scalar_one()
    edited = state.replace('"typename":"BpmnWorkflow"', '"typename":"BpmnWorkflow","x":1')
    assert edited != state
    _sql(api, "UPDATE instances SET state = :s WHERE id = :i", s=edited, i=forged)
    time.sleep(1.2)  # the 0.5 s timers are due
    fire_due_timers(api.store)
    for instance_id in ids:
        view = _instance(api, instance_id)
        if instance_id == forged:
            assert view["status"] == "failed"
            assert view["incident"]["message"].startswith(TAMPERED)
        else:
            assert view["status"] == "running" and [t["element_id"] for t in view["tasks"]] == [
                "decide"
            ]


def test_a_message_skips_a_forged_instance_and_reaches_the_others(api: Api) -> None:
    """A signal or message is not delivered into a forged state; the sender's act and the
    other recipients are not held up by it (the forged instance is stopped at its next act)."""
    from test_messages import MSG, send, start

    api.deploy(MSG / "orders.bpmn")
    clerk = api.user("clerk")
    forged = start(api, clerk, "order", order_id=7)
    honest = start(api, clerk, "order", order_id=8)
    state = _sql(api, "SELECT state FROM instances WHERE id = :i", i=forged["id"]).scalar_one()
    edited = state.replace('"typename":"BpmnWorkflow"', '"typename":"BpmnWorkflow","x":1')
    _sql(api, "UPDATE instances SET state = :s WHERE id = :i", s=edited, i=forged["id"])

    refused = send(api, clerk, "order_paid", payload={"order_id": 7})
    assert refused.status_code == 200, refused.text
    assert refused.json()["status"] == "kept"  # not into the forged state
    delivered = send(api, clerk, "order_paid", payload={"order_id": 8})
    assert delivered.json()["delivered_to"] == [honest["id"]]
    assert _instance(api, forged["id"])["waiting_messages"] == ["order_paid"]
