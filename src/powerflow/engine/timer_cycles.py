"""Recording each firing of a cycle timer (``R3/PT1H``) as a ``timer.fired`` event.

SpiffWorkflow fires a cycle timer without completing its event (the event stays waiting and
starts one path per cycle), so no task completion reports it; the remaining cycle count in the
task's ``event_value`` drops by one per firing instead. Comparing the counts before and after a
timer refresh gives the firings. A non-interrupting boundary event's cycle is the exception: each
of its firings completes a task of its own (engine/patches.py), which the step's recorder reports
like any timer; the waiting task that fired leaves the event manager and its fresh copy was not
there before, so neither is counted here.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition

from powerflow.engine.types import StepEvent


def cycle_counts(workflow: Any) -> dict[Any, int]:
    """The remaining cycles of every waiting cycle timer, by task id."""
    counts: dict[Any, int] = {}
    for task in workflow.event_manager.tasks.values():
        if isinstance(task.task_spec.event_definition, CycleTimerEventDefinition):
            value = task.internal_data.get("event_value")
            if isinstance(value, dict) and isinstance(value.get("cycles"), int):
                counts[task.id] = value["cycles"]
    return counts


def cycle_firings(workflow: Any, before: dict[Any, int]) -> list[StepEvent]:
    """A ``timer.fired`` event for each cycle that fired since ``before`` was taken."""
    fired: list[StepEvent] = []
    for task_id, count in cycle_counts(workflow).items():
        previous = before.get(task_id)
        if previous is None or previous == count:
            continue
        spec = workflow.event_manager.tasks[task_id].task_spec
        element_id = getattr(spec, "bpmn_id", None) or spec.name
        name = getattr(spec, "bpmn_name", None) or element_id
        times = previous - count if previous > count > -1 else 1
        fired.extend(StepEvent("timer.fired", element_id, name, str(task_id)) for _ in range(times))
    return fired
