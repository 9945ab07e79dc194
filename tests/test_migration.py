"""Migrating running instances to another version of their definition over HTTP: the dry run,
the refusal when tasks cannot be aligned, the migration itself (version, events, inbox), and the
repair of a parked instance by migrating to a fixed version and retrying."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import DATA, Api
from flows import complete, read, ready, start


def _migrate(api: Api, instance: dict[str, Any], status: int = 200, **body: Any) -> dict[str, Any]:
    got = api.client.post(f"/v1/instances/{instance['id']}/migrate", headers=api.admin, json=body)
    assert got.status_code == status, got.text
    answer: dict[str, Any] = got.json()
    return answer


@pytest.fixture
def versions(api: Api) -> dict[str, str]:
    """fragile v1 (tests/data/fragile.bpmn) and v2 (an extra task, a division that cannot
    fail, a renamed check); a clerk."""
    for path in (DATA / "fragile.bpmn", DATA / "fragile_v2.bpmn"):
        assert api.deploy(Path(path)).status_code == 201
    return api.user("clerk", "clara")


def test_dry_run_says_what_would_change_and_changes_nothing(
    api: Api, versions: dict[str, str]
) -> None:
    got = api.client.post(
        "/v1/instances",
        headers=versions,
        json={"definition_key": "fragile", "version": 1, "variables": {"divisor": 2}},
    )
    assert got.status_code == 201, got.text
    instance = got.json()
    plan = _migrate(api, instance, to_version=2, dry_run=True)
    assert plan["dry_run"] is True and plan["possible"] is True and plan["reasons"] == []
    assert (plan["from_version"], plan["to_version"]) == (1, 2)
    assert plan["added"] == ["attach"] and plan["removed"] == []
    assert plan["changed"]["first"] == ["outputs"] and "divide" in plan["changed"]
    assert plan["reset"] == ["first"] and plan["instance"] is None
    after = read(api, instance)
    assert after["definition_version"] == 1 and after["version"] == instance["version"]


def test_migration_moves_the_instance_and_refreshes_the_inbox(
    api: Api, versions: dict[str, str], reload_every_step: None
) -> None:
    got = api.client.post(
        "/v1/instances",
        headers=versions,
        json={"definition_key": "fragile", "version": 1, "variables": {"divisor": 0}},
    )
    instance = got.json()
    instance = complete(api, versions, instance, "first")
    assert instance["status"] == "failed"  # v1 divides by zero
    # The same migration without a reason is refused; nothing changes.
    refused = _migrate(api, instance, 422, to_version=2)
    assert "reason" in refused["detail"]
    done = _migrate(api, instance, to_version=2, reason="v2 divides safely")
    moved = done["instance"]
    assert done["possible"] is True and moved["definition_version"] == 2
    assert moved["status"] == "failed"  # still parked: the failed task is now v2's 'divide'
    retried = api.client.post(
        f"/v1/instances/{instance['id']}/retry", headers=api.admin, json={"reason": "on v2"}
    )
    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert body["status"] == "running" and body["data"]["ratio"] == 0
    [check] = body["tasks"]
    assert check["element_id"] == "check" and check["name"] == "Check the ratio again"
    rows = api.client.get(
        f"/v1/instances/{instance['id']}/events", headers=api.admin, params={"limit": 500}
    ).json()["items"]
    [migrated] = [e for e in rows if e["type"] == "instance.migrated"]
    assert migrated["actor"] == "admin" and migrated["definition_version"] == 2
    payload = migrated["payload"]
    assert (payload["from_version"], payload["to_version"]) == (1, 2)
    assert payload["reason"] == "v2 divides safely" and payload["added"] == ["attach"]
    assert complete(api, versions, body, "check")["status"] == "completed"


def test_a_waiting_task_is_relabelled_and_runs_the_new_flow(
    api: Api, versions: dict[str, str]
) -> None:
    got = api.client.post(
        "/v1/instances",
        headers=versions,
        json={"definition_key": "fragile", "version": 1, "variables": {"divisor": 5}},
    )
    instance = got.json()
    [first] = instance["tasks"]
    done = _migrate(api, instance, to_version=2, reason="new receipts step")
    moved = done["instance"]
    assert moved["status"] == "running" and ready(moved) == ["first"]
    assert moved["tasks"][0]["id"] == first["id"]  # the same task, still in the inbox
    inbox = api.client.get("/v1/tasks", headers=versions).json()["items"]
    assert [t["id"] for t in inbox if t["instance_id"] == instance["id"]] == [first["id"]]
    after = complete(api, versions, moved, "first")
    assert ready(after) == ["attach"]  # v2's new element follows


def test_migration_that_cannot_align_is_refused_with_the_plan(
    api: Api, versions: dict[str, str]
) -> None:
    instance = start(api, versions, "fragile", divisor=5)  # latest: v2
    instance = complete(api, versions, instance, "first")
    assert ready(instance) == ["attach"]
    plan = _migrate(api, instance, to_version=1, dry_run=True)
    assert plan["possible"] is False and plan["removed"] == ["attach"]
    assert "'attach' (ready in this instance) does not exist" in plan["reasons"][0]
    refused = _migrate(api, instance, 409, to_version=1, reason="back to v1")
    assert "cannot be migrated to version 1" in refused["detail"]
    assert refused["plan"]["removed"] == ["attach"]
    after = read(api, instance)
    assert after["definition_version"] == 2 and after["version"] == instance["version"]


def test_migration_refusals(api: Api, versions: dict[str, str]) -> None:
    got = api.client.post(
        "/v1/instances",
        headers=versions,
        json={"definition_key": "fragile", "version": 1, "variables": {"divisor": 5}},
    )
    instance = got.json()
    url = f"/v1/instances/{instance['id']}/migrate"
    body = {"to_version": 2, "reason": "x"}
    assert api.client.post(url, headers=api.user("monitor"), json=body).status_code == 403
    assert api.client.post(url, headers=api.user("designer"), json=body).status_code == 404
    assert api.client.post(url, headers=api.admin, json={"to_version": 0}).status_code == 422
    suspended = api.client.post(
        f"/v1/instances/{instance['id']}/suspend", headers=api.admin, json={}
    )
    assert suspended.status_code == 200
    refused = api.client.post(url, headers=api.admin, json=body)
    assert refused.status_code == 409 and "suspended" in refused.json()["detail"]
    cancelled = api.client.post(f"/v1/instances/{instance['id']}/cancel", headers=api.admin)
    assert cancelled.status_code == 200
    assert api.client.post(url, headers=api.admin, json=body).status_code == 409
