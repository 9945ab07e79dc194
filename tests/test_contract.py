"""The published contract in api/ matches the code."""

from __future__ import annotations

import json

from conftest import ROOT
from powerflow.app import create_app
from powerflow.settings import Settings


def test_openapi_file_is_in_sync_with_the_code() -> None:
    generated = create_app(Settings()).openapi()
    published = json.loads((ROOT / "api" / "openapi.json").read_text())
    assert published == json.loads(json.dumps(generated)), (
        "api/openapi.json is stale: run `powerflow openapi -o api/openapi.json`"
    )


def test_every_route_except_health_and_public_requires_a_bearer_token() -> None:
    """/health and the public side (/public/, docs/public.md) are open; the public routes are
    rate-limited instead and document 429 with Retry-After."""
    spec = create_app(Settings()).openapi()
    public = [p for p in spec["paths"] if p.startswith("/public/")]
    assert len(public) >= 6
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            if path == "/health":
                assert "security" not in op
                continue
            if path.startswith("/public/"):
                assert "security" not in op, f"{method.upper()} {path}"
                assert "Retry-After" in op["responses"]["429"]["headers"], path
                continue
            assert op.get("security") == [{"HTTPBearer": []}], f"{method.upper()} {path}"
            assert "401" in op["responses"], f"{method.upper()} {path} does not document 401"


def test_events_schema_file_is_in_sync_with_the_models() -> None:
    from powerflow.api.event_schema import events_json_schema

    published = json.loads((ROOT / "api" / "events.schema.json").read_text())
    assert published == json.loads(json.dumps(events_json_schema())), (
        "api/events.schema.json is stale: run `powerflow events-schema -o api/events.schema.json`"
    )
    assert set(published["x-payload-by-type"]) >= {"task.completed", "gateway.decided"}


def test_every_recorded_event_matches_the_published_schema(tmp_path) -> None:
    """Run a process through the API and validate each stored event against the schema."""
    import jsonschema
    from fastapi.testclient import TestClient

    from conftest import DATA, make_settings

    schema = json.loads((ROOT / "api" / "events.schema.json").read_text())
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'e.db'}"), run_workers=False)
    with TestClient(app) as client:
        from powerflow.services import auth

        store = app.state.store
        designer = {"Authorization": f"Bearer {auth.add_user(store, 'd', 'designer')}"}
        clerk = {"Authorization": f"Bearer {auth.add_user(store, 'c', 'clerk,employee,manager')}"}
        client.post(
            "/v1/definitions",
            headers=designer,
            files={"file": ("g.bpmn", (DATA / "gateway.bpmn").read_bytes())},
        )
        inst = client.post(
            "/v1/instances", headers=clerk, json={"definition_key": "expense"}
        ).json()
        task = inst["tasks"][0]["id"]
        client.post(f"/v1/tasks/{task}/claim", headers=clerk)
        client.post(f"/v1/tasks/{task}/unclaim", headers=clerk)
        nxt = client.post(
            f"/v1/tasks/{task}/complete", headers=clerk, json={"data": {"amount": 5000}}
        ).json()
        client.post(f"/v1/instances/{inst['id']}/cancel", headers=clerk, json={"reason": "test"})
        events = client.get(f"/v1/instances/{inst['id']}/events", headers=clerk).json()["items"]
    assert nxt["status"] == "running"
    assert {e["type"] for e in events} >= {
        "instance.started",
        "task.ready",
        "task.claimed",
        "task.unclaimed",
        "task.completed",
        "gateway.decided",
        "instance.cancelled",
    }
    defs = {"$defs": schema["$defs"]}
    for event in events:
        jsonschema.validate(event, {**defs, "$ref": "#/$defs/EventRead"})
        payload_ref = schema["x-payload-by-type"][event["type"]]
        jsonschema.validate(event["payload"], {**defs, **payload_ref})
