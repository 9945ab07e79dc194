"""Embedded subprocesses, event subprocesses, transactions and call activities over HTTP.

Every test here runs with ``reload_every_step``: no workflow object is kept between requests, so
each step deserializes the saved state (an instance inside a subprocess used to answer 500 on its
next step and on cancel, because loading it assigned a read-only property).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from conftest import Api
from flows import complete, deliver, events, read, ready, start
from powerflow import engine
from powerflow.engine import serializer
from powerflow.engine.scripting import RESTRICTED_ENGINE
from powerflow.workers import fire_due_timers

pytestmark = pytest.mark.usefixtures("reload_every_step")
DATA = Path(__file__).resolve().parent / "data"


def test_embedded_subprocess_with_user_tasks_runs_to_the_end(api: Api) -> None:
    assert api.deploy("subprocess_embedded.bpmn").status_code == 201
    clerk, supervisor = api.user("clerk"), api.user("supervisor")
    instance = start(api, clerk, "permit_review", amount=21)
    assert instance["status"] == "running"
    assert ready(instance) == ["check"]
    assert instance["tasks"][0]["roles"] == ["clerk"]

    instance = complete(api, clerk, instance, "check", complete=True)
    assert ready(instance) == ["sign"]
    assert instance["tasks"][0]["roles"] == ["supervisor"]
    sign = api.client.get(f"/v1/tasks/{instance['tasks'][0]['id']}", headers=supervisor)
    assert sign.json()["data"]["fee"] == 42  # the script inside the subprocess ran

    instance = complete(api, supervisor, instance, "sign", signed_by="S. Visor")
    assert ready(instance) == ["notify"]

    instance = complete(api, clerk, instance, "notify", note="sent")
    assert instance["status"] == "completed"
    assert instance["tasks"] == []
    assert instance["data"]["fee"] == 42
    assert instance["data"]["signed_by"] == "S. Visor"
    recorded = events(api, instance)
    assert ("task.completed", "assess") in recorded
    assert ("task.completed", "review") in recorded
    assert recorded[-1][0] == "instance.completed"


def test_cancel_inside_an_embedded_subprocess_closes_its_tasks(api: Api) -> None:
    assert api.deploy("subprocess_embedded.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "permit_review", amount=5)
    instance = complete(api, clerk, instance, "check", complete=True)
    assert ready(instance) == ["sign"]

    cancelled = api.client.post(
        f"/v1/instances/{instance['id']}/cancel", headers=clerk, json={"reason": "withdrawn"}
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["tasks"] == []
    inbox = api.client.get(
        "/v1/tasks", headers=api.user("supervisor"), params={"state": "ready"}
    ).json()["items"]
    assert [t for t in inbox if t["instance_id"] == instance["id"]] == []
    assert events(api, instance)[-1] == ("instance.cancelled", None)


def test_script_inside_a_subprocess_runs_restricted_after_a_reload(api: Api) -> None:
    """``open`` is a builtin of SpiffWorkflow's default engine, not of the restricted one: the
    script fails as an incident because the restricted engine runs it inside the subprocess."""
    assert api.deploy("subprocess_script.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "subprocess_peek")
    assert ready(instance) == ["wait"]
    instance = complete(api, clerk, instance, "wait")
    assert instance["status"] == "failed"
    assert instance["incident"]["element_id"] == "peek"
    assert "open" in instance["incident"]["message"]
    assert "leak" not in instance["data"]


FORBIDDEN_IN_SUBPROCESS = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
    targetNamespace="urn:test">
  <bpmn:process id="escape" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:subProcess id="inner">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:startEvent id="inner_start"><bpmn:outgoing>s1</bpmn:outgoing></bpmn:startEvent>
      <bpmn:userTask id="wait"><bpmn:incoming>s1</bpmn:incoming><bpmn:outgoing>s2</bpmn:outgoing>
      </bpmn:userTask>
      <bpmn:scriptTask id="evil"><bpmn:incoming>s2</bpmn:incoming><bpmn:outgoing>s3</bpmn:outgoing>
        <bpmn:script>import os
leak = os.getcwd()</bpmn:script>
      </bpmn:scriptTask>
      <bpmn:endEvent id="inner_end"><bpmn:incoming>s3</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="s1" sourceRef="inner_start" targetRef="wait"/>
      <bpmn:sequenceFlow id="s2" sourceRef="wait" targetRef="evil"/>
      <bpmn:sequenceFlow id="s3" sourceRef="evil" targetRef="inner_end"/>
    </bpmn:subProcess>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="inner"/>
    <bpmn:sequenceFlow id="f2" sourceRef="inner" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_import_inside_a_subprocess_is_refused_after_a_reload() -> None:
    """The upload lint refuses ``import``; loaded past it, the restricted engine still refuses
    it at run time inside a subprocess restored from saved state."""
    xml = FORBIDDEN_IN_SUBPROCESS
    result = engine.compile_bpmn(xml, "escape.bpmn", max_bytes=len(xml) + 1)
    assert not result.ok  # the upload lint refuses it first
    process = engine.load_process(
        result.content_hash, "escape", xml, {"process": {}, "elements": {}, "flows": {}}
    )
    started = engine.start(process, {})
    (wait,) = started.open_tasks
    restored = serializer.load_state(process, started.state)
    assert restored.subprocesses  # the wait is inside a subprocess
    assert restored.script_engine is RESTRICTED_ENGINE
    assert all(sub.script_engine is RESTRICTED_ENGINE for sub in restored.subprocesses.values())

    step = engine.complete_task(process, started.state, wait.id, {})
    assert step.status == "failed"
    assert step.incident is not None
    assert step.incident.element_id == "evil"
    assert "import" in step.incident.message
    assert "leak" not in step.data
    assert "leak" not in step.state


def test_non_interrupting_event_subprocess_started_by_a_message(api: Api) -> None:
    assert api.deploy("event_subprocess.bpmn").status_code == 201
    clerk, supervisor = api.user("clerk"), api.user("supervisor")
    instance = start(api, clerk, "case_handling")
    assert ready(instance) == ["work"]
    assert sorted(instance["waiting_messages"]) == ["case_escalated", "case_withdrawn"]

    instance = deliver(api, clerk, instance, "case_escalated", level=2)
    assert ready(instance) == ["handle_escalation", "work"]
    instance = complete(api, supervisor, instance, "handle_escalation", action="called back")
    assert ready(instance) == ["work"]
    assert read(api, instance)["status"] == "running"
    instance = complete(api, clerk, instance, "work", result="done")
    assert instance["status"] == "completed"
    recorded = events(api, instance)
    assert ("message.received", "escalated") in recorded
    assert ("task.completed", "escalation") in recorded


def test_interrupting_event_subprocess_runs_but_does_not_interrupt(api: Api) -> None:
    """As docs/bpmn-support.md says: SpiffWorkflow 3.2 ignores isInterrupting on event
    subprocesses, so the main flow stays open beside it."""
    assert api.deploy("event_subprocess.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "case_handling")
    instance = deliver(api, clerk, instance, "case_withdrawn")
    assert instance["status"] == "running"
    assert ready(instance) == ["work"]
    assert ("task.completed", "record_withdrawal") in events(api, instance)
    instance = complete(api, clerk, instance, "work", result="done")
    assert instance["status"] == "completed"


def test_a_triggered_event_subprocess_stays_in_its_own_instance(api: Api) -> None:
    """SpiffWorkflow wired a triggered event subprocess into the shared process spec, so every
    later instance of the definition started it at once and never completed."""
    assert api.deploy("event_subprocess.bpmn").status_code == 201
    clerk = api.user("clerk")
    first = start(api, clerk, "case_handling")
    first = deliver(api, clerk, first, "case_escalated")
    assert ready(first) == ["handle_escalation", "work"]

    second = start(api, clerk, "case_handling")
    assert ready(second) == ["work"]
    second = complete(api, clerk, second, "work", result="done")
    assert second["status"] == "completed"
    assert ("task.completed", "escalation") not in events(api, second)
    assert read(api, first)["status"] == "running"


def test_upload_warns_where_an_event_subprocess_runs_unlike_its_diagram(api: Api) -> None:
    deployed = api.deploy("event_subprocess_limits.bpmn")
    assert deployed.status_code == 201, deployed.text
    warnings = {
        d["key"]: [(w["element_id"], w["message"]) for w in d["warnings"]]
        for d in deployed.json()["definitions"]
    }
    ((timer_at, timer),) = warnings["reminder_case"]
    assert timer_at == "an_hour_later"
    assert "completes only after that timer has fired" in timer
    ((nested_at, nested),) = warnings["nested_case"]
    assert nested_at == "poke_received"
    assert "will never start" in nested
    deployed = api.deploy("event_subprocess.bpmn")
    ((interrupting_at, interrupting),) = [
        (w["element_id"], w["message"]) for w in deployed.json()["definitions"][0]["warnings"]
    ]
    assert interrupting_at == "withdrawn"
    assert "without interrupting" in interrupting


def test_timer_event_subprocess_keeps_the_instance_open_until_it_fires(api: Api) -> None:
    """A limit documented in docs/bpmn-support.md: SpiffWorkflow starts a timer-started event
    subprocess with the instance, and the instance completes only after its timer fired."""
    assert api.deploy("event_subprocess_limits.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "reminder_case")
    assert ready(instance) == ["work"]
    instance = complete(api, clerk, instance, "work")
    assert instance["status"] == "running"
    assert instance["tasks"] == []
    assert instance["next_timer_at"] is not None


def test_event_subprocess_inside_a_subprocess_is_not_started_by_a_message(api: Api) -> None:
    """A limit documented in docs/bpmn-support.md: SpiffWorkflow starts event subprocesses on a
    message, signal or error only at the top level of a process."""
    assert api.deploy("event_subprocess_limits.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "nested_case")
    assert ready(instance) == ["inner_work"]
    assert instance["waiting_messages"] == []
    response = api.client.post(
        f"/v1/instances/{instance['id']}/messages",
        headers=clerk,
        json={"name": "poke", "payload": {}},
    )
    assert response.status_code == 409
    instance = complete(api, clerk, instance, "inner_work")
    assert instance["status"] == "completed"


def test_cancel_while_an_event_subprocess_is_active(api: Api) -> None:
    assert api.deploy("event_subprocess.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "case_handling")
    instance = deliver(api, clerk, instance, "case_escalated")
    assert ready(instance) == ["handle_escalation", "work"]
    cancelled = api.client.post(f"/v1/instances/{instance['id']}/cancel", headers=clerk, json={})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["tasks"] == []


@pytest.mark.parametrize(
    ("proceed", "after", "booked"),
    [(True, "confirm", True), (False, "explain", False)],
    ids=["completes", "cancel-end-event"],
)
def test_transaction_subprocess(api: Api, proceed: bool, after: str, booked: bool) -> None:
    assert api.deploy("transaction.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "grant_payment")
    assert ready(instance) == ["prepare"]
    instance = complete(api, clerk, instance, "prepare", proceed=proceed)
    assert instance["status"] == "running"
    assert ready(instance) == [after]
    assert (("task.completed", "book") in events(api, instance)) is booked
    instance = complete(api, clerk, instance, after)
    assert instance["status"] == "completed"


def test_cancel_inside_a_transaction(api: Api) -> None:
    assert api.deploy("transaction.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "grant_payment")
    cancelled = api.client.post(f"/v1/instances/{instance['id']}/cancel", headers=clerk, json={})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"


def test_call_activity_to_a_process_of_the_same_file(api: Api) -> None:
    """The called process's user task keeps its role and its form inside the caller's instance."""
    assert api.deploy("call_activity.bpmn").status_code == 201
    clerk, registrar = api.user("clerk"), api.user("registrar")
    instance = start(api, clerk, "licence_application", applicant="ada")
    assert ready(instance) == ["verify"]
    verify = instance["tasks"][0]
    assert verify["roles"] == ["registrar"]
    assert [f["id"] for f in verify["form"]] == ["verified"]
    refused = api.client.post(
        f"/v1/tasks/{verify['id']}/complete", headers=clerk, json={"data": {"verified": True}}
    )
    assert refused.status_code == 403

    instance = complete(api, registrar, instance, "verify", verified=True)
    assert ready(instance) == ["grant"]
    assert instance["data"]["checked_name"] == "ADA"
    instance = complete(api, clerk, instance, "grant")
    assert instance["status"] == "completed"
    assert ("task.completed", "identity") in events(api, instance)


def test_cancel_inside_a_call_activity(api: Api) -> None:
    assert api.deploy("call_activity.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "licence_application", applicant="ada")
    cancelled = api.client.post(f"/v1/instances/{instance['id']}/cancel", headers=clerk, json={})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    inbox = api.client.get(
        "/v1/tasks", headers=api.user("registrar"), params={"state": "ready"}
    ).json()["items"]
    assert [t for t in inbox if t["instance_id"] == instance["id"]] == []


# Public models from SpiffWorkflow's own tests (tests/data/corpus/README.md): each reproduces
# what the upstream test asserts, through the service, reloaded between every step.
CORPUS = DATA / "corpus"


@pytest.mark.parametrize(
    ("value", "quantity", "reasons", "finished"),
    [
        ("Test", 2, {None}, ["Activity_Print_Data"]),
        ("", None, {"Cancel"}, ["Cancel_Action"]),
        ("Test", 0, {"Error None"}, ["Error_None_Action"]),
        # An error with code 1 is caught by both the code-1 and the catch-all boundary event.
        ("Test", -1, {"Error 1", "Error None"}, ["Error_1_Action", "Error_None_Action"]),
    ],
    ids=["completes", "cancel", "error-without-code", "error-1"],
)
def test_corpus_transaction(
    api: Api, value: str, quantity: int | None, reasons: set[str | None], finished: list[str]
) -> None:
    assert api.deploy(CORPUS / "transaction.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "Main_Process")
    assert ready(instance) == ["Activity_Get_Data"]
    instance = complete(api, clerk, instance, "Activity_Get_Data", value=value)
    if quantity is not None:
        assert ready(instance) == ["Activity_Get_Quantity"]
        instance = complete(api, clerk, instance, "Activity_Get_Quantity", quantity=quantity)
    assert instance["status"] == "completed", instance["incident"]
    assert instance["data"].get("reason") in reasons
    completed = [e for t, e in events(api, instance) if t == "task.completed"]
    for element_id in finished:
        assert element_id in completed
    others = {"Activity_Print_Data", "Cancel_Action", "Error_None_Action", "Error_1_Action"}
    assert not (others - set(finished)) & set(completed)


def test_corpus_timer_boundary_on_a_subprocess(api: Api) -> None:
    """A non-interrupting timer on an embedded subprocess, fired by the timer worker."""
    assert api.deploy(CORPUS / "timer-non-interrupt-boundary.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "NonInterruptTimer")
    assert ready(instance) == ["Activity_Work"]
    assert instance["next_timer_at"] is not None
    deadline = time.monotonic() + 10
    while ready(instance) == ["Activity_Work"] and time.monotonic() < deadline:
        time.sleep(0.1)
        fire_due_timers(api.store)
        instance = read(api, instance)
    assert ready(instance) == ["Activity_Work", "GetReason"]
    instance = complete(api, clerk, instance, "GetReason", delay_reason="Just Because")
    instance = complete(api, clerk, instance, "Activity_Work", work_done="Yes")
    assert instance["status"] == "completed", instance["incident"]
    assert instance["data"]["work_done"] == "Yes"
    assert instance["data"]["delay_reason"] == "Just Because"
    assert ("timer.fired", "Event_0jyy8ao") in events(api, instance)


def test_corpus_event_subprocess_started_by_a_signal(api: Api) -> None:
    assert api.deploy(CORPUS / "event-subprocess.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "main")
    assert ready(instance) == ["set_data"]
    instance = complete(api, clerk, instance, "set_data")
    assert ready(instance) == ["task"]
    instance = complete(api, clerk, instance, "task")
    assert instance["status"] == "completed", instance["incident"]
    assert ("task.completed", "sub") in events(api, instance)


def test_corpus_data_object_shared_with_a_subprocess(api: Api) -> None:
    assert api.deploy(CORPUS / "data_object.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "Process")
    instance = complete(api, clerk, instance, "generate_data", obj_1="hello")
    instance = complete(api, clerk, instance, "task_1")
    assert ready(instance) == ["read_data"]
    read_data = api.client.get(f"/v1/tasks/{instance['tasks'][0]['id']}", headers=clerk).json()
    assert read_data["data"]["obj_1"] == "hello"  # read through the data input association
    instance = complete(api, clerk, instance, "read_data")
    assert ready(instance) == ["placeholder"]  # inside the subprocess
    instance = complete(api, clerk, instance, "placeholder")
    assert instance["status"] == "completed", instance["incident"]
    assert instance["data"]["data_objects"] == {"obj_1": "hello"}
    assert "obj_1" not in {k for k in instance["data"] if k != "data_objects"}


def test_corpus_correlated_message_to_a_receive_task_in_a_subprocess(api: Api) -> None:
    """The receive task matches on its correlation key (uid == 1): a message whose payload
    carries another uid, or none, is not for this instance."""
    assert api.deploy(CORPUS / "waiting_event.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "main")
    assert instance["waiting_messages"] == ["B"]
    for payload in ({"uid": 2}, {}):
        wrong = api.client.post(
            f"/v1/instances/{instance['id']}/messages",
            headers=clerk,
            json={"name": "B", "payload": payload},
        )
        assert wrong.status_code == 409, wrong.text
    instance = deliver(api, clerk, instance, "B", uid=1, note="for you")
    assert instance["status"] == "completed", instance["incident"]
    assert instance["data"]["a_var"] == {"uid": 1, "note": "for you"}


def test_corpus_approvals_through_call_activities(api: Api) -> None:
    """ApprovalsTest (save and restore while waiting): manual tasks in three pools, two call
    activities, first approval wins, parallel approvals; each task done by a holder of its role."""
    assert api.deploy(CORPUS / "Approvals.bpmn").status_code == 201
    starter = api.user("clerk")
    instance = start(api, starter, "Approvals")

    def do(element_id: str, then: list[str]) -> None:
        nonlocal instance
        (roles,) = [t["roles"] for t in instance["tasks"] if t["element_id"] == element_id]
        instance = complete(api, api.user(",".join(roles) or "clerk"), instance, element_id)
        assert ready(instance) == then

    assert ready(instance) == [
        "First_Approval_Wins.Manager_Approval",
        "First_Approval_Wins.Supervisor_Approval",
    ]
    do("First_Approval_Wins.Manager_Approval", ["Approvals.First_Approval_Wins_Done"])
    do(
        "Approvals.First_Approval_Wins_Done",
        ["Approvals.Manager_Approval__P_", "Approvals.Supervisor_Approval__P_"],
    )
    do("Approvals.Supervisor_Approval__P_", ["Approvals.Manager_Approval__P_"])
    do("Approvals.Manager_Approval__P_", ["Approvals.Parallel_Approvals_Done"])
    do(
        "Approvals.Parallel_Approvals_Done",
        ["Parallel_Approvals_SP.Manager_Approval", "Parallel_Approvals_SP.Step1"],
    )
    do("Parallel_Approvals_SP.Manager_Approval", ["Parallel_Approvals_SP.Step1"])
    do("Parallel_Approvals_SP.Step1", ["Parallel_Approvals_SP.Supervisor_Approval"])
    do("Parallel_Approvals_SP.Supervisor_Approval", ["Approvals.Parallel_SP_Done"])
    do("Approvals.Parallel_SP_Done", [])
    assert instance["status"] == "completed", instance["incident"]
