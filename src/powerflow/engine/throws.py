"""Uncaught BPMN errors: an incident, not a silent end.

SpiffWorkflow hands a thrown error that no boundary event or event subprocess catches to the
host (``workflow.bpmn_events``) and runs on as if nothing happened: the called process ends
normally and its caller continues. powerflow fails the step instead, naming the throwing
element and the chain of call activities that led to it (across files). An escalation that
nothing catches is not an error in BPMN: the flow goes on.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import ErrorEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import ThrowingEvent


def _errors(definition: Any) -> list[Any]:
    if isinstance(definition, MultipleEventDefinition):
        return [d for inner in definition.event_definitions for d in _errors(inner)]
    return [definition] if isinstance(definition, ErrorEventDefinition) else []


def check_uncaught_error(task: Any) -> None:
    """After a task completed: if it threw an error nothing caught, raise (the step fails)."""
    spec = task.task_spec
    if not isinstance(spec, ThrowingEvent) or not _errors(getattr(spec, "event_definition", None)):
        return
    top = task.workflow.top_workflow
    uncaught = [e for e in top.bpmn_events if isinstance(e.event_definition, ErrorEventDefinition)]
    if not uncaught:
        return
    for event in uncaught:
        top.bpmn_events.remove(event)
    error = uncaught[0].event_definition
    code = getattr(error, "code", None)
    label = getattr(spec, "bpmn_name", None) or getattr(spec, "bpmn_id", None) or spec.name
    named = f"'{error.name}'" + (f" (code {code})" if code else "")
    raise WorkflowTaskException(
        f"The error {named} thrown by '{label}' is caught by no boundary event or event "
        "subprocess; add an error boundary event with that code where it should be handled",
        task=task,
    )
