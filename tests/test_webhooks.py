"""Webhooks: signed per Standard Webhooks, driven from the event table, retried, paused."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from conftest import Api, make_settings
from powerflow.app import create_app
from powerflow.services import auth, webhooks


class Receiver:
    """A real HTTP server on 127.0.0.1 that records deliveries, or refuses them while down."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.up = True
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if not receiver.up:
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[dict]:
        return [json.loads(body) for _, body in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def live_api(db_url: str) -> Iterator[Api]:
    """The application with its background workers (timers, webhooks) running, allowed to
    deliver to the test receiver on 127.0.0.1 (webhooks refuse loopback by default)."""
    app = create_app(make_settings(db_url, webhook_allowed_hosts=["127.0.0.1"]), run_workers=True)
    with TestClient(app) as client:
        yield Api(client)


def _run_expense(api: Api, amount: int = 5000) -> str:
    employee = api.user("clerk,employee,manager")
    inst = api.client.post(
        "/v1/instances", headers=employee, json={"definition_key": "expense"}
    ).json()
    step = api.client.post(
        f"/v1/tasks/{inst['tasks'][0]['id']}/complete",
        headers=employee,
        json={"data": {"amount": amount}},
    ).json()
    if step["tasks"]:
        api.client.post(
            f"/v1/tasks/{step['tasks'][0]['id']}/complete",
            headers=employee,
            json={"data": {"approved": True}},
        )
    return str(inst["id"])


def _wait(predicate, seconds: float = 20) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_deliveries_are_signed_ordered_and_logged(live_api: Api, receiver: Receiver) -> None:
    api = live_api
    api.deploy("gateway.bpmn")
    monitor = api.user("monitor")
    created = api.client.post(
        "/v1/webhooks", headers=monitor, json={"url": receiver.url, "definition_key": "expense"}
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    assert hook["secret"].startswith("whsec_")
    assert api.client.get("/v1/webhooks", headers=monitor).json()[0]["secret"] is None
    instance_id = _run_expense(api)
    expected = api.client.get(f"/v1/instances/{instance_id}/events", headers=monitor).json()[
        "items"
    ]
    _wait(lambda: len(receiver.received) >= len(expected))
    assert receiver.events() == expected  # the same JSON as the API, in order
    signer = Webhook(hook["secret"])
    for headers, body in receiver.received:
        verified = signer.verify(body, headers)  # raises if the signature does not verify
        assert verified["id"] == int(headers["webhook-id"].removeprefix("evt_"))

    # the worker logs a delivery once the receiver has answered: the last may be a moment behind
    def deliveries() -> list[dict[str, Any]]:
        got = api.client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=monitor)
        return list(got.json())

    _wait(lambda: len(deliveries()) >= len(expected))
    log = deliveries()
    assert {d["status"] for d in log} == {"delivered"} and len(log) == len(expected)
    clerk = api.user("clerk")
    assert api.client.get("/v1/webhooks", headers=clerk).status_code == 403
    bad = api.client.post("/v1/webhooks", headers=monitor, json={"url": "file:///etc/passwd"})
    assert bad.status_code == 422
    assert api.client.delete(f"/v1/webhooks/{hook['id']}", headers=monitor).status_code == 204
    assert (
        api.client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=monitor).status_code == 404
    )


def test_a_subscription_stops_when_its_owner_may_no_longer_read_every_case(
    live_api: Api, receiver: Receiver
) -> None:
    """The feed of every case goes out on its owner's authority: once the monitor who created
    the subscription is moved to another post, nothing more is sent, and it is paused with the
    reason until someone entitled resumes it on their own authority."""
    api = live_api
    api.deploy("gateway.bpmn")
    api.user("monitor", "watcher")
    watcher = {"Authorization": f"Bearer {auth.rotate_token(api.store, 'watcher')}"}
    hook = api.client.post("/v1/webhooks", headers=watcher, json={"url": receiver.url}).json()
    first = _run_expense(api)
    events = api.client.get(f"/v1/instances/{first}/events", headers=api.admin).json()["items"]
    _wait(lambda: len(receiver.received) >= len(events))  # the first case went out whole
    demoted = api.client.patch("/v1/users/watcher", headers=api.admin, json={"roles": ["clerk"]})
    assert demoted.status_code == 200, demoted.text

    def state() -> dict:
        return next(h for h in api.client.get("/v1/webhooks", headers=api.admin).json())

    seen = len(receiver.received)
    _run_expense(api, amount=10)
    _wait(lambda: state()["status"] == "paused")
    assert "watcher" in state()["paused_reason"] and "monitor" in state()["paused_reason"]
    time.sleep(1)
    assert len(receiver.received) == seen  # not one event of the later case went out

    resumed = api.client.patch(
        f"/v1/webhooks/{hook['id']}", headers=api.admin, json={"active": True}
    )
    assert resumed.status_code == 200, resumed.text
    _wait(lambda: len(receiver.received) > seen)
    assert state()["status"] == "active"


def test_receiver_down_then_back_gets_every_event_in_order(
    live_api: Api, receiver: Receiver
) -> None:
    api = live_api
    api.deploy("gateway.bpmn")
    monitor = api.user("monitor")
    hook = api.client.post("/v1/webhooks", headers=monitor, json={"url": receiver.url}).json()
    receiver.up = False
    first, second = _run_expense(api), _run_expense(api, amount=10)
    _wait(lambda: api.client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=monitor).json())
    assert receiver.received == []
    state = next(h for h in api.client.get("/v1/webhooks", headers=monitor).json())
    assert state["failures"] >= 1 and state["status"] == "active"
    receiver.up = True
    all_events = api.client.get("/v1/events?limit=1000", headers=monitor).json()["items"]
    _wait(lambda: len(receiver.received) >= len(all_events), seconds=30)
    got = receiver.events()
    assert [e["id"] for e in got] == [e["id"] for e in all_events]
    for instance_id in (first, second):
        seqs = [e["seq"] for e in got if e["instance_id"] == instance_id]
        assert seqs == list(range(1, len(seqs) + 1))
    log = api.client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=monitor).json()
    retried = [d for d in log if d["attempts"] > 1]
    assert retried and all(d["status"] == "delivered" for d in log)


def test_subscription_that_keeps_failing_is_paused_with_a_reason(
    live_api: Api, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhooks, "MAX_FAILURES", 2)  # a deployment setting, lowered for speed
    api = live_api
    api.deploy("gateway.bpmn")
    monitor = api.user("monitor")
    hook = api.client.post("/v1/webhooks", headers=monitor, json={"url": receiver.url}).json()
    receiver.up = False
    _run_expense(api)

    def paused() -> bool:
        return api.client.get("/v1/webhooks", headers=monitor).json()[0]["status"] == "paused"

    _wait(paused, seconds=15)
    state = api.client.get("/v1/webhooks", headers=monitor).json()[0]
    assert "2 failed attempts" in state["paused_reason"] and "503" in state["paused_reason"]
    receiver.up = True
    resumed = api.client.patch(f"/v1/webhooks/{hook['id']}", headers=monitor, json={"active": True})
    assert resumed.json()["status"] == "active" and resumed.json()["failures"] == 0
    _wait(lambda: len(receiver.received) > 0)


@pytest.mark.e2e
def test_events_committed_before_a_sigkill_are_delivered_after_restart(
    db_url: str, receiver: Receiver
) -> None:
    import httpx

    from conftest import DATA, start_server, stop_server

    allow = {"POWERFLOW_DEPLOY_EXAMPLES": "false", "POWERFLOW_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}
    server = start_server(db_url, **allow)
    try:
        designer, monitor = server.user("designer"), server.user("monitor")
        clerk = server.user("clerk,clerk-office")
        with httpx.Client(base_url=server.url, timeout=30) as c:
            c.post(
                "/v1/definitions",
                headers=designer,
                files={"file": ("t.bpmn", (DATA / "three_tasks.bpmn").read_bytes())},
            )
            receiver.up = False
            assert (
                c.post("/v1/webhooks", headers=monitor, json={"url": receiver.url}).status_code
                == 201
            )
            for _ in range(3):
                inst = c.post(
                    "/v1/instances", headers=clerk, json={"definition_key": "three_tasks"}
                ).json()
                for _ in range(3):
                    inst = c.post(
                        f"/v1/tasks/{inst['tasks'][0]['id']}/complete",
                        headers=clerk,
                        json={"data": {}},
                    ).json()
            committed = c.get("/v1/events?limit=1000", headers=monitor).json()["items"]
        server.proc.kill()  # SIGKILL: no shutdown, nothing flushed beyond what was committed
        server.proc.wait()
    finally:
        stop_server(server)
    assert receiver.received == []
    receiver.up = True
    restarted = start_server(db_url, **allow)
    try:
        _wait(lambda: len(receiver.received) >= len(committed), seconds=30)
    finally:
        stop_server(restarted)
    assert [e["id"] for e in receiver.events()][: len(committed)] == [e["id"] for e in committed]
