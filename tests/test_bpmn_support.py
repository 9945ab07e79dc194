"""The "runs" claims of docs/bpmn-support.md not covered by a test of their own elsewhere:
multi-instance, standard loop, parallel and inclusive gateways, manual task, terminate end event.
Over HTTP, with a reload from saved state between every step."""

from __future__ import annotations

import pytest

from conftest import Api
from flows import complete, events, ready, start, task

pytestmark = pytest.mark.usefixtures("reload_every_step")


def test_multi_instance_user_task_and_standard_loop(api: Api) -> None:
    assert api.deploy("loops.bpmn").status_code == 201
    clerk, reviewer = api.user("clerk"), api.user("reviewer")
    instance = start(api, clerk, "collect_opinions")
    assert ready(instance) == ["give_opinion", "give_opinion"]  # one per reviewer, in parallel
    first, second = (t["id"] for t in instance["tasks"])
    for task_id, opinion in ((first, "yes"), (second, "no")):
        response = api.client.post(
            f"/v1/tasks/{task_id}/complete", headers=reviewer, json={"data": {"opinion": opinion}}
        )
        assert response.status_code == 200, response.text
        instance = response.json()
    assert instance["status"] == "completed", instance["incident"]
    assert instance["data"]["opinions"] == ["yes", "no"]
    assert instance["data"]["rounds"] == 3  # the standard loop ran while rounds < 3


def test_parallel_branches_and_a_terminate_end_event(api: Api) -> None:
    assert api.deploy("loops.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "first_answer_wins")
    assert ready(instance) == ["answer_by_letter", "answer_by_phone"]
    letter = task(instance, "answer_by_letter")["id"]
    instance = complete(api, clerk, instance, "answer_by_phone")
    assert instance["status"] == "completed"
    assert instance["tasks"] == []
    late = api.client.post(f"/v1/tasks/{letter}/complete", headers=clerk, json={"data": {}})
    assert late.status_code == 409
    assert events(api, instance)[-1] == ("instance.completed", "answered")


@pytest.mark.parametrize(
    ("amount", "checks"),
    [(500, ["board_check", "finance_check"]), (50, ["finance_check"]), (5, ["file_it"])],
)
def test_inclusive_gateway_and_manual_task(api: Api, amount: int, checks: list[str]) -> None:
    assert api.deploy("loops.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "route_by_amount", amount=amount)
    assert ready(instance) == checks
    for element_id in checks:
        instance = complete(api, clerk, instance, element_id)
    assert instance["status"] == "completed", instance["incident"]
