"""How a message's payload travels when the model does not say (SpiffWorkflow 3.2 trap).

powerflow parses every file with SpiffWorkflow's Spiff dialect, whose message class sends an
empty payload unless ``spiffworkflow:messagePayload`` gives an expression, and drops a received
payload unless ``spiffworkflow:messageVariable`` names a variable. A plain BPMN model (Camunda
Modeler, bpmn.io) has neither, so its messages would carry nothing and compute no correlation.
Without the extension, the Spiff class therefore behaves as SpiffWorkflow's plain BPMN class
does: a throw sends the thrower's task data (and computes its correlation values from it), and
a catch merges the payload into the catching task's data (as Camunda sets a message's variables
on the instance), limited to the names the caller of the delivery accepts (``accepting``; by
default none, so a payload reaches the data only where the model asks for it). With the
extension, the extension rules. A payload that lacks a correlation value is thrown or caught
without it instead of failing the step.

SpiffWorkflow's Camunda dialect (``camunda:expression`` and ``camunda:resultVariable`` on a
``messageEventDefinition``, as its own Camunda test models write them) is read the way its
Camunda parser reads it: the throw sends the expression's value wrapped as
``{"payload": value, "result_var": name}``, and the catch stores the value under that name, or
under ``<catch id>_Response`` when the thrower named none. The name is subject to the same
acceptance as any other (a message sent over HTTP sets it only where the process accepts it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from copy import deepcopy
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions.base import EventDefinition
from SpiffWorkflow.spiff.parser.event_parsers import SpiffEventDefinitionParser
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition as SpiffMessage

ANY_NAME = "*"
_ACCEPTED: ContextVar[frozenset[str] | str] = ContextVar(
    "powerflow_message_accepts", default=frozenset()
)
_SPIFF_THROW = SpiffMessage.throw
_SPIFF_UPDATE = SpiffMessage.update_task_data
_SPIFF_PARSE = SpiffEventDefinitionParser.parse_message_event
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
_CAMUNDA_WRAPPER = frozenset({"payload", "result_var"})


def _correlations(definition: Any, my_task: Any, payload: Any) -> dict[str, Any]:
    """The correlation values of a payload; none where it lacks them (SpiffWorkflow raises,
    failing the step, where the router would merely find no correlated catch)."""
    try:
        return dict(definition.get_correlations(my_task, payload))
    except Exception:
        return {}


def _throw(self: Any, my_task: Any) -> None:
    if self.expression is not None:
        _SPIFF_THROW(self, my_task)
        return
    payload = deepcopy(my_task.data)
    correlations = _correlations(self, my_task, payload)
    my_task.workflow.correlations.update(correlations)
    my_task.workflow.top_workflow.catch(BpmnEvent(self, payload=payload, correlations=correlations))


def _catch(self: Any, my_task: Any, event: Any = None) -> None:
    self.update_internal_data(my_task, event)
    if event is not None:
        my_task.workflow.correlations.update(_correlations(self, my_task, event.payload))
    EventDefinition.catch(self, my_task, event)


def _parse_message_event(self: Any, message_event: Any) -> Any:
    definition = _SPIFF_PARSE(self, message_event)
    expression = message_event.get(f"{{{CAMUNDA_NS}}}expression")
    result_var = message_event.get(f"{{{CAMUNDA_NS}}}resultVariable")
    if definition.expression is None and (expression or result_var):
        value = f"({expression})" if expression else "None"
        definition.expression = f"{{'payload': {value}, 'result_var': {result_var!r}}}"
    return definition


def _update_task_data(self: Any, my_task: Any) -> None:
    if self.message_var is None:
        payload = my_task.internal_data.get(self.name)
        accepted = _ACCEPTED.get()
        if isinstance(payload, dict) and payload.keys() == _CAMUNDA_WRAPPER:
            name = payload["result_var"] or f"{my_task.task_spec.bpmn_id}_Response"
            if isinstance(name, str) and (accepted == ANY_NAME or name in accepted):
                my_task.data[name] = payload["payload"]
        elif isinstance(payload, dict):
            if accepted != ANY_NAME:
                payload = {k: v for k, v in payload.items() if k in accepted}
            my_task.set_data(**payload)
    else:
        _SPIFF_UPDATE(self, my_task)


@contextmanager
def accepting_payload(names: frozenset[str] | str) -> Iterator[None]:
    """Within the block, a message catch without ``messageVariable`` merges these payload names
    into the task data (``"*"``: every name)."""
    token = _ACCEPTED.set(names)
    try:
        yield
    finally:
        _ACCEPTED.reset(token)


def apply() -> None:
    """Install the fallbacks once (idempotent)."""
    SpiffMessage.throw = _throw
    SpiffMessage.catch = _catch
    SpiffMessage.update_task_data = _update_task_data
    SpiffEventDefinitionParser.parse_message_event = _parse_message_event
