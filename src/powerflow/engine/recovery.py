"""Recovering an instance parked at an incident, and moving its token: pure functions over saved
state, like ``runtime``.

A failing script, gateway condition or pre-script leaves its task in ERROR in the saved state
(SpiffWorkflow 3.2, bugs E9 and E10): ``retry`` runs that task again (after fixing its data),
``skip`` completes it without running it, ``move`` resets the token to the most recent task of
an earlier element (``BpmnWorkflow.reset_from_task_id``). Each returns a StepResult; a retry
that fails again returns a new incident on it, never an exception.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.inclusive_gateway import InclusiveGateway
from SpiffWorkflow.bpmn.specs.mixins.parallel_gateway import ParallelGateway
from SpiffWorkflow.util.task import TaskState

from powerflow.engine.compiler import LoadedProcess
from powerflow.engine.runtime import (
    InstanceNotRunning,
    _ready_ids,
    _Recorder,
    _run,
)
from powerflow.engine.serializer import WORKFLOWS, check_plain_json, load_state, to_plain
from powerflow.engine.types import StepEvent, StepResult

_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
_REACHED = TaskState.COMPLETED | _ACTIVE


class NotRecoverable(Exception):
    """The requested recovery is not possible in the instance's current state (a sentence)."""


def _bpmn_id(task: Any) -> str | None:
    return getattr(task.task_spec, "bpmn_id", None)


def _name(task: Any) -> str:
    spec = task.task_spec
    return str(getattr(spec, "bpmn_name", None) or getattr(spec, "bpmn_id", None) or spec.name)


def _load(process: LoadedProcess, state: str) -> Any:
    workflow = load_state(process, state)
    if workflow.is_completed():
        raise InstanceNotRunning("the instance has already ended")
    return workflow


def failed_tasks(workflow: Any) -> list[Any]:
    """The tasks left in ERROR by a failed step (in the process or any of its subprocesses)."""
    return [t for t in workflow.get_tasks(state=TaskState.ERROR) if _bpmn_id(t) is not None]


def _untouched(process: LoadedProcess, state: str, workflow: Any, message: str) -> None:
    WORKFLOWS.put(process.ref, state, workflow)  # nothing changed: keep it for the next step
    raise NotRecoverable(message)


def retry(process: LoadedProcess, state: str, variables: dict[str, Any]) -> StepResult:
    """Run the failed element(s) again, with ``variables`` merged into their data first.

    Tasks in ERROR are made ready again (a pre-script runs again first); when no task is in
    ERROR (a step stopped by a limit, or an instance that could not be stepped) the waiting
    automatic work simply runs again. A new failure is a new incident on the result.
    """
    check_plain_json(variables, where="variables")
    workflow = _load(process, state)
    before = _ready_ids(process, workflow)
    failed = failed_tasks(workflow)
    targets = failed or [
        t for t in workflow.get_tasks(state=TaskState.READY) if not t.task_spec.manual
    ]
    if variables and not targets:
        _untouched(
            process,
            state,
            workflow,
            "No failed element and no automatic step is waiting to run, so the variables "
            "would reach no task; retry without variables, or move the token instead.",
        )

    def action(wf: Any, recorder: _Recorder) -> None:
        for task in targets:
            task.data.update(variables)
            recorder.events.append(
                StepEvent(
                    "instance.retried",
                    _bpmn_id(task),
                    _name(task),
                    str(task.id),
                    {"variables": to_plain(variables)},
                )
            )
        if not targets:
            recorder.events.append(StepEvent("instance.retried", payload={"variables": {}}))
        for task in failed:
            prescript = getattr(task.task_spec, "prescript", None)
            if prescript:
                task._set_state(TaskState.WAITING)  # the pre-script runs before READY
                task.task_spec.execute_script(task, prescript)
            task._set_state(TaskState.WAITING)
            task._ready()

    return _run(process, workflow, action, before=before)


def skip(process: LoadedProcess, state: str) -> StepResult:
    """Complete the failed element(s) without running them, and run on.

    A gateway cannot be skipped (it would not know which flow to take): fix the variables and
    retry, or move the token. Raises NotRecoverable when nothing is in ERROR.
    """
    workflow = _load(process, state)
    before = _ready_ids(process, workflow)
    failed = failed_tasks(workflow)
    if not failed:
        _untouched(
            process,
            state,
            workflow,
            "No element of the instance is in error, so there is nothing to skip (a step "
            "stopped by a limit has no single failed element); retry, move the token or cancel.",
        )
    gateways = [t for t in failed if type(t.task_spec).__name__.endswith("Gateway")]
    if gateways:
        names = ", ".join(f"'{_name(t)}'" for t in gateways)
        _untouched(
            process,
            state,
            workflow,
            f"The gateway {names} cannot be skipped: it would not know which flow to take. "
            "Fix the variables and retry, or move the token to another element.",
        )

    def action(wf: Any, recorder: _Recorder) -> None:
        for task in failed:
            recorder.events.append(
                StepEvent("element.skipped", _bpmn_id(task), _name(task), str(task.id), {})
            )
            task._set_state(TaskState.READY)
            task.complete()

    return _run(process, workflow, action, before=before)


def _chain(task: Any) -> list[Any]:
    """The task and its ancestors, up through the tasks of the (sub)processes it runs in."""
    found = []
    current: Any = task
    while current is not None:
        found.append(current)
        parent = current.parent
        if parent is None:
            sp_id = getattr(current.workflow, "parent_task_id", None)
            top = current.workflow.top_workflow if sp_id is not None else None
            parent = top.get_task_from_id(sp_id) if top is not None else None
        current = parent
    return found


_JOINS = (ParallelGateway, InclusiveGateway)


def _enclosing(task: Any) -> list[Any]:
    """The task and the subprocess tasks it runs inside, innermost first."""
    found = [task]
    while (sp_id := getattr(found[-1].workflow, "parent_task_id", None)) is not None:
        found.append(found[-1].workflow.top_workflow.get_task_from_id(sp_id))
    return found


def _leads_to(spec: Any, goal: Any) -> bool:
    """Whether a flow leads from ``spec`` to ``goal`` (task specs of one process)."""
    seen: set[str] = set()
    todo = list(spec.outputs)
    while todo:
        current = todo.pop()
        if current is goal:
            return True
        if current.name not in seen:
            seen.add(current.name)
            todo.extend(current.outputs)
    return False


def _merged_into(task: Any, chain: list[Any]) -> bool:
    """Whether ``task`` lies on a parallel or inclusive branch that a join on ``chain`` (a
    token's path, newest first) merged. SpiffWorkflow keeps only the branch that arrived last
    as the join's parent, so the other branches are behind the token without being on its
    path: the branch left a split that is on the path before that join."""
    own = {id(t) for t in _chain(task)}
    for index, step in enumerate(chain):
        spec = step.task_spec
        if step.workflow is not task.workflow or not isinstance(spec, _JOINS):
            continue
        merged = len(spec.inputs) > 1 and _leads_to(task.task_spec, spec)
        if merged and any(id(split) in own for split in chain[index + 1 :]):
            return True
    return False


def _latest(tasks: list[Any]) -> Any:
    """The most recent of several tasks of one element (old loop iterations come first)."""
    return max(tasks, key=lambda t: (t.last_state_change, t.depth))


def move(
    process: LoadedProcess, state: str, to_element: str, from_element: str | None = None
) -> StepResult:
    """Reset the token to the most recent task of ``to_element``, which must lie before where
    the instance is now (before ``from_element`` when given), and run on from there.

    Everything after that task is removed (subprocesses entered since are dropped, boundary
    events wait again) and the element runs again. Raises NotRecoverable with a sentence when
    the element was never reached or is not before the token.
    """
    workflow = _load(process, state)
    before = _ready_ids(process, workflow)
    every = [t for t in workflow.get_tasks() if t.task_spec is not None]
    reached = [t for t in every if _bpmn_id(t) == to_element and t.state & _REACHED]
    if not reached:
        known = any(_bpmn_id(t) == to_element for t in every) or to_element in _element_ids(process)
        why = "has not been reached yet" if known else "is not an element of this process"
        _untouched(process, state, workflow, f"The element '{to_element}' {why}.")
    target = _latest(reached)
    active = [
        t
        for t in every
        if t.state & _ACTIVE and (from_element is None or _bpmn_id(t) == from_element)
    ]
    if from_element is not None and not active:
        _untouched(
            process,
            state,
            workflow,
            f"The token is not at '{from_element}': no task of that element is open, waiting "
            "or in error.",
        )
    if target.state & TaskState.READY and target.task_spec.manual:
        _untouched(process, state, workflow, f"The token is already at '{to_element}'.")
    enclosing = _enclosing(target)
    behind = any(
        any(a in chain or _merged_into(a, chain) for a in enclosing)
        for t in active
        if t is not target
        for chain in (_chain(t),)
    )
    if not behind and not target.state & TaskState.ERROR:
        where = f"'{from_element}'" if from_element else "where the instance is now"
        _untouched(
            process,
            state,
            workflow,
            f"The element '{to_element}' does not lie before {where}; a token can only be "
            "moved back along the path it took.",
        )
    target_id = target.id
    target_name = _name(target)
    moved_from = sorted({b for t in active if (b := _bpmn_id(t)) is not None})

    def action(wf: Any, recorder: _Recorder) -> None:
        wf.reset_from_task_id(target_id)
        recorder.events.append(
            StepEvent(
                "token.moved",
                to_element,
                target_name,
                str(target_id),
                {"from_elements": moved_from},
            )
        )

    return _run(process, workflow, action, before=before)


def _element_ids(process: LoadedProcess) -> set[str]:
    return set(process.catalog.get("elements", {}))
