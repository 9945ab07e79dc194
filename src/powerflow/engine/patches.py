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
that ``engine/compaction.py`` drops. Duration and date timers are left alone (they occur once),
and so are conditional events (BPMN re-arms them only after the condition has been false again)
and events with several definitions that include a timer or a condition.

Paths started by a non-interrupting cycle timer were dropped: SpiffWorkflow repeats a cycle
(``R3/PT1H``, ``R/P1D``) by keeping the timer task waiting and adding each cycle's path *under
it*; when the activity ends while the timer still waits (always, for an endless ``R/...``), the
boundary join cancels the waiting timer and with it every open path it started. BPMN 2.0
(10.5.6) makes a path started by a non-interrupting event independent of its activity. Once its
cycles ran out, the waiting timer also completed on a later step with no path (an extra
``timer.fired``). ``_cycle_has_fired`` (with ``_cycle_update_task``) handles the cycle of a
boundary event whose only definition it is. For a non-interrupting one, when a cycle is due, a
fresh waiting task of the event takes over the cycles left and the next due time under the
boundary split (as for messages above; none once the activity has finished or no cycle is
left), and the timer task that fired becomes READY and completes into its own path, as a
duration timer does; that path is predicted without SpiffWorkflow's boundary join (as
``_shed_join`` does), so the end of the activity cancels only the waiting catch. Cycles
missed while no worker ran (the next due time has passed too when a cycle fires) collapse into
the one that fires and count as spent, as for timer start events: SpiffWorkflow re-checks
waiting timers after every task it completes, so each catch-up firing would otherwise fire the
next one at once, all in one step. ``R0/...`` never fires. An *interrupting* cycle timer
boundary event fared no better: SpiffWorkflow started a path per cycle beside the activity and
interrupted it only once the cycles had run out, on a later step (an endless one never); BPMN
interrupts at the first firing. Its first due cycle now completes the timer task into its path
and SpiffWorkflow's boundary join, as an interrupting duration timer does, and nothing is
re-armed.

A multi-instance whose loop cardinality is not a whole number (a list, a name holding text)
failed with Python's bare TypeError ("'list' object cannot be interpreted as an integer"),
raised where SpiffWorkflow starts the instances, outside any task's run: the incident named no
element. ``_named_multi_instance`` turns it into a task error on the multi-instance, saying
what the cardinality must be and how to iterate a collection instead.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.specs.control import BoundaryEventJoin
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import (
    EscalationEventDefinition,
    SignalEventDefinition,
)
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import (
    ParallelMultiInstanceTask,
    SequentialMultiInstanceTask,
)
from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskIterator, TaskState

from powerflow.engine import fast_walks

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


def _boundary_cycle(definition: Any, my_task: Any) -> bool:
    """Whether ``my_task`` is a boundary event whose only definition is the cycle timer
    ``definition`` (each cycle then fires a task of its own)."""
    spec = my_task.task_spec
    return isinstance(spec, BoundaryEvent) and spec.event_definition is definition


def _following(value: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    """The cycles left after a firing (``value``: SpiffWorkflow's count after it, and the due
    time after it), with the firings missed by ``now`` collapsed into the one that fired and
    counted as spent (as for timer start events, services/start_timers.py); None when none is
    left, or the interval is zero."""
    cycles, duration = value["cycles"], value["duration"]
    if cycles == 0 or not duration or duration <= 0:
        return None
    after = datetime.fromisoformat(value["next"])
    if after <= now:
        skipped = math.floor((now - after).total_seconds() / duration) + 1
        if cycles > 0 and skipped >= cycles:
            return None
        after += timedelta(seconds=skipped * duration)
        cycles = cycles - skipped if cycles > 0 else cycles
    return {**value, "cycles": cycles, "next": after.isoformat()}


def fire_cycle(my_task: Any) -> Any | None:
    """A cycle of the timer ``my_task`` waits on is due (its ``event_value`` already counts it
    and names the next due time): hand the cycles left to a fresh waiting task of the same
    event under the boundary split, unless the activity has finished or none is left, and give
    ``my_task`` its path, to run when it completes. An interrupting event fires once: no fresh
    task, and its children include the boundary join, which ends the activity. Returns the
    fresh task, or None."""
    spec = my_task.task_spec
    following = _following(my_task._get_internal_data("event_value"), datetime.now(UTC))
    split = my_task.parent
    fresh = None
    activity = [t for t in split.children if not isinstance(t.task_spec, BoundaryEvent)]
    if spec.cancel_activity:
        following = None  # its first cycle interrupts the activity: there is no next one
    if following and activity and not activity[0].has_state(TaskState.FINISHED_MASK):
        fresh = split._add_child(spec, TaskState.MAYBE)
        fresh.triggered = True  # not one of the split's outputs: never synced away
        fresh._set_internal_data(event_value=following)
        fresh._set_state(TaskState.WAITING)
        fresh.workflow.top_workflow.event_manager.add_task(fresh)  # the next due time is ahead
    for output in spec.outputs:
        if spec.cancel_activity or not isinstance(output, BoundaryEventJoin):
            child = my_task._add_child(output, TaskState.FUTURE)
            child.task_spec._predict(child, mask=TaskState.NOT_FINISHED_MASK)
    my_task._set_internal_data(event_fired=True)
    return fresh


def _cycle_has_fired(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)  # ``__wrapped__``: the library's own, for tests of old states
    def has_fired(self: Any, my_task: Any) -> Any:
        if not _boundary_cycle(self, my_task) or my_task._get_internal_data("event_fired", False):
            return original(self, my_task)
        if self.cycle_complete(my_task):
            fire_cycle(my_task)
            return True
        if not my_task._get_internal_data("event_fired", False):
            return False  # not due yet
        # no cycle left: SpiffWorkflow marks the timer fired
        if my_task.children:  # saved before this patch, its cycles' paths are its children:
            return True  # it completes with them, as SpiffWorkflow had it
        my_task._set_internal_data(event_fired=False)  # R0: never fires, waits until the end
        return False

    setattr(has_fired, _REARMS, True)
    return has_fired


def _cycle_update_task(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def update_task(self: Any, my_task: Any) -> Any:
        if _boundary_cycle(self, my_task):
            return None  # has_fired has looked at the cycle already
        return original(self, my_task)

    setattr(update_task, _REARMS, True)
    return update_task


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


def _named_multi_instance(original: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a multi-instance's ``_update_hook`` so a bad cardinality names the task."""

    @functools.wraps(original)
    def _update_hook(self: Any, my_task: Any) -> Any:
        try:
            return original(self, my_task)
        except (TypeError, ValueError) as exc:
            if self.cardinality is None or self.data_input is not None:
                raise
            raise WorkflowTaskException(
                f"The loop cardinality '{self.cardinality}' must give a whole number ({exc}); "
                "to run one instance per item of a collection, name the collection in "
                "bpmn:loopDataInputRef (or camunda:collection)",
                task=my_task,
                exception=exc,
            ) from exc

    setattr(_update_hook, _REARMS, True)
    return _update_hook


def apply() -> None:
    """Apply the patches once; calling again is harmless."""
    for multi in (ParallelMultiInstanceTask, SequentialMultiInstanceTask):
        if not getattr(multi.__dict__["_update_hook"], _REARMS, False):
            multi._update_hook = _named_multi_instance(multi.__dict__["_update_hook"])
    if not getattr(BoundaryEvent.catch, _REARMS, False):
        BoundaryEvent.catch = _catch_and_rearm(BoundaryEvent.catch)
    if not getattr(BoundaryEvent._on_complete_hook, _REARMS, False):
        BoundaryEvent._on_complete_hook = _shed_join(BoundaryEvent._on_complete_hook)
    if not getattr(CycleTimerEventDefinition.has_fired, _REARMS, False):
        CycleTimerEventDefinition.has_fired = _cycle_has_fired(CycleTimerEventDefinition.has_fired)
    if not getattr(CycleTimerEventDefinition.update_task, _REARMS, False):
        CycleTimerEventDefinition.update_task = _cycle_update_task(
            CycleTimerEventDefinition.update_task
        )
    fast_walks.apply(UNBOUNDED_DEPTH)
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
