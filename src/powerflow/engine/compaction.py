"""Keep saved state bounded: drop task history that can never matter again.

SpiffWorkflow never forgets a task (spiffworkflow.md §5.2 S10): every pass of a gateway loop adds
its tasks to the tree, one level deeper, and every step re-serializes all of them, so a step at
iteration 1,000 costs some 40 times a step at iteration 10. The history is not needed to run on:
every step is in the events table. ``compact`` removes, in each (sub)workflow, the finished tasks
(completed or cancelled) that nothing can look at again, and collapses them out of the tree:

* what is kept: the root; every unfinished task (waiting, ready, started, predicted...), its parent
  and its children (a join reads its parent, a boundary-event join its split, a running
  multi-instance or loop task its children); the workflow's ``last_task``; and the most recent
  finished task of each element with its parent (what "move the token back to an element" starts
  from: ``reset_from_task_id`` gives a reset task its parent's data, and needs a boundary event's
  split);
* what goes: every other finished task, that is the finished tasks of an element that has a more
  recent finished task in the same workflow: earlier loop iterations, the branches they left
  behind (cancelled boundary events, the other token of a parallel join), the instances of a
  multi-instance task that has completed. A pruned subprocess task takes its (finished)
  subprocess, and the subprocesses inside that, with it.

A kept task whose parent goes is re-attached to its nearest kept ancestor, keeping the order of
children. SpiffWorkflow holds the full data of every task in memory and writes each task's data
as a delta from its parent when it serializes, so a re-attached task keeps exactly the data it
had. Nothing is changed unless the whole plan was made without error.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from SpiffWorkflow.util.task import TaskState

_FINISHED = TaskState.COMPLETED | TaskState.CANCELLED


_KEPT = "_powerflow_kept_tasks"
SLACK = 32  # tasks a workflow may grow by before it is looked at again (or a quarter more)


def task_count(workflow: Any) -> int:
    """Tasks of a workflow and its subprocesses."""
    return len(workflow.tasks) + sum(len(sub.tasks) for sub in workflow.subprocesses.values())


def compact(workflow: Any, *, always: bool = False) -> int:
    """Prune dead history from a top-level BpmnWorkflow and its subprocesses, in place.

    Looking costs a walk of every task, so a workflow kept in memory between steps is looked at
    again only once it has grown by ``SLACK`` tasks or a quarter since (``always``: now).
    Returns how many tasks were removed (0 when there was nothing to remove)."""
    count = task_count(workflow)
    kept: int | None = workflow.__dict__.get(_KEPT)
    if not always and kept is not None and count <= kept + max(SLACK, kept // 4):
        return 0
    removed = _compact(workflow)
    workflow.__dict__[_KEPT] = count - removed
    return removed


def _compact(workflow: Any) -> int:
    plans: list[tuple[Any, dict[UUID, list[UUID]], dict[UUID, UUID], set[UUID]]] = []
    doomed: set[UUID] = set()
    for wf in (workflow, *workflow.subprocesses.values()):
        plan = _plan(wf)
        if plan is not None:
            plans.append((wf, *plan))
            doomed |= plan[2]
    if not plans:
        return 0
    # Subprocesses of pruned tasks go, and the subprocesses inside those.
    dropped_workflows: list[UUID] = []
    gone = set(doomed)
    changed = True
    while changed:
        changed = False
        for task_id, sub in workflow.subprocesses.items():
            if task_id in gone and task_id not in dropped_workflows:
                dropped_workflows.append(task_id)
                gone |= set(sub.tasks)
                changed = True
    # Apply: plain assignments only, nothing here can fail half-way.
    removed = 0
    dropped = set(dropped_workflows)
    for wf, children, parents, pruned in plans:
        if getattr(wf, "parent_task_id", None) in dropped:
            continue
        for task_id, kids in children.items():
            wf.tasks[task_id]._children = kids
        for task_id, parent_id in parents.items():
            wf.tasks[task_id]._parent = parent_id
        for task_id in pruned:
            del wf.tasks[task_id]
            workflow.event_manager.tasks.pop(task_id, None)
        removed += len(pruned)
    for task_id in dropped_workflows:
        sub = workflow.subprocesses.pop(task_id)
        for sub_task_id in sub.tasks:
            workflow.event_manager.tasks.pop(sub_task_id, None)
        removed += len(sub.tasks)
    return removed


def _plan(wf: Any) -> tuple[dict[UUID, list[UUID]], dict[UUID, UUID], set[UUID]] | None:
    """(new children of changed kept tasks, new parent of re-attached tasks, pruned ids) for one
    workflow's tree, or None when nothing in it can go."""
    tasks: dict[UUID, Any] = wf.tasks
    root = wf.task_tree
    order = _preorder(root, tasks)
    position = {task_id: n for n, task_id in enumerate(order)}
    keep: set[UUID] = {root.id}
    latest: dict[str | tuple[str, str], Any] = {}
    for task_id in order:
        task = tasks[task_id]
        if not task._state & _FINISHED:
            keep.add(task_id)
            if task._parent is not None:
                keep.add(task._parent)
            keep.update(task._children)
            continue
        name: str | tuple[str, str] = task.task_spec.name
        if len(task.task_spec.inputs) > 1 and task._parent in tasks:
            # a join keeps its latest token from each incoming element: a branch whose token
            # was moved back re-joins the others that arrived before
            name = (task.task_spec.name, tasks[task._parent].task_spec.name)
        best = latest.get(name)
        if best is None or (task.last_state_change, position[task_id]) >= (
            best.last_state_change,
            position[best.id],
        ):
            latest[name] = task
    for task in latest.values():
        keep.add(task.id)
        if task._parent is not None:
            keep.add(task._parent)
    if wf.last_task is not None:
        keep.add(wf.last_task.id)
    pruned = {task_id for task_id in order if task_id not in keep}
    if not pruned:
        return None
    # Children first: a pruned task stands for the kept tasks found below it.
    below: dict[UUID, list[UUID]] = {}
    children: dict[UUID, list[UUID]] = {}
    parents: dict[UUID, UUID] = {}
    for task_id in reversed(order):
        task = tasks[task_id]
        kids: list[UUID] = []
        touched = False
        for child_id in task._children:
            if child_id in pruned:
                kids.extend(below.pop(child_id, []))
                touched = True
            else:
                kids.append(child_id)
        if task_id in pruned:
            below[task_id] = kids
        elif touched:
            children[task_id] = kids
            for child_id in kids:
                if tasks[child_id]._parent != task_id:
                    parents[child_id] = task_id
    return children, parents, pruned


def _preorder(root: Any, tasks: dict[UUID, Any]) -> list[UUID]:
    """The ids of the tree under ``root``, parents before children (no recursion: trees of
    workflows saved before compaction existed can be thousands of levels deep)."""
    order: list[UUID] = []
    stack = [root.id]
    seen: set[UUID] = set()
    while stack:
        task_id = stack.pop()
        if task_id in seen or task_id not in tasks:
            continue
        seen.add(task_id)
        order.append(task_id)
        stack.extend(reversed(tasks[task_id]._children))
    return order
