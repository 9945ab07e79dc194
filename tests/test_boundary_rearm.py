"""A non-interrupting boundary event stays armed while its activity is active (BPMN 2.0 10.5.6,
13.5.5): each message or signal starts the boundary path again, and none is caught once the
activity has ended. SpiffWorkflow 3.2 caught the first occurrence only (engine/patches.py).

Every step here reloads the instance from its saved state (``reload_every_step``), so the
re-armed catch is shown to survive serialization, not only the in-memory workflow.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from conftest import Api
from flows import complete, events, read, ready, start
from powerflow import engine, workers
from powerflow.engine import patches
from powerflow.engine.messaging import NotWaitingForSignal, deliver_signal
from powerflow.engine.serializer import load_state

pytestmark = pytest.mark.usefixtures("reload_every_step")

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="urn:test">\n'
)


def attached(boundaries: str, head: str = "") -> bytes:
    """Process ``p``: user task ``work`` (then ``after``) with the given boundary events; each
    boundary event's outgoing flow ``to_<id>`` leads to user task ``<id>_path``, then an end."""
    ids = [part.split('"')[0] for part in boundaries.split('<bpmn:boundaryEvent id="')[1:]]
    paths = "".join(
        f'<bpmn:userTask id="{b}_path"><bpmn:incoming>to_{b}</bpmn:incoming>'
        f"<bpmn:outgoing>end_{b}</bpmn:outgoing></bpmn:userTask>"
        f'<bpmn:endEvent id="{b}_end"><bpmn:incoming>end_{b}</bpmn:incoming></bpmn:endEvent>'
        f'<bpmn:sequenceFlow id="to_{b}" sourceRef="{b}" targetRef="{b}_path"/>'
        f'<bpmn:sequenceFlow id="end_{b}" sourceRef="{b}_path" targetRef="{b}_end"/>'
        for b in ids
    )
    return (
        HEAD + head + '<bpmn:process id="p" isExecutable="true">'
        '<bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>'
        '<bpmn:userTask id="work"><bpmn:incoming>f1</bpmn:incoming>'
        "<bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>"
        '<bpmn:userTask id="after"><bpmn:incoming>f2</bpmn:incoming>'
        "<bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>"
        '<bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>'
        '<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="work"/>'
        '<bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="after"/>'
        '<bpmn:sequenceFlow id="f3" sourceRef="after" targetRef="e"/>'
        + boundaries
        + paths
        + "</bpmn:process></bpmn:definitions>\n"
    ).encode()


def boundary(element_id: str, definition: str, *, interrupting: bool = False) -> str:
    cancel = "" if interrupting else ' cancelActivity="false"'
    return (
        f'<bpmn:boundaryEvent id="{element_id}" attachedToRef="work"{cancel}>'
        f"<bpmn:outgoing>to_{element_id}</bpmn:outgoing>{definition}</bpmn:boundaryEvent>"
    )


MESSAGES = '<bpmn:message id="M_ping" name="ping"/><bpmn:message id="M_stop" name="stop"/>'
PING = boundary("pinged", '<bpmn:messageEventDefinition messageRef="M_ping"/>')


def load(xml: bytes, process_id: str = "p") -> engine.LoadedProcess:
    result = engine.compile_bpmn(xml, f"{process_id}.bpmn", max_bytes=len(xml) + 1)
    assert result.ok, result.problems
    (compiled,) = [p for p in result.processes if p.process_id == process_id]
    return engine.load_process(result.content_hash, process_id, xml, compiled.catalog())


def open_at(step: engine.StepResult) -> list[str]:
    return sorted(t.element_id for t in step.open_tasks)


def task_at(step: engine.StepResult, element_id: str) -> str:
    return next(t.id for t in step.open_tasks if t.element_id == element_id)


def kinds(step: engine.StepResult) -> list[tuple[str, str | None]]:
    return [(e.type, e.element_id) for e in step.events]


def waiting(state: str, spec: str) -> list[dict[str, Any]]:
    """The saved task entries of ``spec`` that wait (SpiffWorkflow's WAITING is 8)."""
    tasks = json.loads(state)["tasks"].values()
    return [t for t in tasks if t["task_spec"] == spec and t["state"] == 8]


# --------------------------------------------------------------------------- engine: messages


def test_each_message_starts_the_path_while_the_task_is_active_and_none_after() -> None:
    process = load(attached(PING, MESSAGES))
    step = engine.start(process, {})
    assert open_at(step) == ["work"]
    for n in range(1, 4):
        with engine.accepting_payload(frozenset({"n"})):
            step = engine.deliver_message(process, step.state, "ping", {"n": n})
        assert open_at(step) == ["pinged_path"] * n + ["work"]
        assert [m.name for m in step.messages] == ["ping"]  # armed again
        assert [s.element_id for s in step.subscriptions] == ["pinged"]
        # one event per delivery, naming the catch (no element-less duplicate)
        assert kinds(step) == [("message.received", "pinged"), ("task.ready", "pinged_path")]
        assert step.events[0].payload == {"name": "ping"}
        assert len(waiting(step.state, "pinged")) == 1  # saved: exactly one armed catch
    # each path got its own message (the catch merges what the process accepts)
    restored = load_state(process, step.state)
    paths = [restored.get_task_from_id(UUID(t.id)) for t in step.open_tasks]
    assert sorted(t.data["n"] for t in paths if t.task_spec.name == "pinged_path") == [1, 2, 3]
    # the armed catch is a task of the boundary event's spec under the boundary split, and the
    # loaded workflow lists it among its waiting events
    (armed,) = [t for t in restored.get_tasks() if t.task_spec.name == "pinged" and t.state == 8]
    assert armed.parent.task_spec.name == "work.BoundaryEventSplit"
    assert armed.triggered
    assert armed in restored.event_manager.tasks.values()

    step = engine.complete_task(process, step.state, task_at(step, "work"), {})
    assert open_at(step) == ["after", "pinged_path", "pinged_path", "pinged_path"]
    assert step.messages == () and step.subscriptions == ()
    assert waiting(step.state, "pinged") == []
    with pytest.raises(engine.NotWaitingForMessage):
        engine.deliver_message(process, step.state, "ping", {})
    while step.open_tasks:
        step = engine.complete_task(process, step.state, step.open_tasks[0].id, {})
    assert step.status == "completed"


def test_an_interrupting_boundary_event_ends_the_task_and_its_armed_catch() -> None:
    stop = boundary(
        "stopped", '<bpmn:messageEventDefinition messageRef="M_stop"/>', interrupting=True
    )
    process = load(attached(PING + stop, MESSAGES))
    step = engine.start(process, {})
    step = engine.deliver_message(process, step.state, "ping", {})
    step = engine.deliver_message(process, step.state, "ping", {})
    assert open_at(step) == ["pinged_path", "pinged_path", "work"]
    assert sorted(m.name for m in step.messages) == ["ping", "stop"]
    step = engine.deliver_message(process, step.state, "stop", {})
    assert open_at(step) == ["pinged_path", "pinged_path", "stopped_path"]  # work cancelled
    assert step.messages == ()
    assert waiting(step.state, "pinged") == []
    with pytest.raises(engine.NotWaitingForMessage):
        engine.deliver_message(process, step.state, "ping", {})
    # an interrupting boundary event fires once: it ends its activity
    with pytest.raises(engine.NotWaitingForMessage):
        engine.deliver_message(process, step.state, "stop", {})


def test_a_boundary_event_on_a_subprocess_stays_armed_until_the_subprocess_ends() -> None:
    inner = (
        '<bpmn:subProcess id="work"><bpmn:incoming>f1</bpmn:incoming>'
        "<bpmn:outgoing>f2</bpmn:outgoing>"
        '<bpmn:startEvent id="in_s"><bpmn:outgoing>i1</bpmn:outgoing></bpmn:startEvent>'
        '<bpmn:userTask id="inner"><bpmn:incoming>i1</bpmn:incoming>'
        "<bpmn:outgoing>i2</bpmn:outgoing></bpmn:userTask>"
        '<bpmn:endEvent id="in_e"><bpmn:incoming>i2</bpmn:incoming></bpmn:endEvent>'
        '<bpmn:sequenceFlow id="i1" sourceRef="in_s" targetRef="inner"/>'
        '<bpmn:sequenceFlow id="i2" sourceRef="inner" targetRef="in_e"/>'
        "</bpmn:subProcess>"
    )
    xml = attached(PING, MESSAGES).replace(
        b'<bpmn:userTask id="work"><bpmn:incoming>f1</bpmn:incoming>'
        b"<bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>",
        inner.encode(),
    )
    process = load(xml)
    step = engine.start(process, {})
    assert open_at(step) == ["inner"]
    for _ in range(2):
        step = engine.deliver_message(process, step.state, "ping", {})
    assert open_at(step) == ["inner", "pinged_path", "pinged_path"]
    step = engine.complete_task(process, step.state, task_at(step, "inner"), {})
    assert open_at(step) == ["after", "pinged_path", "pinged_path"]
    assert step.messages == ()


def test_many_catches_keep_saved_state_bounded() -> None:
    """A finished catch and its finished path are history compaction drops (the catch sheds
    SpiffWorkflow's boundary join, which would have kept it waiting until the task ended), so
    a task that takes message after message for months does not grow its saved state."""
    process = load(attached(PING, MESSAGES))
    step = engine.start(process, {})
    sizes = []
    for _ in range(30):
        step = engine.deliver_message(process, step.state, "ping", {})
        step = engine.complete_task(process, step.state, task_at(step, "pinged_path"), {})
        sizes.append(len(step.state))
    assert open_at(step) == ["work"]
    assert [m.name for m in step.messages] == ["ping"]
    assert sizes[-1] < sizes[4] * 1.5, sizes


# --------------------------------------------------------------------------- engine: signals


def test_each_signal_starts_the_path_while_the_task_is_active() -> None:
    signal = boundary("alarmed", '<bpmn:signalEventDefinition signalRef="S"/>')
    process = load(attached(signal, '<bpmn:signal id="S" name="alarm"/>'))
    step = engine.start(process, {})
    for n in range(1, 4):
        step = deliver_signal(process, step.state, "alarm", {})
        assert open_at(step) == ["alarmed_path"] * n + ["work"]
        assert [(s.kind, s.name) for s in step.subscriptions] == [("signal", "alarm")]
    step = engine.complete_task(process, step.state, task_at(step, "work"), {})
    assert step.subscriptions == ()
    with pytest.raises(NotWaitingForSignal):
        deliver_signal(process, step.state, "alarm", {})


# --------------------------------------------------------------------------- engine: escalations


def test_each_escalation_from_a_subprocess_starts_the_path() -> None:
    """Two escalations thrown inside an embedded subprocess (one per parallel branch, each
    after a user task): the non-interrupting escalation boundary event catches both."""
    branch = (
        '<bpmn:userTask id="t{n}"><bpmn:incoming>a{n}</bpmn:incoming>'
        "<bpmn:outgoing>b{n}</bpmn:outgoing></bpmn:userTask>"
        '<bpmn:intermediateThrowEvent id="up{n}"><bpmn:incoming>b{n}</bpmn:incoming>'
        '<bpmn:outgoing>c{n}</bpmn:outgoing><bpmn:escalationEventDefinition escalationRef="E"/>'
        "</bpmn:intermediateThrowEvent>"
        '<bpmn:sequenceFlow id="a{n}" sourceRef="fork" targetRef="t{n}"/>'
        '<bpmn:sequenceFlow id="b{n}" sourceRef="t{n}" targetRef="up{n}"/>'
        '<bpmn:sequenceFlow id="c{n}" sourceRef="up{n}" targetRef="join"/>'
    )
    inner = (
        '<bpmn:subProcess id="work"><bpmn:incoming>f1</bpmn:incoming>'
        "<bpmn:outgoing>f2</bpmn:outgoing>"
        '<bpmn:startEvent id="in_s"><bpmn:outgoing>i1</bpmn:outgoing></bpmn:startEvent>'
        '<bpmn:parallelGateway id="fork"><bpmn:incoming>i1</bpmn:incoming>'
        "<bpmn:outgoing>a1</bpmn:outgoing><bpmn:outgoing>a2</bpmn:outgoing></bpmn:parallelGateway>"
        + branch.format(n=1)
        + branch.format(n=2)
        + '<bpmn:parallelGateway id="join"><bpmn:incoming>c1</bpmn:incoming>'
        "<bpmn:incoming>c2</bpmn:incoming><bpmn:outgoing>i2</bpmn:outgoing></bpmn:parallelGateway>"
        '<bpmn:endEvent id="in_e"><bpmn:incoming>i2</bpmn:incoming></bpmn:endEvent>'
        '<bpmn:sequenceFlow id="i1" sourceRef="in_s" targetRef="fork"/>'
        '<bpmn:sequenceFlow id="i2" sourceRef="join" targetRef="in_e"/>'
        "</bpmn:subProcess>"
    )
    escalated = boundary("escalated", '<bpmn:escalationEventDefinition escalationRef="E"/>')
    xml = attached(escalated, '<bpmn:escalation id="E" escalationCode="up"/>').replace(
        b'<bpmn:userTask id="work"><bpmn:incoming>f1</bpmn:incoming>'
        b"<bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>",
        inner.encode(),
    )
    process = load(xml)
    step = engine.start(process, {})
    assert open_at(step) == ["t1", "t2"]
    step = engine.complete_task(process, step.state, task_at(step, "t1"), {})
    assert open_at(step) == ["escalated_path", "t2"]
    assert ("escalation.caught", "escalated") in kinds(step)
    step = engine.complete_task(process, step.state, task_at(step, "t2"), {})
    assert open_at(step) == ["after", "escalated_path", "escalated_path"]
    assert waiting(step.state, "escalated") == []


# --------------------------------------------------------------------------- engine: timers


def fire_after(process: engine.LoadedProcess, step: engine.StepResult) -> engine.StepResult:
    """Wait until the instance's first timer is due, then fire its due timers (just after the
    due time: a cycle's next firing is not due yet, however slow the machine was before)."""
    assert step.timers, "no timer waits"
    first = min(datetime.fromisoformat(t.due_at) for t in step.timers)
    time.sleep(max(0.0, (first - datetime.now(UTC)).total_seconds()) + 0.05)
    return engine.fire_due_timers(process, step.state)


def test_a_duration_timer_boundary_fires_once() -> None:
    """Not re-armed: a timeDuration occurs once (BPMN); a repeating timer is a timeCycle."""
    timer = boundary(
        "late",
        "<bpmn:timerEventDefinition><bpmn:timeDuration>PT0.2S</bpmn:timeDuration>"
        "</bpmn:timerEventDefinition>",
    )
    process = load(attached(timer))
    step = engine.start(process, {})
    step = fire_after(process, step)
    assert open_at(step) == ["late_path", "work"]
    assert step.timers == ()
    assert waiting(step.state, "late") == []


def cycle(value: str = "R3/PT0.3S") -> bytes:
    return attached(
        boundary(
            "reminded",
            f"<bpmn:timerEventDefinition><bpmn:timeCycle>{value}</bpmn:timeCycle>"
            "</bpmn:timerEventDefinition>",
        )
    )


def due(step: engine.StepResult) -> str:
    (timer,) = step.timers
    assert timer.element_id == "reminded"
    return timer.due_at


def test_a_cycle_timer_boundary_fires_each_cycle_then_stops() -> None:
    """R3 fires three times while the task is open, one path each (each firing is a catch of
    its own, re-armed with the cycles left), and then no timer is awaited; a later step records
    no further firing (SpiffWorkflow's timer completed once more then, with no path)."""
    process = load(cycle())
    step = engine.start(process, {})
    dues = [due(step)]
    for n in range(1, 4):
        step = fire_after(process, step)
        assert open_at(step) == ["reminded_path"] * n + ["work"]
        assert kinds(step) == [("timer.fired", "reminded"), ("task.ready", "reminded_path")]
        assert len(waiting(step.state, "reminded")) == (1 if n < 3 else 0)
        if n < 3:
            dues.append(due(step))
    assert dues == sorted(set(dues))  # each catch waits for the next cycle
    assert step.timers == ()
    time.sleep(0.35)
    step = engine.fire_due_timers(process, step.state)
    assert kinds(step) == []
    assert open_at(step) == ["reminded_path"] * 3 + ["work"]
    step = engine.complete_task(process, step.state, task_at(step, "work"), {})
    assert kinds(step) == [("task.completed", "work"), ("task.ready", "after")]
    while step.open_tasks:
        step = engine.complete_task(process, step.state, step.open_tasks[0].id, {})
    assert step.status == "completed"
    assert "timer.fired" not in [kind for kind, _ in kinds(step)]


def test_paths_a_cycle_timer_started_outlive_the_activity() -> None:
    """BPMN 2.0 10.5.6: a path a non-interrupting event started is independent of its
    activity. SpiffWorkflow 3.2 started each cycle's path under the waiting timer, and the
    boundary join cancelled the timer (and the paths) when the task ended."""
    process = load(cycle())
    step = engine.start(process, {})
    for _ in range(2):
        step = fire_after(process, step)
    assert open_at(step) == ["reminded_path", "reminded_path", "work"]
    step = engine.complete_task(process, step.state, task_at(step, "work"), {})
    assert open_at(step) == ["after", "reminded_path", "reminded_path"]
    assert step.timers == () and waiting(step.state, "reminded") == []
    time.sleep(0.35)  # the third cycle would be due: the task has ended, it does not fire
    step = engine.fire_due_timers(process, step.state)
    assert kinds(step) == []
    while step.open_tasks:
        step = engine.complete_task(process, step.state, step.open_tasks[0].id, {})
    assert step.status == "completed"


def test_an_endless_cycle_fires_while_the_task_is_open_and_its_paths_run_on() -> None:
    """ "Remind the clerk every working day until the task is done": R/... has no last cycle;
    it fires until the task ends, and each reminder's path runs on after it."""
    process = load(cycle("R/PT0.3S"))
    step = engine.start(process, {})
    dues = [due(step)]
    for n in range(1, 5):
        step = fire_after(process, step)
        assert open_at(step) == ["reminded_path"] * n + ["work"]
        assert kinds(step) == [("timer.fired", "reminded"), ("task.ready", "reminded_path")]
        assert len(waiting(step.state, "reminded")) == 1  # saved: exactly one armed catch
        dues.append(due(step))
    assert dues == sorted(set(dues))
    # the armed catch is a task of the boundary event under the boundary split, listed by the
    # loaded workflow among its waiting events; the paths hang under the catches that fired
    restored = load_state(process, step.state)
    (armed,) = [t for t in restored.get_tasks() if t.task_spec.name == "reminded" and t.state == 8]
    assert armed.parent.task_spec.name == "work.BoundaryEventSplit"
    assert armed in restored.event_manager.tasks.values()
    assert armed.children == []
    paths = [t for t in restored.get_tasks() if t.task_spec.name == "reminded_path"]
    assert {t.parent.task_spec.name for t in paths} == {"reminded"}
    assert all(t.parent.state == 64 for t in paths)  # COMPLETED: nothing cancels them

    step = engine.complete_task(process, step.state, task_at(step, "work"), {})
    assert open_at(step) == ["after"] + ["reminded_path"] * 4
    assert step.timers == () and waiting(step.state, "reminded") == []
    time.sleep(0.35)
    step = engine.fire_due_timers(process, step.state)
    assert kinds(step) == []
    while step.open_tasks:
        step = engine.complete_task(process, step.state, step.open_tasks[0].id, {})
    assert step.status == "completed"


def test_cycles_missed_while_no_worker_ran_collapse_into_one() -> None:
    """When the worker comes late, every cycle due by then fires once, together, and the ones
    missed count as spent (as for timer start events); the next is the first one ahead.
    Otherwise each catch-up firing fired the next one at once (SpiffWorkflow looks at waiting
    timers after each task it completes), every missed reminder in one step."""
    process = load(cycle("R3/PT0.1S"))
    step = engine.start(process, {})
    time.sleep(0.35)  # all three cycles are due
    step = engine.fire_due_timers(process, step.state)
    assert open_at(step) == ["reminded_path", "work"]
    assert kinds(step) == [("timer.fired", "reminded"), ("task.ready", "reminded_path")]
    assert step.timers == () and waiting(step.state, "reminded") == []

    process = load(cycle("R/PT0.1S"))
    step = engine.start(process, {})
    time.sleep(0.35)
    before = datetime.now(UTC)
    step = engine.fire_due_timers(process, step.state)
    after = datetime.now(UTC)
    assert open_at(step) == ["reminded_path", "work"]
    assert kinds(step) == [("timer.fired", "reminded"), ("task.ready", "reminded_path")]
    assert before < datetime.fromisoformat(due(step)) <= after + timedelta(seconds=0.1)


@pytest.mark.parametrize("value", ["R3/PT0.3S", "R/PT0.3S"])
def test_an_interrupting_cycle_timer_ends_the_activity_at_its_first_cycle(value: str) -> None:
    """BPMN interrupts at the first firing. SpiffWorkflow 3.2 started a path per cycle beside
    the task and interrupted it only once the cycles had run out, on a later step (an endless
    cycle never did)."""
    timer = boundary(
        "reminded",
        f"<bpmn:timerEventDefinition><bpmn:timeCycle>{value}</bpmn:timeCycle>"
        "</bpmn:timerEventDefinition>",
        interrupting=True,
    )
    process = load(attached(timer))
    step = engine.start(process, {})
    step = fire_after(process, step)
    assert open_at(step) == ["reminded_path"]  # work interrupted
    assert kinds(step) == [("timer.fired", "reminded"), ("task.ready", "reminded_path")]
    assert step.timers == () and waiting(step.state, "reminded") == []
    time.sleep(0.35)
    step = engine.fire_due_timers(process, step.state)
    assert kinds(step) == [] and open_at(step) == ["reminded_path"]
    step = engine.complete_task(process, step.state, task_at(step, "reminded_path"), {})
    assert step.status == "completed"


def test_a_cycle_of_no_repetitions_never_fires() -> None:
    process = load(cycle("R0/PT0.1S"))
    step = engine.start(process, {})
    assert step.timers == ()
    time.sleep(0.15)
    step = engine.fire_due_timers(process, step.state)
    assert kinds(step) == [] and open_at(step) == ["work"]
    step = engine.complete_task(process, step.state, task_at(step, "work"), {})
    assert kinds(step) == [("task.completed", "work"), ("task.ready", "after")]


def test_an_endless_reminder_keeps_saved_state_bounded() -> None:
    """A catch that fired and its finished path are history compaction drops: a task reminded
    for months does not grow its saved state."""
    process = load(cycle("R/PT0.1S"))
    step = engine.start(process, {})
    sizes = []
    for _ in range(24):
        time.sleep(0.12)
        step = engine.fire_due_timers(process, step.state)
        for task_id in [t.id for t in step.open_tasks if t.element_id == "reminded_path"]:
            step = engine.complete_task(process, step.state, task_id, {})
        sizes.append(len(step.state))
    assert open_at(step) == ["work"]
    assert len(waiting(step.state, "reminded")) == 1
    assert sizes[-1] < sizes[4] * 1.5, sizes


def test_a_cycle_saved_before_the_patch_fires_on_and_keeps_its_paths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Instances saved by SpiffWorkflow's own cycle handling (the paths of the cycles fired so
    far under the waiting timer) go on: the next cycle fires as a catch of its own, and the
    paths already started survive the end of the task."""
    process = load(cycle())
    with monkeypatch.context() as old:
        timer = patches.CycleTimerEventDefinition  # SpiffWorkflow's own handling, restored
        for name in ("has_fired", "update_task"):
            old.setattr(timer, name, getattr(timer, name).__wrapped__)
        step = engine.start(process, {})
        for _ in range(2):
            step = fire_after(process, step)
    legacy = load_state(process, step.state)
    (waits,) = [t for t in legacy.get_tasks() if t.task_spec.name == "reminded"]
    assert [c.task_spec.name for c in waits.children].count("reminded_path") == 2
    step = fire_after(process, step)
    assert open_at(step) == ["reminded_path"] * 3 + ["work"]
    assert kinds(step) == [("timer.fired", "reminded"), ("task.ready", "reminded_path")]
    assert step.timers == ()
    step = engine.complete_task(process, step.state, task_at(step, "work"), {})
    assert open_at(step) == ["after"] + ["reminded_path"] * 3
    while step.open_tasks:
        step = engine.complete_task(process, step.state, step.open_tasks[0].id, {})
    assert step.status == "completed"


# --------------------------------------------------------------------------- over HTTP


def test_repeated_messages_over_http_each_open_the_boundary_path(api: Api) -> None:
    """boundary_message.bpmn: 'queried' is a non-interrupting message boundary event on the
    user task 'examine'. Three questions posted to the router each open an answer task; once
    'examine' is done the question is no longer awaited (kept, not delivered)."""
    assert api.deploy("boundary_message.bpmn").status_code == 201
    clerk = api.user("clerk")
    response = api.client.post(
        "/v1/instances",
        headers=clerk,
        json={"definition_key": "examine_application", "business_key": "APP-7"},
    )
    assert response.status_code == 201, response.text
    instance = response.json()
    for n in range(1, 4):
        sent = api.client.post(
            "/v1/messages",
            headers=clerk,
            json={"name": "applicant_query", "business_key": "APP-7", "payload": {"n": n}},
        )
        assert sent.status_code == 200, sent.text
        assert sent.json()["status"] == "delivered", sent.json()
        assert sent.json()["delivered_to"] == [instance["id"]]
        instance = read(api, instance)
        assert ready(instance) == ["answer_query"] * n + ["examine"]
        assert sorted(instance["waiting_messages"]) == ["applicant_query", "application_withdrawn"]
    received = [e for e in events(api, instance) if e[0] == "message.received"]
    assert received == [("message.received", "queried")] * 3

    instance = complete(api, clerk, instance, "examine", finding="in order")
    assert ready(instance) == ["answer_query"] * 3 + ["decide"]
    assert instance["waiting_messages"] == []
    late = api.client.post(
        "/v1/messages",
        headers=clerk,
        json={"name": "applicant_query", "business_key": "APP-7", "payload": {}},
    )
    assert late.status_code == 200, late.text
    assert late.json()["status"] == "kept"
    direct = api.client.post(
        f"/v1/instances/{instance['id']}/messages",
        headers=clerk,
        json={"name": "applicant_query", "payload": {}},
    )
    assert direct.status_code == 409, direct.text
    for answer in [t["id"] for t in instance["tasks"] if t["element_id"] == "answer_query"]:
        done = api.client.post(f"/v1/tasks/{answer}/complete", headers=clerk, json={"data": {}})
        assert done.status_code == 200, done.text
    instance = complete(api, clerk, read(api, instance), "decide")
    assert instance["status"] == "completed"


def test_messages_to_one_instance_leave_another_instances_armed_catch_alone(api: Api) -> None:
    """Two instances each with an armed boundary: the business key picks one; the other's
    catch stays armed and untouched."""
    assert api.deploy("boundary_message.bpmn").status_code == 201
    clerk = api.user("clerk")
    first = start(api, clerk, "examine_application")
    second = start(api, clerk, "examine_application")
    for _ in range(2):
        response = api.client.post(
            f"/v1/instances/{first['id']}/messages",
            headers=clerk,
            json={"name": "applicant_query", "payload": {}},
        )
        assert response.status_code == 200, response.text
    assert ready(read(api, first)) == ["answer_query", "answer_query", "examine"]
    assert ready(read(api, second)) == ["examine"]
    assert "applicant_query" in read(api, second)["waiting_messages"]


def _fire_when_due(api: Api, instance: dict[str, Any]) -> int:
    """Wait until the instance's next timer is due, then run the timer worker's pass once."""
    due_at = datetime.fromisoformat(instance["next_timer_at"])
    time.sleep(max(0.0, (due_at - datetime.now(UTC)).total_seconds()) + 0.05)
    return workers.fire_due_timers(api.store)


def test_an_endless_reminder_over_http_each_path_outlives_the_task(api: Api) -> None:
    """boundary_cycle.bpmn: 'reminder' (R/PT0.5S, non-interrupting) on the user task 'examine'
    opens a follow-up task each cycle, fired by the timer worker's pass; the instance's next
    timer moves on with each cycle. Once 'examine' is done no timer is awaited, nothing more
    fires, and the follow-ups already open stay open."""
    assert api.deploy("boundary_cycle.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "remind_until_done")
    assert ready(instance) == ["examine"]
    dues = [instance["next_timer_at"]]
    for n in range(1, 3):
        assert _fire_when_due(api, instance) == 1
        instance = read(api, instance)
        assert ready(instance) == ["examine"] + ["follow_up"] * n
        assert instance["next_timer_at"] is not None
        dues.append(instance["next_timer_at"])
    assert [datetime.fromisoformat(d) for d in dues] == sorted(
        {datetime.fromisoformat(d) for d in dues}
    )
    fired = [e for e in events(api, instance) if e[0] == "timer.fired"]
    assert fired == [("timer.fired", "reminder")] * 2

    instance = complete(api, clerk, instance, "examine")
    assert ready(instance) == ["decide", "follow_up", "follow_up"]
    assert instance["next_timer_at"] is None
    time.sleep(0.6)  # the next cycle would have been due
    assert workers.fire_due_timers(api.store) == 0
    instance = read(api, instance)
    assert ready(instance) == ["decide", "follow_up", "follow_up"]
    assert [e for e in events(api, instance) if e[0] == "timer.fired"] == fired
    for follow_up in [t for t in instance["tasks"] if t["element_id"] == "follow_up"]:
        done = api.client.post(
            f"/v1/tasks/{follow_up['id']}/complete", headers=clerk, json={"data": {}}
        )
        assert done.status_code == 200, done.text
    instance = complete(api, clerk, read(api, instance), "decide")
    assert instance["status"] == "completed"
