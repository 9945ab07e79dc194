"""Helpers for tests that drive an instance step by step over HTTP."""

from __future__ import annotations

from typing import Any

from conftest import Api


def start(api: Api, headers: dict[str, str], key: str, **variables: Any) -> dict[str, Any]:
    """Start an instance of ``key``; return it."""
    response = api.client.post(
        "/v1/instances", headers=headers, json={"definition_key": key, "variables": variables}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def ready(instance: dict[str, Any]) -> list[str]:
    """The element ids of the instance's ready tasks, sorted."""
    return sorted(t["element_id"] for t in instance["tasks"])


def task(instance: dict[str, Any], element_id: str) -> dict[str, Any]:
    """The ready task of the instance at ``element_id``."""
    (found,) = [t for t in instance["tasks"] if t["element_id"] == element_id]
    return found


def complete(
    api: Api, headers: dict[str, str], instance: dict[str, Any], element_id: str, **data: Any
) -> dict[str, Any]:
    """Complete the ready task at ``element_id`` with ``data``; return the instance after it."""
    task_id = task(instance, element_id)["id"]
    response = api.client.post(
        f"/v1/tasks/{task_id}/complete", headers=headers, json={"data": data}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def deliver(
    api: Api, headers: dict[str, str], instance: dict[str, Any], name: str, **payload: Any
) -> dict[str, Any]:
    """Deliver message ``name``; return the instance after it."""
    response = api.client.post(
        f"/v1/instances/{instance['id']}/messages",
        headers=headers,
        json={"name": name, "payload": payload},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def read(api: Api, instance: dict[str, Any]) -> dict[str, Any]:
    """The instance as it is now (read by an administrator)."""
    response = api.client.get(f"/v1/instances/{instance['id']}", headers=api.admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def events(api: Api, instance: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(type, element id) of every recorded event of the instance, in order."""
    response = api.client.get(
        f"/v1/instances/{instance['id']}/events", headers=api.admin, params={"limit": 500}
    )
    assert response.status_code == 200, response.text
    return [(e["type"], e["element_id"]) for e in response.json()["items"]]
