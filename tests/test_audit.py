"""The audit trail: hash-chained events that verify, and every kind of tampering found."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

from sqlalchemy import text

from conftest import Api


def _run_expense(api: Api) -> str:
    api.deploy("gateway.bpmn")
    employee = api.user("clerk,employee")
    manager = api.user("clerk,manager")
    instance = api.client.post(
        "/v1/instances", headers=employee, json={"definition_key": "expense"}
    ).json()
    first = api.client.post(
        f"/v1/tasks/{instance['tasks'][0]['id']}/complete",
        headers=employee,
        json={"data": {"amount": 5000, "note": "café ✓"}},
    ).json()
    api.client.post(
        f"/v1/tasks/{first['tasks'][0]['id']}/complete",
        headers=manager,
        json={"data": {"approved": True, "ratio": 0.1}},
    )
    return str(instance["id"])


def _audit(api: Api, instance_id: str) -> dict:
    auditor = api.user("auditor")
    response = api.client.get(f"/v1/instances/{instance_id}/audit", headers=auditor)
    assert response.status_code == 200, response.text
    return response.json()


def _cli_verify(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "powerflow", "audit", "verify", "--database-url", url],
        capture_output=True,
        text=True,
        check=False,
    )


def test_untouched_trail_verifies_and_exports(api: Api) -> None:
    instance_id = _run_expense(api)
    trail = _audit(api, instance_id)
    assert trail["broken"] is None and trail["verified"] is True
    assert [e["seq"] for e in trail["events"]] == list(range(1, len(trail["events"]) + 1))
    assert trail["events"][-1]["type"] == "instance.completed"

    exported = api.client.get(f"/v1/instances/{instance_id}/audit.csv", headers=api.admin)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.headers["x-audit-verified"] == "true"
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["hash"] for r in rows] == [e["hash"] for e in trail["events"]]
    assert "café ✓" in rows[2]["payload"]

    clerk = api.user("clerk")  # not involved in the instance: it does not exist for them
    assert api.client.get(f"/v1/instances/{instance_id}/audit", headers=clerk).status_code == 404
    assert api.client.get("/v1/instances/nope/audit", headers=api.admin).status_code == 404


def test_changed_event_is_detected_by_api_and_cli(api: Api) -> None:
    instance_id = _run_expense(api)
    assert _cli_verify(api.store.url.render_as_string(hide_password=False)).returncode == 0
    with api.store.engine.begin() as conn:
        conn.execute(
            text("UPDATE events SET actor = 'somebody-else' WHERE instance_id = :i AND seq = 3"),
            {"i": instance_id},
        )
    trail = _audit(api, instance_id)
    assert trail["verified"] is False
    assert trail["broken"]["seq"] == 3
    assert "changed" in trail["broken"]["reason"]
    result = _cli_verify(api.store.url.render_as_string(hide_password=False))
    assert result.returncode == 1
    assert f"instance {instance_id}, event #3" in result.stderr


def test_deleted_and_reordered_events_are_detected(api: Api) -> None:
    instance_id = _run_expense(api)
    count = len(_audit(api, instance_id)["events"])
    with api.store.engine.begin() as conn:
        conn.execute(
            text("DELETE FROM events WHERE instance_id = :i AND seq = :s"),
            {"i": instance_id, "s": count},
        )
    trail = _audit(api, instance_id)
    assert trail["verified"] is False and "recorded" in trail["broken"]["reason"]

    other = _run_expense(api)
    with api.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE instance_id = :i AND seq = 2"), {"i": other})
    trail = _audit(api, other)
    assert trail["verified"] is False and trail["broken"]["seq"] == 3
