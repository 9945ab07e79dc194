"""Messages and signals between instances: correlation values, delivery, start events.

Pure functions over saved state and payloads, used by the host's router (services/messages.py):
the correlation values of an incoming message for a catch's properties, a canonical key to index
them by, delivering a message or a signal to one instance, starting an instance at a message or
signal start event, and the start triggers of a process (indexed at deploy time).
"""

from __future__ import annotations

from typing import Any

import orjson
from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition

from powerflow.engine import runtime
from powerflow.engine.compiler import LoadedProcess
from powerflow.engine.scripting import RESTRICTED_ENGINE
from powerflow.engine.serializer import WORKFLOWS, check_plain_json
from powerflow.engine.subscriptions import (
    catch_properties,
    definitions_of,
    evaluate,
    start_triggers,
)
from powerflow.engine.types import StartTrigger, StepEvent, StepResult

__all__ = [
    "NotWaitingForSignal",
    "correlation_key",
    "deliver_signal",
    "message_correlation",
    "process_catch_properties",
    "process_start_triggers",
    "start_by_message",
    "start_by_signal",
    "with_correlation",
]


class NotWaitingForSignal(Exception):
    """The instance has no catch for this signal now."""


def correlation_key(values: dict[str, Any] | None) -> str | None:
    """Canonical JSON of correlation property values (sorted keys), or None for none."""
    if not values:
        return None
    return orjson.dumps(values, option=orjson.OPT_SORT_KEYS).decode()


def message_correlation(
    properties: tuple[tuple[str, str], ...] | list[tuple[str, str]],
    payload: dict[str, Any],
    given: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """The values of a catch's correlation properties for an incoming message.

    A value the sender gave (``given``, by property name) wins; otherwise the property's
    retrieval expression is evaluated against the payload by the restricted script engine.
    None when the catch has no properties or a value cannot be found (the message then reaches
    only catches that take any message).
    """
    if not properties:
        return None
    values: dict[str, Any] = {}
    for name, expression in properties:
        if given and name in given:
            values[name] = given[name]
            continue
        try:
            values[name] = evaluate(expression, payload)
        except Exception:  # the payload does not say
            return None
    return values


def with_correlation(
    properties: tuple[tuple[str, str], ...] | list[tuple[str, str]],
    payload: dict[str, Any],
    given: dict[str, Any] | None,
) -> dict[str, Any]:
    """The payload to deliver: values the sender gave only as correlation are added under the
    property's name when its retrieval expression is that plain name (SpiffWorkflow evaluates
    the expressions against the payload as it catches, and fails when one is missing)."""
    if not given:
        return payload
    out = dict(payload)
    for name, expression in properties:
        if name in given and expression.strip().isidentifier() and expression.strip() not in out:
            out[expression.strip()] = given[name]
    return out


def _signal_event(workflow: Any, name: str, payload: dict[str, Any]) -> Any | None:
    """A signal event the instance catches now, built with the catching definition's class."""
    waiting = list(workflow.event_manager.tasks.values())
    candidates = [
        d
        for t in waiting
        for d in definitions_of(t.task_spec.event_definition)
        if isinstance(d, SignalEventDefinition) and d.name == name
    ]
    for start_event in runtime._event_subprocess_starts(workflow):
        candidates.extend(
            d
            for d in definitions_of(start_event.event_definition)
            if isinstance(d, SignalEventDefinition) and d.name == name
        )
    for definition in candidates:
        event = BpmnEvent(type(definition)(name), payload=payload or None)
        return event
    return None


def deliver_signal(
    process: LoadedProcess, state: str, name: str, payload: dict[str, Any]
) -> StepResult:
    """Deliver a signal to an instance that waits for it (every catch of that name fires)."""
    check_plain_json(payload, where="payload")
    workflow = runtime._load_running(process, state)
    event = _signal_event(workflow, name, payload)
    if event is None:
        WORKFLOWS.put(process.ref, state, workflow)  # untouched: keep it for the next step
        raise NotWaitingForSignal(name)
    before = runtime._ready_ids(process, workflow)

    def action(wf: Any, recorder: Any) -> None:
        wf.send_event(event)
        recorder.events.append(
            StepEvent("signal.received", None, name, None, {"name": name, "payload": payload})
        )

    return runtime._run(process, workflow, action, before=before)


def _start_by(
    process: LoadedProcess,
    kind: str,
    name: str,
    payload: dict[str, Any],
    variables: dict[str, Any] | None,
) -> StepResult:
    check_plain_json(payload, where="payload")
    workflow = BpmnWorkflow(process.spec, process.subprocess_specs, script_engine=RESTRICTED_ENGINE)
    workflow.task_tree.data.update(variables or {})

    def action(wf: Any, recorder: Any) -> None:
        recorder.events.append(StepEvent("instance.started", None, None, None, {}))
        wf.do_engine_steps()  # the start events now wait
        definition = _start_definition(wf, kind, name)
        if kind == "message":
            correlations = {}
            if definition.correlation_properties:
                correlations = definition.calculate_correlations(
                    wf.script_engine, definition.correlation_properties, payload
                )
            event = BpmnEvent(type(definition)(name), payload=payload, correlations=correlations)
        else:
            event = BpmnEvent(type(definition)(name), payload=payload or None)
        wf.send_event(event)
        received = StepEvent(
            f"{kind}.received", None, name, None, {"name": name, "payload": payload}
        )
        if kind == "message":  # the start event that takes it names the event (runtime._Recorder)
            recorder.message = name
            recorder.delivered(received)
        else:
            recorder.events.append(received)

    return runtime._run(process, workflow, action, before={})


def _start_definition(workflow: Any, kind: str, name: str) -> Any:
    wanted = MessageEventDefinition if kind == "message" else SignalEventDefinition
    for start_event in workflow.spec.start.outputs:
        for definition in definitions_of(getattr(start_event, "event_definition", None)):
            if isinstance(definition, wanted) and definition.name == name:
                return definition
    raise LookupError(f"no {kind} start event named {name!r}")


def start_by_message(process: LoadedProcess, name: str, payload: dict[str, Any]) -> StepResult:
    """Create an instance at the message start event ``name`` and deliver the message to it."""
    return _start_by(process, "message", name, payload, None)


def start_by_signal(process: LoadedProcess, name: str, payload: dict[str, Any]) -> StepResult:
    """Create an instance at the signal start event ``name`` and deliver the signal to it."""
    return _start_by(process, "signal", name, payload, None)


def process_start_triggers(process: LoadedProcess) -> list[StartTrigger]:
    """The message and signal start events of a deployed process (indexed at deploy)."""
    return start_triggers(process.spec)


def process_catch_properties(
    process: LoadedProcess,
) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """(kind, name, correlation properties) of the message catches of a deployed process."""
    return catch_properties([process.spec, *process.subprocess_specs.values()])
