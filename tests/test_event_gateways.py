"""Waits with several events: event-based gateways, multiple catch and start events, boundary
messages. Each awaited message is listed on the instance and can be delivered over HTTP (a wait
with several event definitions used to answer 409 although the diagram waits for the message).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from conftest import Api
from flows import complete, deliver, events, read, ready, start
from powerflow.workers import fire_due_timers

pytestmark = pytest.mark.usefixtures("reload_every_step")


def refused(api: Api, headers: dict[str, str], instance: dict[str, Any], name: str) -> str:
    """Deliver a message the instance does not wait for: 409; return the problem's detail."""
    response = api.client.post(
        f"/v1/instances/{instance['id']}/messages",
        headers=headers,
        json={"name": name, "payload": {}},
    )
    assert response.status_code == 409, response.text
    detail: str = response.json()["detail"]
    return detail


def fire_when_due(api: Api, instance: dict[str, Any], seconds: float = 10) -> dict[str, Any]:
    """Run the timer worker's function until the instance's timer has fired; return it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        fire_due_timers(api.store)
        current = read(api, instance)
        if current["tasks"] or current["status"] != "running":
            return current
        time.sleep(0.1)
    raise AssertionError("the timer did not fire")


def test_event_gateway_message_wins_over_the_timer(api: Api) -> None:
    assert api.deploy("event_gateway_timer.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "await_answer", grace="PT1H")
    assert instance["tasks"] == []
    assert instance["waiting_messages"] == ["applicant_answer"]
    assert instance["next_timer_at"] is not None
    assert "not waiting" in refused(api, clerk, instance, "something_else")

    instance = deliver(api, clerk, instance, "applicant_answer", answer="yes")
    assert ready(instance) == ["review_answer"]
    assert "answer" not in instance["data"]  # no spiffworkflow:messageVariable: not copied
    assert instance["waiting_messages"] == []
    assert instance["next_timer_at"] is None
    recorded = events(api, instance)
    assert ("message.received", "answer_received") in recorded
    assert not [e for e in recorded if e[0] == "timer.fired"]
    instance = complete(api, clerk, instance, "review_answer")
    assert instance["status"] == "completed"


def test_event_gateway_timer_wins_over_the_message(api: Api) -> None:
    assert api.deploy("event_gateway_timer.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "await_answer", grace="PT0.2S")
    assert instance["waiting_messages"] == ["applicant_answer"]

    instance = fire_when_due(api, instance)
    assert ready(instance) == ["decide_without_answer"]
    assert instance["waiting_messages"] == []
    assert instance["next_timer_at"] is None
    refused(api, clerk, instance, "applicant_answer")
    recorded = events(api, instance)
    assert ("timer.fired", "deadline_passed") in recorded
    assert not [e for e in recorded if e[0] == "message.received"]


@pytest.mark.parametrize(
    ("message", "task", "other"),
    [
        ("permit_approved", "issue_permit", "permit_refused"),
        ("permit_refused", "notify_refusal", "permit_approved"),
    ],
)
def test_event_gateway_with_two_messages(api: Api, message: str, task: str, other: str) -> None:
    assert api.deploy("event_gateway_messages.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "await_ruling")
    assert sorted(instance["waiting_messages"]) == ["permit_approved", "permit_refused"]

    instance = deliver(api, clerk, instance, message)
    assert ready(instance) == [task]
    assert instance["waiting_messages"] == []
    refused(api, clerk, instance, other)
    instance = complete(api, clerk, instance, task)
    assert instance["status"] == "completed"


@pytest.mark.parametrize("message", ["reply_by_mail", "reply_by_portal"])
def test_catch_event_with_two_message_definitions(api: Api, message: str) -> None:
    assert api.deploy("multiple_catch.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "await_any_reply")
    assert sorted(instance["waiting_messages"]) == ["reply_by_mail", "reply_by_portal"]

    instance = deliver(api, clerk, instance, message)
    assert ready(instance) == ["review_reply"]
    assert instance["waiting_messages"] == []
    assert ("message.received", "reply") in events(api, instance)


def test_interrupting_boundary_message_on_a_user_task(api: Api) -> None:
    assert api.deploy("boundary_message.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "examine_application")
    assert ready(instance) == ["examine"]
    assert sorted(instance["waiting_messages"]) == ["applicant_query", "application_withdrawn"]
    examine = instance["tasks"][0]["id"]

    instance = deliver(api, clerk, instance, "application_withdrawn")
    assert ready(instance) == ["archive"]
    assert instance["waiting_messages"] == []
    late = api.client.post(
        f"/v1/tasks/{examine}/complete", headers=clerk, json={"data": {"finding": "late"}}
    )
    assert late.status_code == 409
    instance = complete(api, clerk, instance, "archive")
    assert instance["status"] == "completed"


def test_non_interrupting_boundary_message_on_a_user_task(api: Api) -> None:
    assert api.deploy("boundary_message.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "examine_application")

    instance = deliver(api, clerk, instance, "applicant_query", question="when?")
    assert ready(instance) == ["answer_query", "examine"]
    instance = complete(api, clerk, instance, "answer_query")
    instance = complete(api, clerk, instance, "examine", finding="in order")
    assert ready(instance) == ["decide"]
    assert instance["waiting_messages"] == []  # the boundary events left with their task
    refused(api, clerk, instance, "application_withdrawn")
    instance = complete(api, clerk, instance, "decide")
    assert instance["status"] == "completed"


def test_interrupting_timer_boundary_on_a_user_task(api: Api) -> None:
    assert api.deploy("boundary_message.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "examine_with_deadline", deadline="PT0.2S")
    assert ready(instance) == ["examine_in_time"]
    assert instance["next_timer_at"] is not None
    examine = instance["tasks"][0]["id"]
    deadline = time.monotonic() + 10
    while ready(instance) == ["examine_in_time"] and time.monotonic() < deadline:
        time.sleep(0.1)
        fire_due_timers(api.store)
        instance = read(api, instance)
    assert ready(instance) == ["escalate"]
    late = api.client.post(f"/v1/tasks/{examine}/complete", headers=clerk, json={"data": {}})
    assert late.status_code == 409
    assert ("timer.fired", "deadline_passed") in events(api, instance)


# Public models from SpiffWorkflow's own tests (tests/data/corpus/README.md).
CORPUS = Path(__file__).resolve().parent / "data" / "corpus"


def test_corpus_event_gateway_timer_cancels_both_messages(api: Api) -> None:
    """EventBasedGatewayTest: two messages and a "PT1S" timer; the timer fires first here."""
    assert api.deploy(CORPUS / "event-gateway.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "Process_0pvx19v")
    assert sorted(instance["waiting_messages"]) == ["message_1", "message_2"]
    assert instance["next_timer_at"] is not None

    instance = fire_when_due(api, instance)
    assert instance["status"] == "completed", instance["incident"]
    assert ("timer.fired", "timer_event") in events(api, instance)
    assert refused(api, clerk, instance, "message_1")


def test_corpus_start_event_with_two_messages(api: Api) -> None:
    """MultipleStartEventTest: the start event waits for either message."""
    assert api.deploy(CORPUS / "multiple-start.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "main")
    assert instance["tasks"] == []
    assert sorted(instance["waiting_messages"]) == ["message_1", "message_2"]

    instance = deliver(api, clerk, instance, "message_1")
    assert ready(instance) == ["any_task"]
    assert instance["waiting_messages"] == []
    instance = complete(api, clerk, instance, "any_task")
    assert instance["status"] == "completed"
