"""SpiffWorkflow's walks of the task tree, made cheap without changing what they visit.

Every step of an instance walks its task tree several times inside SpiffWorkflow: completing a
task updates every WAITING task (``Workflow.update_waiting_tasks``), ``do_engine_steps`` looks
for READY tasks, ``is_completed`` looks for an unfinished one, multi-instance and join specs look
for their own tasks. Each walk is a ``TaskIterator`` (``BpmnTaskIterator`` for a BPMN workflow's
``get_tasks``), which keeps its pending tasks in a list it pops from the front and prepends
children to (both linear in the list's length) and, for the depth limit, looks up two parents per
leaf through ``UUID.__hash__``, which is Python code. With hundreds of tasks (a parallel
multi-instance over a large collection) these walks were about a third of a step's CPU.

With the depth limit lifted (``patches.UNBOUNDED_DEPTH``, bug E1) depth never stops a walk, so
its bookkeeping decides nothing. ``_next`` below then keeps the pending tasks as a stack (last
item next) and pushes each task's children in reverse: the same tasks in the same depth-first
order, each task's children read at the same moment as before (when the task is yielded), so a
caller that changes the tree while walking sees what it saw before. Iterators with a depth limit
or breadth first keep SpiffWorkflow's own ``_next``; tests/test_fast_walks.py checks that both
give the same sequence on real instances.

``is_completed`` asks only whether the walk finds any unfinished task. Its walk (every state
wanted, so every task with children is looked below) pushed the children of the task it found
before returning it: for a running parallel multi-instance, hundreds of look-ups to answer "no",
twice a step. It now looks at each task before reading its children and stops at the first
unfinished one: the same tasks reachable, so the same answer.

``update_waiting_tasks`` also walks when nothing waits, and ``do_engine_steps`` walks for
READY tasks to run even when only people's tasks are ready (every step that ends waiting for
someone): each now first looks through the workflow's task dictionary, which holds every task
its walk can reach (for the engine steps, only in a workflow without subprocesses, whose walk
does not leave it), and walks only if such a task is there. Otherwise the walk would have found
nothing and changed nothing, and ``_do_engine_steps`` returns False as it would have.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskIterator, TaskState
from SpiffWorkflow.workflow import Workflow

_MARK = "_powerflow_fast_walk"
_WAITING = TaskState.WAITING
_READY = TaskState.READY
_FINISHED = TaskState.FINISHED_MASK
_NOT_FINISHED = TaskState.NOT_FINISHED_MASK


def _push_children(task: Any, stack: list[Any]) -> None:
    """Put a task's children on the stack, last first, as ``task.children`` gives them."""
    tasks = task.workflow.tasks
    stack.extend([tasks.get(child) for child in reversed(task._children)])


def _expand(walk: Any, task: Any, stack: list[Any]) -> None:
    """What ``TaskIterator._next`` adds below a task (depth first)."""
    if task._children and task._state >= walk.min_state and task.task_spec.name != walk.end_at_spec:
        _push_children(task, stack)


def _expand_bpmn(walk: Any, task: Any, stack: list[Any]) -> None:
    """What ``BpmnTaskIterator._next`` adds below a task: its subprocess's tree, then its
    children."""
    subprocesses = task.workflow.top_workflow.subprocesses
    subprocess = subprocesses.get(task.id) if subprocesses else None
    if (
        (task._children or subprocess is not None)
        and (task._state >= walk.min_state or subprocess is not None)
        and task.task_spec.name != walk.end_at_spec
    ):
        _push_children(task, stack)
        # a subprocess's own tree comes before the children of its task
        if not (
            subprocess is None
            or walk.skip_subprocesses
            or (task._state >= _FINISHED and walk.task_filter.state <= _FINISHED)
        ):
            stack.append(subprocess.task_tree)


def _stack_next(
    original: Callable[[Any], Any],
    unbounded: int,
    expand: Callable[[Any, Any, list[Any]], None],
) -> Callable[[Any], Any]:
    def _next(self: Any) -> Any:
        if not self.depth_first or self.max_depth < unbounded:
            return original(self)
        stack = self.task_list
        if not stack:
            raise StopIteration()
        task = stack.pop()
        expand(self, task, stack)
        return task

    setattr(_next, _MARK, True)
    return _next


def unfinished_reachable(root: Any) -> bool:
    """Whether the tree below ``root`` (itself included) holds a task that has not finished:
    what ``TaskIterator(root, state=NOT_FINISHED_MASK)`` finds one of, without its order."""
    stack = [root]
    while stack:
        task = stack.pop()
        if task._state & _NOT_FINISHED:
            return True
        if task._children:  # an id no longer in the workflow (pruned) is left out
            get = task.workflow.tasks.get
            stack.extend([c for c in map(get, task._children) if c is not None])
    return False


def _completed_without_walk(original: Callable[[Any], bool]) -> Callable[[Any], bool]:
    @functools.wraps(original)  # SpiffWorkflow's own stays reachable as ``__wrapped__``
    def is_completed(self: Any) -> bool:
        if not self.completed and not unfinished_reachable(self.task_tree):
            self.completed = True
        completed: bool = self.completed
        return completed

    setattr(is_completed, _MARK, True)
    return is_completed


def _skip_when_nothing_waits(original: Callable[[Any], None]) -> Callable[[Any], None]:
    def update_waiting_tasks(self: Any) -> None:
        for task in self.tasks.values():
            if task._state == _WAITING:
                original(self)
                return

    setattr(update_waiting_tasks, _MARK, True)
    return update_waiting_tasks


def nothing_to_run(workflow: Any) -> bool:
    """Whether ``BpmnWorkflow._do_engine_steps`` would find no task to run: no subprocess and
    no READY task that is not a person's."""
    if workflow.subprocesses:
        return False
    for task in workflow.tasks.values():
        if task._state == _READY and not task.task_spec.manual:
            return False
    return True


def _skip_when_nothing_runs(original: Callable[..., bool]) -> Callable[..., bool]:
    @functools.wraps(original)  # SpiffWorkflow's own stays reachable as ``__wrapped__``
    def _do_engine_steps(
        self: Any, will_complete_task: Any = None, did_complete_task: Any = None
    ) -> bool:
        if nothing_to_run(self):
            return False
        return original(self, will_complete_task, did_complete_task)

    setattr(_do_engine_steps, _MARK, True)
    return _do_engine_steps


def apply(unbounded: int) -> None:
    """Install the cheap walks for iterators whose depth limit is ``unbounded`` or more."""
    if getattr(TaskIterator._next, _MARK, False):
        return
    TaskIterator._next = _stack_next(TaskIterator._next, unbounded, _expand)
    BpmnTaskIterator._next = _stack_next(BpmnTaskIterator._next, unbounded, _expand_bpmn)
    Workflow.update_waiting_tasks = _skip_when_nothing_waits(Workflow.update_waiting_tasks)
    Workflow.is_completed = _completed_without_walk(Workflow.is_completed)
    BpmnWorkflow._do_engine_steps = _skip_when_nothing_runs(BpmnWorkflow._do_engine_steps)
