"""What a workflow waits for and what it threw outward: the inputs of the host's message router.

Pure reads of a workflow object (no database): the message and signal catches waiting now, each
with the correlation values it expects, and the events a step threw that nothing inside the
instance caught (SpiffWorkflow leaves them in ``get_events()``; reference §9, bugs E5, E11, E12).
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import EventBasedGateway

from powerflow.engine.limits import acquire, release
from powerflow.engine.scripting import RESTRICTED_ENGINE
from powerflow.engine.serializer import to_plain
from powerflow.engine.types import StartTrigger, Subscription, ThrownEvent


def definitions_of(definition: Any) -> list[Any]:
    """The single event definitions behind an event (a multiple event holds several)."""
    if isinstance(definition, MultipleEventDefinition):
        return [d for inner in definition.event_definitions for d in definitions_of(inner)]
    return [definition]


def awaited_definitions(task: Any) -> list[Any]:
    """The single event definitions a waiting task can still catch: of a parallel multiple
    event (it needs every one of its events), those it has not received yet."""
    definition = task.task_spec.event_definition
    found = definitions_of(definition)
    if isinstance(definition, MultipleEventDefinition) and definition.parallel:
        seen = [event.event_definition for event in task.internal_data.get("seen_events", [])]
        found = [d for d in found if d not in seen]
    return found


def properties_of(definition: Any) -> tuple[tuple[str, str], ...]:
    """(property name, retrieval expression) of a message definition, in name order."""
    props = getattr(definition, "correlation_properties", None) or []
    return tuple(sorted((str(p.name), str(p.retrieval_expression)) for p in props))


def evaluate(expression: str, context: dict[str, Any]) -> Any:
    """A retrieval expression evaluated by the restricted script engine (raises if it fails)."""
    _budget, own = acquire()
    try:
        return RESTRICTED_ENGINE.environment.evaluate(expression, dict(context))
    finally:
        if own:
            release()


def _known(correlations: dict[str, Any], prop: Any) -> tuple[bool, Any]:
    for key in prop.correlation_keys:
        values = correlations.get(key)
        if isinstance(values, dict) and prop.name in values:
            return True, values[prop.name]
    return False, None


def expected_correlation(
    definition: Any, workflow: Any, data: dict[str, Any]
) -> dict[str, Any] | None:
    """The property values a waiting message catch expects, or None when it takes any message.

    A value the workflow already holds (``workflow.correlations``: set by an earlier message
    or by Spiff's ``processVariableCorrelation``) wins; otherwise the retrieval expression is
    evaluated against the waiting task's data (a host policy). One unknown value makes the
    catch uncorrelated: SpiffWorkflow then accepts the first message, and so does the router.
    """
    props = getattr(definition, "correlation_properties", None) or []
    if not props:
        return None
    correlations = getattr(workflow, "correlations", None) or {}
    values: dict[str, Any] = {}
    for prop in props:
        found, value = _known(correlations, prop)
        if not found:
            try:
                value = evaluate(prop.retrieval_expression, data)
            except Exception:  # not in the data yet: the catch takes the first message
                return None
        values[str(prop.name)] = to_plain(value)
    return values


def _event_subprocess_starts(workflow: Any) -> list[Any]:
    return [
        start_event
        for name in getattr(workflow.spec.start, "trigger_specs", [])
        for start_event in getattr(workflow.subprocess_specs.get(name), "bpmn_start_events", [])
    ]


def _subscription(definition: Any, element: Any, workflow: Any, data: dict[str, Any]) -> Any:
    element_id = getattr(element, "bpmn_id", None)
    if isinstance(definition, MessageEventDefinition):
        return Subscription(
            "message",
            str(definition.name),
            element_id,
            expected_correlation(definition, workflow, data),
            properties_of(definition),
        )
    if isinstance(definition, SignalEventDefinition):
        return Subscription("signal", str(definition.name), element_id)
    return None


def subscriptions(workflow: Any) -> list[Subscription]:
    """Every message and signal the instance can catch now (waiting catches, boundary events,
    event-based gateways, and event subprocess starts, which ``waiting_events()`` omits: E5)."""
    found: list[Subscription] = []
    for task in workflow.event_manager.tasks.values():
        spec = task.task_spec
        for definition in awaited_definitions(task):
            element = spec
            if isinstance(spec, EventBasedGateway):
                inner = spec.event_definition.event_definitions
                element = spec.outputs[inner.index(definition)] if definition in inner else spec
            sub = _subscription(definition, element, task.workflow, task.data)
            if sub is not None:
                found.append(sub)
    for start_event in _event_subprocess_starts(workflow):
        for definition in definitions_of(start_event.event_definition):
            sub = _subscription(definition, start_event, workflow, workflow.data)
            if sub is not None:
                found.append(sub)
    unique: dict[tuple[Any, ...], Subscription] = {}
    for sub in found:
        key = (sub.kind, sub.name, sub.element_id, repr(sorted((sub.correlation or {}).items())))
        unique.setdefault(key, sub)
    return list(unique.values())


def thrown(workflow: Any) -> list[ThrownEvent]:
    """The messages and signals a step threw that nothing in the instance caught (taken out of
    the workflow: each is routed once). Errors and escalations stay inside the instance."""
    out: list[ThrownEvent] = []
    for event in workflow.get_events():
        definition = event.event_definition
        if isinstance(definition, MessageEventDefinition):
            kind = "message"
        elif isinstance(definition, SignalEventDefinition):
            kind = "signal"
        else:
            continue
        payload = event.payload
        plain = to_plain(payload) if isinstance(payload, dict) else {}
        if payload is not None and not isinstance(payload, dict):
            plain = {"value": to_plain(payload)}
        values: dict[str, Any] = {}
        for by_prop in (event.correlations or {}).values():
            if isinstance(by_prop, dict):
                values.update({str(k): to_plain(v) for k, v in by_prop.items()})
        out.append(ThrownEvent(kind, str(definition.name), plain, values or None))  # type: ignore[arg-type]
    return out


def start_triggers(spec: Any) -> list[StartTrigger]:
    """The top-level start events of a process that a message or signal starts."""
    found: list[StartTrigger] = []
    for start_event in getattr(spec.start, "outputs", []):
        definition = getattr(start_event, "event_definition", None)
        if definition is None:
            continue
        for inner in definitions_of(definition):
            element_id = getattr(start_event, "bpmn_id", None)
            if isinstance(inner, MessageEventDefinition):
                found.append(
                    StartTrigger("message", str(inner.name), element_id, properties_of(inner))
                )
            elif isinstance(inner, SignalEventDefinition):
                found.append(StartTrigger("signal", str(inner.name), element_id))
    return found


def catch_properties(specs: list[Any]) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """(kind, name, correlation properties) of every message catch in the given process specs
    (the process and its subprocesses): what keys an incoming message is computed for."""
    found: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
    for spec in specs:
        for task_spec in getattr(spec, "task_specs", {}).values():
            if not isinstance(task_spec, CatchingEvent):
                continue
            for definition in definitions_of(getattr(task_spec, "event_definition", None)):
                if isinstance(definition, MessageEventDefinition):
                    found.add(("message", str(definition.name), properties_of(definition)))
    return found
