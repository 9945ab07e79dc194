"""Workarounds for SpiffWorkflow 3.2 traps that must hold before any workflow runs.

E1: the task iterators stop at depth 1000, so a gateway loop silently "completes" after about
250 iterations. Raise the default depth; the asserts make a library upgrade that changes the
signatures fail loudly instead of misaligning the defaults.
"""

from __future__ import annotations

from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.util.task import TaskIterator

UNBOUNDED_DEPTH = 10**9


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
