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
extension, the extension rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import (
    MessageEventDefinition as BpmnMessage,
)
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition as SpiffMessage

ANY_NAME = "*"
_ACCEPTED: ContextVar[frozenset[str] | str] = ContextVar(
    "powerflow_message_accepts", default=frozenset()
)
_SPIFF_THROW = SpiffMessage.throw
_SPIFF_UPDATE = SpiffMessage.update_task_data


def _throw(self: Any, my_task: Any) -> None:
    if self.expression is None:
        BpmnMessage.throw(self, my_task)
    else:
        _SPIFF_THROW(self, my_task)


def _update_task_data(self: Any, my_task: Any) -> None:
    if self.message_var is None:
        payload = my_task.internal_data.get(self.name)
        accepted = _ACCEPTED.get()
        if isinstance(payload, dict):
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
    SpiffMessage.update_task_data = _update_task_data
