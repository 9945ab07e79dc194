"""The Merkle audit log over HTTP: checkpoints signed by the published key, inclusion and
consistency proofs that verify with the pure library, and clear refusals."""

from __future__ import annotations

import base64

from sqlalchemy import select

from conftest import Api
from powerflow.audit_log import leaf_hash, note, verify_consistency, verify_inclusion
from powerflow.audit_log.checkpoint import parse_body
from powerflow.db.models import Event
from powerflow.services.audit.leaves import leaf_bytes


def run_expense(api: Api, employee: dict[str, str], manager: dict[str, str]) -> str:
    """One instance of gateway.bpmn to its end (5 or so events)."""
    instance = api.client.post(
        "/v1/instances", headers=employee, json={"definition_key": "expense"}
    ).json()
    first = api.client.post(
        f"/v1/tasks/{instance['tasks'][0]['id']}/complete",
        headers=employee,
        json={"data": {"amount": 5000, "note": "café ✓"}},
    ).json()
    done = api.client.post(
        f"/v1/tasks/{first['tasks'][0]['id']}/complete",
        headers=manager,
        json={"data": {"approved": True, "ratio": 0.1}},
    )
    assert done.status_code == 200, done.text
    return str(instance["id"])


def _b(text: str) -> bytes:
    return base64.b64decode(text)


def test_checkpoints_and_proofs_verify_with_the_public_key(api: Api) -> None:
    api.deploy("gateway.bpmn")
    employee, manager = api.user("clerk,employee"), api.user("clerk,manager")
    auditor = api.user("auditor")
    run_expense(api, employee, manager)

    key = api.client.get("/v1/audit/key", headers=auditor).json()
    assert api.client.get("/public/audit/key").json() == key
    verifier = note.parse_verifier(key["verifier_key"])
    assert key["key_id"] == f"{verifier.id:08x}" and key["origin"] == verifier.name

    assert api.client.get("/v1/audit/checkpoints/latest", headers=auditor).status_code == 404
    made = api.client.post("/v1/audit/checkpoints", headers=api.admin)
    assert made.status_code == 200, made.text
    first = made.json()
    signed = note.parse(first["note"])
    assert signed.signed_by(verifier)
    body = parse_body(signed.text)
    with api.store.engine.connect() as conn:
        events = list(conn.execute(select(Event.__table__).order_by(Event.id)).mappings())
    assert body.size == first["tree_size"] == len(events) > 0
    assert body.root == _b(first["root"]) and body.origin == key["origin"]
    assert body.extensions[0].startswith("time ")
    # unchanged log: the same checkpoint comes back
    again = api.client.post("/v1/audit/checkpoints", headers=api.admin).json()
    assert again == first

    run_expense(api, employee, manager)
    newest = api.client.post("/v1/audit/checkpoints", headers=api.admin).json()
    assert newest["tree_size"] > first["tree_size"]
    assert api.client.get("/v1/audit/checkpoints/latest", headers=auditor).json() == newest
    assert api.client.get("/public/audit/checkpoints/latest").json() == newest
    listed = api.client.get("/v1/audit/checkpoints?limit=1", headers=auditor).json()
    assert listed["items"] == [newest] and listed["next_before"] == newest["tree_size"]
    rest = api.client.get(
        f"/v1/audit/checkpoints?before={newest['tree_size']}", headers=auditor
    ).json()
    assert rest == {"items": [first], "next_before": None}

    with api.store.engine.connect() as conn:
        events = list(conn.execute(select(Event.__table__).order_by(Event.id)).mappings())
    root = _b(newest["root"])
    for index, ev in enumerate(events):  # SQLite and one writer: leaf order is id order
        proof = api.client.get(
            f"/v1/audit/proofs/inclusion?event_id={ev['id']}", headers=auditor
        ).json()
        assert proof["leaf_index"] == index and proof["tree_size"] == newest["tree_size"]
        assert _b(proof["leaf_hash"]) == leaf_hash(leaf_bytes(ev))
        hashes = [_b(h) for h in proof["hashes"]]
        assert verify_inclusion(leaf_hash(leaf_bytes(ev)), index, len(events), hashes, root)
        # the same event in the first checkpoint's tree
        if index < first["tree_size"]:
            old = api.client.get(
                f"/v1/audit/proofs/inclusion?event_id={ev['id']}&tree_size={first['tree_size']}",
                headers=auditor,
            ).json()
            assert old["root"] == first["root"]
            assert verify_inclusion(
                _b(old["leaf_hash"]),
                index,
                first["tree_size"],
                [_b(h) for h in old["hashes"]],
                _b(first["root"]),
            )
    consistency = api.client.get(
        f"/v1/audit/proofs/consistency?from={first['tree_size']}&to={newest['tree_size']}",
        headers=auditor,
    ).json()
    assert consistency["from"] == first["tree_size"]
    assert consistency["from_root"] == first["root"] and consistency["to_root"] == newest["root"]
    assert verify_consistency(
        first["tree_size"],
        newest["tree_size"],
        _b(first["root"]),
        root,
        [_b(h) for h in consistency["hashes"]],
    )


def test_refusals_say_what_to_do(api: Api) -> None:
    api.deploy("gateway.bpmn")
    employee, manager = api.user("clerk,employee"), api.user("clerk,manager")
    auditor, clerk = api.user("auditor"), api.user("clerk")
    run_expense(api, employee, manager)
    cp = api.client.post("/v1/audit/checkpoints", headers=api.admin).json()
    size = cp["tree_size"]

    # a step after the checkpoint: its events are not sequenced (no worker in this app)
    run_expense(api, employee, manager)
    with api.store.engine.connect() as conn:
        last = conn.execute(select(Event.id).order_by(Event.id.desc()).limit(1)).scalar_one()
    pending = api.client.get(f"/v1/audit/proofs/inclusion?event_id={last}", headers=auditor)
    assert pending.status_code == 409
    assert "retry in a moment" in pending.json()["detail"]

    too_big = api.client.get(
        f"/v1/audit/proofs/inclusion?event_id=1&tree_size={size + 1}", headers=auditor
    )
    assert too_big.status_code == 422
    assert f"holds {size} events" in too_big.json()["detail"]
    missing = api.client.get("/v1/audit/proofs/inclusion?event_id=999999", headers=auditor)
    assert missing.status_code == 404 and "No event 999999" in missing.json()["detail"]
    backwards = api.client.get("/v1/audit/proofs/consistency?from=3&to=2", headers=auditor)
    assert backwards.status_code == 422 and "larger than to=2" in backwards.json()["detail"]
    beyond = api.client.get(f"/v1/audit/proofs/consistency?from=1&to={size + 50}", headers=auditor)
    assert beyond.status_code == 422

    api.client.post("/v1/audit/checkpoints", headers=api.admin)
    later = api.client.get(
        f"/v1/audit/proofs/inclusion?event_id={last}&tree_size={size}", headers=auditor
    )
    assert later.status_code == 409 and "ask for a tree size above" in later.json()["detail"]

    for path in ("/v1/audit/checkpoints/latest", "/v1/audit/proofs/inclusion?event_id=1"):
        refused = api.client.get(path, headers=clerk)
        assert refused.status_code == 403 and "auditor, monitor or admin" in refused.text
    assert api.client.post("/v1/audit/checkpoints", headers=auditor).status_code == 403
    assert api.client.get("/v1/audit/checkpoints/latest").status_code == 401
