"""Starting an instance because one of its timer start events fell due (the host schedules it).

SpiffWorkflow has no scheduler: a timer start event of a fresh workflow waits for its own timer,
counted from the moment the instance is created. When powerflow's schedule says the timer is
due, the instance is created with that start event already fired, so it runs on at once; the
process's other start events are cancelled (one trigger, one token).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.util.task import TaskState

from powerflow.engine.compiler import LoadedProcess
from powerflow.engine.runtime import _Recorder, _run
from powerflow.engine.scripting import RESTRICTED_ENGINE
from powerflow.engine.serializer import check_plain_json
from powerflow.engine.types import StepEvent, StepResult


class NoSuchStartEvent(LookupError):
    """The process has no timer start event with that id."""


def start_on_timer(
    process: LoadedProcess, element_id: str, variables: dict[str, Any] | None = None
) -> StepResult:
    """Create an instance whose timer start event ``element_id`` has fired, and run it to its
    first wait state (its first events: ``instance.started``, then ``timer.fired``)."""
    variables = variables or {}
    check_plain_json(variables, where="variables")
    workflow = BpmnWorkflow(process.spec, process.subprocess_specs, script_engine=RESTRICTED_ENGINE)
    workflow.task_tree.data.update(variables)
    starts = [
        t
        for t in workflow.get_tasks(state=TaskState.ANY_MASK)
        if isinstance(t.task_spec, StartEvent) and t.workflow is workflow
    ]
    chosen = [t for t in starts if getattr(t.task_spec, "bpmn_id", None) == element_id]
    if not chosen:
        raise NoSuchStartEvent(element_id)
    if isinstance(chosen[0].task_spec.event_definition, CycleTimerEventDefinition):
        # One cycle left, due already: the event spawns one token, then finishes (the host's
        # schedule, not the instance, counts the cycles).
        past = datetime.now(UTC) - timedelta(seconds=1)
        chosen[0]._set_internal_data(
            event_value={"cycles": 1, "next": past.isoformat(), "duration": 1.0}
        )
    else:
        # a date or duration is evaluated before it is compared: give it one that has passed
        chosen[0]._set_internal_data(event_fired=True, event_value=datetime.now(UTC).isoformat())

    spec = chosen[0].task_spec
    fired = StepEvent(
        "timer.fired",
        element_id,
        getattr(spec, "bpmn_name", None) or element_id,
        str(chosen[0].id),
    )

    def action(wf: Any, recorder: _Recorder) -> None:
        recorder.events.extend([StepEvent("instance.started", None, None, None, {}), fired])
        for other in starts:
            if other is not chosen[0] and not other.has_state(TaskState.FINISHED_MASK):
                other.cancel()

    step = _run(process, workflow, action, before={})
    # A date or duration start event completes in the step and is recorded once more.
    events = [
        e
        for n, e in enumerate(step.events)
        if n < 2 or not (e.type == "timer.fired" and e.element_id == element_id)
    ]
    return replace(step, events=tuple(events))
