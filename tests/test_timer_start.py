"""Timer start events: instances created on schedule over HTTP, once per firing, even when two
workers race for the same firing (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta

from conftest import DATA, Api
from powerflow.db.models import StartTimer
from powerflow.services import start_timers
from powerflow.services.start_timers import DueStart

CYCLE = (DATA / "timer_start_cycle.bpmn").read_text()


def _with_timer(text: str, key: str, kind: str, value: str) -> bytes:
    """The cycle test file with another process id and another timer."""
    return (
        text.replace("hourly_patrol", key)
        .replace("<bpmn:timeCycle", f"<bpmn:{kind}")
        .replace("</bpmn:timeCycle>", f"</bpmn:{kind}>")
        .replace("R3/PT1H", value)
        .encode()
    )


def _upload(api: Api, data: bytes, name: str = "timer_start.bpmn") -> None:
    designer = api.user("designer")
    response = api.client.post("/v1/definitions", headers=designer, files={"file": (name, data)})
    assert response.status_code == 201, response.text


def _schedule(api: Api) -> list[tuple[int, str, datetime | None, int, int]]:
    with api.store.begin(write=False) as conn:
        rows = conn.execute(
            StartTimer.__table__.select().order_by(StartTimer.definition_id)  # type: ignore[attr-defined]
        ).all()
    return [
        (r.definition_id, r.element_id, r.next_fire_at, r.remaining_cycles, r.fired_count)
        for r in rows
    ]


def _instances(api: Api, key: str) -> list[dict]:  # type: ignore[type-arg]
    page = api.client.get(f"/v1/instances?definition_key={key}", headers=api.admin).json()
    return list(page["items"])


def test_cycle_start_timer_creates_one_instance_per_cycle(api: Api) -> None:
    assert api.deploy("timer_start_cycle.bpmn").status_code == 201
    [(definition_id, element, first, remaining, fired)] = _schedule(api)
    deployed = api.store.now()
    assert element == "every_hour" and remaining == 2 and fired == 0
    assert first is not None and abs((first - deployed) - timedelta(hours=1)) < timedelta(seconds=5)
    # Not due yet: nothing starts.
    assert start_timers.fire_due_start_timers(api.store, now=first - timedelta(seconds=1)) == 0
    assert _instances(api, "hourly_patrol") == []
    for cycle in range(3):
        due = first + timedelta(hours=cycle, seconds=1)
        assert start_timers.fire_due_start_timers(api.store, now=due) == 1
        assert start_timers.fire_due_start_timers(api.store, now=due) == 0  # once per cycle
    assert start_timers.fire_due_start_timers(api.store, now=first + timedelta(hours=9)) == 0
    assert _schedule(api) == [(definition_id, "every_hour", None, 0, 3)]

    started = _instances(api, "hourly_patrol")
    assert len(started) == 3
    assert {i["started_by"] for i in started} == {"timer"}
    assert all([t["element_id"] for t in i["tasks"]] == ["patrol"] for i in started)

    # Those who hold the task's role and the supervisors see it; another clerk does not.
    instance_id = started[0]["id"]
    lineman = api.user("lineman")
    other = api.user("clerk")
    monitor = api.user("monitor")
    assert api.client.get(f"/v1/instances/{instance_id}", headers=lineman).status_code == 200
    assert api.client.get(f"/v1/instances/{instance_id}", headers=monitor).status_code == 200
    assert api.client.get(f"/v1/instances/{instance_id}", headers=other).status_code == 404
    inbox = api.client.get("/v1/tasks", headers=lineman).json()["items"]
    assert {t["instance_id"] for t in inbox} == {i["id"] for i in started}

    events = api.client.get(f"/v1/instances/{instance_id}/events", headers=lineman).json()
    kinds = [(e["type"], e["element_id"], e["actor"]) for e in events["items"]]
    assert kinds[:2] == [
        ("instance.started", None, "timer"),
        ("timer.fired", "every_hour", "system"),
    ]
    trigger = events["items"][0]["payload"]["trigger"]
    assert trigger["type"] == "timer" and trigger["element_id"] == "every_hour"
    assert datetime.fromisoformat(trigger["due_at"]) >= first

    task_id = started[0]["tasks"][0]["id"]
    done = api.client.post(f"/v1/tasks/{task_id}/complete", headers=lineman, json={"data": {}})
    assert done.status_code == 200, done.text
    final = api.client.get(f"/v1/instances/{instance_id}", headers=lineman).json()
    assert final["status"] == "completed"


def test_two_workers_racing_for_a_firing_start_one_instance(api: Api) -> None:
    _upload(api, _with_timer(CYCLE, "raced", "timeCycle", "R/PT10M"))
    for round_ in range(4):
        now = api.store.now() + timedelta(minutes=10 * (round_ + 1), seconds=1)
        with api.store.begin(write=False) as conn:
            [due] = start_timers.due_start_timers(conn, now, 10)
        barrier = threading.Barrier(2)
        results: list[str | None] = []

        def worker(
            item: DueStart = due,
            at: datetime = now,
            gate: threading.Barrier = barrier,
            out: list[str | None] = results,
        ) -> None:
            gate.wait()
            out.append(start_timers.fire_start_timer(api.store, item, at))

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(results) == 2 and sum(r is not None for r in results) == 1, results
    assert len(_instances(api, "raced")) == 4
    [(_, _, _, remaining, fired)] = _schedule(api)
    assert remaining == -1 and fired == 4


def test_new_version_replaces_the_schedule(api: Api) -> None:
    _upload(api, _with_timer(CYCLE, "patrol_key", "timeCycle", "R3/PT1H"), "v1.bpmn")
    _upload(api, _with_timer(CYCLE, "patrol_key", "timeCycle", "R/PT10M"), "v2.bpmn")
    versions = api.client.get("/v1/definitions/patrol_key", headers=api.admin).json()
    ids = {v["version"]: v["id"] for v in versions}
    [(definition_id, _, next_fire, remaining, _)] = _schedule(api)
    assert definition_id == ids[2] and remaining == -1
    assert next_fire is not None and next_fire - api.store.now() < timedelta(minutes=11)
    # A version without a timer start event ends the schedule of the key.
    timer = re.search(r"<bpmn:timerEventDefinition.*?</bpmn:timerEventDefinition>", CYCLE)
    assert timer is not None
    plain = CYCLE.replace("hourly_patrol", "patrol_key").replace(timer.group(0), "")
    _upload(api, plain.encode(), "v3.bpmn")
    assert _schedule(api) == []


def test_date_and_duration_start_timers_fire_once(api: Api) -> None:
    _upload(api, _with_timer(CYCLE, "on_date", "timeDate", "2020-01-01T09:00:00+08:00"), "d.bpmn")
    _upload(api, _with_timer(CYCLE, "after_a_while", "timeDuration", "PT2H"), "p.bpmn")
    rows = {r[0]: r for r in _schedule(api)}
    assert len(rows) == 2
    dates = sorted(r[2] for r in rows.values() if r[2] is not None)
    assert dates[0] == datetime.fromisoformat("2020-01-01T01:00:00+00:00")  # in the past
    now = api.store.now()
    assert start_timers.fire_due_start_timers(api.store, now=now) == 1
    assert len(_instances(api, "on_date")) == 1
    assert (
        start_timers.fire_due_start_timers(api.store, now=now + timedelta(hours=2, seconds=5)) == 1
    )
    assert start_timers.fire_due_start_timers(api.store, now=now + timedelta(days=9)) == 0
    assert len(_instances(api, "after_a_while")) == 1
    assert len(_instances(api, "on_date")) == 1


def test_missed_cycles_collapse_into_one_firing(sqlite_api: Api) -> None:
    api = sqlite_api
    _upload(api, _with_timer(CYCLE, "catch_up", "timeCycle", "R5/PT1H"))
    [(_, _, first, _, _)] = _schedule(api)
    assert first is not None
    # The service was down for 2.5 cycles: one instance, the next firing at the next cycle.
    late = first + timedelta(hours=2, minutes=30)
    assert start_timers.fire_due_start_timers(api.store, now=late) == 1
    [(_, _, following, remaining, fired)] = _schedule(api)
    assert following == first + timedelta(hours=3)
    assert remaining == 1 and fired == 1
    assert start_timers.fire_due_start_timers(api.store, now=late) == 0


def test_timer_start_with_an_expression_is_deployed_with_a_warning(api: Api) -> None:
    data = _with_timer(CYCLE, "by_expression", "timeDate", "start_at")
    designer = api.user("designer")
    response = api.client.post(
        "/v1/definitions", headers=designer, files={"file": ("x.bpmn", data)}
    )
    assert response.status_code == 201, response.text
    [definition] = response.json()["definitions"]
    warnings = api.client.get("/v1/definitions/by_expression", headers=api.admin).json()[0][
        "warnings"
    ]
    assert any("cannot schedule" in w["message"] and w["line"] for w in warnings), warnings
    assert definition["executable"] is True
    assert _schedule(api) == []


TWO_STARTS = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="D"
    targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="two_starts" isExecutable="true">
    <bpmn:startEvent id="by_hand"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:startEvent id="nightly">
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition id="T">
        <bpmn:timeCycle xsi:type="bpmn:tFormalExpression">R/P1D</bpmn:timeCycle>
      </bpmn:timerEventDefinition>
    </bpmn:startEvent>
    <bpmn:userTask id="requested" name="Requested check">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="nightly_check" name="Nightly check">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="e1"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="e2"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="by_hand" targetRef="requested"/>
    <bpmn:sequenceFlow id="f2" sourceRef="nightly" targetRef="nightly_check"/>
    <bpmn:sequenceFlow id="f3" sourceRef="requested" targetRef="e1"/>
    <bpmn:sequenceFlow id="f4" sourceRef="nightly_check" targetRef="e2"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_timer_started_instance_takes_only_the_timer_path(api: Api) -> None:
    _upload(api, TWO_STARTS)
    [(_, element, first, remaining, _)] = _schedule(api)
    assert element == "nightly" and remaining == -1 and first is not None
    assert start_timers.fire_due_start_timers(api.store, now=first) == 1
    [instance] = _instances(api, "two_starts")
    assert [t["element_id"] for t in instance["tasks"]] == ["nightly_check"]
    clerk = api.user("clerk")
    done = api.client.post(
        f"/v1/tasks/{instance['tasks'][0]['id']}/complete", headers=clerk, json={"data": {}}
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
