"""Drivers of the held-back SpiffWorkflow models under heldback/spiffworkflow/bpmn/ (see
heldback/README.md): each file driven over HTTP with its upstream test's inputs."""

from __future__ import annotations

import time
from typing import Any

from conformance.harness import Run
from conformance.heldback_registry import SPIFF, held
from powerflow.services import start_timers

BPMN = SPIFF + "bpmn/data/"
NESTED = BPMN + "call_activity_nested/"

SANDBOX = (
    "calls custom_function, a Python function the upstream test injects into its script "
    "engine; powerflow's script sandbox offers no such function (by design)"
)


def _task_state(run: Run, task_id: str) -> str:
    response = run.call("GET", f"/v1/tasks/{task_id}", headers=run.api.admin)
    assert response.status_code == 200, response.text
    return str(response.json()["state"])


def _instances(run: Run, key: str) -> list[dict[str, Any]]:
    response = run.call(
        "GET", "/v1/instances", headers=run.api.admin, params={"definition_key": key}
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def _open(run: Run, instance_id: str) -> dict[str, Any]:
    """Point ``run`` at another instance and read it."""
    run.instance = {"id": instance_id}
    return run.read()


# -- timers ---------------------------------------------------------------------------------


@held(BPMN + "boundary.bpmn")
def boundary(run: Run) -> None:
    """TimerDurationBoundaryTest: after ReadyTogo the subprocess's user task waits; the
    interrupting boundary timer ("PT0.03S") fires, the subprocess (and its task) is
    cancelled, and the boundary path (Scream head off, Stop Car) completes the instance.
    (NITimerDurationBoundaryTest, which the brief lists here, uses
    timer-non-interrupt-boundary.bpmn: a corpus file, driven in drivers.py.)"""
    run.start(run.key(BPMN + "boundary.bpmn"))
    assert run.ready() == ["Activity_09c27ms"]
    run.complete("Activity_09c27ms", initialstuff="yes")
    assert run.ready() == ["Activity_Pester_Dad"]
    assert run.instance["next_timer_at"] is not None
    pester = run.task("Activity_Pester_Dad")["id"]
    run.wait_for_timers(0.05)
    assert run.instance["next_timer_at"] is None
    assert run.ready() == ["Activity_1ya1db2"]  # the interrupting path only
    assert _task_state(run, pester) == "cancelled"
    run.complete("Activity_1ya1db2")
    assert run.ready() == ["StopCar"]
    run.complete("StopCar")
    assert run.status == "completed"
    assert ("timer.fired", "Event_0iiih8g") in run.events()


@held(BPMN + "timer-cycle-start.bpmn", xfail=SANDBOX)
def timer_cycle_start(run: Run) -> None:
    """TimerCycleStartTest: the cycle "R2/PT0.1S" of process 'timer' starts it twice (the
    script counts the refills with custom_function: counter == 2), and the other pool waits
    0.5 s and ends at a terminate end event. Here the schedule starts one 'timer' instance per
    cycle, each of which must complete, and no third one is started."""
    definitions = run.deploy(BPMN + "timer-cycle-start.bpmn")
    assert {d["key"] for d in definitions if d["executable"]} == {"timer", "Process_0vaq70r"}
    for _ in range(6):  # the upstream loop: six rounds 0.1 s apart, timers refreshed
        time.sleep(0.1)
        start_timers.fire_due_start_timers(run.api.store)
    started = _instances(run, "timer")
    assert len(started) == 2
    for instance in started:
        _open(run, instance["id"])
        assert run.status == "completed", run.incident

    run.start("Process_0vaq70r")
    assert run.status == "running"
    run.wait_for_timers(0.5)
    assert run.status == "completed"


# -- messages and correlation -----------------------------------------------------------------


@held(BPMN + "correlation.bpmn")
def correlation(run: Run) -> None:
    """CollaborationTest.testCorrelation: proc_1's two subprocess instances (task_num 0 and
    1) each start a proc_2 instance by message (correlation process_id = task_num); each
    proc_2 copies task_num into init_id and answers; the answer reaches the subprocess
    instance whose process_id matches (at subprocess_end task_num == init_id)."""
    definitions = run.deploy(BPMN + "correlation.bpmn")
    assert {d["key"] for d in definitions if d["executable"]} == {"proc_1", "proc_2"}
    proc_1 = run.start("proc_1")
    assert run.ready() == ["configure", "configure"]
    for num in range(2):
        run.complete("configure", 0, task_num=num)
    assert run.status == "running"
    assert run.instance["waiting_messages"] == ["proc_2_response"]
    starts = run.messages("init_proc_2")
    assert [(m["correlation"], m["status"]) for m in starts] == [
        ({"process_id": num}, "started") for num in range(2)
    ]
    responders = [m["started"][0] for m in starts]

    for num in (1, 0):  # the second request answered first: routed by correlation
        _open(run, responders[num])
        assert run.ready() == ["rename_id"]
        task_num = run.task("rename_id")["data"]["task_num"]
        assert task_num == num
        run.complete("rename_id", init_id=task_num)
        assert run.status == "completed"
        _open(run, proc_1["id"])
        assert run.status == ("running" if num else "completed")

    received = [
        (payload["payload"]["init_id"], payload["correlation"]["process_id"])
        for kind, element, payload in run.event_rows()
        if kind == "message.received" and element == "get_response"
    ]
    assert received == [(1, 1), (0, 0)]


@held(BPMN + "correlation_two_conversations.bpmn")
def correlation_two_conversations(run: Run) -> None:
    """CollaborationTest.testTwoCorrelationKeys: as testCorrelation, then each subprocess
    instance passes 'wait' and starts a proc_3 instance (key_two: task_id = task_num), which
    answers with its 'subprocess' set to task_num; both answers reach the instance they
    belong to, and at subprocess_end task_num == init_id == subprocess."""
    definitions = run.deploy(BPMN + "correlation_two_conversations.bpmn")
    executable = {d["key"] for d in definitions if d["executable"]}
    assert executable == {"proc_1", "proc_2", "proc_3"}
    proc_1 = run.start("proc_1")
    assert run.ready() == ["configure", "configure"]
    for num in range(2):
        run.complete("configure", 0, task_num=num)
    assert run.instance["waiting_messages"] == ["proc_2_response"]
    starts = run.messages("init_proc_2")
    assert [(m["correlation"], m["status"]) for m in starts] == [
        ({"process_id": num}, "started") for num in range(2)
    ]
    for num, message in enumerate(starts):
        _open(run, message["started"][0])
        assert run.ready() == ["rename_id"]
        assert run.task("rename_id")["data"]["task_num"] == num
        run.complete("rename_id", init_id=num)
        assert run.status == "completed"

    _open(run, proc_1["id"])
    assert run.ready() == ["wait", "wait"]  # the dummy tasks
    while run.ready():
        run.complete("wait")
    assert run.instance["waiting_messages"] == ["proc_3_response"]
    starts = run.messages("init_proc_3")
    assert [(m["correlation"], m["status"]) for m in starts] == [
        ({"task_id": num}, "started") for num in range(2)
    ]
    for num in (1, 0):
        _open(run, starts[num]["started"][0])
        assert run.ready() == ["rename_id_2"]
        task_num = run.task("rename_id_2")["data"]["task_num"]
        assert task_num == num
        run.complete("rename_id_2", subprocess=task_num)
        assert run.status == "completed"
        _open(run, proc_1["id"])
        assert run.status == ("running" if num else "completed")

    received = {
        element: [
            (p["payload"]["task_num"], p["payload"].get("init_id"), p["payload"].get("subprocess"))
            for kind, at, p in run.event_rows()
            if kind == "message.received" and at == element
        ]
        for element in ("get_response_one", "get_response_two")
    }
    assert sorted(received["get_response_one"]) == [(0, 0, None), (1, 1, None)]
    assert received["get_response_two"] == [(1, 1, 1), (0, 0, 0)]


@held(BPMN + "multiple-start-parallel.bpmn")
def multiple_start_parallel(run: Run) -> None:
    """ParallelStartEventTest (and EventBasedGatewayTest.testMultipleStart): the
    parallelMultiple start event waits for message_1 AND message_2; after message_1 it
    still waits, after message_2 any_task is ready."""
    run.start(run.key(BPMN + "multiple-start-parallel.bpmn"))
    assert sorted(run.instance["waiting_messages"]) == ["message_1", "message_2"]
    assert run.ready() == []
    run.deliver("message_1")
    assert run.status == "running"
    assert run.ready() == []  # still waiting at StartEvent_1: both are needed
    assert run.instance["waiting_messages"] == ["message_2"]  # message_1 is received
    again = run.call(
        "POST",
        f"/v1/instances/{run.instance['id']}/messages",
        headers=run.user(),
        json={"name": "message_1", "payload": {}},
    )
    assert again.status_code == 409, again.text  # not waited for any more: not "delivered"
    run.deliver("message_2")
    assert run.ready() == ["any_task"]
    run.complete("any_task")
    assert run.status == "completed"


@held(BPMN + "multiple-throw-start.bpmn")
def multiple_throw_start(run: Run) -> None:
    """MultipleThrowEventStartsEventTest: 'initiate' throws message_1 and message_2 in one
    event; they reach respond's parallelMultiple start event (respond started first, waiting
    at its start, as the collaboration starts both pools), which then has one ready task;
    completing it completes respond. Then the same throw with no respond waiting."""
    definitions = run.deploy(BPMN + "multiple-throw-start.bpmn")
    assert {d["key"] for d in definitions if d["executable"]} == {"respond", "initiate"}
    respond = run.start("respond")
    assert sorted(run.instance["waiting_messages"]) == ["message_1", "message_2"]
    initiate = run.start("initiate")
    assert run.status == "completed"
    for name in ("message_1", "message_2"):
        (thrown,) = run.messages(name)
        assert thrown["source_instance_id"] == initiate["id"]
        assert thrown["status"] == "delivered" and thrown["delivered_to"] == [respond["id"]]
    _open(run, respond["id"])
    assert run.ready() == ["any_task"]
    run.complete("any_task")
    assert run.status == "completed"

    # Without a waiting 'respond': message_1 starts one at its start event, message_2 (the
    # same throw) reaches that instance, and it has its one ready task.
    again = run.start("initiate")
    assert run.status == "completed"
    first, second = (run.messages(name)[-1] for name in ("message_1", "message_2"))
    assert first["source_instance_id"] == second["source_instance_id"] == again["id"]
    assert first["status"] == "started"
    (started,) = first["started"]
    assert second["status"] == "delivered" and second["delivered_to"] == [started]
    _open(run, started)
    assert run.ready() == ["any_task"]
    run.complete("any_task")
    assert run.status == "completed"


@held(BPMN + "start_event_split.bpmn")
def start_event_split(run: Run) -> None:
    """StartEventSplitTest: two message start events wait; message_1 completes start_1 and
    cancels start_2 (message_2 is no longer awaited); any_task is ready and completes the
    instance."""
    run.start(run.key(BPMN + "start_event_split.bpmn"))
    assert sorted(run.instance["waiting_messages"]) == ["message_1", "message_2"]
    run.deliver("message_1")
    assert run.ready() == ["any_task"]
    assert run.instance["waiting_messages"] == []
    late = run.call(
        "POST",
        f"/v1/instances/{run.instance['id']}/messages",
        headers=run.user(),
        json={"name": "message_2", "payload": {}},
    )
    assert late.status_code == 409, late.text
    run.complete("any_task")
    assert run.status == "completed"


@held(BPMN + "return_to_event.bpmn")
def return_to_event(run: Run) -> None:
    """ReturnToEvent (MessagesTest.testEventWaitsAfterLoopback): the catch event takes
    basic_message, 'manual' is ready; with repeat=True the flow loops back and the catch
    event waits again (the earlier message does not count twice)."""
    run.start(run.key(BPMN + "return_to_event.bpmn"))
    assert run.instance["waiting_messages"] == ["basic_message"]
    assert run.ready() == []
    run.deliver("basic_message")
    assert run.ready() == ["manual"]
    run.complete("manual", repeat=True)
    assert run.status == "running"
    assert run.ready() == []
    assert run.instance["waiting_messages"] == ["basic_message"]
    # Beyond the upstream test: the loop goes round once more and ends.
    run.deliver("basic_message")
    run.complete("manual", repeat=False)
    assert run.status == "completed"


# -- data -----------------------------------------------------------------------------------


@held(BPMN + "data_object_gateway.bpmn")
def data_object_gateway(run: Run) -> None:
    """DataObjectGatewayTest: set_data writes data object 'val' (True); the gateway reads
    it and ends at 'yes', not 'no'; 'val' is not left in the instance's data."""
    run.start(run.key(BPMN + "data_object_gateway.bpmn"))
    assert run.ready() == ["set_data"]
    run.complete("set_data", val=True)
    assert run.status == "completed", run.incident
    events = run.events()
    assert ("instance.completed", "yes") in events
    assert ("instance.completed", "no") not in events
    assert "val" not in run.data


@held(BPMN + "io_spec.bpmn")
def io_spec(run: Run) -> None:
    """ParserTest.testIOSpecification: process 'subprocess' declares two data inputs and two
    outputs (a parser check; CallActivityDataTest, io_spec_parent.bpmn, runs them). Observable
    alone: it deploys and, started with both inputs, runs as SpiffWorkflow runs it (a top-level
    process's ioSpecification filters nothing: SpiffWorkflow applies it to calls only);
    started without in_2 (the missing input of testCallActivityMissingInput) the script fails
    and the instance is parked with an incident on it naming in_2."""
    key = run.key(BPMN + "io_spec.bpmn")
    assert key == "subprocess"
    run.start(key, in_1=1, in_2="hello world")
    assert run.status == "completed", run.incident
    assert run.data == {
        "in_1": 1,
        "in_2": "hello world",
        "out_1": 2,
        "out_2": "HELLO WORLD",
        "unused": False,
    }

    run.start(key, in_1=1)
    assert run.status == "failed"
    assert run.incident is not None
    assert run.incident["element_id"] == "Activity_04d94ee"
    assert "'in_2'" in run.incident["message"]


@held(BPMN + "io_spec_parent.bpmn")
def io_spec_parent(run: Run) -> None:
    """CallActivityDataTest.testCallActivityWithIOSpec: deployed with io_spec.bpmn in one
    bundle; the call activity passes only in_1 and in_2 in (not 'unused'), and takes only
    out_1 and out_2 back; the parent's own values are unchanged."""
    deployed = run.deploy_bundle(BPMN + "io_spec_parent.bpmn", BPMN + "io_spec.bpmn")
    assert {d["key"] for d in deployed if d["executable"]} >= {"parent", "subprocess"}
    run.start("parent")
    assert run.status == "completed", run.incident
    assert run.data == {
        "in_1": 1,
        "in_2": "hello world",
        "unused": True,
        "out_1": 2,
        "out_2": "HELLO WORLD",
    }


@held(BPMN + "script-start.bpmn")
def script_start(run: Run) -> None:
    """StartedTaskTest: the upstream test's asynchronous script environment leaves the script
    task STARTED until it is completed by hand (a script-engine internal with no HTTP
    counterpart); with powerflow's engine the script runs, 'manual' is ready beside it, and
    after it the instance ends with {'x': 1, 'y': 2, 'z': 3}."""
    run.start(run.key(BPMN + "script-start.bpmn"))
    assert run.ready() == ["manual"]
    run.complete("manual")
    assert run.status == "completed"
    assert run.data == {"x": 1, "y": 2, "z": 3}


@held(BPMN + "sequential_multiinstance_cardinality.bpmn")
def sequential_multiinstance_cardinality(run: Run) -> None:
    """SequentialMultiInstanceWithCardinality.testCardinality: cardinality 3, one child ready
    at a time with input_item 0, 1, 2; output_item = input_item * 2 gives [0, 2, 4]."""
    run.start(run.key(BPMN + "sequential_multiinstance_cardinality.bpmn"))
    for index in range(3):
        assert run.ready() == ["any_task"]
        item = run.task("any_task")["data"]["input_item"]
        assert item == index
        run.complete("any_task", output_item=item * 2)
    assert run.status == "completed"
    assert run.data == {"output_data": [0, 2, 4]}


# -- service task ---------------------------------------------------------------------------


@held(BPMN + "service_task.bpmn")
def service_task(run: Run) -> None:
    """ServiceTaskTest.testRunThroughHappy: a service task naming nothing runs through
    (upstream it is a no-op). In powerflow it is an external task of the topic equal to its
    id (a warning at upload says so); a worker completes it and the instance completes."""
    (definition,) = run.deploy(BPMN + "service_task.bpmn")
    assert "Activity_1inxqgx" in {w["element_id"] for w in definition["warnings"]}
    run.start(definition["key"])
    assert run.status == "running"
    worker = run.api.user("worker")
    locked = run.call(
        "POST",
        "/v1/external-tasks/fetch-and-lock",
        headers=worker,
        json={"worker_id": "w", "topics": [{"name": "Activity_1inxqgx", "lock_duration": 60000}]},
    )
    assert locked.status_code == 200, locked.text
    (task,) = locked.json()
    assert task["instance_id"] == run.instance["id"]
    done = run.call(
        "POST",
        f"/v1/external-tasks/{task['id']}/complete",
        headers=worker,
        json={"worker_id": "w", "variables": {}},
    )
    assert done.status_code == 204, done.text
    assert run.read()["status"] == "completed"


# -- parser-level tests: the closest observable behaviour -----------------------------------


@held(BPMN + "boundary_event_split.bpmn")
def boundary_event_split(run: Run) -> None:
    """ParserTest.testBoundaryEvent checks that both gateways lead to task_2's boundary-event
    split (a parser internal). Observable: gw_1's default flow reaches task_2 (its boundary
    signal event armed), task_1 is not reached, and completing task_2 ends the instance."""
    run.start(run.key(BPMN + "boundary_event_split.bpmn"))
    assert run.ready() == ["task_2"]
    run.complete("task_2")
    assert run.status == "completed"
    assert ("task.ready", "task_1") not in run.events()


@held(NESTED + "call_activity_nested.bpmn")
def call_activity_nested(run: Run) -> None:
    """ProcessDependencyTest: call_activity_nested.bpmn depends on processes Level2 and
    Level2b and on decision Level2c (3 dependencies); with call_activity_level_2.bpmn added,
    Level3 as well (4). Observable: alone the upload is refused naming the three missing
    dependencies; with call_activity_level_2.bpmn in the bundle, Level3 too."""
    alone = run.upload(NESTED + "call_activity_nested.bpmn", accept_any_data="true")
    assert alone.status_code == 422, alone.text
    text = alone.text
    for missing in ("Level2", "Level2b", "Level2c"):
        assert f"'{missing}'" in text, (missing, text)
    assert "Level3" not in text

    parts = [
        ("file", (path.name, path.read_bytes()))
        for path in (
            run.root / NESTED / "call_activity_nested.bpmn",
            run.root / NESTED / "call_activity_level_2.bpmn",
        )
    ]
    both = run.call(
        "POST",
        "/v1/definitions",
        params={"accept_any_data": "true"},
        headers=run.api.user("designer"),
        files=parts,
    )
    assert both.status_code == 422, both.text
    for missing in ("Level2b", "Level2c", "Level3"):
        assert f"'{missing}'" in both.text, (missing, both.text)


@held(BPMN + "no-tasks.bpmn")
def no_tasks(run: Run) -> None:
    """ProcessParserTest.testReturnsEmptyListIfNoCallActivities (and testCanAddBpmnFrom*):
    the process calls nothing, so it deploys alone; observable: it starts and completes at
    once with no task."""
    run.start(run.key(BPMN + "no-tasks.bpmn"))
    assert run.status == "completed"
    assert run.ready() == []


# -- token reset ------------------------------------------------------------------------------


@held(BPMN + "resetworkflowA-toplevel.bpmn")
def reset_workflow_a(run: Run) -> None:
    """ResetSubProcessTest.testResetToOuterWorkflowWhileInSubWorkflow: deployed with
    resetworkflowA-sublevel.bpmn; while SubTask2 (in the called process) is ready, the token
    is moved back to Task1 (POST .../move): only Task1 is ready, SubTask2 is closed."""
    run.deploy_bundle(BPMN + "resetworkflowA-toplevel.bpmn", BPMN + "resetworkflowA-sublevel.bpmn")
    run.start("TopLevel")
    assert run.ready() == ["Task1"]
    run.complete("Task1")
    assert run.ready() == ["SubTask2"]
    sub_task = run.task("SubTask2")["id"]
    run.move("Task1", "back to the outer workflow")
    assert run.ready() == ["Task1"]
    assert _task_state(run, sub_task) == "cancelled"


@held(BPMN + "resetworkflowB-toplevel.bpmn")
def reset_workflow_b(run: Run) -> None:
    """ResetSubProcessTest.testSaveRestore: on the A files, Task1 and SubTask2 are done and
    the token is reset to Task1; the instance is then restored onto the B files (migrated
    to the new version, deployed as a bundle): Task1, Subtask2, Subtask2A, Task2 and the
    instance completes."""
    run.deploy_bundle(BPMN + "resetworkflowA-toplevel.bpmn", BPMN + "resetworkflowA-sublevel.bpmn")
    run.start("TopLevel")
    run.complete("Task1")
    assert run.ready() == ["SubTask2"]
    run.complete("SubTask2")
    assert run.ready() == ["Task2"]
    run.move("Task1", "reset the branch")
    assert run.ready() == ["Task1"]

    deployed = run.deploy_bundle(
        BPMN + "resetworkflowB-toplevel.bpmn", BPMN + "resetworkflowB-sublevel.bpmn"
    )
    version = next(d["version"] for d in deployed if d["key"] == "TopLevel")
    migrated = run.call(
        "POST",
        f"/v1/instances/{run.instance['id']}/migrate",
        headers=run.api.admin,
        json={"to_version": version, "reason": "restore on the B files"},
    )
    assert migrated.status_code == 200, migrated.text
    run.read()
    assert run.ready() == ["Task1"]
    run.complete("Task1")
    assert run.ready() == ["Subtask2"]
    run.complete("Subtask2")
    assert run.ready() == ["Subtask2A"]
    run.complete("Subtask2A")
    assert run.ready() == ["Task2"]
    run.complete("Task2")
    assert run.status == "completed"


# -- versions -----------------------------------------------------------------------------------


def _dry_run(run: Run, instance: dict[str, Any], version: int) -> dict[str, Any]:
    got = run.call(
        "POST",
        f"/v1/instances/{instance['id']}/migrate",
        headers=run.api.admin,
        json={"to_version": version, "dry_run": True},
    )
    assert got.status_code == 200, got.text
    plan: dict[str, Any] = got.json()
    return plan


def _start_version(run: Run, version: int) -> dict[str, Any]:
    got = run.call(
        "POST",
        "/v1/instances",
        headers=run.user(),
        json={"definition_key": "Process", "version": version},
    )
    assert got.status_code == 201, got.text
    run.instance = got.json()
    return run.instance


@held(BPMN + "diff/v1.bpmn")
def diff_versions(run: Run) -> None:
    """DiffUtilTest.CompareSpecTest: five versions of one process (diff/v1..v5.bpmn, deployed
    in turn as versions 1..5 of 'Process'). Over HTTP the migration dry run names what
    SpecDiff finds: v1 -> v2 adds Gateway_1618q26, Activity_1ds7clb and Event_0tatpgq (and
    v2 -> v1 removes them); v2 -> v3 changes the gateway's outputs, conditions and default
    and Activity_1ds7clb's type (a task became a subprocess); v4 -> v5 removes the two
    parallel gateways and their two tasks and changes Gateway_0p4fq77's inputs."""
    for n in range(1, 6):
        (definition,) = run.deploy(BPMN + f"diff/v{n}.bpmn")
        assert (definition["key"], definition["version"]) == ("Process", n)
    v1 = _start_version(run, 1)
    assert run.ready() == ["Activity_0b53566"]
    plan = _dry_run(run, v1, 2)
    assert sorted(plan["added"]) == ["Activity_1ds7clb", "Event_0tatpgq", "Gateway_1618q26"]
    assert plan["removed"] == []
    assert plan["changed"]["Activity_0b53566"] == ["typename"]  # a task became a script task

    v2 = _start_version(run, 2)
    back = _dry_run(run, v2, 1)
    assert sorted(back["removed"]) == ["Activity_1ds7clb", "Event_0tatpgq", "Gateway_1618q26"]
    forward = _dry_run(run, v2, 3)
    assert forward["changed"]["Gateway_1618q26"] == sorted(
        ["outputs", "cond_task_specs", "default_task_spec"]
    )
    assert forward["changed"]["Activity_1ds7clb"] == ["typename"]

    v4 = _start_version(run, 4)
    plan = _dry_run(run, v4, 5)
    for removed in ("Gateway_0z1qhgl", "Gateway_1acqedb", "Activity_1lmz1t0", "Activity_11gnihu"):
        assert removed in plan["removed"], (removed, plan)
    assert plan["changed"]["Gateway_1618q26"] == sorted(
        ["outputs", "cond_task_specs", "default_task_spec"]
    )
    assert plan["changed"]["Gateway_0p4fq77"] == ["inputs"]
