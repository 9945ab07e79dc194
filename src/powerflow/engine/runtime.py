"""Pure functions over saved state: start, complete a task, fire timers, deliver a message, cancel.

Each takes a LoadedProcess and saved state (a JSON string) and returns a StepResult: the new
state, the open human tasks, what changed, the waiting timers and messages, and the ordered step
events. Nothing here touches a database; a failed automatic step becomes an incident on the
result, never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.specs.control import BoundaryEventJoin, BoundaryEventSplit, _EndJoin
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import (
    ErrorEventDefinition,
    EscalationEventDefinition,
)
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import EventBasedGateway
from SpiffWorkflow.bpmn.specs.mixins.exclusive_gateway import ExclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.inclusive_gateway import InclusiveGateway
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.util.task import TaskState

from powerflow.engine import external
from powerflow.engine.bpmn_errors import check_uncaught
from powerflow.engine.compaction import compact
from powerflow.engine.compiler import LoadedProcess
from powerflow.engine.limits import ScriptLimitExceeded, acquire, release
from powerflow.engine.scripting import RESTRICTED_ENGINE
from powerflow.engine.serializer import (
    WORKFLOWS,
    check_plain_json,
    dump_state,
    load_state,
    to_plain,
)
from powerflow.engine.spiff_extensions import failed_script, metadata_values, put_form_data
from powerflow.engine.subscriptions import (
    awaited_definitions,
    definitions_of,
    subscriptions,
    thrown,
)
from powerflow.engine.task_converter import id_text
from powerflow.engine.timer_cycles import cycle_counts, cycle_firings
from powerflow.engine.tree import ready_human_tasks
from powerflow.engine.types import (
    Incident,
    InstanceStatus,
    PendingMessage,
    PendingTimer,
    StepEvent,
    StepResult,
    TaskView,
)


class TaskNotFound(LookupError):
    """The task id is not part of this instance."""


class TaskNotReady(Exception):
    """The task exists but is not a human task waiting for completion."""


class NotWaitingForMessage(Exception):
    """The instance does not wait for a message of that name."""


class InstanceNotRunning(Exception):
    """The instance has ended (completed, failed or cancelled)."""


_AUTOMATIC_KINDS = {
    "ScriptTask": "scriptTask",
    "ServiceTask": "serviceTask",
    "ConnectorServiceTask": "serviceTask",
    "SendTask": "sendTask",
    "BusinessRuleTask": "businessRuleTask",
    "ReceiveTask": "receiveTask",
    "CallActivity": "callActivity",
    "SubWorkflowTask": "subProcess",
    "TransactionSubprocess": "transaction",
}


class _Recorder:
    """Collects step events from SpiffWorkflow's engine-step callbacks, in order."""

    def __init__(self, process: LoadedProcess) -> None:
        self.process = process
        self.events: list[StepEvent] = []
        self.end_event: tuple[str, str] | None = None
        self.message: str | None = None  # the message this step delivers, if any
        self._delivery: int | None = None  # its event's index, until the catch that took it ran

    def delivered(self, event: StepEvent) -> None:
        """Record the arrival of the message this step delivers (``self.message``). When the
        catch that takes it runs in the same step, that event names the catch: one
        ``message.received`` per delivery, where the message arrived in the order of events."""
        self._delivery = len(self.events)
        self.events.append(event)

    def _received(self, bpmn_id: str, name: str, task_id: str, messages: set[str]) -> None:
        """A catch took a message: the delivery's event names it, or (a message thrown inside
        the instance, a second catch of the same delivery) it is an event of its own."""
        if self._delivery is not None and self.message in messages:
            delivery = self.events[self._delivery]
            self.events[self._delivery] = StepEvent(
                "message.received", bpmn_id, name, task_id, dict(delivery.payload)
            )
            self._delivery = None
            return
        self.events.append(StepEvent("message.received", bpmn_id, name, task_id))

    def did_complete(self, task: Any) -> None:
        spec = task.task_spec
        if isinstance(spec, BoundaryEventSplit | BoundaryEventJoin | _EndJoin):
            return
        bpmn_id = getattr(spec, "bpmn_id", None)
        if bpmn_id is None:
            return
        name = getattr(spec, "bpmn_name", None) or bpmn_id
        if isinstance(spec, EndEvent):
            self.end_event = (bpmn_id, name)
            return
        if isinstance(spec, ExclusiveGateway | InclusiveGateway):
            self.events.append(self._decision(task, bpmn_id, name))
            return
        if isinstance(spec, EventBasedGateway):
            self._gateway_branches(task, spec)
            return
        if isinstance(spec, CatchingEvent):
            defs = definitions_of(spec.event_definition)
            coded = [
                d for d in defs if isinstance(d, ErrorEventDefinition | EscalationEventDefinition)
            ]
            if coded:  # a boundary event or an event subprocess caught a BPMN error/escalation
                caught = "error" if isinstance(coded[0], ErrorEventDefinition) else "escalation"
                payload = {"code": coded[0].code, "name": coded[0].name or None}
                self.events.append(
                    StepEvent(f"{caught}.caught", bpmn_id, name, str(task.id), payload)
                )
                return
            messages = [d for d in defs if isinstance(d, MessageEventDefinition)]
            timers = any(isinstance(d, TimerEventDefinition) for d in defs)
            if timers and not (messages and self.message in {d.name for d in messages}):
                self.events.append(StepEvent("timer.fired", bpmn_id, name, str(task.id)))
            elif messages and not spec.manual:
                self._received(bpmn_id, name, str(task.id), {str(d.name) for d in messages})
            return
        kind = _AUTOMATIC_KINDS.get(type(spec).__name__)
        if kind is not None:
            self.events.append(
                StepEvent(
                    "task.completed",
                    bpmn_id,
                    name,
                    str(task.id),
                    {"kind": kind, "automatic": True},
                )
            )

    def _gateway_branches(self, task: Any, spec: Any) -> None:
        """An event-based gateway waits for its branches' events itself (SpiffWorkflow moves them
        onto the gateway); the step event names the catch event of the branch that was taken."""
        events = spec.event_definition.event_definitions
        for child in task.children:
            if child.task_spec not in spec.outputs:
                continue
            definition = events[spec.outputs.index(child.task_spec)]
            target = child.task_spec
            bpmn_id = getattr(target, "bpmn_id", None) or target.name
            name = getattr(target, "bpmn_name", None) or bpmn_id
            if isinstance(definition, TimerEventDefinition):
                self.events.append(StepEvent("timer.fired", bpmn_id, name, str(child.id)))
            elif isinstance(definition, MessageEventDefinition):
                self._received(bpmn_id, name, str(child.id), {str(definition.name)})

    def _decision(self, task: Any, bpmn_id: str, name: str) -> StepEvent:
        flows = self.process.catalog.get("flows", {})
        taken = []
        for child in task.children:
            if child.state & (TaskState.MAYBE | TaskState.LIKELY | TaskState.CANCELLED):
                continue
            target = getattr(child.task_spec, "bpmn_id", None)
            flow = flows.get(f"{bpmn_id}->{target}", {})
            taken.append(
                {
                    "flow_id": flow.get("id"),
                    "flow_name": flow.get("name"),
                    "target": target,
                    "condition": flow.get("condition"),
                }
            )
        return StepEvent("gateway.decided", bpmn_id, name, str(task.id), {"taken": taken})


_READY_IDS = "_powerflow_ready_ids"


def _ready_ids(process: LoadedProcess, workflow: Any) -> dict[str, TaskView]:
    """The ready human tasks by id (their views without data: a step that closes one reports
    its element): remembered from the step that saved this workflow (and forgotten on first
    use, before anything changes it), else found by walking the tree."""
    remembered: dict[str, TaskView] | None = workflow.__dict__.pop(_READY_IDS, None)
    if remembered is not None:
        return remembered
    return {v.id: v for v in _human_tasks(process, workflow)}


_VIEW = "_powerflow_view"  # on a task: (process, spec, its TaskView without data)


def _human_tasks(
    process: LoadedProcess, workflow: Any, *, with_data: bool = False
) -> list[TaskView]:
    """The ready human tasks in reading order. Views without data are kept on their task and
    reused while it runs the same spec of the same process (a large multi-instance lists
    hundreds of unchanged tasks on every step)."""
    elements = process.catalog.get("elements", {})
    views = []
    for task in ready_human_tasks(workflow):
        spec = task.task_spec
        if not with_data:  # a task's view without data changes only with its spec
            known = task.__dict__.get(_VIEW)
            if known is not None and known[0] is process and known[1] is spec:
                views.append(known[2])
                continue
        bpmn_id = getattr(spec, "bpmn_id", None) or spec.name
        element = elements.get(bpmn_id, {})
        lane = element.get("lane") or getattr(spec, "lane", None)
        roles = tuple(element.get("roles") or ([lane] if lane else []))
        views.append(
            TaskView(
                id=id_text(task.id),
                element_id=bpmn_id,
                name=getattr(spec, "bpmn_name", None) or element.get("name") or bpmn_id,
                kind=element.get("tag") or "task",
                lane=lane,
                roles=roles,
                data=to_plain(task.data) if with_data else {},
                metadata_values=metadata_values(task) if with_data else None,
            )
        )
        if not with_data:
            task.__dict__[_VIEW] = (process, spec, views[-1])
    return sorted(views, key=lambda v: _position(elements, v.element_id))  # stable: then tree


def _position(elements: dict[str, Any], element_id: str) -> int:
    """The element's reading order in the diagram (definitions deployed before it was
    recorded have none: they keep the engine's order)."""
    position = elements.get(element_id, {}).get("position")
    return position if isinstance(position, int) else 1 << 30


def _timers(workflow: Any) -> list[PendingTimer]:
    due: list[PendingTimer] = []
    for task in workflow.event_manager.tasks.values():
        ed = task.task_spec.event_definition
        defs = ed.event_definitions if isinstance(ed, MultipleEventDefinition) else [ed]
        if not any(isinstance(d, TimerEventDefinition) for d in defs):
            continue
        value = task.internal_data.get("event_value")
        if isinstance(value, dict):
            value = value.get("next") if value.get("cycles") != 0 else None
        if not value:
            continue
        when = (
            TimerEventDefinition.get_datetime(value)
            if "T" in value and not value.startswith("P")
            else TimerEventDefinition.parse_time_or_duration(value)
        )
        if isinstance(when, datetime):
            due.append(
                PendingTimer(
                    element_id=getattr(task.task_spec, "bpmn_id", task.task_spec.name),
                    due_at=when.astimezone(UTC).isoformat(),
                )
            )
    return due


def _awaited_messages(workflow: Any) -> list[tuple[str | None, Any]]:
    """(element id, message definition) of every message the instance can catch now.

    ``waiting_events()`` is not enough: SpiffWorkflow reports an event-based gateway and any
    event with several definitions (multiple start, multiple catch) as one nameless
    ``MultipleEventDefinition``, and does not list the message start events of event subprocesses
    at all. The waiting tasks are read instead (the top workflow tracks those of its
    subprocesses too), then the event subprocesses a message would start.
    """
    found: list[tuple[str | None, Any]] = []
    for task in workflow.event_manager.tasks.values():
        spec = task.task_spec
        for definition in awaited_definitions(task):
            if not isinstance(definition, MessageEventDefinition):
                continue
            element = spec
            if isinstance(spec, EventBasedGateway):
                element = spec.outputs[spec.event_definition.event_definitions.index(definition)]
            found.append((getattr(element, "bpmn_id", None), definition))
    for start_event in _event_subprocess_starts(workflow):
        for definition in definitions_of(start_event.event_definition):
            if isinstance(definition, MessageEventDefinition):
                found.append((getattr(start_event, "bpmn_id", None), definition))
    return found


def _event_subprocess_starts(workflow: Any) -> list[Any]:
    """The start events of the process's event subprocesses that an event starts (a message, a
    signal or an error; timer-started ones wait as ordinary tasks)."""
    return [
        start_event
        for name in getattr(workflow.spec.start, "trigger_specs", [])
        for start_event in getattr(workflow.subprocess_specs.get(name), "bpmn_start_events", [])
    ]


def _messages(workflow: Any) -> list[PendingMessage]:
    """The names of the messages the instance waits for, each once."""
    seen: dict[str, PendingMessage] = {}
    for element_id, definition in _awaited_messages(workflow):
        name = str(definition.name)
        seen.setdefault(name, PendingMessage(element_id=element_id, name=name))
    return list(seen.values())


def _message_event(workflow: Any, name: str, payload: dict[str, Any]) -> Any | None:
    """The event that delivers message ``name`` to a waiting element, or None if none catches it.

    The event is built with the waiting definition's own class (events match on class and name:
    the Spiff dialect and plain BPMN have different message classes) and with the correlation
    values that definition computes from the payload, as a sending process would.
    """
    triggers = [start_event.event_definition for start_event in _event_subprocess_starts(workflow)]
    for _element_id, definition in _awaited_messages(workflow):
        if definition.name != name:
            continue
        correlations: dict[str, Any] = {}
        if definition.correlation_properties:
            try:
                correlations = definition.calculate_correlations(
                    workflow.script_engine, definition.correlation_properties, payload
                )
            except Exception:  # the payload lacks a correlation value: it is uncorrelated
                correlations = {}
        event = BpmnEvent(type(definition)(name), payload=payload, correlations=correlations)
        waiting = workflow.event_manager.tasks.values()
        if any(t.task_spec.catches(t, event) for t in waiting) or any(
            trigger == event.event_definition for trigger in triggers
        ):
            return event
    return None


def _status(workflow: Any, incident: Incident | None) -> InstanceStatus:
    if incident is not None:
        return "failed"
    if workflow.is_completed():
        return "completed"
    return "running"


_ELEMENT_KINDS = {
    "ScriptTask": "The script task",
    "ExclusiveGateway": "A condition of the gateway",
    "InclusiveGateway": "A condition of the gateway",
}


def _limit_exceeded(exc: BaseException) -> ScriptLimitExceeded | None:
    """The script limit behind an engine error, if that is what it was."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 8:
        if isinstance(current, ScriptLimitExceeded):
            return current
        current = current.__cause__ or current.__context__  # SpiffWorkflow re-raises its own
        seen += 1
    return None


def _incident_from(exc: Exception, workflow: Any = None) -> Incident:
    spec = getattr(exc, "task_spec", None)
    if spec is None and workflow is not None and isinstance(exc, ScriptLimitExceeded):
        last = workflow.last_task  # the diagram looped without waiting: name where it was
        spec = last.task_spec if last is not None else None
    element_id = getattr(spec, "bpmn_id", None) if spec is not None else None
    element_name = getattr(spec, "bpmn_name", None) if spec is not None else None
    limit = _limit_exceeded(exc)
    if limit is not None:
        kind = _ELEMENT_KINDS.get(type(spec).__name__, "The step at") if spec else "The step"
        named = f" '{element_name or element_id}'" if element_id else ""
        message = f"{kind}{named} {limit.reason}"
    else:
        message = str(exc.args[0]) if exc.args else type(exc).__name__
        notes = [str(n) for n in getattr(exc, "notes", None) or []]  # "...in the Pre-Script"
        if notes:
            message = f"{message.rstrip('. ')}. {'. '.join(notes)}"
    message = message.strip().removesuffix(". ").rstrip()
    phase = failed_script(exc)
    if phase is not None:
        message = f"The {phase} of '{element_name or element_id}' failed: {message}"
    trace = getattr(exc, "task_trace", None) or []
    if len(trace) > 1:  # inside a call activity: the chain of calls, across files
        message = f"{message} (task trace: {' <- '.join(str(t) for t in trace)})"
    return Incident(element_id=element_id, element_name=element_name, message=message)


def _run(
    process: LoadedProcess,
    workflow: Any,
    action: Callable[[Any, _Recorder], None],
    *,
    before: dict[str, TaskView],
) -> StepResult:
    recorder = _Recorder(process)
    incident: Incident | None = None
    external_before = external.started(process, workflow)
    budget, own = acquire()
    check_step = budget.check_step

    def did_complete(task: Any) -> None:
        check_step()  # a diagram that loops without waiting
        check_uncaught(workflow, task)  # a BPMN error nothing catches: an incident
        recorder.did_complete(task)

    try:
        action(workflow, recorder)
        workflow.do_engine_steps(did_complete_task=did_complete)
        check_step(final=True)  # a step that went over in its last few tasks
    except Exception as exc:  # any failure of an automatic step: an incident
        incident = _incident_from(exc, workflow)
        recorder.events.append(
            StepEvent(
                "instance.failed",
                incident.element_id,
                incident.element_name,
                None,
                {"message": incident.message},
            )
        )
    finally:
        if own:
            release()
    open_tasks = _human_tasks(process, workflow)
    now_ids = {t.id: t for t in open_tasks}
    new_tasks = [t for t in open_tasks if t.id not in before]
    closed = sorted(before.keys() - now_ids.keys())
    status = _status(workflow, incident)
    events = list(recorder.events)
    for t in new_tasks:
        events.append(StepEvent("task.ready", t.element_id, t.name, t.id, {"roles": list(t.roles)}))
    if status == "completed":
        end_id, end_name = recorder.end_event or (None, None)
        events.append(StepEvent("instance.completed", end_id, end_name, None, {}))
    data = to_plain(workflow.data) if status == "completed" else {}
    if not data:
        last = workflow.last_task
        data = to_plain(last.data if last is not None else workflow.task_tree.data)
    setattr(workflow, _READY_IDS, now_ids)
    new_external, closed_external = external.changes(process, workflow, external_before)
    outward = tuple(thrown(workflow))  # taken out before saving: each is routed once
    compact(workflow, always=status == "completed")  # earlier loop iterations and such
    return StepResult(
        state=dump_state(process, workflow),
        status=status,
        open_tasks=tuple(open_tasks),
        new_tasks=tuple(new_tasks),
        closed_task_ids=tuple(closed),
        closed_tasks=tuple(before[i] for i in closed),
        timers=tuple(_timers(workflow)) if status == "running" else (),
        messages=tuple(_messages(workflow)) if status == "running" else (),
        events=tuple(events),
        data=data,
        incident=incident,
        new_external=new_external,
        closed_external=closed_external,
        subscriptions=tuple(subscriptions(workflow)) if status == "running" else (),
        thrown=outward,
    )


def _load_running(process: LoadedProcess, state: str) -> Any:
    workflow = load_state(process, state)
    if workflow.is_completed():
        raise InstanceNotRunning("the instance has already ended")
    return workflow


def start(process: LoadedProcess, variables: dict[str, Any]) -> StepResult:
    """Create an instance with initial variables and run it to its first wait state."""
    check_plain_json(variables, where="variables")
    workflow = BpmnWorkflow(process.spec, process.subprocess_specs, script_engine=RESTRICTED_ENGINE)
    # A variable named like one of the process's data objects is that data object's value: a
    # task's input association would otherwise read the data object (None) over it.
    objects = workflow.data_objects
    workflow.task_tree.data.update({k: v for k, v in variables.items() if k not in objects})
    objects.update({k: v for k, v in variables.items() if k in objects})

    def action(wf: Any, recorder: _Recorder) -> None:
        recorder.events.append(StepEvent("instance.started", None, None, None, {}))

    return _run(process, workflow, action, before={})


def open_tasks(process: LoadedProcess, state: str) -> list[TaskView]:
    """The human tasks an instance waits on, read from saved state."""
    workflow = load_state(process, state)
    views = _human_tasks(process, workflow, with_data=True)
    WORKFLOWS.put(process.ref, state, workflow)  # read only: keep it for the next step
    return views


def complete_task(
    process: LoadedProcess,
    state: str,
    task_id: str,
    data: dict[str, Any],
    check: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
) -> StepResult:
    """Complete a READY human task with submitted data and run to the next wait state.

    ``check(current task data, submitted data)`` runs after the task is found ready and before
    anything changes; whatever it raises propagates. Raises TaskNotFound, TaskNotReady or
    InstanceNotRunning; nothing is changed then.
    """
    check_plain_json(data)
    workflow = _load_running(process, state)
    before = _ready_ids(process, workflow)
    try:
        try:
            task = workflow.get_task_from_id(UUID(task_id))
        except (TaskNotFoundException, ValueError):
            raise TaskNotFound(task_id) from None
        if task.state != TaskState.READY or not task.task_spec.manual:
            raise TaskNotReady(f"task is {TaskState.get_name(task.state)}")
        if check is not None:
            check(to_plain(task.data), data)
    except Exception:
        WORKFLOWS.put(process.ref, state, workflow)  # untouched: keep it for a retry
        raise

    def action(wf: Any, recorder: _Recorder) -> None:
        put_form_data(task, data)
        task.run()
        spec = task.task_spec
        recorder.events.append(
            StepEvent(
                "task.completed",
                getattr(spec, "bpmn_id", None),
                getattr(spec, "bpmn_name", None) or getattr(spec, "bpmn_id", None),
                task_id,
                {"data": to_plain(data)},
            )
        )

    return _run(process, workflow, action, before=before)


def fire_due_timers(process: LoadedProcess, state: str) -> StepResult:
    """Fire every timer of the instance whose due time has passed, and run on."""
    workflow = _load_running(process, state)
    before = _ready_ids(process, workflow)

    def action(wf: Any, recorder: _Recorder) -> None:
        cycles = cycle_counts(wf)
        wf.refresh_timers()
        recorder.events.extend(cycle_firings(wf, cycles))  # a cycle fires without completing

    return _run(process, workflow, action, before=before)


def deliver_message(
    process: LoadedProcess, state: str, name: str, payload: dict[str, Any]
) -> StepResult:
    """Deliver a named message with a payload to an instance that waits for it."""
    check_plain_json(payload, where="payload")
    workflow = _load_running(process, state)
    event = _message_event(workflow, name, payload)
    if event is None:
        WORKFLOWS.put(process.ref, state, workflow)  # untouched: keep it for the next step
        raise NotWaitingForMessage(name)
    before = _ready_ids(process, workflow)

    def action(wf: Any, recorder: _Recorder) -> None:
        recorder.message = name
        wf.send_event(event)
        recorder.delivered(StepEvent("message.received", None, name, None, {"name": name}))

    return _run(process, workflow, action, before=before)


def cancel(process: LoadedProcess, state: str) -> StepResult:
    """Cancel a running instance: every open task is closed, nothing runs further."""
    workflow = load_state(process, state)
    before = _ready_ids(process, workflow)
    external_before = external.started(process, workflow)
    last = workflow.last_task  # the data as it stood: cancelling keeps it (not the start's)
    data = to_plain(last.data if last is not None else workflow.task_tree.data)
    workflow.cancel()
    open_now: list[TaskView] = []
    return StepResult(
        state=dump_state(process, workflow),
        status="cancelled",
        open_tasks=tuple(open_now),
        new_tasks=(),
        closed_task_ids=tuple(sorted(before)),
        closed_tasks=tuple(before[i] for i in sorted(before)),
        timers=(),
        messages=(),
        events=(StepEvent("instance.cancelled", None, None, None, {}),),
        data=data,
        closed_external=tuple(sorted(external_before)),
    )


def waiting_elements(state: str) -> list[str]:
    """The elements an instance waits at (timers, messages), read from saved state alone.

    Needs no spec and never raises: it names the element of an incident when the state cannot
    be restored (then whatever of it is still readable is used, possibly nothing).
    """
    try:
        dct = json.loads(state)
        found: list[str] = []
        for workflow in (dct, *dct.get("subprocesses", {}).values()):
            for task in workflow.get("tasks", {}).values():
                spec = task.get("task_spec")
                if task.get("state") == TaskState.WAITING and isinstance(spec, str):
                    found.append(spec)
        return found
    except Exception:  # unreadable state: nothing to name
        return []
