"""Messages and signals between instances, over HTTP (issue 9 §1): correlation, start events,
thrown messages in the same transaction, kept and expired messages, signals, collaborations."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import DATA, Api, Server
from powerflow.clock import ManualClock
from powerflow.services import messages

MSG = DATA / "messaging"
CORPUS = DATA / "corpus"


def opened(path: Path) -> bytes:
    """A corpus model with ``pf:acceptsData fields="*"`` on every executable process, so that
    the data its upstream test sets on tasks can be submitted (otherwise unchanged)."""
    xml = path.read_text()
    if 'xmlns:pf="urn:powerflow:bpmn:1.0"' not in xml:
        xml = xml.replace(
            "<bpmn:definitions ", '<bpmn:definitions xmlns:pf="urn:powerflow:bpmn:1.0" ', 1
        )
    xml = re.sub(
        r"(<bpmn:process [^>]*isExecutable=\"true\"[^>]*>)",
        r'\1<bpmn:extensionElements><pf:acceptsData fields="*"/></bpmn:extensionElements>',
        xml,
    )
    return xml.encode()


def deploy_open(api: Api, path: Path) -> None:
    """Deploy ``opened(path)``."""
    designer = api.user("designer")
    response = api.client.post(
        "/v1/definitions", headers=designer, files={"file": (path.name, opened(path))}
    )
    assert response.status_code == 201, response.text


def start(api: Api, who: dict[str, str], key: str, **variables: Any) -> dict[str, Any]:
    response = api.client.post(
        "/v1/instances", headers=who, json={"definition_key": key, "variables": variables}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def get(api: Api, who: dict[str, str], instance_id: str) -> dict[str, Any]:
    response = api.client.get(f"/v1/instances/{instance_id}", headers=who)
    assert response.status_code == 200, response.text
    return dict(response.json())


def ready(instance: dict[str, Any]) -> list[str]:
    return sorted(t["element_id"] for t in instance["tasks"])


def complete(
    api: Api, who: dict[str, str], instance: dict[str, Any], element: str, **data: Any
) -> dict[str, Any]:
    task = next(t for t in instance["tasks"] if t["element_id"] == element)
    response = api.client.post(f"/v1/tasks/{task['id']}/complete", headers=who, json={"data": data})
    assert response.status_code == 200, response.text
    return dict(response.json())


def send(api: Api, who: dict[str, str], name: str, **body: Any) -> Any:
    return api.client.post("/v1/messages", headers=who, json={"name": name, **body})


def events(api: Api, who: dict[str, str], instance_id: str) -> list[dict[str, Any]]:
    response = api.client.get(f"/v1/instances/{instance_id}/events", headers=who)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def types(api: Api, who: dict[str, str], instance_id: str) -> list[str]:
    return [e["type"] for e in events(api, who, instance_id)]


# --- Correlation ---------------------------------------------------------------------------


def test_message_reaches_only_the_instance_whose_correlation_matches(api: Api) -> None:
    api.deploy(MSG / "orders.bpmn")
    clerk = api.user("clerk")
    orders = {n: start(api, clerk, "order", order_id=n) for n in (101, 102, 103)}
    assert all(o["waiting_messages"] == ["order_paid"] for o in orders.values())

    # By correlation value given explicitly (the property's id names it)...
    sent = send(
        api, clerk, "order_paid", correlation={"order_id": 102}, payload={"amount": 5, "x": 1}
    )
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["status"] == "delivered"
    assert body["delivered_to"] == [orders[102]["id"]]
    assert ready(get(api, clerk, orders[102]["id"])) == ["ship"]
    assert ready(get(api, clerk, orders[101]["id"])) == []
    # the payload (and the correlation value) arrive in the instance's data
    data = get(api, clerk, orders[102]["id"])["data"]
    assert data["amount"] == 5
    assert "x" not in data  # not in the process's pf:acceptsData: recorded on the event only
    # one event per delivery, naming the catch that took it (docs/events.md)
    received = [e for e in events(api, clerk, orders[102]["id"]) if e["type"] == "message.received"]
    assert [e["element_id"] for e in received] == ["paid"]
    assert received[0]["payload"]["name"] == "order_paid"
    assert received[0]["payload"]["payload"] == {"amount": 5, "x": 1}
    assert received[0]["payload"]["correlation"] == {"order_id": 102}

    # ... or read from the payload with the retrieval expression.
    sent = send(api, clerk, "order_paid", payload={"order_id": 103})
    assert sent.json()["delivered_to"] == [orders[103]["id"]]
    assert ready(get(api, clerk, orders[101]["id"])) == []

    # A second message for 102 finds no catch any more: it is kept, not given to 101 (E12).
    again = send(api, clerk, "order_paid", payload={"order_id": 102})
    assert again.json()["status"] == "kept"
    assert ready(get(api, clerk, orders[101]["id"])) == []


def test_kept_message_is_delivered_when_a_catch_appears_then_log_lists_it(api: Api) -> None:
    api.deploy(MSG / "orders.bpmn")
    clerk = api.user("clerk")
    kept = send(api, clerk, "order_paid", payload={"order_id": 7, "amount": 12})
    assert kept.status_code == 200
    body = kept.json()
    assert body["status"] == "kept" and body["delivered_to"] == [] and body["expires_at"]

    other = start(api, clerk, "order", order_id=8)  # a different order: not for it
    assert other["waiting_messages"] == ["order_paid"]
    late = start(api, clerk, "order", order_id=7)  # the catch appears: delivered at once
    assert ready(late) == ["ship"]
    assert late["data"]["amount"] == 12
    assert "message.received" in types(api, clerk, late["id"])

    monitor = api.user("monitor")
    log = api.client.get("/v1/messages", headers=monitor).json()["items"]
    entry = next(m for m in log if m["id"] == body["id"])
    assert entry["status"] == "delivered" and entry["delivered_to"] == [late["id"]]
    assert api.client.get("/v1/messages", headers=clerk).status_code == 403


def test_kept_message_expires_and_the_log_says_so(api: Api) -> None:
    api.deploy(MSG / "orders.bpmn")
    api.store.clock = ManualClock(datetime(2026, 12, 7, 8, tzinfo=UTC))
    clerk = api.user("clerk")
    body = send(api, clerk, "order_paid", payload={"order_id": 9}).json()
    assert body["status"] == "kept"
    assert messages.expire_messages(api.store) == 0  # not yet
    api.store.clock.advance(timedelta(seconds=3601))
    assert messages.expire_messages(api.store) == 1
    assert messages.expire_messages(api.store) == 0  # claimed once
    monitor = api.user("monitor")
    expired = api.client.get("/v1/messages?status=expired", headers=monitor).json()["items"]
    assert [m["id"] for m in expired] == [body["id"]]
    # an expired message no longer reaches a catch that appears later
    late = start(api, clerk, "order", order_id=9)
    assert late["waiting_messages"] == ["order_paid"]


def test_unmatched_message_is_refused_when_keeping_is_off(api: Api) -> None:
    api.deploy(MSG / "orders.bpmn")
    api.store.message_ttl_seconds = 0
    clerk = api.user("clerk")
    refused = send(api, clerk, "order_paid", payload={"order_id": 1})
    assert refused.status_code == 404
    assert "not kept" in refused.json()["detail"]
    monitor = api.user("monitor")
    assert api.client.get("/v1/messages", headers=monitor).json()["items"] == []


def test_a_thrown_message_nothing_takes_is_refused_with_the_step_when_keeping_is_off(
    api: Api,
) -> None:
    deploy_open(api, CORPUS / "collaboration.bpmn")
    api.store.message_ttl_seconds = 0
    clerk = api.user("clerk")
    refused = api.client.post(
        "/v1/instances",
        headers=clerk,
        json={"definition_key": "process_buddy", "variables": {"lover_name": "Peggy"}},
    )
    assert refused.status_code == 409
    assert "Love Letter" in refused.json()["detail"]
    listed = api.client.get("/v1/instances?definition_key=process_buddy", headers=api.admin)
    assert listed.json()["items"] == []


def test_only_the_latest_version_starts_by_message(api: Api) -> None:
    api.deploy(CORPUS / "multiple-start.bpmn")
    xml = (CORPUS / "multiple-start.bpmn").read_text()
    plain = re.sub(r"<bpmn:messageEventDefinition [^>]*/>", "", xml)
    designer = api.user("designer")
    v2 = api.client.post(
        "/v1/definitions", headers=designer, files={"file": ("v2.bpmn", plain.encode())}
    )
    assert v2.status_code == 201, v2.text
    clerk = api.user("clerk")
    assert send(api, clerk, "message_1", payload={}).json()["status"] == "kept"


def test_a_suspended_instance_receives_nothing(api: Api) -> None:
    api.deploy(MSG / "orders.bpmn")
    clerk = api.user("clerk")
    order = start(api, clerk, "order", order_id=31)
    suspended = api.client.post(
        f"/v1/instances/{order['id']}/suspend", headers=api.user("monitor"), json={}
    )
    assert suspended.status_code == 200, suspended.text
    assert send(api, clerk, "order_paid", payload={"order_id": 31}).json()["status"] == "kept"
    assert get(api, clerk, order["id"])["status"] == "suspended"


def test_a_clerks_message_reaches_only_cases_the_clerk_may_see(api: Api) -> None:
    """Least privilege: a clerk's message does not advance another person's case (it is kept
    instead); an integration (worker) or an administrator reaches any instance, and the reply
    names only the instances the sender may see."""
    api.deploy(MSG / "orders.bpmn")
    alice, bob = api.user("clerk"), api.user("clerk")
    order = start(api, alice, "order", order_id=55)
    assert send(api, api.user("monitor"), "order_paid", payload={}).status_code == 403
    sent = send(api, bob, "order_paid", payload={"order_id": 55})
    assert sent.status_code == 200
    assert sent.json()["status"] == "kept"  # bob may not see alice's case: not delivered
    assert ready(get(api, alice, order["id"])) == []
    mine = send(api, alice, "order_paid", payload={"order_id": 55})
    assert mine.json()["status"] == "delivered" and mine.json()["delivered_to"] == [order["id"]]
    assert ready(get(api, alice, order["id"])) == ["ship"]
    other = start(api, alice, "order", order_id=56)
    system = send(api, api.user("worker"), "order_paid", payload={"order_id": 56})
    assert system.json()["status"] == "delivered"
    assert system.json()["delivered_to"] == []  # the worker may not see alice's case
    assert ready(get(api, alice, other["id"])) == ["ship"]
    bad = send(api, alice, "order_paid", payload={"_secret": 1})
    assert bad.status_code == 422


def test_a_kept_clerks_message_waits_for_a_case_the_clerk_may_see(api: Api) -> None:
    """A clerk's kept message is delivered later only to a case its sender may see."""
    api.deploy(MSG / "orders.bpmn")
    alice, bob = api.user("clerk"), api.user("clerk")
    assert send(api, bob, "order_paid", payload={"order_id": 77}).json()["status"] == "kept"
    theirs = start(api, alice, "order", order_id=77)  # alice's case: bob's message stays kept
    assert ready(get(api, alice, theirs["id"])) == []
    mine = start(api, bob, "order", order_id=77)  # bob's own case takes it at once
    assert ready(get(api, bob, mine["id"])) == ["ship"]


def test_business_key_narrows_delivery(api: Api) -> None:
    api.deploy(MSG / "relay.bpmn")
    api.deploy("message.bpmn")
    clerk = api.user("clerk")
    a = api.client.post(
        "/v1/instances", headers=clerk, json={"definition_key": "await_reply", "business_key": "A"}
    ).json()
    b = api.client.post(
        "/v1/instances", headers=clerk, json={"definition_key": "await_reply", "business_key": "B"}
    ).json()
    sent = send(api, clerk, "applicant_reply", business_key="B", payload={"answer": "yes"})
    assert sent.json()["delivered_to"] == [b["id"]]
    assert ready(get(api, clerk, a["id"])) == []
    # without correlation, one message reaches one instance (the one waiting longest) ...
    c = api.client.post(
        "/v1/instances", headers=clerk, json={"definition_key": "await_reply", "business_key": "C"}
    ).json()
    sent = send(api, clerk, "applicant_reply", payload={})
    assert sent.json()["delivered_to"] == [a["id"]]
    assert ready(get(api, clerk, c["id"])) == []
    # ... unless it asks for all of them
    d = start(api, clerk, "await_reply")
    sent = send(api, clerk, "applicant_reply", payload={}, all=True)
    assert sorted(sent.json()["delivered_to"]) == sorted([c["id"], d["id"]])


# --- Start events and thrown messages ------------------------------------------------------


def test_thrown_message_starts_an_instance_whose_reply_returns_in_the_same_step(api: Api) -> None:
    api.deploy(MSG / "relay.bpmn")
    clerk = api.user("clerk")
    asker = start(api, clerk, "requester")
    after = complete(api, clerk, asker, "prepare", question="tea?")
    # One request: the answerer was started, answered, and the answer came back.
    assert ready(after) == ["read"]
    assert after["data"]["answer_text"] == "yes to tea?"
    kinds = types(api, clerk, asker["id"])
    assert "message.thrown" in kinds and "message.received" in kinds
    started = api.client.get("/v1/instances?definition_key=answerer", headers=api.admin).json()[
        "items"
    ]
    assert len(started) == 1 and started[0]["status"] == "completed"
    thrown = next(e for e in events(api, clerk, asker["id"]) if e["type"] == "message.thrown")
    assert thrown["payload"]["outcome"] == "started"


def test_a_failing_chain_rolls_back_the_step_that_threw(api: Api) -> None:
    api.deploy(MSG / "echo.bpmn")
    api.store.message_chain_limit = 10
    clerk = api.user("clerk")
    looped = send(api, clerk, "echo", payload={})
    assert looped.status_code == 409
    assert "more than 10 times" in looped.json()["detail"]
    listed = api.client.get("/v1/instances?definition_key=echo", headers=api.admin).json()
    assert listed["items"] == []  # nothing of the chain was kept
    monitor = api.user("monitor")
    assert api.client.get("/v1/messages", headers=monitor).json()["items"] == []


def test_message_start_with_correlation_starts_once_per_value(api: Api) -> None:
    deploy_open(api, CORPUS / "correlation.bpmn")
    clerk = api.user("clerk")
    payload = {"num": 4, "name": "x"}
    first = send(api, clerk, "init_proc_2", payload=payload).json()
    assert first["status"] == "started" and len(first["started"]) == 1
    second = send(api, clerk, "init_proc_2", payload=payload).json()
    assert second["status"] == "kept"  # the instance for num 4 exists: no duplicate
    started = get(api, clerk, first["started"][0])
    assert started["business_key"] == "process_id=4"
    assert started["data"]["source_task"] == payload  # spiffworkflow:messageVariable


# --- Collaborations from the corpus --------------------------------------------------------


def test_corpus_correlation_two_pools_each_subprocess_gets_its_own_reply(api: Api) -> None:
    """CorrelationTest: two parallel subprocess instances each send to a new Process 2 and
    receive their own response (spiffworkflow:messagePayload, messageVariable)."""
    deploy_open(api, CORPUS / "correlation.bpmn")
    clerk = api.user("clerk")
    initiator = start(api, clerk, "proc_1")
    configure = sorted(initiator["tasks"], key=lambda t: t["id"])
    assert [t["element_id"] for t in configure] == ["configure", "configure"]
    for idx in range(2):
        current = get(api, clerk, initiator["id"])
        task = next(t for t in current["tasks"] if t["element_id"] == "configure")
        done = api.client.post(
            f"/v1/tasks/{task['id']}/complete",
            headers=clerk,
            json={"data": {"task_num": idx, "task_name": f"subprocess {idx}", "extra": "unused"}},
        )
        assert done.status_code == 200, done.text
    responders = api.client.get("/v1/instances?definition_key=proc_2", headers=api.admin).json()[
        "items"
    ]
    assert len(responders) == 2
    for responder in responders:
        assert ready(responder) == ["prepare_response"]
        num = get(api, clerk, responder["id"])["data"]["source_task"]["num"]
        complete(api, clerk, responder, "prepare_response", response="OK" if num else "No")
    final = get(api, clerk, initiator["id"])
    assert final["status"] == "completed", final["incident"]
    ends = [e for e in events(api, clerk, initiator["id"]) if e["type"] == "message.received"]
    assert [e["element_id"] for e in ends] == ["get_response", "get_response"]
    for end in ends:
        reply = end["payload"]["payload"]
        assert reply["response"] == ("OK" if reply["init_id"] else "No")


def test_corpus_collaboration_letter_waits_for_its_lovers_reply(api: Api) -> None:
    """CollaborationTest.testBpmnMessage: the buddy sends a love letter (kept: the other pool
    is not executable) and waits for the response correlated by the lover's name."""
    deploy_open(api, CORPUS / "collaboration.bpmn")
    clerk = api.user("clerk")
    buddy = start(api, clerk, "process_buddy", lover_name="Peggy")
    assert buddy["waiting_messages"] == ["Love Letter Response"]
    assert "message.kept" in types(api, clerk, buddy["id"])
    wrong = send(api, clerk, "Love Letter Response", payload={"from_name": "Mallory"})
    assert wrong.json()["status"] == "kept"
    assert get(api, clerk, buddy["id"])["status"] == "running"
    right = send(
        api, clerk, "Love Letter Response", payload={"from_name": "Peggy", "other_nonsense": 1001}
    )
    assert right.json()["delivered_to"] == [buddy["id"]]
    done = get(api, clerk, buddy["id"])
    assert done["status"] == "completed"
    assert done["data"] == {"from_name": "Peggy", "lover_name": "Peggy", "other_nonsense": 1001}


def test_corpus_collaboration_kept_letter_expires_with_an_event_on_the_sender(api: Api) -> None:
    deploy_open(api, CORPUS / "collaboration.bpmn")
    api.store.clock = ManualClock(datetime(2026, 12, 7, 8, tzinfo=UTC))
    clerk = api.user("clerk")
    buddy = start(api, clerk, "process_buddy", lover_name="Peggy")
    api.store.clock.advance(timedelta(hours=2))
    assert messages.expire_messages(api.store) == 1
    expired = [e for e in events(api, clerk, buddy["id"]) if e["type"] == "message.expired"]
    assert expired and expired[0]["payload"]["name"] == "Love Letter"


def test_corpus_multiple_throw_reaches_the_parallel_catch_in_another_pool(api: Api) -> None:
    """MultipleThrowEventIntermediateCatchTest: the initiator throws message_1 and message_2 at
    once; the responder's parallel multiple catch needs both."""
    deploy_open(api, CORPUS / "multiple-throw.bpmn")
    clerk = api.user("clerk")
    responder = start(api, clerk, "respond")
    assert sorted(responder["waiting_messages"]) == ["message_1", "message_2"]
    initiator = start(api, clerk, "initiate")
    assert initiator["status"] == "completed"
    assert get(api, clerk, responder["id"])["status"] == "completed"


def test_corpus_waiting_event_spiff_process_variable_correlation(api: Api) -> None:
    """WaitingEventTest: the receive task expects uid 1 (processVariableCorrelation)."""
    api.deploy(CORPUS / "waiting_event.bpmn")
    clerk = api.user("clerk")
    instance = start(api, clerk, "main")
    assert instance["waiting_messages"] == ["B"]
    other = send(api, clerk, "B", correlation={"uid": 2}, payload={"uid": 2, "data": "x"})
    assert other.json()["status"] == "kept"
    hit = send(api, clerk, "B", payload={"uid": 1, "data": "asdf"})
    assert hit.json()["delivered_to"] == [instance["id"]]
    done = get(api, clerk, instance["id"])
    assert done["status"] == "completed"
    assert done["data"]["a_var"] == {"uid": 1, "data": "asdf"}


def test_corpus_multiple_start_and_event_gateway_through_the_router(api: Api) -> None:
    """MultipleStartEventTest: message_1 starts 'main'; EventBasedGatewayTest: message_1
    completes the instance and cancels the other branches."""
    api.deploy(CORPUS / "multiple-start.bpmn")
    api.deploy(CORPUS / "event-gateway.bpmn")
    clerk = api.user("clerk")
    gateway = start(api, clerk, "Process_0pvx19v")
    sent = send(api, clerk, "message_1", payload={}).json()
    # the waiting gateway takes it first; the start event is used when nothing waits
    assert sent["delivered_to"] == [gateway["id"]]
    assert get(api, clerk, gateway["id"])["status"] == "completed"
    sent = send(api, clerk, "message_2", payload={}).json()
    assert sent["status"] == "started"
    assert ready(get(api, clerk, sent["started"][0])) == ["any_task"]


# --- Signals -------------------------------------------------------------------------------


def test_signal_reaches_catches_boundaries_event_subprocesses_and_start_events(api: Api) -> None:
    api.deploy(MSG / "signals.bpmn")
    clerk = api.user("clerk")
    waiter = start(api, clerk, "waiter")
    worker = start(api, clerk, "worker")
    watcher = start(api, clerk, "watcher")
    sent = api.client.post("/v1/signals", headers=clerk, json={"name": "alarm", "payload": {}})
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["status"] == "broadcast"
    assert sorted(body["delivered_to"]) == sorted([waiter["id"], worker["id"], watcher["id"]])
    assert len(body["started"]) == 1
    assert ready(get(api, clerk, waiter["id"])) == ["after_alarm"]
    assert ready(get(api, clerk, worker["id"])) == ["evacuate"]
    assert ready(get(api, clerk, watcher["id"])) == ["note", "watch"]
    assert ready(get(api, clerk, body["started"][0])) == ["respond"]
    assert "signal.received" in types(api, clerk, waiter["id"])


def test_signal_thrown_by_an_instance_is_broadcast_in_the_same_step(api: Api) -> None:
    api.deploy(MSG / "signals.bpmn")
    clerk = api.user("clerk")
    waiter = start(api, clerk, "waiter")
    siren = start(api, clerk, "siren")
    done = complete(api, clerk, siren, "decide")
    assert done["status"] == "completed"
    assert ready(get(api, clerk, waiter["id"])) == ["after_alarm"]
    assert "signal.thrown" in types(api, clerk, siren["id"])
    responders = api.client.get("/v1/instances?definition_key=responder", headers=api.admin)
    assert len(responders.json()["items"]) == 1


# --- Races (a real server, both databases) ---------------------------------------------------


def race(server: Server, headers: dict[str, str], path: str, bodies: list[Any]) -> list[Any]:
    """POST the bodies at the same moment from separate connections; the responses."""
    gate = threading.Barrier(len(bodies))
    out: list[Any] = [None] * len(bodies)

    def go(i: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            client.get("/v1/me", headers=headers)
            gate.wait()
            out[i] = client.post(path, headers=headers, json=bodies[i])

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


@pytest.mark.e2e
def test_two_messages_racing_for_one_catch_deliver_once(server: Server) -> None:
    clerk = server.user("clerk")
    with httpx.Client(base_url=server.url, timeout=30) as c:
        deployed = c.post(
            "/v1/definitions",
            headers=server.user("designer"),
            files={"file": ("orders.bpmn", (MSG / "orders.bpmn").read_bytes())},
        )
        assert deployed.status_code == 201, deployed.text
        for n in range(4):
            order = c.post(
                "/v1/instances",
                headers=clerk,
                json={"definition_key": "order", "variables": {"order_id": n}},
            ).json()
            body = {"name": "order_paid", "payload": {"order_id": n}}
            answers = race(server, clerk, "/v1/messages", [body, body])
            ok = [a.json() for a in answers if a.status_code == 200]
            assert all(a.status_code in (200, 409, 503) for a in answers), [a.text for a in answers]
            assert [a["delivered_to"] for a in ok if a["status"] == "delivered"] == [[order["id"]]]
            got = c.get(f"/v1/instances/{order['id']}/events", headers=clerk).json()["items"]
            received = [e for e in got if e["type"] == "message.received"]
            assert [e["element_id"] for e in received] == ["paid"]


@pytest.mark.e2e
def test_correlated_message_start_racing_starts_one_instance(server: Server) -> None:
    clerk = server.user("clerk")
    with httpx.Client(base_url=server.url, timeout=30) as c:
        deployed = c.post(
            "/v1/definitions",
            headers=server.user("designer"),
            files={"file": ("correlation.bpmn", opened(CORPUS / "correlation.bpmn"))},
        )
        assert deployed.status_code == 201, deployed.text
        for n in range(4):
            body = {"name": "init_proc_2", "payload": {"num": n, "name": "x"}}
            answers = race(server, clerk, "/v1/messages", [body, body])
            assert all(a.status_code in (200, 409, 503) for a in answers), [a.text for a in answers]
            listed = c.get(
                f"/v1/instances?definition_key=proc_2&business_key=process_id={n}",
                headers=server.user("admin"),
            ).json()["items"]
            assert len(listed) == 1


NOTE = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:pf="urn:powerflow:bpmn:1.0" id="d" targetNamespace="urn:test">
  <bpmn:message id="Msg_note" name="note"/>
  <bpmn:process id="noted" isExecutable="true">
    <bpmn:extensionElements><pf:acceptsData fields="amount"/></bpmn:extensionElements>
    <bpmn:startEvent id="start"/>
    <bpmn:intermediateCatchEvent id="heard"><bpmn:messageEventDefinition messageRef="Msg_note"/>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="read" name="Read"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="heard"/>
    <bpmn:sequenceFlow id="f2" sourceRef="heard" targetRef="read"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_camunda_style_payload_sets_only_an_accepted_name(api: Api) -> None:
    """SpiffWorkflow's Camunda dialect wraps a payload as {payload, result_var}; the catch
    stores the value under result_var (else '<catch id>_Response'). Sent over HTTP, that name
    is accepted only where the process's pf:acceptsData accepts it, as any other name."""
    deployed = api.client.post(
        "/v1/definitions", headers=api.admin, files={"file": ("noted.bpmn", NOTE.encode())}
    )
    assert deployed.status_code == 201, deployed.text
    clerk = api.user("clerk")
    for result_var, stored in (("amount", "amount"), ("x", None), (None, None)):
        instance = start(api, clerk, "noted")
        payload = {"payload": 7, "result_var": result_var}
        sent = send(api, clerk, "note", payload=payload)
        assert sent.status_code == 200, sent.text
        assert sent.json()["delivered_to"] == [instance["id"]]
        data = get(api, clerk, instance["id"])["data"]
        assert data == ({stored: 7} if stored else {}), (result_var, data)
        (task,) = get(api, clerk, instance["id"])["tasks"]
        done = api.client.post(f"/v1/tasks/{task['id']}/complete", headers=clerk, json={})
        assert done.status_code == 200, done.text


def test_a_broken_message_payload_expression_is_refused_at_upload(api: Api) -> None:
    """A payload expression (spiffworkflow:messagePayload, or SpiffWorkflow's Camunda
    camunda:expression) is compiled at upload like every other expression."""
    broken = NOTE.replace(
        '<bpmn:userTask id="read" name="Read"/>',
        '<bpmn:intermediateThrowEvent id="read" name="Tell">'
        '<bpmn:messageEventDefinition messageRef="Msg_note" '
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" camunda:expression="a b"/>'
        "</bpmn:intermediateThrowEvent>",
    )
    refused = api.client.post(
        "/v1/definitions", headers=api.admin, files={"file": ("noted.bpmn", broken.encode())}
    )
    assert refused.status_code == 422, refused.text
    (problem,) = refused.json()["problems"]
    assert problem["element_id"] == "read"
    assert problem["message"].startswith("The message payload is not allowed or not valid")
