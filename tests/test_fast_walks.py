"""The cheap task-tree walks (powerflow.engine.fast_walks) visit exactly what SpiffWorkflow's own
iterators visit, in the same order.

An iterator whose depth limit is ``UNBOUNDED_DEPTH`` takes the stack walk; one a single level
short of it keeps SpiffWorkflow's ``_next`` (depth bookkeeping included). Both are run over the
saved states of real instances of the test models (embedded subprocesses, call activities,
event subprocesses, loops, boundary events, multi-instance tasks), at every step, with each
filter the engine and SpiffWorkflow use.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.util.task import BpmnTaskIterator  # noqa: TID251 (the library's own walks are what is compared)
from SpiffWorkflow.util.task import TaskIterator, TaskState  # noqa: TID251 (the library's own walks are what is compared)

from powerflow import engine
from powerflow.engine import fast_walks
from powerflow.engine.patches import UNBOUNDED_DEPTH
from powerflow.engine.serializer import load_state

DATA = Path(__file__).resolve().parent / "data"
MODELS = (
    "long_instances.bpmn",
    "loops.bpmn",
    "subprocess_embedded.bpmn",
    "subprocess_script.bpmn",
    "call_activity.bpmn",
    "event_subprocess.bpmn",
    "boundary_message.bpmn",
    "boundary_cycle.bpmn",
    "bpmn_errors.bpmn",
    "transaction.bpmn",
    "gateway.bpmn",
    "timer.bpmn",
    "multiple_catch.bpmn",
)
STATES = (
    None,
    TaskState.READY,
    TaskState.WAITING,
    TaskState.NOT_FINISHED_MASK,
    TaskState.FINISHED_MASK,
    TaskState.PREDICTED_MASK,
    TaskState.COMPLETED,
)
# what the test models' start events ask for
START: dict[str, Any] = {
    "iterations": 6,
    "items": 6,
    "fast_at": 2,
    "amount": 5,
    "applicant": "Ann Li",
    "registered": True,
    "deadline": "PT1H",
}
# what their forms ask for
DONE: dict[str, Any] = {
    "amount": 5,
    "opinion": "fine",
    "note": "seen",
    "complete": True,
    "signed_by": "ann",
    "applicant": "Ann Li",
    "verified": True,
    "action": "close",
    "result": "done",
    "finding": "none",
    "proceed": True,
    "approved": True,
    "currency": "CNY",
    "reason": "routine",
}


def _walk(cls: type[Any], root: Any, depth: int, **kwargs: Any) -> list[str]:
    return [str(task.id) for task in cls(root, max_depth=depth, **kwargs)]


FINISHED_OR_NOT: dict[bool, int] = {True: 0, False: 0}


def _compare(workflow: Any) -> int:
    """Walk every tree of the workflow both ways with each filter; return the walks compared.
    Also: whether an unfinished task is reachable, found as ``is_completed`` now finds it."""
    roots = [workflow.task_tree, *(sub.task_tree for sub in workflow.subprocesses.values())]
    spec_names = sorted({t.task_spec.name for t in workflow.tasks.values()})
    filters: list[dict[str, Any]] = [{} if s is None else {"state": s} for s in STATES]
    filters += [{"state": TaskState.READY, "manual": manual} for manual in (True, False)]
    filters += [{"spec_name": name} for name in spec_names[:3]]
    filters += [{"end_at_spec": name} for name in spec_names[:3]]
    compared = 0
    for root in roots:
        unfinished = _walk(
            TaskIterator, root, UNBOUNDED_DEPTH - 1, state=TaskState.NOT_FINISHED_MASK
        )
        assert fast_walks.unfinished_reachable(root) == bool(unfinished)
        FINISHED_OR_NOT[bool(unfinished)] += 1
        for kwargs in filters:
            for cls, extra in (
                (TaskIterator, {}),
                (BpmnTaskIterator, {}),
                (BpmnTaskIterator, {"skip_subprocesses": True}),
            ):
                fast = _walk(cls, root, UNBOUNDED_DEPTH, **extra, **kwargs)
                own = _walk(cls, root, UNBOUNDED_DEPTH - 1, **extra, **kwargs)
                assert fast == own, (cls.__name__, extra, kwargs)
                compared += 1
    return compared


def _skip_is_exact(workflow: Any) -> bool:
    """Where the engine steps are skipped, SpiffWorkflow's own would have run nothing (return
    whether they were skipped here)."""
    if not fast_walks.nothing_to_run(workflow):
        return False
    ready = workflow.get_tasks(state=TaskState.READY)
    assert all(task.task_spec.manual for task in ready), ready
    own = type(workflow)._do_engine_steps.__wrapped__
    assert own(workflow) is False
    return True


def _processes(name: str) -> list[engine.LoadedProcess]:
    xml = (DATA / name).read_bytes()
    result = engine.compile_bpmn(xml, name, max_bytes=len(xml) + 1)
    assert result.ok, (name, result.problems)
    return [
        engine.load_process(result.content_hash, p.process_id, xml, p.catalog())
        for p in result.processes
    ]


def model_states(steps: int) -> Iterator[tuple[str, engine.LoadedProcess, str]]:
    """(file, process, saved state) at each of the first ``steps`` steps of an instance of every
    process of the test models, completing an open task in turn."""
    for name in MODELS:
        for process in _processes(name):
            step = engine.start(process, dict(START))
            for n in range(steps):
                yield name, process, step.state
                if step.status != "running" or not step.open_tasks:
                    break
                task = step.open_tasks[n % len(step.open_tasks)]
                step = engine.complete_task(process, step.state, task.id, dict(DONE))


def test_stack_walk_visits_what_spiffworkflow_visits_in_its_order() -> None:
    compared = 0
    with_subprocesses = 0
    states = 0
    skipped = 0
    for _, process, state in model_states(25):
        workflow = load_state(process, state)
        compared += _compare(workflow)
        skipped += _skip_is_exact(workflow)
        with_subprocesses += bool(workflow.subprocesses)
        states += 1
    # the models must really have produced states worth comparing
    assert states >= 60, states
    assert with_subprocesses >= 20, with_subprocesses
    assert compared >= 4_000, compared
    assert 20 <= skipped < states, (skipped, states)
    assert min(FINISHED_OR_NOT.values()) >= 10, FINISHED_OR_NOT  # both answers were compared


def test_a_walk_with_a_depth_limit_still_stops_at_it() -> None:
    """Only unbounded walks take the stack; a depth limit keeps SpiffWorkflow's meaning."""
    (process,) = [p for p in _processes("long_instances.bpmn") if p.key == "large_mi"]
    workflow = load_state(process, engine.start(process, {"items": 5}).state)
    everything = _walk(TaskIterator, workflow.task_tree, UNBOUNDED_DEPTH)
    shallow = _walk(TaskIterator, workflow.task_tree, 2)
    assert len(shallow) < len(everything)
    assert shallow == everything[: len(shallow)] or set(shallow) < set(everything)


def test_an_unfinished_task_is_found_past_a_child_id_no_longer_in_the_workflow() -> None:
    """A parent may keep the id of a child that is gone from the workflow's tasks (the walks of
    engine/tree.py leave such ids out too): the look for an unfinished task steps over it."""
    from uuid import uuid4

    name, process, state = next(iter(model_states(1)))
    workflow = load_state(process, state)
    root = workflow.task_tree
    root._children.append(uuid4())  # looked at first (the walk is a stack)
    try:
        unfinished = [t for t in workflow.tasks.values() if t._state & TaskState.NOT_FINISHED_MASK]
        assert unfinished, name
        assert fast_walks.unfinished_reachable(root) is True
    finally:
        root._children.pop()
