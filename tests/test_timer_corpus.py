"""SpiffWorkflow's own timer models (tests/data/corpus, see its README) over HTTP, reloaded from
saved state between every step, toward the outcome their upstream tests assert."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from conftest import Api
from flows import complete, events, read, ready, start
from powerflow.workers import fire_due_timers

pytestmark = pytest.mark.usefixtures("reload_every_step")
CORPUS = Path(__file__).resolve().parent / "data" / "corpus"


def _fire_until(api: Api, instance: dict[str, Any], done: Any) -> dict[str, Any]:
    """Fire due timers (SpiffWorkflow reads the real clock) until ``done(instance)``."""
    deadline = time.monotonic() + 10
    while not done(instance) and time.monotonic() < deadline:
        time.sleep(0.05)
        fire_due_timers(api.store)
        instance = read(api, instance)
    return instance


def test_duration_timer(api: Api) -> None:
    """TimerDurationTest: one waiting timer; it fires and nothing waits any more."""
    assert api.deploy(CORPUS / "timer.bpmn").status_code == 201
    instance = start(api, api.user("clerk"), "timer")
    assert instance["status"] == "running" and instance["next_timer_at"] is not None
    instance = _fire_until(api, instance, lambda i: i["status"] != "running")
    assert instance["status"] == "completed", instance["incident"]
    assert instance["next_timer_at"] is None
    assert ("timer.fired", "Event_0bxivgz") in events(api, instance)


def test_date_timer_set_by_a_script(api: Api) -> None:
    """TimerDateTest: a date computed by a script task; it fires and the instance completes."""
    assert api.deploy(CORPUS / "timer-date-start.bpmn").status_code == 201
    instance = start(api, api.user("clerk"), "date_timer")
    assert instance["status"] == "running", instance["incident"]
    assert instance["next_timer_at"] is not None
    instance = _fire_until(api, instance, lambda i: i["status"] != "running")
    assert instance["status"] == "completed", instance["incident"]
    assert ("timer.fired", "Event_0eb0w95") in events(api, instance)


def test_non_interrupting_boundary_timer_on_a_user_task(api: Api) -> None:
    """TimerDurationBoundaryOnTaskTest: the timer path sets timer_called while the user task
    stays open; then the user task is completed and the instance completes."""
    assert api.deploy(CORPUS / "boundary_timer_on_task.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "test_timer")
    assert ready(instance) == ["user_task"]
    instance = _fire_until(
        api, instance, lambda i: ("timer.fired", "Event_0y4hbl0") in events(api, i)
    )
    assert ("task.completed", "set_variable") in events(api, instance)
    assert instance["data"]["timer_called"] is True  # the data of the last task: the timer path
    assert ready(instance) == ["user_task"]
    instance = complete(api, clerk, instance, "user_task")
    assert instance["status"] == "completed", instance["incident"]


def test_cycle_timer_on_a_boundary_fires_its_count(api: Api) -> None:
    """TimerCycleTest: an R2 cycle on a non-interrupting boundary fires exactly twice; the task
    it is attached to stays ready and the boundary event completes.

    The upstream model calls ``custom_function()``, a function its test gives the script
    engine; powerflow's sandbox has no host functions, so that script is replaced by one that
    counts the same way (the model is otherwise unchanged).
    """
    data = (CORPUS / "timer-cycle.bpmn").read_bytes()
    counted = data.replace(
        b"print('refill count = %d'%custom_function())", b"refill_count = refill_count + 1"
    )
    assert counted != data
    designer = api.user("designer")
    uploaded = api.client.post(
        "/v1/definitions", headers=designer, files={"file": ("timer-cycle.bpmn", counted)}
    )
    assert uploaded.status_code == 201, uploaded.text
    clerk = api.user("clerk")
    instance = start(api, clerk, "timer")
    assert ready(instance) == ["Get_Coffee"]

    def refills(i: dict[str, Any]) -> int:
        return sum(1 for e in events(api, i) if e == ("task.completed", "Refill_Coffee"))

    instance = _fire_until(api, instance, lambda i: i["next_timer_at"] is None)
    time.sleep(0.3)  # a third firing would be due by now
    fire_due_timers(api.store)
    instance = read(api, instance)
    assert refills(instance) == 2
    assert [e for e in events(api, instance) if e[0] == "timer.fired"] == [
        ("timer.fired", "CatchMessage")
    ] * 2
    assert ready(instance) == ["Get_Coffee"]
    instance = complete(api, clerk, instance, "Get_Coffee")
    assert ready(instance) == ["Back_To_Work"]
    instance = complete(api, clerk, instance, "Back_To_Work")
    assert instance["status"] == "completed", instance["incident"]
    assert refills(instance) == 2  # (each refill path has its own copy of refill_count)
