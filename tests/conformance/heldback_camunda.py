"""Drivers of the held-back SpiffWorkflow models under heldback/spiffworkflow/camunda/ (see
heldback/README.md): each file driven over HTTP with its upstream test's inputs.

SpiffWorkflow's camunda tests run a collaboration (several pools) as one workflow; powerflow
deploys each pool as a process of its own, so a driver starts the pool that starts by itself
and follows the instances its messages start (``Run.messages``), asserting each instance's
data where the upstream workflow keeps that pool's data (its subprocess)."""

from __future__ import annotations

from typing import Any

from conformance.harness import Run
from conformance.heldback_registry import SPIFF, held

CAMUNDA = SPIFF + "camunda/data/"

MOVE_ACROSS_JOIN = (
    "POST .../move to a task on a parallel branch that a join has already merged is refused "
    "(409 'does not lie before'): engine/recovery.py:move follows only the task-tree parent "
    "chain, which holds the last-arriving branch only; and engine/compaction.py drops the "
    "join's other tokens, so the re-run branch could never re-join"
)
CARDINALITY_COLLECTION = (
    "deliberate: a loop cardinality is a count, as BPMN and Camunda define it; SpiffWorkflow's "
    "Camunda parser alone also reads a collection there ('collection in cardinality'). The "
    "instance stops with an incident on the task saying to name the collection in "
    "loopDataInputRef or camunda:collection (tests/test_faithful_model.py)"
)


def _at(run: Run, instance_id: str) -> dict[str, Any]:
    """Switch ``run`` to instance ``instance_id`` and read it."""
    run.instance = {"id": instance_id}
    return run.read()


def _approval_rounds(run: Run, planner_id: str, received_as: str) -> None:
    """The planner enters each plan of PLAN_STEPS; each ApprovalRequest starts an approver
    instance, which holds the plan under ``received_as`` and answers."""
    for index, (plan, answer) in enumerate(PLAN_STEPS):
        _at(run, planner_id)
        assert run.ready() == ["Activity_EnterPlan"]
        run.complete("Activity_EnterPlan", plan_details=plan)
        assert run.status == "running", run.incident
        request = run.messages("ApprovalRequest")[index]
        assert request["status"] == "started", request
        (approver,) = request["started"]
        _at(run, approver)
        assert run.ready() == ["Activity_ApproveOrDeny"]
        run.complete("Activity_ApproveOrDeny", approved=answer)
        assert run.status == "completed", run.incident
        assert run.data == {received_as: plan, "approved": answer}, run.data


def _refused(run: Run, element_id: str, **data: Any) -> str:
    """Completing ``element_id`` with ``data`` is refused (422); returns the detail."""
    task = run.task(element_id)
    response = run.call(
        "POST",
        f"/v1/tasks/{task['id']}/complete",
        headers=run.user(*task["roles"]),
        json={"data": data},
    )
    assert response.status_code == 422, response.text
    return response.text


@held(CAMUNDA + "parallel_multiinstance_collection.bpmn")
def parallel_multiinstance_collection(run: Run) -> None:
    """ParseMultiInstanceTest.testCollection: camunda:collection="input_data" with
    camunda:elementVariable="input_item": three children, the collection updated in place."""
    run.start(run.key(CAMUNDA + "parallel_multiinstance_collection.bpmn"), input_data=[1, 2, 3])
    assert run.ready() == ["any_task"] * 3
    while run.ready():
        item = run.task("any_task")["data"]["input_item"]
        run.complete("any_task", input_item=item * 2)
    assert run.status == "completed"
    assert run.data == {"input_data": [2, 4, 6]}


@held(CAMUNDA + "parallel_multiinstance_cardinality.bpmn", xfail=CARDINALITY_COLLECTION)
def parallel_multiinstance_cardinality(run: Run) -> None:
    """ParseMultiInstanceTest.testCollectionInCardinality: a loopCardinality naming a list
    (input_data) is read by the Camunda parser as the input collection, the output collection
    camunda:collection="output_data" and item camunda:elementVariable="output_item": three
    children, each holding its item in output_item; doubled, output_data is [2, 4, 6].
    (testIntegerCardinality rewrites the parsed spec in Python: no HTTP equivalent.)"""
    run.start(run.key(CAMUNDA + "parallel_multiinstance_cardinality.bpmn"), input_data=[1, 2, 3])
    assert run.ready() == ["any_task"] * 3
    items = [run.task("any_task", i)["data"]["output_item"] for i in range(3)]
    assert sorted(items) == [1, 2, 3], items
    while run.ready():
        item = run.task("any_task")["data"]["output_item"]
        run.complete("any_task", output_item=item * 2)
    assert run.status == "completed", run.incident
    assert run.data == {"input_data": [1, 2, 3], "output_data": [2, 4, 6]}


# -- decisions ------------------------------------------------------------------------------


@held(CAMUNDA + "DMNMultiInstance.bpmn")
def dmn_multi_instance(run: Run) -> None:
    """MultiInstanceDMNTest (deployed with dmn/test_integer_decision_multi.dmn in one bundle):
    a sequential multi-instance business rule task over the dict 'stuff' (elementVariable
    item); the decision's output 'item.y' lands in each item, stuff['E']['y'] == 'D'."""
    deployed = run.deploy_bundle(
        CAMUNDA + "DMNMultiInstance.bpmn", CAMUNDA + "dmn/test_integer_decision_multi.dmn"
    )
    assert {d["key"]: d["kind"] for d in deployed} == {
        "Process_1": "process",
        "IntegerDecisionStringOutputTable": "decision",
    }
    run.start("Process_1")
    assert run.status == "completed", run.incident
    assert run.data["stuff"]["E"]["y"] == "D"
    assert run.data == {
        "stuff": {
            "A": {"x": 3, "y": "A"},
            "B": {"x": 4, "y": "B"},
            "C": {"x": 5, "y": "C"},
            "D": {"x": 6, "y": "D"},
            "E": {"x": 7, "y": "D"},
        }
    }


@held(CAMUNDA + "ExclusiveGatewayIfElseAndDecision.bpmn")
def exclusive_gateway_if_else_and_decision(run: Run) -> None:
    """BusinessRuleTaskParserTest.testDmnHappy (deployed with dmn/test_integer_decision.dmn, a
    DMN 1.1 file, in one bundle): x=3 takes the gateway's default flow to the decision
    (camunda:decisionRef), which answers y='A'; the data is {'x': 3, 'y': 'A'}. (The other
    tests mock the DMN engine or compare script engines: Python internals.)"""
    deployed = run.deploy_bundle(
        CAMUNDA + "ExclusiveGatewayIfElseAndDecision.bpmn",
        CAMUNDA + "dmn/test_integer_decision.dmn",
    )
    assert {d["key"]: d["kind"] for d in deployed} == {
        "Process_1": "process",
        "IntegerDecisionStringOutputTable": "decision",
    }
    run.start("Process_1", x=3)
    assert run.status == "completed", run.incident
    assert run.data == {"x": 3, "y": "A"}
    assert ("task.completed", "TaskDecision") in run.events()


# -- messages -------------------------------------------------------------------------------


@held(CAMUNDA + "MessageBoundary.bpmn")
def message_boundary(run: Run) -> None:
    """MessageBoundaryTest: pool Process_0srqcj1 loops 'Do Work' (a manual task) and a 0.01 s
    timer inside a subprocess; pool Process_1kjyavs asks 'Interrupt Work?' (lane Boss). Two
    'No' answers loop; 'Yes' throws Message_Interrupt, whose interrupting boundary event on the
    subprocess ends the other pool: both instances complete."""
    definitions = run.deploy(CAMUNDA + "MessageBoundary.bpmn")
    assert {d["key"] for d in definitions if d["executable"]} == {
        "Process_1kjyavs",
        "Process_0srqcj1",
    }
    worker = run.start("Process_0srqcj1")
    assert run.ready() == ["Activity_106f08z"]
    assert run.instance["waiting_messages"] == ["Message_Interrupt"]
    boss = run.start("Process_1kjyavs")
    assert run.ready() == ["Activity_Interrupt"]  # two ready tasks in all, as upstream
    for answer in ("No", "No", "Yes"):
        _at(run, boss["id"])
        run.complete("Activity_Interrupt", interrupt_task=answer)
        _at(run, worker["id"])
        if answer == "Yes":
            break
        run.complete("Activity_106f08z")
        assert run.ready() == []  # taking a break: the timer waits
        run.wait_for_timers(0.02)
        assert run.ready() == ["Activity_106f08z"]
    assert run.status == "completed", run.ready()
    assert _at(run, boss["id"])["status"] == "completed"
    (sent,) = run.messages("Message_Interrupt")
    assert sent["status"] == "delivered" and sent["delivered_to"] == [worker["id"]]


@held(CAMUNDA + "noninterrupting-MessageBoundary.bpmn")
def noninterrupting_message_boundary(run: Run) -> None:
    """NIMessageBoundaryTest: pool Process_1kjyavs asks 'Is work Late?' (flag_task) in a loop,
    pool Process_1k0py56 'Do Work' (work_done) in a subprocess with a non-interrupting
    message boundary event. Three rounds of 'No'; then 'Yes' throws Message_Tardy with
    camunda:expression "Youre late!" (the catch stores it under
    Event_InterruptBoundary_Response) and 'Why was the work Late?' opens beside 'Do Work';
    work_done 'Yes' leads to 'What work was completed?', and the instance completes with the
    data upstream's Process_1k0py56 ends with (flag_task stays in the other pool)."""
    definitions = run.deploy(CAMUNDA + "noninterrupting-MessageBoundary.bpmn")
    assert {d["key"] for d in definitions if d["executable"]} == {
        "Process_1kjyavs",
        "Process_1k0py56",
    }
    work = run.start("Process_1k0py56")
    assert run.ready() == ["Activity_DoWork"]
    boss = run.start("Process_1kjyavs")
    assert run.ready() == ["Activity_WorkLate"]
    for _ in range(3):
        _at(run, boss["id"])
        run.complete("Activity_WorkLate", flag_task="No")
        _at(run, work["id"])
        run.complete("Activity_DoWork", work_done="No")
    _at(run, boss["id"])
    run.complete("Activity_WorkLate", flag_task="Yes")
    assert run.status == "completed"
    assert run.data == {"flag_task": "Yes"}
    _at(run, work["id"])
    assert run.ready() == ["Activity_WorkLateReason", "Activity_DoWork"] or run.ready() == [
        "Activity_DoWork",
        "Activity_WorkLateReason",
    ]
    run.complete("Activity_DoWork", work_done="No")
    run.complete("Activity_WorkLateReason", work_late_reason="covid-19")
    run.complete("Activity_DoWork", work_done="No")
    assert run.ready() == ["Activity_DoWork"]
    run.complete("Activity_DoWork", work_done="Yes")
    assert run.ready() == ["Activity_WorkCompleted"]
    run.complete("Activity_WorkCompleted", work_completed="Lots of Stuff")
    assert run.status == "completed", run.incident
    assert run.data == {
        "Event_InterruptBoundary_Response": "Youre late!",
        "work_done": "Yes",
        "work_completed": "Lots of Stuff",
        "work_late_reason": "covid-19",
    }, run.data


@held(CAMUNDA + "external_message.bpmn")
def external_message(run: Run) -> None:
    """ExternalMessageBoundaryTest: messages from outside (POST /v1/messages) at the user task.
    Upstream catches 'Interrupt' with SpiffWorkflow's Camunda payload {'result_var':
    'interrupt_var', 'payload': 'SomethingImportant'}, its Python encoding of "set
    interrupt_var"; over HTTP a message sets variables by naming them in its payload, so
    {'interrupt_var': 'SomethingImportant'} is sent. The non-interrupting boundary event opens
    'Pause' (caughtinterrupt True) beside the user task (caughtinterrupt False); 'reset'
    (interrupting) with reset_var cancels the user task and runs 'ResetVars' (scriptFormat
    "reset") again: the user task is back, with reset_var 'SomethingDrastic' and caughtinterrupt
    False."""
    run.start(run.key(CAMUNDA + "external_message.bpmn"))
    assert run.ready() == ["Activity_147sm5j"]
    assert sorted(run.instance["waiting_messages"]) == ["Interrupt", "reset"]
    sent = run.send("Interrupt", payload={"interrupt_var": "SomethingImportant"})
    assert sent["delivered_to"] == [run.instance["id"]]
    run.read()
    assert run.ready() == ["Activity_147sm5j", "Activity_0sywrc6"]  # upstream: [1] is 'Pause'
    pause = run.task("Activity_0sywrc6")["data"]
    assert pause == {"caughtinterrupt": True, "interrupt_var": "SomethingImportant"}, pause
    assert run.task("Activity_147sm5j")["data"] == {"caughtinterrupt": False}
    run.complete("Activity_0sywrc6")
    assert run.ready() == ["Activity_147sm5j"]

    sent = run.send("reset", payload={"reset_var": "SomethingDrastic"})
    assert sent["delivered_to"] == [run.instance["id"]]
    run.read()
    assert run.status == "running", run.incident
    assert run.ready() == ["Activity_147sm5j"]
    data = run.task("Activity_147sm5j")["data"]
    assert data["reset_var"] == "SomethingDrastic", data
    assert data["caughtinterrupt"] is False, data
    assert run.instance["waiting_messages"] == ["Interrupt", "reset"]


PLAN_STEPS = [("Bad", "No"), ("Better", "No"), ("Best", "Yes")]


@held(CAMUNDA + "message_test.bpmn")
def message_test(run: Run) -> None:
    """StartMessageTest: pool Process_05r9nfx enters a plan and throws ApprovalRequest
    (camunda:expression plan_details), which starts pool ThrowCatch at its message start
    event; its answer 'Approval' (camunda:expression approved,
    camunda:resultVariable ApprovalResult) comes back to GetDecision. Two 'No's loop back to
    'Enter Plan'; 'Yes' leads to 'Enable Plan', and the instance ends with
    {'plan_details': 'Best', 'ApprovalResult': 'Yes', 'Done': 'OK!'}; each ThrowCatch instance
    holds the plan under StartApprovalProcess_Response.
    (testParserCanReturnStartMessages: ThrowCatch waits for ApprovalRequest at its start,
    random_fact for nothing, see random_fact.)"""
    definitions = run.deploy(CAMUNDA + "message_test.bpmn")
    assert {d["key"] for d in definitions if d["executable"]} == {"ThrowCatch", "Process_05r9nfx"}
    planner = run.start("Process_05r9nfx")
    _approval_rounds(run, planner["id"], "StartApprovalProcess_Response")
    _at(run, planner["id"])
    assert run.ready() == ["Activity_EnablePlan"]
    run.complete("Activity_EnablePlan", Done="OK!")
    assert run.status == "completed", run.incident
    assert run.data == {"plan_details": "Best", "ApprovalResult": "Yes", "Done": "OK!"}


@held(CAMUNDA + "call_activity_with_message_parent.bpmn")
def call_activity_with_message(run: Run) -> None:
    """CallActivityMessageTest (with call_activity_with_message.bpmn in one bundle): pool
    Process_0vpmpb9 calls 'Subprocess', whose 'Enter Plan' throws ApprovalRequest
    (camunda:expression plan_details); that starts pool Process_0xeaemr, whose answer
    ApprovalResponse (camunda:expression approved, camunda:resultVariable Approved) reaches the
    catch inside the called process. Two 'No's loop; 'Yes' ends the called process at its
    terminate end event, 'Enable Plan' follows, and the instance ends with
    {'plan_details': 'Best', 'Approved': 'Yes', 'Done': 'OK!'}."""
    deployed = run.deploy_bundle(
        CAMUNDA + "call_activity_with_message_parent.bpmn",
        CAMUNDA + "call_activity_with_message.bpmn",
    )
    assert {d["key"] for d in deployed if d["executable"]} == {
        "Process_0xeaemr",
        "Process_0vpmpb9",
        "Subprocess",
    }
    planner = run.start("Process_0vpmpb9")
    _approval_rounds(run, planner["id"], "Event_Get_Approval_Request_Response")
    _at(run, planner["id"])
    assert run.ready() == ["Activity_EnablePlan"]
    run.complete("Activity_EnablePlan", Done="OK!")
    assert run.status == "completed", run.incident
    assert run.data == {"plan_details": "Best", "Approved": "Yes", "Done": "OK!"}


# -- subprocesses and token moves ------------------------------------------------------------


@held(CAMUNDA + "subWorkflowComplex.bpmn")
def sub_workflow_complex(run: Run) -> None:
    """SubWorkflowTest: in the subprocess FormA, then the parallel Form A1 and Form A2 (A1
    first), then FormB after it; the data holds every field."""
    run.start(run.key(CAMUNDA + "subWorkflowComplex.bpmn"))
    for answer in ("A", "A1", "A2", "B"):
        assert run.ready()[0] == f"Activity_{answer}", run.ready()
        run.complete(f"Activity_{answer}", **{f"Field{answer}": answer})
    assert run.status == "completed"
    assert run.data == {"FieldA": "A", "FieldA1": "A1", "FieldA2": "A2", "FieldB": "B"}


def _first(run: Run) -> None:
    """Upstream answers 'First' with First='Yes', a field its form (do_step) does not declare:
    powerflow refuses that (a Camunda form is the task's whole input), so the instance is
    started with First='Yes' instead and 'First' is completed empty."""
    assert run.ready() == ["First"]
    assert "'First' is not a field" in _refused(run, "First", First="Yes")
    run.complete("First")


def _redo(run: Run, steps: list[tuple[str, str, set[str]]]) -> None:
    """After a move: the ready tasks are each step's set (upstream's ready list; powerflow lists
    them in diagram order), and the step's Form<name> is completed with its answer."""
    for name, answer, ready in steps:
        assert set(run.ready()) == ready, (name, run.ready())
        run.complete(f"Form{name}", **{name: answer})


def _answer(run: Run, steps: list[tuple[str, str]]) -> None:
    """Complete, in turn, the first ready task, which must be the step's Form<name>."""
    for name, answer in steps:
        assert run.ready()[0] == f"Form{name}", (name, run.ready())
        run.complete(f"Form{name}", **{name: answer})


MATRIX = [(n, f"x{n.lower()}") for n in ("A1", "A2", "A3", "B1", "B2", "B3", "C1", "C2", "C3")]


@held(CAMUNDA + "token_trial_parallel_matrix.bpmn")
def token_trial_parallel_matrix(run: Run) -> None:
    """ResetTokenTestParallelMatrix over POST /v1/instances/{id}/move: three parallel rows of
    three forms. The matrix completed, the token moved back to FormB2: B2 and B3 again (FormD
    stays ready beside them, as SpiffWorkflow's reset leaves it), then FormD, the other answers
    kept. Answered up to FormB2, moved back to FormA2: FormA2, FormB3
    and FormC1 ready; answered in turn (A2, A3, B3, C1, C2, C3, D), the earlier answers kept."""
    key = run.key(CAMUNDA + "token_trial_parallel_matrix.bpmn")
    run.start(key, First="Yes")
    _first(run)
    _answer(run, MATRIX)
    assert run.ready() == ["FormD"]
    run.move("FormB2", "redo B2")
    _redo(
        run,
        [
            ("B2", "b2", {"FormB2", "FormD"}),  # SpiffWorkflow leaves FormD ready
            ("B3", "b3", {"FormB3", "FormD"}),
            ("D", "d", {"FormD"}),
        ],
    )
    assert run.status == "completed", run.incident
    assert run.data == {"First": "Yes", **dict(MATRIX), "B2": "b2", "B3": "b3", "D": "d"}

    run.start(key, First="Yes")
    _first(run)
    _answer(run, MATRIX[:5])
    run.move("FormA2", "redo A2")
    assert run.ready() == ["FormA2", "FormB3", "FormC1"]
    again = [("A2", "a2"), ("A3", "a3"), ("B3", "b3"), ("C1", "c1"), ("C2", "c2"), ("C3", "c3")]
    _answer(run, [*again, ("D", "d")])
    assert run.status == "completed", run.incident
    assert run.data == {"First": "Yes", **dict(MATRIX), **dict(again), "D": "d"}


@held(CAMUNDA + "token_trial_nested_parallel.bpmn")
def token_trial_nested_parallel(run: Run) -> None:
    """ResetTokenTestNestedParallel over POST /v1/instances/{id}/move: three parallel rows,
    each itself a parallel split of three forms. The matrix completed, moved back to FormB2:
    only FormB2 again (FormD stays ready beside it), then FormD. Answered up to FormB2, moved
    back to FormA2: FormA2, FormB3, FormC1, FormC2, FormC3 ready; answered in turn, then FormD;
    earlier answers kept."""
    key = run.key(CAMUNDA + "token_trial_nested_parallel.bpmn")
    run.start(key, First="Yes")
    _first(run)
    _answer(run, MATRIX)
    assert run.ready() == ["FormD"]
    run.move("FormB2", "redo B2")
    _redo(run, [("B2", "b2", {"FormB2", "FormD"}), ("D", "d", {"FormD"})])
    assert run.status == "completed", run.incident
    assert run.data == {"First": "Yes", **dict(MATRIX), "B2": "b2", "D": "d"}

    run.start(key, First="Yes")
    _first(run)
    _answer(run, MATRIX[:5])
    run.move("FormA2", "redo A2")
    assert run.ready() == ["FormA2", "FormB3", "FormC1", "FormC2", "FormC3"]
    again = [("A2", "a2"), ("B3", "b3"), ("C1", "c1"), ("C2", "c2"), ("C3", "c3")]
    _answer(run, [*again, ("D", "d")])
    assert run.status == "completed", run.incident
    assert run.data == {"First": "Yes", **dict(MATRIX), **dict(again), "D": "d"}


@held(CAMUNDA + "token_trial_subprocess.bpmn")
def token_trial_subprocess(run: Run) -> None:
    """ResetTokenTestSubProcess over POST /v1/instances/{id}/move: FormA1..A3 answered inside
    the subprocess, FormD ready; moved back to FormA1: A1, A2, A3 again, then FormD; the data
    holds the new answers."""
    run.start(run.key(CAMUNDA + "token_trial_subprocess.bpmn"), First="Yes")
    _first(run)
    _answer(run, [("A1", "xa1"), ("A2", "xa2"), ("A3", "xa3")])
    assert run.ready() == ["FormD"]
    run.move("FormA1", "redo the subprocess")
    assert run.ready() == ["FormA1"]
    _answer(run, [("A1", "a1"), ("A2", "a2"), ("A3", "a3"), ("D", "d")])
    assert run.status == "completed", run.incident
    assert run.data == {"First": "Yes", "A1": "a1", "A2": "a2", "A3": "a3", "D": "d"}


@held(CAMUNDA + "token_trial_parallel_simple.bpmn")
def token_trial_parallel_simple(run: Run) -> None:
    """ResetTokenParallelTaskCountTest: resetting the token must not multiply tasks. Upstream
    resets the branch of 'Set data' right after running it with skipParallel=True (before the
    engine runs on, which over HTTP would end the instance); here 'Set data' is answered
    skipParallel=False (Task P1 and P2 ready), the token is moved back to it: exactly one ready
    task, the two parallel tasks closed; then skipParallel=True completes the instance."""
    run.start(run.key(CAMUNDA + "token_trial_parallel_simple.bpmn"))
    assert run.ready() == ["Activity_1ghr6kd"]
    run.complete("Activity_1ghr6kd", skipParallel=False)
    assert sorted(run.ready()) == ["UserTask_0fd3nql", "UserTask_1k9gxsc"]
    parallel = [run.task(e)["id"] for e in ("UserTask_0fd3nql", "UserTask_1k9gxsc")]
    run.move("Activity_1ghr6kd", "skip the parallel tasks")
    assert run.ready() == ["Activity_1ghr6kd"]
    assert run.listed() == ["Activity_1ghr6kd"]
    for task_id in parallel:
        closed = run.call("GET", f"/v1/tasks/{task_id}", headers=run.api.admin)
        assert closed.json()["state"] == "cancelled"
    run.complete("Activity_1ghr6kd", skipParallel=True)
    assert run.status == "completed", run.incident
    assert run.data == {"skipParallel": True}


# -- parsing only ---------------------------------------------------------------------------


@held(CAMUNDA + "no_form.bpmn")
def no_form(run: Run) -> None:
    """UserTaskParserTest.testNoFormDoesNotBombOut only parses a user task without a form
    (camunda:properties only). Over HTTP: it deploys, the task is ready with no form fields,
    and completing it ends the instance."""
    run.start(run.key(CAMUNDA + "no_form.bpmn"))
    assert run.ready() == ["Task_Not_A_Darn_Thing"]
    assert not run.task("Task_Not_A_Darn_Thing")["form"]
    run.complete("Task_Not_A_Darn_Thing")
    assert run.status == "completed"


@held(CAMUNDA + "random_fact.bpmn")
def random_fact(run: Run) -> None:
    """UserTaskParserTest / CamundaExtensionsTest / StartMessageTest only parse this file: the
    form of Task_User_Select_Type has one enum field 'type' with three options, and the process
    has no start message. Over HTTP: it deploys, starts without waiting for a message, offers
    the form; the script after it calls scripts.FactService, which no upstream test defines
    (an application's helper): the instance parks with an incident on that script task."""
    run.start(run.key(CAMUNDA + "random_fact.bpmn"))
    assert run.instance["waiting_messages"] == []
    assert run.ready() == ["Task_User_Select_Type"]
    (field,) = run.task("Task_User_Select_Type")["form"]
    assert field["id"] == "type" and field["type"] == "enum"
    run.complete("Task_User_Select_Type", type="cat")
    assert run.status == "failed"
    assert run.incident is not None
    assert run.incident["element_id"] == "Task_Get_Fact_From_API"
    assert "scripts" in run.incident["message"]
