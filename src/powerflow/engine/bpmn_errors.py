"""BPMN errors that nothing catches become incidents on the element that threw them.

SpiffWorkflow 3.2 hands an error event that no boundary event or event subprocess catches to
the outside world (``workflow.bpmn_events``) and carries on as if nothing happened: an error
end event in a subprocess simply ends it. powerflow stops there instead: the throwing element
is put in ERROR (its successors are predicted again, not run) and the step fails with an
incident naming it, so that an administrator can migrate to a version that catches the error
and retry, skip the element (carry on as SpiffWorkflow would), move the token or cancel.
Uncaught escalations are not errors (BPMN: the escalation is only reported); they stay in
``bpmn_events``.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import ErrorEventDefinition
from SpiffWorkflow.util.task import TaskState


class UncaughtError(WorkflowTaskException):  # type: ignore[misc]
    """A BPMN error nothing catches; names the element and, through SpiffWorkflow's task
    trace, the chain of call activities that led to it (across files)."""

    def __init__(self, task: Any, definition: Any) -> None:
        spec = task.task_spec
        element = getattr(spec, "bpmn_name", None) or getattr(spec, "bpmn_id", None)
        code = getattr(definition, "code", None) or getattr(definition, "name", None)
        super().__init__(
            f"The BPMN error '{code}' thrown by '{element}' is caught by no error boundary "
            "event or event subprocess; add an error boundary event with that code where it "
            "should be handled",
            task=task,
        )


def check_uncaught(workflow: Any, task: Any) -> None:
    """After ``task`` ran: raise UncaughtError if it threw an error nothing caught."""
    events = workflow.bpmn_events
    if not events:
        return
    errors = [e for e in events if isinstance(e.event_definition, ErrorEventDefinition)]
    if not errors:
        return
    workflow.bpmn_events = [e for e in events if e not in errors]
    task._drop_children(force=True)
    task._set_state(TaskState.FUTURE)  # predict what follows as a reset would, then park it
    task.task_spec._predict(task, mask=TaskState.PREDICTED_MASK | TaskState.FUTURE)
    task._set_state(TaskState.ERROR)
    raise UncaughtError(task, errors[0].event_definition)
