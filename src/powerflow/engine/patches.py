"""Workarounds for SpiffWorkflow 3.2 traps that must hold before any workflow runs.

E1: the task iterators stop at depth 1000, so a gateway loop silently "completes" after about
250 iterations. Raise the default depth; the asserts make a library upgrade that changes the
signatures fail loudly instead of misaligning the defaults.

Event subprocesses started by a message, signal or error: the first time one is triggered,
``BpmnStartTask.trigger_wf`` connects the process's start task to it *in the spec*, unless the
event subprocess already lists the start task as an input. powerflow shares one spec among all
instances of a definition, so from then on every new instance started that event subprocess at
once and waited in it for ever (it never completed), and whether it did depended on what the
worker had run before. ``prepare_spec`` gives each such event subprocess the start task as its
input (so ``trigger_wf`` adds it to the triggering instance only) and connects it to the process
end (which its completion needs) once, when the spec is loaded: every worker runs the same spec.

Non-interrupting boundary events fire once: a message, signal or escalation boundary event with
``cancelActivity="false"`` catches its first event, runs its path and completes, and nothing
waits on the activity's boundary any more, so a second message of that name is refused while
the activity is still active. BPMN 2.0 (10.5.6, 13.5.5) keeps a non-interrupting boundary event
armed for as long as its activity is active, each occurrence starting the boundary path again.
``_catch_and_rearm`` wraps ``BoundaryEvent.catch``: when such an event catches and its activity
has not finished, a fresh waiting task of the same boundary event is added under the same
boundary split (a task of the same spec, marked ``triggered`` like the extra children
SpiffWorkflow's multi-instance tasks add). It is an ordinary waiting catch: the event manager
lists it, saved state keeps it (``WAITING`` catches are listed again on load), and the
boundary join cancels it with the other waiting boundary events when the activity ends (its
own completion, an interrupting boundary event, a cancellation). So that the catches do not
pile up in saved state while the activity runs, such an event that completes sheds its predicted
child of the boundary join (``_shed_join``): SpiffWorkflow gives every boundary event the join as
a child, but for a non-interrupting one it could only wait until the join under the activity
itself fires and cancels it; without it the finished catch and its finished path are history
that ``engine/compaction.py`` drops. Timer boundary events are left
alone: a duration or a date occurs once, and SpiffWorkflow already repeats a cycle
(``R3/PT1H``) itself; so are conditional events (BPMN re-arms them only after the condition
has been false again) and events with several definitions that include one of those.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from SpiffWorkflow.bpmn.specs.control import BoundaryEventJoin
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import (
    EscalationEventDefinition,
    SignalEventDefinition,
)
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskIterator, TaskState

UNBOUNDED_DEPTH = 10**9

# Events that occur again and again: a non-interrupting boundary event of these kinds re-arms.
_REPEATING = (MessageEventDefinition, SignalEventDefinition, EscalationEventDefinition)
_REARMS = "_powerflow_rearms"


def prepare_spec(spec: Any) -> None:
    """Link each event subprocess that an event starts to its process's start and end.

    The start task is recorded as its input (SpiffWorkflow checks that a task has one) but the
    start task does not list it as an output, so no instance starts it unless triggered. Called
    once per loaded spec (the process and each of its subprocess specs), before any instance runs
    on it."""
    start = getattr(spec, "start", None)
    for name in getattr(start, "trigger_specs", []):
        sub = spec.task_specs.get(name)
        if sub is None:
            continue
        if start not in sub.inputs:
            sub.inputs = [*sub.inputs, start]
        if spec.end not in sub.outputs:
            sub.connect(spec.end)


def _repeats(definition: Any) -> bool:
    """Whether a boundary event with this definition is armed again after it caught."""
    if isinstance(definition, MultipleEventDefinition):
        inner = definition.event_definitions
        return bool(inner) and all(_repeats(d) for d in inner)
    return isinstance(definition, _REPEATING)


def rearm(my_task: Any) -> Any | None:
    """Add a fresh waiting task for the boundary event of ``my_task`` (which has just caught)
    under its boundary split, unless its activity has finished or one already waits. Returns the
    new task, or None."""
    spec = my_task.task_spec
    split = my_task.parent
    if split is None:
        return None
    activity = [t for t in split.children if not isinstance(t.task_spec, BoundaryEvent)]
    if not activity or activity[0].has_state(TaskState.FINISHED_MASK):
        return None
    armed = [
        t
        for t in split.children
        if t is not my_task
        and t.task_spec is spec
        and t.has_state(TaskState.WAITING)
        and not spec.event_definition.has_fired(t)
    ]
    if armed:
        return None
    fresh = split._add_child(spec, TaskState.MAYBE)
    fresh.triggered = True  # not one of the split's outputs: never synced away
    spec._predict(fresh)  # its path, predicted as the split predicted the first one's
    fresh._set_state(TaskState.WAITING)
    spec._update(fresh)  # waits: the event manager lists it
    return fresh


def _catch_and_rearm(original: Callable[..., Any]) -> Callable[..., Any]:
    def catch(self: Any, my_task: Any, event: Any) -> Any:
        result = original(self, my_task, event)
        if not self.cancel_activity and _repeats(self.event_definition):
            rearm(my_task)
        return result

    setattr(catch, _REARMS, True)
    return catch


def _shed_join(original: Callable[..., Any]) -> Callable[..., Any]:
    def _on_complete_hook(self: Any, my_task: Any) -> Any:
        result = original(self, my_task)
        if not self.cancel_activity and _repeats(self.event_definition):
            for child in list(my_task.children):
                predicted = child.has_state(TaskState.PREDICTED_MASK)
                if predicted and isinstance(child.task_spec, BoundaryEventJoin):
                    my_task.workflow._remove_task(child.id)
        return result

    setattr(_on_complete_hook, _REARMS, True)
    return _on_complete_hook


def apply() -> None:
    """Apply the patches once; calling again is harmless."""
    if not getattr(BoundaryEvent.catch, _REARMS, False):
        BoundaryEvent.catch = _catch_and_rearm(BoundaryEvent.catch)
    if not getattr(BoundaryEvent._on_complete_hook, _REARMS, False):
        BoundaryEvent._on_complete_hook = _shed_join(BoundaryEvent._on_complete_hook)
    task_defaults = TaskIterator.__init__.__defaults__
    bpmn_defaults = BpmnTaskIterator.__init__.__defaults__
    if task_defaults == (None, UNBOUNDED_DEPTH, True, None):
        return
    if task_defaults != (None, 1000, True, None) or bpmn_defaults != (
        None,
        1000,
        True,
        False,
        None,
    ):
        raise RuntimeError(
            "SpiffWorkflow's task iterator signature changed; review powerflow.engine.patches"
        )
    TaskIterator.__init__.__defaults__ = (None, UNBOUNDED_DEPTH, True, None)
    BpmnTaskIterator.__init__.__defaults__ = (None, UNBOUNDED_DEPTH, True, False, None)
