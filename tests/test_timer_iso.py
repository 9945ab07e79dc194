"""Timer values as designers write them (bare ISO 8601) and boundary timers on subprocesses and
call activities, over HTTP."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from conftest import Api
from powerflow import workers
from powerflow.engine.compiler import SPEC_CACHE

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="D" '
    'targetNamespace="http://bpmn.io/schema/bpmn">\n'
)


def _waiting(key: str, kind: str, value: str) -> bytes:
    """start -> intermediate timer (``kind`` = ``value``) -> user task -> end."""
    return (
        HEAD
        + f"""  <bpmn:process id="{key}" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait" name="Notice period">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition id="T">
        <bpmn:{kind} xsi:type="bpmn:tFormalExpression">{value}</bpmn:{kind}>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="decide" name="Decide"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="decide"/>
    <bpmn:sequenceFlow id="f3" sourceRef="decide" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
    ).encode()


def _upload(api: Api, data: bytes, name: str = "t.bpmn") -> dict:  # type: ignore[type-arg]
    response = api.client.post(
        "/v1/definitions", headers=api.user("designer"), files={"file": (name, data)}
    )
    return {"status": response.status_code, **response.json()}


def _start(api: Api, key: str, clerk: dict[str, str]) -> dict:  # type: ignore[type-arg]
    started = api.client.post("/v1/instances", headers=clerk, json={"definition_key": key})
    assert started.status_code == 201, started.text
    return dict(started.json())


def _fire_until(api: Api, instance_id: str, clerk: dict[str, str], want: set[str]) -> dict:  # type: ignore[type-arg]
    """Fire due timers (real time: SpiffWorkflow reads its own clock) until ``want`` is ready."""
    deadline = time.monotonic() + 10
    while True:
        workers.fire_due_timers(api.store)
        current = dict(api.client.get(f"/v1/instances/{instance_id}", headers=clerk).json())
        if want <= {t["element_id"] for t in current["tasks"]} or time.monotonic() > deadline:
            return current
        time.sleep(0.05)


def test_bare_iso_duration_runs_and_the_stored_file_is_unchanged(api: Api) -> None:
    data = _waiting("bare_duration", "timeDuration", "PT0.3S")
    assert _upload(api, data)["status"] == 201
    stored = api.client.get("/v1/definitions/bare_duration/xml", headers=api.admin)
    assert stored.content == data
    clerk = api.user("clerk")
    instance = _start(api, "bare_duration", clerk)
    due = datetime.fromisoformat(instance["next_timer_at"])
    created = datetime.fromisoformat(instance["created_at"])
    assert timedelta(0) < due - created < timedelta(seconds=2)
    SPEC_CACHE._items.clear()  # the next step parses the stored file again (load_process)
    done = _fire_until(api, instance["id"], clerk, {"decide"})
    assert [t["element_id"] for t in done["tasks"]] == ["decide"]


def test_quoted_python_form_still_works(api: Api) -> None:
    assert _upload(api, _waiting("quoted", "timeDuration", '"PT0.2S"'))["status"] == 201
    clerk = api.user("clerk")
    instance = _start(api, "quoted", clerk)
    done = _fire_until(api, instance["id"], clerk, {"decide"})
    assert [t["element_id"] for t in done["tasks"]] == ["decide"]


@pytest.mark.parametrize(
    ("value", "expected_utc"),
    [
        ("2030-06-01T09:00:00+02:00", "2030-06-01T07:00:00+00:00"),
        ("2030-06-01T09:00:00Z", "2030-06-01T09:00:00+00:00"),
        # no offset: read in POWERFLOW_TIME_ZONE (the tests run with Asia/Shanghai, UTC+8)
        ("2030-06-01T09:00:00", "2030-06-01T01:00:00+00:00"),
        ('"2030-06-01T09:00:00"', "2030-06-01T01:00:00+00:00"),
    ],
)
def test_bare_date_is_read_with_its_offset_or_in_the_configured_zone(
    sqlite_api: Api, value: str, expected_utc: str
) -> None:
    api = sqlite_api
    assert _upload(api, _waiting("dated", "timeDate", value))["status"] == 201
    instance = _start(api, "dated", api.user("clerk"))
    assert datetime.fromisoformat(instance["next_timer_at"]) == datetime.fromisoformat(expected_utc)


@pytest.mark.parametrize(
    ("kind", "value", "says"),
    [
        ("timeDuration", "PT2X", "PT2X"),
        ("timeDuration", "2026-12-31T09:00:00+08:00", "a duration starts with P"),
        ("timeDate", "2026-13-45T09:00:00", "2026-13-45"),
        ("timeCycle", "R3/PT1Q", "R3/PT1Q"),
        ("timeCycle", '"R/PXYZ"', "R/PXYZ"),
        ("timeDate", "PT2H", "a date needs a date-time"),
    ],
)
def test_invalid_iso_is_an_upload_problem_naming_the_element_and_line(
    sqlite_api: Api, kind: str, value: str, says: str
) -> None:
    body = _upload(sqlite_api, _waiting("bad_timer", kind, value))
    assert body["status"] == 422, body
    [problem] = body["problems"]
    assert problem["element_id"] == "wait"
    assert problem["line"] == 8  # the line of the timer value
    assert says in problem["message"] and "ISO 8601" in problem["message"]


def _boundary(kind: str, interrupting: bool) -> bytes:
    """A subprocess or a call activity with a boundary timer of 0.3 s."""
    inner = """<bpmn:startEvent id="inner_start"><bpmn:outgoing>i1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:userTask id="inner_work" name="Inner work"><bpmn:incoming>i1</bpmn:incoming>
        <bpmn:outgoing>i2</bpmn:outgoing></bpmn:userTask>
      <bpmn:endEvent id="inner_end"><bpmn:incoming>i2</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="i1" sourceRef="inner_start" targetRef="inner_work"/>
      <bpmn:sequenceFlow id="i2" sourceRef="inner_work" targetRef="inner_end"/>"""
    if kind == "subProcess":
        activity = f"""<bpmn:subProcess id="work" name="Work">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      {inner}
    </bpmn:subProcess>"""
        called = ""
    else:
        activity = """<bpmn:callActivity id="work" name="Work" calledElement="called_work">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:callActivity>"""
        called = f"""<bpmn:process id="called_work" isExecutable="true">
      {inner}
  </bpmn:process>"""
    cancel = "true" if interrupting else "false"
    return (
        HEAD
        + f"""  <bpmn:process id="bounded" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    {activity}
    <bpmn:boundaryEvent id="too_long" name="Too long" attachedToRef="work"
        cancelActivity="{cancel}">
      <bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition id="T">
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT0.3S</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:userTask id="escalate" name="Escalate"><bpmn:incoming>f3</bpmn:incoming>
      <bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="escalated"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
    <bpmn:sequenceFlow id="f3" sourceRef="too_long" targetRef="escalate"/>
    <bpmn:sequenceFlow id="f4" sourceRef="escalate" targetRef="escalated"/>
  </bpmn:process>
  {called}
</bpmn:definitions>
"""
    ).encode()


def _complete(api: Api, instance: dict, element: str, clerk: dict[str, str]) -> dict:  # type: ignore[type-arg]
    [task] = [t for t in instance["tasks"] if t["element_id"] == element]
    done = api.client.post(f"/v1/tasks/{task['id']}/complete", headers=clerk, json={"data": {}})
    assert done.status_code == 200, done.text
    return dict(api.client.get(f"/v1/instances/{instance['id']}", headers=clerk).json())


@pytest.mark.parametrize("kind", ["subProcess", "callActivity"])
def test_interrupting_boundary_timer_cancels_the_activity(api: Api, kind: str) -> None:
    assert _upload(api, _boundary(kind, interrupting=True))["status"] == 201
    clerk = api.user("clerk")
    instance = _start(api, "bounded", clerk)
    assert [t["element_id"] for t in instance["tasks"]] == ["inner_work"]
    assert instance["next_timer_at"] is not None
    fired = _fire_until(api, instance["id"], clerk, {"escalate"})
    assert [t["element_id"] for t in fired["tasks"]] == ["escalate"]
    events = api.client.get(f"/v1/instances/{instance['id']}/events", headers=clerk).json()
    assert ("timer.fired", "too_long") in {(e["type"], e["element_id"]) for e in events["items"]}
    done = _complete(api, fired, "escalate", clerk)
    assert done["status"] == "completed"


@pytest.mark.parametrize("kind", ["subProcess", "callActivity"])
def test_non_interrupting_boundary_timer_adds_a_path(api: Api, kind: str) -> None:
    assert _upload(api, _boundary(kind, interrupting=False))["status"] == 201
    clerk = api.user("clerk")
    instance = _start(api, "bounded", clerk)
    fired = _fire_until(api, instance["id"], clerk, {"escalate"})
    assert sorted(t["element_id"] for t in fired["tasks"]) == ["escalate", "inner_work"]
    after_escalation = _complete(api, fired, "escalate", clerk)
    assert after_escalation["status"] == "running"
    done = _complete(api, after_escalation, "inner_work", clerk)
    assert done["status"] == "completed"
    assert done["next_timer_at"] is None


def test_boundary_timer_does_not_fire_when_the_activity_ends_first(api: Api) -> None:
    assert _upload(api, _boundary("subProcess", interrupting=True))["status"] == 201
    clerk = api.user("clerk")
    instance = _start(api, "bounded", clerk)
    done = _complete(api, instance, "inner_work", clerk)
    assert done["status"] == "completed" and done["next_timer_at"] is None
