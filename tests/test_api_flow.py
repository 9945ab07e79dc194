"""Starting instances and advancing their tasks over HTTP, within roles."""

from __future__ import annotations

import itertools

from conftest import Api


def _start(api: Api, headers: dict[str, str], key: str = "expense", **body: object) -> dict:
    response = api.client.post(
        "/v1/instances", headers=headers, json={"definition_key": key, **body}
    )
    assert response.status_code == 201, response.text
    return response.json()


def test_expense_runs_through_gateway_with_roles(api: Api) -> None:
    api.deploy("gateway.bpmn")
    employee = api.user("clerk,employee", "erin")
    manager = api.user("clerk,manager", "max")
    instance = _start(api, employee, business_key="claim-1", variables={"currency": "CNY"})
    assert instance["status"] == "running"
    assert instance["business_key"] == "claim-1"
    [submit] = instance["tasks"]
    assert (submit["element_id"], submit["roles"], submit["lane"]) == (
        "submit",
        ["employee"],
        "Employee",
    )
    assert submit["form"][0]["id"] == "amount" and submit["form"][0]["required"] is True
    assert submit["metadata"]["time_limit"]["duration"] == "P2D"
    assert submit["due_at"] is not None

    # the manager may not do the employee's step; until the approval exists, the manager is
    # not involved in the instance and does not learn that it exists
    denied = api.client.post(
        f"/v1/tasks/{submit['id']}/complete", headers=manager, json={"data": {"amount": 5000}}
    )
    assert denied.status_code == 404
    assert denied.json()["detail"] == f"Task {submit['id']} does not exist."

    after_submit = api.client.post(
        f"/v1/tasks/{submit['id']}/complete",
        headers=employee,
        json={"data": {"amount": 5000, "reason": "laptop"}},
    )
    assert after_submit.status_code == 200, after_submit.text
    body = after_submit.json()
    assert body["status"] == "running"
    [approve] = body["tasks"]
    assert approve["element_id"] == "approve"
    assert approve["roles"] == ["manager", "deputy"]
    assert approve["metadata"]["risk"] == {
        "level": "high",
        "measures": ["Check receipts", "Four eyes"],
        "description": None,
        "require_comment": False,
        "countersign": None,
    }

    # the employee does not see the manager's task; the manager does
    employee_inbox = api.client.get("/v1/tasks?state=ready", headers=employee).json()["items"]
    assert approve["id"] not in [t["id"] for t in employee_inbox]
    manager_inbox = api.client.get("/v1/tasks?state=ready", headers=manager).json()["items"]
    assert [t["id"] for t in manager_inbox] == [approve["id"]]
    detail = api.client.get(f"/v1/tasks/{approve['id']}", headers=manager).json()
    assert detail["data"]["amount"] == 5000 and detail["data"]["needs_approval"] is True

    done = api.client.post(
        f"/v1/tasks/{approve['id']}/complete", headers=manager, json={"data": {"approved": True}}
    )
    assert done.status_code == 200
    final = done.json()
    assert final["status"] == "completed"
    assert final["tasks"] == []
    assert final["data"] == {
        "currency": "CNY",
        "amount": 5000,
        "reason": "laptop",
        "needs_approval": True,
        "approved": True,
    }
    assert final["ended_at"] is not None

    events = api.client.get(f"/v1/instances/{instance['id']}/events", headers=manager).json()[
        "items"
    ]
    assert [(e["type"], e["element_id"], e["actor"]) for e in events] == [
        ("instance.started", None, "erin"),
        ("task.ready", "submit", "system"),
        ("task.completed", "submit", "erin"),
        ("task.completed", "classify", "system"),
        ("gateway.decided", "gw", "system"),
        ("task.ready", "approve", "system"),
        ("task.completed", "approve", "max"),
        ("instance.completed", "end", "system"),
    ]
    assert [e["seq"] for e in events] == list(range(1, 9))
    assert events[2]["payload"] == {
        "data": {"amount": 5000, "reason": "laptop"},
        "role": "employee",
    }
    assert events[4]["payload"]["taken"] == [
        {"flow_id": "f_yes", "flow_name": "yes", "target": "approve", "condition": "needs_approval"}
    ]
    ids = [e["id"] for e in events]
    assert ids == sorted(ids)
    assert all(e["prev_hash"] == p["hash"] for p, e in itertools.pairwise(events))

    completed = api.client.get("/v1/tasks?state=completed", headers=api.admin).json()["items"]
    assert {t["element_id"]: t["completed_by"] for t in completed} == {
        "submit": "erin",
        "approve": "max",
    }


def test_default_flow_skips_approval(api: Api) -> None:
    api.deploy("gateway.bpmn")
    employee = api.user("clerk,employee")
    instance = _start(api, employee)
    done = api.client.post(
        f"/v1/tasks/{instance['tasks'][0]['id']}/complete",
        headers=employee,
        json={"data": {"amount": 20}},
    )
    assert done.json()["status"] == "completed"
    events = api.client.get(f"/v1/instances/{instance['id']}/events", headers=employee).json()[
        "items"
    ]
    decided = next(e for e in events if e["type"] == "gateway.decided")
    assert decided["payload"]["taken"][0]["flow_id"] == "f_no"


def test_claim_rules(api: Api) -> None:
    api.deploy("three_tasks.bpmn")
    alice = api.user("clerk,clerk-office", "alice")
    bob = api.user("clerk,clerk-office", "bob")
    admin = api.admin
    task = _start(api, alice, key="three_tasks")["tasks"][0]

    claimed = api.client.post(f"/v1/tasks/{task['id']}/claim", headers=alice)
    assert claimed.status_code == 200 and claimed.json()["assignee"] == "alice"
    assert api.client.post(f"/v1/tasks/{task['id']}/claim", headers=alice).status_code == 200
    other = api.client.post(f"/v1/tasks/{task['id']}/claim", headers=bob)
    assert other.status_code == 409 and "alice" in other.json()["detail"]
    blocked = api.client.post(f"/v1/tasks/{task['id']}/complete", headers=bob, json={"data": {}})
    assert blocked.status_code == 409 and "alice" in blocked.json()["detail"]
    assert api.client.post(f"/v1/tasks/{task['id']}/unclaim", headers=bob).status_code == 403
    assert (
        api.client.get("/v1/tasks?assignee=alice", headers=alice).json()["items"][0]["id"]
        == task["id"]
    )
    released = api.client.post(f"/v1/tasks/{task['id']}/unclaim", headers=admin)
    assert released.status_code == 200 and released.json()["assignee"] is None
    assert api.client.post(f"/v1/tasks/{task['id']}/unclaim", headers=alice).status_code == 409
    done = api.client.post(f"/v1/tasks/{task['id']}/complete", headers=bob, json={"data": {}})
    assert done.status_code == 200
    events = api.client.get(f"/v1/instances/{task['instance_id']}/events", headers=admin).json()
    kinds = [(e["type"], e["actor"]) for e in events["items"] if e["type"].startswith("task.")]
    assert kinds[:4] == [
        ("task.ready", "system"),
        ("task.claimed", "alice"),
        ("task.unclaimed", "admin"),
        ("task.completed", "bob"),
    ]


def test_instances_list_filters_and_pagination(api: Api) -> None:
    api.deploy("three_tasks.bpmn")
    api.deploy("gateway.bpmn")
    clerk = api.user("clerk,clerk-office,employee")
    for i in range(3):
        _start(api, clerk, key="three_tasks", business_key=f"b{i}")
    _start(api, clerk, key="expense")
    page = api.client.get("/v1/instances?definition_key=three_tasks&limit=2", headers=clerk).json()
    assert len(page["items"]) == 2 and page["has_more"] is True
    rest = api.client.get(
        "/v1/instances?definition_key=three_tasks&limit=2&offset=2", headers=clerk
    ).json()
    assert len(rest["items"]) == 1 and rest["has_more"] is False
    by_key = api.client.get("/v1/instances?business_key=b1", headers=clerk).json()["items"]
    assert [i["business_key"] for i in by_key] == ["b1"]
    running = api.client.get("/v1/instances?status=running", headers=clerk).json()["items"]
    assert len(running) == 4
    one = api.client.get(f"/v1/instances/{by_key[0]['id']}", headers=clerk).json()
    assert one["tasks"][0]["name"] == "First step"


def test_cancel_closes_tasks_and_records_reason(api: Api) -> None:
    api.deploy("three_tasks.bpmn")
    starter = api.user("clerk,clerk-office", "starter")
    other = api.user("clerk,clerk-office", "other")
    instance = _start(api, starter, key="three_tasks")
    forbidden = api.client.post(f"/v1/instances/{instance['id']}/cancel", headers=other)
    assert forbidden.status_code == 403
    cancelled = api.client.post(
        f"/v1/instances/{instance['id']}/cancel",
        headers=starter,
        json={"reason": "withdrawn by applicant"},
    )
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["tasks"] == []
    task = api.client.get(f"/v1/tasks/{instance['tasks'][0]['id']}", headers=starter).json()
    assert task["state"] == "cancelled"
    again = api.client.post(f"/v1/instances/{instance['id']}/cancel", headers=starter)
    assert again.status_code == 409
    late = api.client.post(f"/v1/tasks/{task['id']}/complete", headers=starter, json={"data": {}})
    assert late.status_code == 409
    events = api.client.get(f"/v1/instances/{instance['id']}/events", headers=starter).json()[
        "items"
    ]
    assert events[-1]["type"] == "instance.cancelled"
    assert events[-1]["payload"] == {"reason": "withdrawn by applicant"}


def test_start_specific_version(api: Api, tmp_path) -> None:
    from conftest import DATA

    api.deploy("three_tasks.bpmn")
    v2 = tmp_path / "three.bpmn"
    v2.write_bytes((DATA / "three_tasks.bpmn").read_bytes().replace(b"First step", b"Step one"))
    api.deploy(v2)
    clerk = api.user("clerk,clerk-office")
    latest = _start(api, clerk, key="three_tasks")
    assert (latest["definition_version"], latest["tasks"][0]["name"]) == (2, "Step one")
    old = _start(api, clerk, key="three_tasks", version=1)
    assert (old["definition_version"], old["tasks"][0]["name"]) == (1, "First step")


def test_me_and_health(api: Api) -> None:
    clerk = api.user("clerk,finance-office", "zoe")
    assert api.client.get("/v1/me", headers=clerk).json() == {
        "name": "zoe",
        "roles": ["clerk", "finance-office"],
    }
    health = api.client.get("/health").json()
    assert health["status"] == "ok" and health["schema_revision"] == "0024"


def test_rotated_token_stops_working_at_once(api: Api) -> None:
    from powerflow.services import auth

    old = api.user("clerk", "rosa")
    assert api.client.get("/v1/me", headers=old).status_code == 200  # now cached
    new_token = auth.rotate_token(api.store, "rosa")
    assert api.client.get("/v1/me", headers=old).status_code == 401
    fresh = {"Authorization": f"Bearer {new_token}"}
    assert api.client.get("/v1/me", headers=fresh).json()["name"] == "rosa"


def test_supervisor_suspends_and_resumes_an_instance(api: Api) -> None:
    api.deploy("three_tasks.bpmn")
    clerk = api.user("clerk,clerk-office")
    monitor = api.user("monitor", "supervisor")
    instance = api.client.post(
        "/v1/instances", headers=clerk, json={"definition_key": "three_tasks"}
    ).json()
    task_id = instance["tasks"][0]["id"]
    assert (
        api.client.post(f"/v1/instances/{instance['id']}/suspend", headers=clerk).status_code == 403
    )
    suspended = api.client.post(
        f"/v1/instances/{instance['id']}/suspend",
        headers=monitor,
        json={"reason": "complaint under review"},
    )
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    blocked = api.client.post(f"/v1/tasks/{task_id}/complete", headers=clerk, json={"data": {}})
    assert blocked.status_code == 409 and "suspended" in blocked.json()["detail"]
    assert api.client.post(f"/v1/tasks/{task_id}/claim", headers=clerk).status_code == 409
    again = api.client.post(f"/v1/instances/{instance['id']}/suspend", headers=monitor)
    assert again.status_code == 409
    listed = api.client.get("/v1/instances?status=suspended", headers=clerk).json()["items"]
    assert [i["id"] for i in listed] == [instance["id"]]
    resumed = api.client.post(f"/v1/instances/{instance['id']}/resume", headers=monitor)
    assert resumed.status_code == 200 and resumed.json()["status"] == "running"
    done = api.client.post(f"/v1/tasks/{task_id}/complete", headers=clerk, json={"data": {}})
    assert done.status_code == 200
    events = api.client.get(f"/v1/instances/{instance['id']}/events", headers=clerk).json()["items"]
    kinds = [
        (e["type"], e["actor"], e["payload"])
        for e in events
        if "suspend" in e["type"] or "resume" in e["type"]
    ]
    assert kinds == [
        ("instance.suspended", "supervisor", {"reason": "complaint under review"}),
        ("instance.resumed", "supervisor", {"reason": None}),
    ]
