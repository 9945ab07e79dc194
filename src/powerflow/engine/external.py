"""External tasks over saved state: which wait, complete one with a worker's data, throw a BPMN
error from one.

An external task is a service task that SpiffWorkflow leaves STARTED (``ExternalServiceTask``,
engine/service_tasks.py). Like the functions of ``runtime``, these take a LoadedProcess and saved
state and return a StepResult; a step that opens or closes external tasks reports them
(``StepResult.new_external`` and ``closed_external``), so the service keeps its table in step.
"""

from __future__ import annotations

import threading
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import ErrorEventDefinition
from SpiffWorkflow.exceptions import TaskNotFoundException
from SpiffWorkflow.util.task import TaskState

from powerflow.engine.compiler import LoadedProcess
from powerflow.engine.serializer import WORKFLOWS, check_plain_json, load_state, to_plain
from powerflow.engine.service_tasks import ExternalServiceTask
from powerflow.engine.types import ExternalTaskView, StepEvent, StepResult


class VariablesRejected(ValueError):
    """A worker submitted variables the task does not declare as its outputs."""


class NoErrorCatcher(ValueError):
    """Nothing in the model catches the BPMN error a worker reported."""


_SPECS: dict[tuple[str, tuple[tuple[str, str], ...]], bool] = {}
_SPECS_LOCK = threading.Lock()


def has_external(process: LoadedProcess) -> bool:
    """Whether the process (with its subprocesses) has any external task: if not, a step does
    not look for them (cached per content hash and process, and the called versions it is
    bound to: a newer called version may hold external tasks the older one did not)."""
    key = (process.ref, process.bound)
    hit = _SPECS.get(key)
    if hit is None:
        specs = [process.spec, *process.subprocess_specs.values()]
        hit = any(
            isinstance(ts, ExternalServiceTask)
            for spec in specs
            if spec is not None
            for ts in spec.task_specs.values()
        )
        with _SPECS_LOCK:
            _SPECS[key] = hit
    return hit


def started(process: LoadedProcess, workflow: Any) -> dict[str, Any]:
    """The external tasks waiting for a worker, by task id."""
    if not has_external(process):
        return {}
    return {
        str(task.id): task
        for task in workflow.get_tasks(state=TaskState.STARTED)
        if isinstance(task.task_spec, ExternalServiceTask)
    }


def view(task: Any) -> ExternalTaskView:
    """What the service records of a waiting external task: its topic and what a worker gets."""
    spec: ExternalServiceTask = task.task_spec
    data = to_plain(task.data)
    if spec.declared_inputs is not None:
        variables = {
            m.name: (data.get(m.source) if m.source is not None else m.constant)
            for m in spec.declared_inputs
        }
    else:
        variables = data
    return ExternalTaskView(
        id=str(task.id),
        element_id=spec.bpmn_id,
        name=spec.bpmn_name or spec.bpmn_id,
        topic=spec.topic,
        priority=spec.priority,
        variables=variables,
        outputs=tuple(m.source or m.name for m in spec.declared_outputs)
        if spec.declared_outputs is not None
        else None,
    )


def waiting(process: LoadedProcess, state: str) -> tuple[ExternalTaskView, ...]:
    """The external tasks of saved state that wait for a worker, as the service records them
    (after a migration: the new version's topic, priority, name and outputs)."""
    if not has_external(process):
        return ()
    workflow = load_state(process, state)
    try:
        return tuple(view(task) for task in started(process, workflow).values())
    finally:
        WORKFLOWS.put(process.ref, state, workflow)


def changes(
    process: LoadedProcess, workflow: Any, before: dict[str, Any]
) -> tuple[tuple[ExternalTaskView, ...], tuple[str, ...]]:
    """The external tasks a step opened (as views) and closed (ids), given those before it."""
    if not has_external(process):
        return (), ()
    now = started(process, workflow)
    opened = tuple(view(task) for tid, task in now.items() if tid not in before)
    closed = tuple(sorted(tid for tid in before if tid not in now))
    return opened, closed


def _external_task(process: LoadedProcess, state: str, workflow: Any, task_id: str) -> Any:
    """The STARTED external task ``task_id`` of a loaded workflow (else TaskNotReady and the
    workflow goes back to the cache untouched)."""
    from powerflow.engine.runtime import TaskNotFound, TaskNotReady

    try:
        try:
            task = workflow.get_task_from_id(UUID(task_id))
        except (TaskNotFoundException, ValueError):
            raise TaskNotFound(task_id) from None
        if not isinstance(task.task_spec, ExternalServiceTask):
            raise TaskNotReady("it is not an external task")
        if task.state != TaskState.STARTED:
            raise TaskNotReady(f"it is {TaskState.get_name(task.state)}")
    except Exception:
        WORKFLOWS.put(process.ref, state, workflow)
        raise
    return task


def outputs_of(task_outputs: tuple[str, ...] | None, variables: dict[str, Any]) -> None:
    """Refuse variables a task does not declare as outputs (when it declares them)."""
    if task_outputs is None:
        return
    extra = sorted(set(variables) - set(task_outputs))
    if extra:
        allowed = ", ".join(task_outputs) or "none"
        raise VariablesRejected(
            f"The task does not declare the variables {', '.join(extra)} as outputs; it "
            f"accepts: {allowed}."
        )


def complete(
    process: LoadedProcess,
    state: str,
    task_id: str,
    variables: dict[str, Any],
    payload: dict[str, Any],
) -> StepResult:
    """Complete a waiting external task with a worker's variables and run to the next wait.

    Only declared outputs are accepted (mapped to their process variables) when the task
    declares outputs. ``payload`` is added to the ``external_task.completed`` event. Raises
    TaskNotFound, TaskNotReady, InstanceNotRunning, VariablesRejected or DataRejected; nothing
    changes then.
    """
    from powerflow.engine.runtime import _load_running, _ready_ids, _run

    check_plain_json(variables, where="variables")
    workflow = _load_running(process, state)
    task = _external_task(process, state, workflow, task_id)
    spec: ExternalServiceTask = task.task_spec
    try:
        outputs_of(view(task).outputs, variables)
    except VariablesRejected:
        WORKFLOWS.put(process.ref, state, workflow)
        raise
    names = {m.source or m.name: m.name for m in spec.declared_outputs or ()}
    mapped = {names.get(k, k): v for k, v in variables.items()}
    before = _ready_ids(process, workflow)

    def action(wf: Any, recorder: Any) -> None:
        task.data.update(mapped)
        task.complete()
        recorder.events.append(
            StepEvent(
                "external_task.completed",
                spec.bpmn_id,
                spec.bpmn_name or spec.bpmn_id,
                task_id,
                {"topic": spec.topic, "variables": sorted(mapped), **payload},
            )
        )

    return _run(process, workflow, action, before=before)


def _catcher(workflow: Any, task: Any, code: str) -> Any | None:
    """An error event waiting to catch ``code`` for this task: a boundary event of the task or
    of an enclosing subprocess or call activity (nearest first)."""
    target = task.workflow
    waiting = list(workflow.event_manager.tasks.values())
    while target is not None:
        for other in waiting:
            definition = getattr(other.task_spec, "event_definition", None)
            if (
                other.workflow is target
                and isinstance(definition, ErrorEventDefinition)
                and definition.code in (None, code)
            ):
                return definition
        target = target.parent_workflow
    return None


def throw_error(
    process: LoadedProcess,
    state: str,
    task_id: str,
    code: str,
    payload: dict[str, Any],
) -> StepResult:
    """A worker reports a BPMN error on an external task: the error boundary event that catches
    ``code`` takes over (the task is cancelled) and the instance runs on. Raises NoErrorCatcher
    when nothing catches it (nothing changes then), and what ``complete`` raises."""
    from powerflow.engine.runtime import _load_running, _ready_ids, _run

    workflow = _load_running(process, state)
    task = _external_task(process, state, workflow, task_id)
    catcher = _catcher(workflow, task, code)
    if catcher is None:
        WORKFLOWS.put(process.ref, state, workflow)
        raise NoErrorCatcher(
            f"Nothing in the model catches the BPMN error '{code}' of this task: add an error "
            "boundary event with that code, or report a failure instead."
        )
    spec: ExternalServiceTask = task.task_spec
    before = _ready_ids(process, workflow)

    def action(wf: Any, recorder: Any) -> None:
        recorder.events.append(
            StepEvent(
                "external_task.error_thrown",
                spec.bpmn_id,
                spec.bpmn_name or spec.bpmn_id,
                task_id,
                {"topic": spec.topic, "error_code": code, **payload},
            )
        )
        event_definition = type(catcher)(catcher.name, code=code)
        wf.top_workflow.catch(BpmnEvent(event_definition, payload={}, target=task.workflow))

    return _run(process, workflow, action, before=before)
