"""An event subprocess sees the process's data as it is when the event arrives.

SpiffWorkflow 3.2 adds a triggered event subprocess under the instance's root task, so it
starts with the data the instance was *started* with: a signal thrown after a task set ``v1``
reached a subprocess that could not read ``v1`` (later SpiffWorkflow versions pass the current
data). ``apply`` wraps ``BpmnStartTask.trigger_wf`` so the new subprocess starts from the data
of the instance's most recently completed task (over its start data), as the diagram suggests.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from SpiffWorkflow.bpmn.specs.control import BpmnStartTask

_MARK = "_powerflow_current_data"


def _with_current_data(original: Callable[..., Any]) -> Callable[..., Any]:
    def trigger_wf(self: Any, my_task: Any, spec_name: str) -> Any:
        last = my_task.workflow.last_task
        if last is None or last is my_task:
            return original(self, my_task, spec_name)
        # The new task inherits the root task's data (and hands it to the subprocess's start):
        # let the root carry the current data for that moment only.
        started_with = my_task.data
        my_task.data = {**copy.deepcopy(started_with), **copy.deepcopy(last.data)}
        try:
            return original(self, my_task, spec_name)
        finally:
            my_task.data = started_with

    setattr(trigger_wf, _MARK, True)
    return trigger_wf


def apply() -> None:
    """Wrap ``trigger_wf`` once; calling again is harmless."""
    if not getattr(BpmnStartTask.trigger_wf, _MARK, False):
        BpmnStartTask.trigger_wf = _with_current_data(BpmnStartTask.trigger_wf)
