"""Cheap walks of a workflow's task tree, in SpiffWorkflow's own order.

``workflow.get_tasks(...)`` goes through ``BpmnTaskIterator``, which costs several microseconds
per task (filter objects, depth bookkeeping, list concatenation); a step of an instance with
hundreds of tasks walks the tree several times. These functions give the same tasks in the same
order (depth first, a subprocess's tree before the children of its task) with a plain stack.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.util.task import TaskState

_READY = TaskState.READY
_DESCEND_FROM = TaskState.FUTURE  # the iterator does not look below predicted tasks


def _children(task: Any) -> list[Any]:
    """A task's children, last first (for a stack), leaving out ids no longer in the workflow."""
    get = task.workflow.tasks.get
    return [child for child in map(get, reversed(task._children)) if child is not None]


def ready_human_tasks(workflow: Any) -> list[Any]:
    """``workflow.get_tasks(state=TaskState.READY, manual=True)``, without the iterator."""
    subprocesses = workflow.subprocesses
    found: list[Any] = []
    stack = [workflow.task_tree]
    while stack:
        task = stack.pop()
        state = task._state
        if state == _READY and task.task_spec.manual:
            found.append(task)
        sub = subprocesses.get(task.id) if subprocesses else None
        if sub is None:
            if task._children and state >= _DESCEND_FROM:
                stack.extend(_children(task))
        else:
            stack.extend(_children(task))
            stack.append(sub.task_tree)
    return found
