"""How each primary corpus file is driven over HTTP, and the outcome it must reach.

One small function per file. The inputs are those of the upstream SpiffWorkflow test named at
the start of the manifest's ``expected_outcome`` (tests/SpiffWorkflow/... at the corpus commit):
where a test puts data on the start task, the instance is started with it; where it puts data
on a ready task, that task is completed with it; messages go through ``POST /v1/messages``
with the payload the upstream test sends. ``XFAIL`` lists the files that cannot pass and why.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conformance.harness import Run
from connector_stubs import stub_connectors

BPMN = "spiffworkflow/bpmn/data/"
SPIFF = "spiffworkflow/spiff/data/"

SANDBOX = (
    "calls custom_function, a Python function the upstream test injects into its script "
    "engine; powerflow's script sandbox offers no such function (by design)"
)

XFAIL: dict[str, str] = {
    BPMN + "timer-cycle.bpmn": SANDBOX,
}

Driver = Callable[[Run], None]
DRIVERS: dict[str, Driver] = {}
# Files deployed together with a primary, in one bundle upload.
COMPANIONS: dict[str, list[str]] = {
    BPMN + "call_activity_end_event.bpmn": [BPMN + "call_activity_call_activity.bpmn"],
    BPMN + "call_activity_with_error.bpmn": [BPMN + "call_activity_call_activity.bpmn"],
    SPIFF + "business_rule_task.bpmn": [SPIFF + "dmn/business_rules.dmn"],
}


def drives(file: str) -> Callable[[Driver], Driver]:
    """Register the driver of ``file`` (a path in the corpus)."""

    def register(driver: Driver) -> Driver:
        DRIVERS[file] = driver
        return driver

    return register


def _bundle(run: Run, file: str) -> dict[str, str]:
    """Deploy ``file`` with its companions in one upload: {key: kind} of what it deployed."""
    return {d["key"]: d["kind"] for d in run.deploy_bundle(file, *COMPANIONS[file])}


# -- scripts and gateways -------------------------------------------------------------------


@drives(BPMN + "ScriptTest.bpmn")
def script_test(run: Run) -> None:
    """PythonScriptEngineTest: the scripts run; their functions do not leak into the data."""
    run.start(run.key(BPMN + "ScriptTest.bpmn"))
    assert run.status == "completed"
    assert run.data == {
        "testvar": {"a": 1, "b": 2, "new": "Test"},
        "testvar2": [{"x": 1, "y": "a"}, {"x": 2, "y": "b"}, {"x": 3, "y": "c"}],
        "sample": ["b", "c"],
    }


@drives(BPMN + "exclusive_gateway_no_default.bpmn")
def exclusive_gateway_no_default(run: Run) -> None:
    """ExclusiveGatewayNoDefaultTest: x=1 matches no flow: an incident on the gateway."""
    run.start(run.key(BPMN + "exclusive_gateway_no_default.bpmn"), x=1)
    assert run.status == "failed"
    assert run.incident is not None
    assert run.incident["element_id"] == "Gateway_CheckValue"


@drives(BPMN + "inclusive_gateway.bpmn")
def inclusive_gateway(run: Run) -> None:
    """InclusiveGatewayTest: default only; both branches; no path from the second gateway."""
    key = run.key(BPMN + "inclusive_gateway.bpmn")
    run.start(key)
    run.complete("set_data", v=-1, u=-1, w=-1)
    assert run.status == "completed"
    assert run.data == {"v": 0, "u": -1, "w": -1}

    run.start(key)
    run.complete("set_data", v=0, u=1, w=1)
    assert run.status == "completed"
    assert run.data == {"v": 0, "u": 1, "w": 1}

    run.start(key)
    run.complete("set_data", v=0, u=-1, w=-1)
    assert run.status == "failed"
    assert run.incident is not None and run.incident["element_id"] == "second"


@drives(BPMN + "ParallelOrder.bpmn")
def parallel_order(run: Run) -> None:
    """ParallelOrderTest: four ready tasks in diagram order, in both task lists."""
    run.start(run.key(BPMN + "ParallelOrder.bpmn"))
    assert run.status == "running"
    assert [t["name"] for t in run.instance["tasks"]] == ["Task 1", "Task 2", "Task 3", "Task 4"]
    assert run.listed() == run.ready()
    assert run.read()["tasks"] == run.instance["tasks"]


@drives(BPMN + "gateway_loop_input.bpmn")
def gateway_loop_input(run: Run) -> None:
    """ParallelGatewayLoopInputTest: one ready task; then completed with x == 2."""
    run.start(run.key(BPMN + "gateway_loop_input.bpmn"))
    assert run.ready() == ["task"]
    run.complete("task")
    assert run.status == "completed"
    assert run.data == {"x": 2}


# -- timers ---------------------------------------------------------------------------------


@drives(BPMN + "timer.bpmn")
def timer(run: Run) -> None:
    """TimerDurationTest: one waiting timer (0.25 s); fired by the timer worker, no timer
    remains and the instance completes."""
    run.start(run.key(BPMN + "timer.bpmn"))
    assert run.status == "running"
    assert run.instance["next_timer_at"] is not None
    run.wait_for_timers(0.3)
    assert run.instance["next_timer_at"] is None
    assert run.status == "completed"


@drives(BPMN + "timer-date-start.bpmn")
def timer_date(run: Run) -> None:
    """TimerDateTest: a timer at a date computed by a script; fires, the instance completes."""
    run.start(run.key(BPMN + "timer-date-start.bpmn"))
    assert run.status == "running"
    assert run.instance["next_timer_at"] is not None
    run.wait_for_timers(0.1)
    assert run.status == "completed"


@drives(BPMN + "timer-cycle.bpmn")
def timer_cycle(run: Run) -> None:
    """TimerCycleTest: a cycle R2/PT0.1S beside a ready task; it fires twice, then no timer
    remains; the script it runs calls ``custom_function``, which the upstream test injects
    into its script engine (powerflow's sandbox has no such function)."""
    run.start(run.key(BPMN + "timer-cycle.bpmn"))
    assert run.ready() == ["Get_Coffee"]
    assert run.instance["next_timer_at"] is not None
    for _ in range(3):
        run.wait_for_timers(0.12)
    assert run.status == "running", run.incident
    assert run.instance["next_timer_at"] is None
    assert run.ready() == ["Get_Coffee"]


@drives(BPMN + "boundary_timer_on_task.bpmn")
def boundary_timer_on_task(run: Run) -> None:
    """TimerDurationBoundaryOnTaskTest: the non-interrupting timer sets timer_called; the user
    task stays ready and completes the instance."""
    run.start(run.key(BPMN + "boundary_timer_on_task.bpmn"))
    assert run.ready() == ["user_task"]
    run.wait_for_timers(0.05)
    assert run.data["timer_called"] is True  # the script after the timer ran
    run.complete("user_task")
    assert run.status == "completed"


@drives(BPMN + "timer-non-interrupt-boundary.bpmn")
def timer_non_interrupt_boundary(run: Run) -> None:
    """NITimerDurationTest: one ready task until the boundary fires (0.2 s), then two."""
    run.start(run.key(BPMN + "timer-non-interrupt-boundary.bpmn"))
    assert run.ready() == ["Activity_Work"]
    run.wait_for_timers(0.25)
    assert sorted(run.ready()) == ["Activity_Work", "GetReason"]
    run.complete("GetReason", delay_reason="Just Because")
    run.complete("Activity_Work", work_done="Yes")
    assert run.status == "completed"
    assert run.data == {"work_done": "Yes", "delay_reason": "Just Because"}


# -- messages, signals, conditions ----------------------------------------------------------


@drives(BPMN + "collaboration.bpmn")
def collaboration(run: Run) -> None:
    """CollaborationTest.testBpmnMessage: only process_buddy is started; with lover_name
    'Peggy' it sends 'Love Letter' (kept: the other pool is not executable) and waits for
    'Love Letter Response' correlated by lover_name (from_name in the response). A response
    from 'Eve' is not for it; Peggy's completes it with the payload in its data."""
    definitions = run.deploy(BPMN + "collaboration.bpmn")
    assert {d["key"]: d["executable"] for d in definitions} == {
        "process_buddy": True,
        "random_person_process": False,
    }
    buddy = run.start("process_buddy", lover_name="Peggy")
    assert run.status == "running"
    assert run.instance["waiting_messages"] == ["Love Letter Response"]
    (letter,) = run.messages("Love Letter")  # process_buddy sends one message
    assert letter["source_instance_id"] == buddy["id"]
    assert letter["status"] == "kept"
    assert letter["correlation"] == {"lover_name": "Peggy"}

    stranger = run.send("Love Letter Response", payload={"from_name": "Eve"})
    assert stranger["status"] == "kept" and stranger["delivered_to"] == []
    assert run.read()["status"] == "running"

    payload = {"from_name": "Peggy", "other_nonsense": 1001}
    answer = run.send("Love Letter Response", payload=payload)
    assert answer["status"] == "delivered"
    assert answer["delivered_to"] == [buddy["id"]]  # lover_name read from from_name
    assert run.read()["status"] == "completed"
    assert run.data == {"from_name": "Peggy", "lover_name": "Peggy", "other_nonsense": 1001}


@drives(SPIFF + "correlation.bpmn")
def correlation(run: Run) -> None:
    """CorrelationTest: proc_1's two subprocess instances each start a proc_2 instance by
    message (payload num, name); each proc_2 answers with init_id = num, and the answer
    reaches the subprocess instance whose correlation (process_id) matches."""
    definitions = run.deploy(SPIFF + "correlation.bpmn")
    assert {d["key"] for d in definitions if d["executable"]} == {"proc_1", "proc_2"}
    proc_1 = run.start("proc_1")
    assert run.ready() == ["configure", "configure"]
    for num in range(2):
        run.complete(
            "configure", 0, task_num=num, task_name=f"subprocess {num}", extra_data="unused data"
        )
    assert run.status == "running"
    assert run.instance["waiting_messages"] == ["proc_2_response"]
    starts = run.messages("init_proc_2")
    assert [(m["payload"], m["correlation"], m["status"]) for m in starts] == [
        ({"num": num, "name": f"subprocess {num}"}, {"process_id": num}, "started")
        for num in range(2)
    ]
    assert all(m["source_instance_id"] == proc_1["id"] for m in starts)
    responders = [m["started"][0] for m in starts]

    # Answer the second request first: routing by correlation, not by order.
    for num in (1, 0):
        run.instance = {"id": responders[num]}
        run.read()
        assert run.ready() == ["prepare_response"]
        source = run.task("prepare_response")["data"]["source_task"]
        assert source == {"num": num, "name": f"subprocess {num}"}
        run.complete("prepare_response", response="OK" if source["num"] else "No")
        assert run.status == "completed"
        (answer,) = [m for m in run.messages("proc_2_response") if m["payload"]["init_id"] == num]
        assert answer["source_instance_id"] == responders[num]
        assert answer["status"] == "delivered" and answer["delivered_to"] == [proc_1["id"]]
        run.instance = proc_1
        run.read()
        assert run.status == ("running" if num else "completed")

    # The subprocess instance that ended last kept its own number and got its own answer.
    assert run.data == {
        "task_num": 0,
        "task_name": "subprocess 0",
        "extra_data": "unused data",
        "response": {"init_id": 0, "response": "No"},
    }
    received = [
        (payload["payload"]["init_id"], payload["correlation"]["process_id"])
        for kind, element, payload in run.event_rows()
        if kind == "message.received" and element == "get_response"
    ]
    assert received == [(1, 1), (0, 0)]


@drives(BPMN + "event-gateway.bpmn")
def event_gateway(run: Run) -> None:
    """EventBasedGatewayTest: message_1 wins over message_2 and the timer; another instance's
    timer (1 s) wins over both messages."""
    key = run.key(BPMN + "event-gateway.bpmn")
    run.start(key)
    assert sorted(run.instance["waiting_messages"]) == ["message_1", "message_2"]
    assert run.instance["next_timer_at"] is not None
    run.deliver("message_1")
    assert run.status == "completed"

    run.start(key)
    run.wait_for_timers(1.05)
    assert run.status == "completed"
    assert run.instance["waiting_messages"] == []


@drives(BPMN + "multiple-start.bpmn")
def multiple_start(run: Run) -> None:
    """MultipleStartEventTest: the start waits for message_1 or message_2; message_1 alone
    makes any_task ready."""
    run.start(run.key(BPMN + "multiple-start.bpmn"))
    assert sorted(run.instance["waiting_messages"]) == ["message_1", "message_2"]
    run.deliver("message_1")
    assert run.ready() == ["any_task"]


@drives(BPMN + "multiple-throw.bpmn")
def multiple_throw(run: Run) -> None:
    """MultipleThrowEventIntermediateCatchTest: respond waits for message_1 and message_2
    (parallelMultiple); initiate throws both in one event; both reach respond, which
    completes, and nothing is left waiting."""
    definitions = run.deploy(BPMN + "multiple-throw.bpmn")
    assert {d["key"] for d in definitions if d["executable"]} == {"respond", "initiate"}
    respond = run.start("respond")
    assert run.status == "running"
    assert sorted(run.instance["waiting_messages"]) == ["message_1", "message_2"]
    initiate = run.start("initiate")
    assert run.status == "completed"
    for name in ("message_1", "message_2"):
        (thrown,) = run.messages(name)
        assert thrown["source_instance_id"] == initiate["id"]
        assert thrown["status"] == "delivered" and thrown["delivered_to"] == [respond["id"]]
    run.instance = respond
    assert run.read()["status"] == "completed"
    assert run.instance["waiting_messages"] == []


@drives(BPMN + "event-subprocess.bpmn")
def event_subprocess(run: Run) -> None:
    """EventSubprocessTest: completing set_data throws the signal; the event subprocess's
    task gets the data and completes the instance."""
    run.start(run.key(BPMN + "event-subprocess.bpmn"))
    run.complete("set_data", v1=True, v2=False)
    assert run.ready() == ["task"]
    assert run.task("task")["data"] == {"v1": True, "v2": False}
    run.complete("task")
    assert run.status == "completed"


@drives(BPMN + "conditional_event.bpmn")
def conditional_event(run: Run) -> None:
    """ConditionalEventTest: event_1 waits until task_a_done; boundary event_2 fires on
    task_c_done and cancels task_d."""
    definitions = run.deploy(BPMN + "conditional_event.bpmn")
    assert {d["key"] for d in definitions if d["executable"]} == {"intermediate", "boundary"}
    run.start("intermediate")
    run.complete("task_b")
    assert run.status == "running"
    run.complete("task_a", task_a_done=True)
    assert run.status == "completed"

    run.start("boundary")
    assert sorted(run.ready()) == ["task_c", "task_d"]
    run.complete("task_c", task_c_done=True)
    assert run.status == "completed"
    assert run.ready() == []


@drives(SPIFF + "waiting_event.bpmn")
def waiting_event(run: Run) -> None:
    """WaitingEventTest: the receive task in the subprocess waits for B with the correlation
    uid=1 (spiffworkflow:processVariableCorrelation); a B for uid 2 is not for it; B with
    uid 1 completes the instance, its payload under a_var (messageVariable)."""
    run.start(run.key(SPIFF + "waiting_event.bpmn"))
    assert run.instance["waiting_messages"] == ["B"]
    other = run.send("B", payload={"uid": 2, "data": "asdf"})
    assert other["status"] == "kept" and other["delivered_to"] == []
    assert run.read()["status"] == "running"
    sent = run.send("B", payload={"uid": 1, "data": "asdf"})
    assert sent["status"] == "delivered" and sent["delivered_to"] == [run.instance["id"]]
    assert run.read()["status"] == "completed"
    assert run.data == {"a_var": {"uid": 1, "data": "asdf"}}


# -- subprocesses, transactions, call activities, escalation --------------------------------


@drives(BPMN + "transaction.bpmn")
def transaction(run: Run) -> None:
    """TransactionSubprocessTest: normal completion; cancel (value ''); error without code
    (quantity 0); error 1 (quantity -1), each caught by its boundary event."""
    key = run.key(BPMN + "transaction.bpmn")
    run.start(key)
    run.complete("Activity_Get_Data", value="asdf")
    run.complete("Activity_Get_Quantity", quantity=2)
    assert run.status == "completed"
    assert "value" in run.data

    run.start(key)
    run.complete("Activity_Get_Data", value="")
    assert run.status == "completed"
    assert "value" not in run.data

    for quantity in (0, -1):
        run.start(key)
        run.complete("Activity_Get_Data", value="asdf")
        run.complete("Activity_Get_Quantity", quantity=quantity)
        assert run.status == "completed", run.incident


@drives(BPMN + "call_activity_end_event.bpmn")
def call_activity_end_event(run: Run) -> None:
    """CallActivityTest: without its companion the file is refused, naming the missing called
    process; deployed with call_activity_call_activity.bpmn in one bundle, the called process
    returns its data (and the variable it deleted stays deleted)."""
    refused = run.upload(BPMN + "call_activity_end_event.bpmn", accept_any_data="true")
    assert refused.status_code == 422, refused.text
    (problem,) = refused.json()["problems"]
    assert problem["element_id"] == "Activity_Call_Activity"
    assert "'Call_Activity_Get_Data'" in problem["message"]

    assert _bundle(run, BPMN + "call_activity_end_event.bpmn") == {
        "Process_8200379": "process",
        "Call_Activity_Get_Data": "process",
    }
    run.start("Process_8200379")
    assert run.status == "completed"
    assert run.data == {"pre_var": "some string", "my_var": "World", "my_other_var": "Mike"}
    assert ("task.completed", "Sub_Bpmn_Task") in run.events()  # ran in the called file


@drives(BPMN + "call_activity_with_error.bpmn")
def call_activity_with_error(run: Run) -> None:
    """CallActivityTest: ErroringBPMN's called process fails in 'Create Data'; the instance
    is parked with an open incident on Sub_Bpmn_Task whose message carries the task trace
    across both files, innermost first."""
    deployed = _bundle(run, BPMN + "call_activity_with_error.bpmn")
    assert deployed == {"ErroringBPMN": "process", "Call_Activity_Get_Data": "process"}
    run.start("ErroringBPMN")
    assert run.status == "failed"
    assert run.incident is not None
    assert run.incident["element_id"] == "Sub_Bpmn_Task"
    trace = (
        r"Create Data \(.*?call_activity_call_activity\.bpmn\) <- "
        r"Get Data Call Activity \(.*?call_activity_with_error\.bpmn\)"
    )
    assert re.search(trace, run.incident["message"]), run.incident["message"]
    (incident,) = run.incidents()
    assert incident["status"] == "open" and incident["element_id"] == "Sub_Bpmn_Task"


@drives(BPMN + "uncaught_escalation.bpmn")
def uncaught_escalation(run: Run) -> None:
    """UncaughtEscalationTest: an escalation nobody catches does not stop the instance."""
    run.start(run.key(BPMN + "uncaught_escalation.bpmn"))
    assert run.status == "completed"


# -- loops and multi-instance ---------------------------------------------------------------


def _double_every_item(run: Run) -> None:
    while run.ready():
        item = run.task("any_task")["data"]["input_item"]
        run.complete("any_task", output_item=item * 2)


@drives(BPMN + "parallel_multiinstance_loop_input.bpmn")
def parallel_multiinstance_loop_input(run: Run) -> None:
    """ParallelMultiInstanceTest: three ready children; list input -> dict output, and dict
    input -> list output."""
    key = run.key(BPMN + "parallel_multiinstance_loop_input.bpmn")
    run.start(key, input_data=[1, 2, 3], output_data={})
    assert run.ready() == ["any_task"] * 3
    _double_every_item(run)
    assert run.status == "completed"
    assert run.data == {"input_data": [1, 2, 3], "output_data": {"0": 2, "1": 4, "2": 6}}

    run.start(key, input_data={"a": 1, "b": 2, "c": 3}, output_data=[])
    _double_every_item(run)
    assert run.data == {"input_data": {"a": 1, "b": 2, "c": 3}, "output_data": [2, 4, 6]}


@drives(BPMN + "parallel_multiinstance_cardinality.bpmn")
def parallel_multiinstance_cardinality(run: Run) -> None:
    """ParallelMultiInstanceTest (cardinality): three children, output [0, 2, 4]."""
    run.start(run.key(BPMN + "parallel_multiinstance_cardinality.bpmn"))
    assert run.ready() == ["any_task"] * 3
    _double_every_item(run)
    assert run.status == "completed"
    assert run.data == {"output_data": [0, 2, 4]}


@drives(BPMN + "sequential_multiinstance_loop_input.bpmn")
def sequential_multiinstance_loop_input(run: Run) -> None:
    """SequentialMultiInstanceTest: one ready child at a time, three in all."""
    run.start(
        run.key(BPMN + "sequential_multiinstance_loop_input.bpmn"),
        input_data=[1, 2, 3],
        output_data={},
    )
    for _ in range(3):
        assert run.ready() == ["any_task"]
        item = run.task("any_task")["data"]["input_item"]
        run.complete("any_task", output_item=item * 2)
    assert run.status == "completed"
    assert run.data == {"input_data": [1, 2, 3], "output_data": {"0": 2, "1": 4, "2": 6}}


@drives(BPMN + "standard_loop.bpmn")
def standard_loop(run: Run) -> None:
    """StandardLoopTest: loopMaximum 3; done set in the first iteration; done at the start."""
    key = run.key(BPMN + "standard_loop.bpmn")
    run.start(key, done=False)
    for index in range(3):
        assert run.ready() == ["any_task"]
        run.complete("any_task", **{f"i{index}": True})
    assert run.status == "completed"

    run.start(key, done=False)
    run.complete("any_task", done=True)
    assert run.status == "completed"

    run.start(key, done=True)
    assert run.status == "completed"


# -- data -----------------------------------------------------------------------------------


@drives(BPMN + "data_object.bpmn")
def data_object(run: Run) -> None:
    """DataObjectReferenceTest: obj_1 goes None -> 'hello'; a task without an output
    reference cannot change it; a subprocess reads and writes it."""
    run.start(run.key(BPMN + "data_object.bpmn"))
    run.complete("generate_data", obj_1="hello")
    assert run.ready() == ["task_1"]
    run.complete("task_1", obj_1="hello again")
    assert run.ready() == ["read_data"]
    assert run.task("read_data")["data"]["obj_1"] == "hello"
    run.complete("read_data", obj_1="hello again")
    assert run.ready() == ["placeholder"]
    assert run.task("placeholder")["data"]["obj_1"] == "hello"
    run.complete("placeholder", obj_1="hello again")
    assert run.status == "completed"
    assert "obj_1" not in run.data


@drives(BPMN + "data_store.bpmn")
def data_store(run: Run) -> None:
    """DataStoreReferenceTest needs a registered data store. powerflow has none, so the file
    is stored for viewing and starting it is refused with the reason (the manifest's
    acceptable result until data stores are supported)."""
    (definition,) = run.deploy(BPMN + "data_store.bpmn")
    assert definition["executable"] is False
    assert "data store" in definition["not_executable_reason"]
    refused = run.call(
        "POST", "/v1/instances", headers=run.user(), json={"definition_key": definition["key"]}
    )
    assert refused.status_code == 409
    assert "data store" in refused.json()["detail"]


@drives(BPMN + "io_spec_on_task.bpmn")
def io_spec_on_task(run: Run) -> None:
    """IOSpecOnTaskTest: the task sees only its declared inputs; only declared outputs come
    out of it."""
    run.start(run.key(BPMN + "io_spec_on_task.bpmn"))
    assert run.task("any_task")["data"] == {"in_1": 1, "in_2": "hello world"}
    run.complete("any_task", out_1=1, out_2="bye", extra=True)
    assert run.status == "completed"
    assert {k: run.data[k] for k in ("out_1", "out_2")} == {"out_1": 1, "out_2": "bye"}
    assert "extra" not in run.data


@drives(BPMN + "task_data_size.bpmn")
def task_data_size(run: Run) -> None:
    """PythonScriptEngineEnvironmentTest: every script's data is kept (d has 1536 items)."""
    run.start(run.key(BPMN + "task_data_size.bpmn"))
    assert run.status == "completed"
    assert len(run.data["d"]) == 1536


@drives(BPMN + "performance_test.bpmn")
def performance_test(run: Run) -> None:
    """test_performance_test: the multi-instance subprocess over data objects completes."""
    run.start(run.key(BPMN + "performance_test.bpmn"))
    assert run.status == "completed"


# -- lanes and order ------------------------------------------------------------------------


@drives(BPMN + "lanes.bpmn")
def lanes(run: Run) -> None:
    """SwimLaneTest: A1 in lane A first; then lane B; then lane C, into its subprocess."""
    run.start(run.key(BPMN + "lanes.bpmn"))
    assert run.ready() == ["Activity_A1"]
    assert run.instance["tasks"][0]["lane"] == "A"
    run.complete("Activity_A1")
    assert [t["lane"] for t in run.instance["tasks"]] == ["B"]
    run.complete(run.ready()[0], NeedClarification=False)
    assert [t["lane"] for t in run.instance["tasks"]] == ["B"]
    run.complete(run.ready()[0])
    assert [t["lane"] for t in run.instance["tasks"]] == ["C"]
    run.complete(run.ready()[0])
    assert [t["name"] for t in run.instance["tasks"]] == ["SubProcessTask"]
    assert run.instance["tasks"][0]["lane"] == "C"


@drives(BPMN + "Approvals.bpmn")
def approvals(run: Run) -> None:
    """ApprovalsTest: first approval wins, parallel approvals, parallel in a called
    subprocess, in both orders of the upstream test."""
    definitions = run.deploy(BPMN + "Approvals.bpmn")
    assert "Approvals" in {d["key"] for d in definitions if d["executable"]}
    orders = [
        ["Manager_Approval", "Manager_Approval__P_", "Supervisor_Approval__P_"],
        ["Supervisor_Approval", "Supervisor_Approval__P_", "Manager_Approval__P_"],
    ]
    for first, parallel_a, parallel_b in orders:
        run.start("Approvals")
        run.complete(f"First_Approval_Wins.{first}")
        assert run.ready() == ["Approvals.First_Approval_Wins_Done"]
        run.complete("Approvals.First_Approval_Wins_Done")
        run.complete(f"Approvals.{parallel_a}")
        run.complete(f"Approvals.{parallel_b}")
        run.complete("Approvals.Parallel_Approvals_Done")
        for step in ("Step1", "Manager_Approval", "Supervisor_Approval"):
            run.complete(f"Parallel_Approvals_SP.{step}")
        run.complete("Approvals.Parallel_SP_Done")
        assert run.status == "completed"


# -- spiffworkflow extensions ---------------------------------------------------------------


@drives(SPIFF + "user_task_variable.bpmn")
def user_task_variable(run: Run) -> None:
    """UserTaskTest: process 'one' stores the form under 'order' (variableName); 'two' merges
    it at the top."""
    order = {"size": "large", "toppings": ["sausage", "onions", "peppers"]}
    run.deploy(SPIFF + "user_task_variable.bpmn")
    run.start("one")
    run.complete("user_task_two", **order)
    assert run.status == "completed"
    assert run.data == {"order": order}
    run.start("two")
    run.complete("user_task_one", **order)
    assert run.data == order


@drives(SPIFF + "human_task_metadata.bpmn")
def human_task_metadata(run: Run) -> None:
    """HumanTaskMetadataTest: the task's metadata values, evaluated against its data."""
    run.start(run.key(SPIFF + "human_task_metadata.bpmn"))
    assert run.task("Activity_1gqykqt")["metadata_values"] == {
        "dynamic_key": "dynamic_value",
        "static_key": "static_value",
        "key_with_no_value_property_in_xml": None,
    }


@drives(SPIFF + "prescript_postscript.bpmn")
def prescript_postscript(run: Run) -> None:
    """PrescriptPostsciptTest: pre- and post-script around the task; a failing pre-script is
    an incident on the task that says so."""
    key = run.key(SPIFF + "prescript_postscript.bpmn")
    run.start(key, a=1, b=2)
    assert run.ready() == ["Activity_1iqs4li"]
    run.complete("Activity_1iqs4li")
    assert run.status == "completed"
    assert run.data == {"a": 1, "b": 2, "c": 12, "z": 6}

    run.start(key)
    assert run.status == "failed"
    assert run.incident is not None
    assert run.incident["element_id"] == "Activity_1iqs4li"
    assert "pre-script" in run.incident["message"]


PAY_RATE = {"amount": "65000.00", "currency": "USD", "id": "4", "payRate": "65000.00 USD"}


@drives(SPIFF + "service_task.bpmn")
def service_task(run: Run) -> None:
    """ServiceTaskTest: with stub connectors installed (entry points powerflow.connectors) the
    operators get the upstream parameters and their results are stored: bamboohr/GetPayRate
    under Spiff's default name, weather/CurrentTemp under its resultVariable."""
    with tempfile.TemporaryDirectory() as root, stub_connectors(Path(root)) as stubs:
        (definition,) = run.deploy(SPIFF + "service_task.bpmn")
        warned = {w["element_id"] for w in definition["warnings"]}
        assert not warned & {"Activity-1inxqgx", "Activity_12erefa"}  # both have a connector
        run.start(definition["key"])
        calls: list[tuple[str, dict[str, Any]]] = list(stubs.CALLS)
    assert run.status == "completed", run.incident
    assert run.data["spiff__Activity_1inxqgx_result"] == PAY_RATE
    assert run.data["waynesboroWeatherResult"] == {"temp": "72F"}
    assert calls == [
        (
            "bamboohr/GetPayRate",
            {"api_key": "secret:BAMBOOHR_API_KEY", "employee_id": 4, "subdomain": "ServiceTask"},
        ),
        ("weather/CurrentTemp", {"zipcode": 22980}),
    ]


@drives(SPIFF + "business_rule_task.bpmn")
def business_rule_task(run: Run) -> None:
    """BusinessRuleTaskTest: deployed with dmn/business_rules.dmn in one bundle; the table
    answers 'Y' to question 'X' and the instance completes."""
    assert _bundle(run, SPIFF + "business_rule_task.bpmn") == {
        "Process_bd2e724": "process",
        "decision_1": "decision",
    }
    run.start("Process_bd2e724")
    assert run.status == "completed"
    assert run.data == {"question": "X", "answer": "Y"}
    assert ("task.completed", "Activity_0diq2z1") in run.events()


@drives(BPMN + "reset_with_boundary_event.bpmn")
def reset_with_boundary_event(run: Run) -> None:
    """ResetTokenOnBoundaryEventTest over POST /v1/instances/{id}/move: back to 'First' the
    boundary timer waits again and the subprocess entered since is gone (its task closed);
    back to 'Last' inside the subprocess, 'Final' waits again; both complete."""
    run.start(run.key(BPMN + "reset_with_boundary_event.bpmn"))
    assert run.ready() == ["First"] and run.instance["next_timer_at"] is not None
    run.complete("First")
    assert run.ready() == ["Last"]
    assert run.instance["next_timer_at"] is None  # Event_My_Timer cancelled
    last = run.task("Last")["id"]

    run.move("First", "redo from the start")
    assert run.status == "running"
    assert run.ready() == ["First"]
    assert run.instance["next_timer_at"] is not None  # Event_My_Timer waits again
    closed = run.call("GET", f"/v1/tasks/{last}", headers=run.api.admin)
    assert closed.json()["state"] == "cancelled"
    moved = [p for kind, element, p in run.event_rows() if kind == "token.moved"]
    assert moved == [{"from_elements": ["Last", "subprocess"], "reason": "redo from the start"}]

    run.complete("First")
    run.complete("Last")
    assert run.ready() == ["Final"]
    run.move("Last", "redo the last step")
    assert run.ready() == ["Last"]  # the subprocess runs again, Final is ahead again
    run.complete("Last")
    run.complete("Final")
    assert run.status == "completed"
