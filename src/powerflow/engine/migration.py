"""Moving a running instance to another version of its definition (SpiffWorkflow's
``diff_workflow`` + ``migrate_workflow``), with a plan that says what would change first.

The instance's tasks are aligned with the new version's elements by id. Migration is refused
when a task the instance has reached (completed, open, waiting or in error) has no element in
the new version, or a subprocess it is in no longer exists: its history could not be kept.
Open and waiting tasks are re-predicted from the new version, so changed flows after them apply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.util.diff import SpecDiff, diff_workflow, migrate_workflow
from SpiffWorkflow.util.task import TaskState

from powerflow.engine.compiler import LoadedProcess
from powerflow.engine.runtime import _human_tasks, _ready_ids, _Recorder, _run
from powerflow.engine.serializer import SERIALIZER, dump_state, load_state, to_plain
from powerflow.engine.types import StepEvent, StepResult, TaskView

_PREDICTED = TaskState.MAYBE | TaskState.LIKELY | TaskState.FUTURE


@dataclass(frozen=True)
class MigrationPlan:
    """What migrating an instance would change, and whether it is possible (and why not)."""

    possible: bool
    reasons: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: dict[str, list[str]] = field(default_factory=dict)
    reset: tuple[str, ...] = ()  # open or waiting elements re-predicted from the new version

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of a dry run and of the ``instance.migrated`` event."""
        return {
            "possible": self.possible,
            "reasons": list(self.reasons),
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": dict(self.changed),
            "reset": list(self.reset),
        }


class CannotMigrate(Exception):
    """The instance's tasks cannot be aligned with the new version; ``plan`` says why."""

    def __init__(self, plan: MigrationPlan) -> None:
        super().__init__("; ".join(plan.reasons))
        self.plan = plan


def _id(spec: Any) -> str | None:
    return getattr(spec, "bpmn_id", None)


def _ids(specs: Any) -> list[str]:
    return sorted({i for s in specs if (i := _id(s)) is not None})


def _state_name(task: Any) -> str:
    return str(TaskState.get_name(task.state)).lower()


def _prepare(old: LoadedProcess, new: LoadedProcess, state: str) -> tuple[Any, Any, MigrationPlan]:
    """Load the instance and diff it against the new version (nothing is changed yet)."""
    workflow = load_state(old, state)
    top, subs = diff_workflow(SERIALIZER.registry, workflow, new.spec, new.subprocess_specs)
    reasons: list[str] = []
    removed_specs: list[Any] = []
    added: list[Any] = []
    changed: dict[str, list[str]] = {}
    diffs = [(workflow, top)]
    for sp_id, sp_diff in subs.items():
        subprocess = workflow.subprocesses[sp_id]
        if sp_diff is None:
            parent = workflow.get_task_from_id(sp_id)
            reasons.append(
                f"The instance is inside the subprocess '{_id(parent.task_spec) or sp_id}', "
                "which the new version no longer has."
            )
            continue
        diffs.append((subprocess, sp_diff))
    # WorkflowDiff keeps no SpecDiff: the specs' own differences are computed here.
    seen_specs: set[str] = set()
    for wf, _ in diffs:
        name = wf.spec.name
        if name in seen_specs:
            continue
        seen_specs.add(name)
        target = new.spec if wf is workflow else new.subprocess_specs.get(name)
        if target is None:
            continue
        spec_diff = SpecDiff(SERIALIZER.registry, wf.spec, target)
        removed_specs.extend(spec_diff.removed)
        added.extend(spec_diff.added)
        for spec, attrs in spec_diff.changed.items():
            if _id(spec) is not None:
                changed[str(_id(spec))] = sorted(attrs)
    for _wf, wf_diff in diffs:
        for task in wf_diff.removed:
            if task.state & _PREDICTED or _id(task.task_spec) is None:
                continue
            reasons.append(
                f"The element '{_id(task.task_spec)}' ({_state_name(task)} in this instance) "
                f"does not exist in the version being migrated to, so its history cannot be kept."
            )
    reset = _ids(
        t.task_spec
        for wf, _ in diffs
        for t in wf.get_tasks(state=TaskState.READY | TaskState.WAITING, skip_subprocesses=True)
    )
    plan = MigrationPlan(
        possible=not reasons,
        reasons=tuple(dict.fromkeys(reasons)),
        added=tuple(_ids(added)),
        removed=tuple(_ids(removed_specs)),
        changed=changed,
        reset=tuple(reset),
    )
    return workflow, diffs, plan


def _apply(workflow: Any, diffs: Any, new: LoadedProcess, plan: MigrationPlan) -> None:
    """Migrate the loaded workflow in place; raise CannotMigrate if a task is left on a spec
    the new version does not have (then the workflow object is thrown away)."""
    workflow.subprocess_specs = dict(new.subprocess_specs)
    for wf, wf_diff in diffs:
        target = new.spec if wf is workflow else new.subprocess_specs[wf.spec.name]
        migrate_workflow(wf_diff, wf, target)
    stranded = sorted(
        {
            str(_id(t.task_spec) or t.task_spec.name)
            for t in workflow.get_tasks()
            if t.task_spec not in t.workflow.spec.task_specs.values()
        }
    )
    if stranded:
        reasons = (
            *plan.reasons,
            "Tasks of " + ", ".join(f"'{s}'" for s in stranded) + " could not be aligned with "
            "the new version.",
        )
        raise CannotMigrate(
            MigrationPlan(False, reasons, plan.added, plan.removed, plan.changed, plan.reset)
        )


def plan_migration(old: LoadedProcess, new: LoadedProcess, state: str) -> MigrationPlan:
    """A dry run: what migrating the instance to ``new`` would change, and whether it can."""
    workflow, diffs, plan = _prepare(old, new, state)
    if not plan.possible:
        return plan
    try:
        _apply(workflow, diffs, new, plan)  # on a throw-away copy: never saved
    except CannotMigrate as exc:
        return exc.plan
    return plan


def migrate(
    old: LoadedProcess,
    new: LoadedProcess,
    state: str,
    payload: dict[str, Any],
    *,
    run_on: bool = True,
) -> tuple[StepResult, MigrationPlan]:
    """Migrate the instance to ``new``; raises CannotMigrate (nothing changed then).

    With ``run_on`` the automatic work the new version makes ready runs at once; without it
    (an instance parked at an incident) nothing runs: the failed task stays in error, now on
    the new version's element, for an administrator to retry or skip. ``payload`` is added to
    the ``instance.migrated`` step event (versions, reason).
    """
    workflow, diffs, plan = _prepare(old, new, state)
    if not plan.possible:
        raise CannotMigrate(plan)
    before = _ready_ids(old, workflow)
    _apply(workflow, diffs, new, plan)
    event = StepEvent("instance.migrated", None, None, None, {**payload, **plan.as_dict()})
    if not run_on:
        return _parked(new, workflow, before, event), plan

    def action(wf: Any, recorder: _Recorder) -> None:
        recorder.events.append(event)

    return _run(new, workflow, action, before=before), plan


def _parked(
    process: LoadedProcess, workflow: Any, before: dict[str, TaskView], event: StepEvent
) -> StepResult:
    """The saved state of a migrated instance that stays parked (no engine step is taken)."""
    open_tasks = _human_tasks(process, workflow)
    now_ids = {t.id for t in open_tasks}
    new_tasks = tuple(t for t in open_tasks if t.id not in before)
    closed = sorted(before.keys() - now_ids)
    ready = tuple(
        StepEvent("task.ready", t.element_id, t.name, t.id, {"roles": list(t.roles)})
        for t in new_tasks
    )
    last = workflow.last_task
    return StepResult(
        state=dump_state(process, workflow),
        status="failed",
        open_tasks=tuple(open_tasks),
        new_tasks=new_tasks,
        closed_task_ids=tuple(closed),
        closed_tasks=tuple(before[i] for i in closed),
        timers=(),
        messages=(),
        events=(event, *ready),
        data=to_plain(last.data if last is not None else workflow.task_tree.data),
    )
