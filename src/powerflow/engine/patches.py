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
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskIterator

UNBOUNDED_DEPTH = 10**9


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


def apply() -> None:
    """Apply the patches once; calling again is harmless."""
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
