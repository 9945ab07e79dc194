"""What an administrator does with an instance a failed step parked, or a token in the wrong
place: retry, skip, move the token, migrate to another version; and the incident history.

Each is one transaction: the instance is loaded visible and locked, the caller must be an
administrator, the instance must be in a state that allows the act, the engine computes the
step, and the step is recorded like any other (services/steps.py), with the incident resolved
(``incident.resolved``) and the act recorded with its actor and reason. Anything refused
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from powerflow import engine
from powerflow.db import external_queries, incident_queries, queries
from powerflow.db.engine import Store
from powerflow.db.queries import InstanceRow, TaskRow
from powerflow.engine import external as engine_external
from powerflow.services import external_tasks, messages
from powerflow.services.auth import Principal
from powerflow.services.calls import bind_new
from powerflow.services.definitions import definition_by_id, resolve, runnable
from powerflow.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from powerflow.services.events import event_rows
from powerflow.services.incidents import PARKED, InstanceBroken, breakage_of
from powerflow.services.instances import TERMINAL, load_visible_for_update
from powerflow.services.steps import instance_view, record_step
from powerflow.services.supervision import notices
from powerflow.services.views import DefinitionView, InstanceView, Page
from powerflow.services.visibility import check_instance

SUPERVISE_ROLES = ("admin", "monitor")

Run = Callable[[engine.LoadedProcess, str], engine.StepResult]


def _admin(principal: Principal, what: str) -> None:
    if not principal.is_admin:
        raise Forbidden(f"{what} needs the 'admin' role.")


def _reason(reason: str | None, what: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise InvalidInput(f"Say why: {what} is recorded with a reason ('reason').")
    return text


def _variables(variables: dict[str, Any] | None) -> dict[str, Any]:
    variables = variables or {}
    try:
        engine.check_plain_json(variables, where="variables")
    except engine.DataRejected as exc:
        raise InvalidInput(str(exc)) from None
    return variables


def _not_parked(row: InstanceRow, what: str) -> Conflict:
    return Conflict(
        f"Instance {row.id} is {row.status}, not stopped by an incident; only an instance "
        f"parked at an incident can be {what}."
    )


def _step(
    store: Store,
    principal: Principal,
    instance_id: str,
    *,
    what: str,
    done: str,
    statuses: tuple[str, ...],
    run: Run,
    resolution: str,
    reason: str,
    extra: dict[str, dict[str, Any]],
    reopen: bool = False,
    pick: Callable[[InstanceRow], Run | None] | None = None,
) -> InstanceView:
    """Load, check and record one recovery step (see the module docstring); ``pick`` may
    choose another ``run`` for the loaded instance."""
    with store.begin(write=True) as conn:
        row = load_visible_for_update(conn, principal, instance_id)
        _admin(principal, what)
        if row.status not in statuses:
            if row.status in TERMINAL:
                raise Conflict(f"Instance {instance_id} has {row.status}; it cannot be {done}.")
            if row.status == "suspended":
                raise Conflict(
                    f"Instance {instance_id} is suspended; resume it before it can be {done}."
                )
            raise _not_parked(row, done)
        run = (pick(row) if pick is not None else None) or run
        definition = definition_by_id(store, conn, row.definition_id)
        try:
            with breakage_of(instance_id, done):
                step = _refusals(instance_id, run, runnable(conn, definition, row.state), row.state)
        except InstanceBroken as exc:  # it stays as it was
            raise Conflict(f"{exc.message} Nothing was changed.") from None
        if reopen:
            _reopen(conn, step)
        tasks = record_step(
            conn,
            row,
            definition,
            step,
            actor=principal.name,
            at=store.now(),
            extra=extra,
            store=store,
            resolution=(resolution, reason),
        )
        return instance_view(row, definition, tasks, store.now())


def _refusals(
    instance_id: str, run: Run, process: engine.LoadedProcess, state: str
) -> engine.StepResult:
    """Run an engine recovery, turning its refusals into domain errors."""
    try:
        return run(process, state)
    except engine.NotRecoverable as exc:
        raise Conflict(str(exc)) from None
    except engine.DataRejected as exc:
        raise InvalidInput(str(exc)) from None
    except engine.InstanceNotRunning:
        raise Conflict(f"Instance {instance_id} has already ended.") from None
    except (engine.TaskNotReady, engine.TaskNotFound) as exc:
        raise Conflict(
            f"Instance {instance_id}: the failed task cannot be skipped ({exc})."
        ) from None


def _reopen(conn: Connection, step: engine.StepResult) -> None:
    """Tasks the step opens again under their old id: their old projection rows go."""
    ids = [t.id for t in step.new_tasks]
    incident_queries.forget_task_rows(conn, incident_queries.existing_task_ids(conn, ids))
    external_queries.forget_tasks(conn, [t.id for t in step.new_external])


def retry(
    store: Store,
    principal: Principal,
    instance_id: str,
    *,
    variables: dict[str, Any] | None,
    reason: str | None,
) -> InstanceView:
    """Run the failed element again, after merging ``variables`` into its data; a new failure
    parks the instance with a new incident."""
    why = _reason(reason, "a retry")
    fixes = _variables(variables)
    external = _retry_external(store, principal, instance_id, fixes, why)
    if external is not None:
        return external
    return _step(
        store,
        principal,
        instance_id,
        what="Retrying an instance",
        done="retried",
        statuses=(PARKED,),
        run=lambda process, state: engine.retry(process, state, fixes),
        resolution="retried",
        reason=why,
        extra={"instance.retried": {"reason": why}},
    )


def skip(
    store: Store, principal: Principal, instance_id: str, *, reason: str | None
) -> InstanceView:
    """Complete the failed element without running it, and run on."""
    why = _reason(reason, "skipping an element")
    return _step(
        store,
        principal,
        instance_id,
        what="Skipping an element",
        done="skipped past its failed element",
        statuses=(PARKED,),
        run=engine.skip,
        resolution="skipped",
        reason=why,
        extra={"element.skipped": {"reason": why}},
        pick=_skip_external,
    )


def _skip_external(row: InstanceRow) -> Run | None:
    """An instance parked by an external task's last failure has no element in error: the
    skip completes that external task without a worker (no variables), and runs on."""
    task_id = (row.incident or {}).get("external_task_id")
    if not task_id:
        return None
    payload = {"skipped": True}
    return lambda process, state: engine_external.complete(process, state, task_id, {}, payload)


def move(
    store: Store,
    principal: Principal,
    instance_id: str,
    *,
    to_element: str,
    from_element: str | None,
    reason: str | None,
) -> InstanceView:
    """Move the token back to the most recent task of ``to_element`` (redo from there)."""
    why = _reason(reason, "moving a token")
    return _step(
        store,
        principal,
        instance_id,
        what="Moving a token",
        done="moved",
        statuses=("running", PARKED),
        run=lambda process, state: engine.move(process, state, to_element, from_element),
        resolution="moved",
        reason=why,
        extra={"token.moved": {"reason": why}},
        reopen=True,
    )


@dataclass(frozen=True)
class MigrationView:
    """The outcome of a migration or of its dry run."""

    dry_run: bool
    from_version: int
    to_version: int
    plan: engine.MigrationPlan
    instance: InstanceView | None


def migrate(
    store: Store,
    principal: Principal,
    instance_id: str,
    *,
    to_version: int,
    dry_run: bool,
    reason: str | None,
) -> MigrationView:
    """Move an instance to another version of its definition, or say what that would change.

    Refused (409, with the plan) when the instance's tasks cannot be aligned with the target
    version. A parked instance stays parked (its incident is kept): retry or skip it after.
    """
    why = None if dry_run else _reason(reason, "a migration")
    with store.begin(write=True) as conn:
        row = load_visible_for_update(conn, principal, instance_id)
        _admin(principal, "Migrating an instance")
        if row.status in TERMINAL:
            raise Conflict(f"Instance {instance_id} has {row.status}; it cannot be migrated.")
        if row.status == "suspended":
            raise Conflict(f"Instance {instance_id} is suspended; resume it before migrating it.")
        current = definition_by_id(store, conn, row.definition_id)
        target = _target(store, conn, current, to_version)
        # the target binds what it calls and evaluates from other files as a new instance
        # would (pinned version, else the latest); the instance keeps those bindings after
        old, new = runnable(conn, current, row.state), bind_new(store, conn, target)
        payload = {"from_version": current.version, "to_version": target.version}
        parked = row.status == PARKED
        try:
            with breakage_of(instance_id, "migrated"):
                if dry_run:
                    plan = engine.plan_migration(old, new, row.state)
                    return MigrationView(True, current.version, target.version, plan, None)
                try:
                    step, plan = engine.migrate(old, new, row.state, payload, run_on=not parked)
                except engine.CannotMigrate as exc:
                    raise Conflict(
                        f"Instance {instance_id} cannot be migrated to version "
                        f"{target.version}: {' '.join(exc.plan.reasons)}",
                        plan=exc.plan.as_dict(),
                    ) from None
        except InstanceBroken as exc:
            raise Conflict(f"{exc.message} Nothing was changed.") from None
        row.definition_id = target.id
        row.definition_version = target.version
        incident_queries.set_definition(conn, row.id, target.id, target.version)
        changed = _roles_changed(queries.open_tasks(conn, row.id), step)
        extra = {"instance.migrated": {"reason": why, "roles_changed": changed}}
        if parked:
            _record_parked(store, conn, row, target, step, principal, extra)
        else:
            record_step(
                conn,
                row,
                target,
                step,
                actor=principal.name,
                at=store.now(),
                extra=extra,
                store=store,
            )
        _relabel(conn, step)
        _relabel_external(conn, new, step)
        # read after relabelling: the tasks now carry the new version's names
        view = instance_view(row, target, queries.open_tasks(conn, row.id), store.now())
        return MigrationView(False, current.version, target.version, plan, view)


def _target(
    store: Store, conn: Connection, current: DefinitionView, to_version: int
) -> DefinitionView:
    try:
        target = resolve(store, conn, current.key, to_version)
    except NotFound:
        raise InvalidInput(
            f"Process definition '{current.key}' has no version {to_version}."
        ) from None
    if target.version == current.version:
        raise Conflict(f"The instance already runs on version {to_version}.")
    if not target.executable:
        raise Conflict(f"{target.key} v{target.version} cannot run: {target.not_executable_reason}")
    return target


def _record_parked(
    store: Store,
    conn: Connection,
    row: InstanceRow,
    target: DefinitionView,
    step: engine.StepResult,
    principal: Principal,
    extra: dict[str, dict[str, Any]],
) -> list[Any]:
    """Record the migration of a parked instance: new state and version, its incident kept."""
    now = store.now()
    row.state = step.state
    row.updated_at = now
    rows = event_rows(row, list(step.events), conn=conn, actor=principal.name, at=now, extra=extra)
    if not queries.save_instance(conn, row):
        raise Conflict(f"Instance {row.id} was changed concurrently; retry.")
    queries.insert_events(conn, rows)
    return queries.open_tasks(conn, row.id)


def _roles_changed(before: list[TaskRow], step: engine.StepResult) -> list[dict[str, Any]]:
    """Open tasks the migration keeps whose element offers them to other roles in the new
    version (``_relabel`` gives them these roles): what ``instance.migrated`` records, so the
    statistics move their running count from the old roles to the new."""
    old = {t.id: sorted(set(t.roles)) for t in before}
    opened = {t.id for t in step.new_tasks}
    changed = []
    for t in step.open_tasks:
        roles = sorted(set(t.roles))
        if t.id in old and t.id not in opened and old[t.id] != roles:
            changed.append(
                {
                    "task_id": t.id,
                    "element_id": t.element_id,
                    "from_roles": old[t.id],
                    "to_roles": roles,
                }
            )
    return changed


def _relabel(conn: Connection, step: engine.StepResult) -> None:
    """Open tasks that stayed: the new version's name, kind, lane and roles for them."""
    opened = {t.id for t in step.new_tasks}
    for t in step.open_tasks:
        if t.id not in opened:
            incident_queries.relabel_task(
                conn, t.id, name=t.name, kind=t.kind, lane=t.lane, roles=list(t.roles)
            )


def _relabel_external(
    conn: Connection, process: engine.LoadedProcess, step: engine.StepResult
) -> None:
    """External tasks that stayed open: the new version's topic, priority, name and outputs
    (a worker of the new topic fetches them; one of the old topic no longer does)."""
    opened = {t.id for t in step.new_external}
    for t in engine_external.waiting(process, step.state):
        if t.id not in opened:
            external_queries.relabel(
                conn,
                t.id,
                topic=t.topic,
                priority=t.priority,
                name=t.name[:255],
                outputs=list(t.outputs) if t.outputs is not None else None,
            )


@dataclass(frozen=True)
class IncidentView:
    """One incident: where and why an instance stopped, and how it was resolved."""

    id: str
    instance_id: str
    definition_key: str
    definition_version: int
    element_id: str | None
    element_name: str | None
    message: str
    status: str
    created_at: Any
    resolved_at: Any
    resolved_by: str | None
    resolution: str | None
    reason: str | None


def list_incidents(
    store: Store,
    principal: Principal,
    *,
    status: str | None,
    definition_key: str | None,
    limit: int,
    offset: int,
) -> Page:
    """Incidents of every instance, newest first (administrators and monitors)."""
    if not principal.has(*SUPERVISE_ROLES):
        raise Forbidden("Listing incidents needs the 'monitor' or 'admin' role.")
    with store.read() as session:
        rows = incident_queries.list_incidents(
            queries.connection(session),
            status=status,
            instance_id=None,
            definition_key=definition_key,
            limit=limit,
            offset=offset,
        )
    return Page([IncidentView(**r) for r in rows[:limit]], limit, offset, len(rows) > limit)


def incidents_of(
    store: Store, principal: Principal, instance_id: str, *, limit: int, offset: int
) -> Page:
    """The incident history of one instance the caller may see, newest first."""
    with store.read() as session:
        conn = queries.connection(session)
        row = queries.load_instance(conn, instance_id, lock=False)
        check_instance(conn, principal, instance_id, row.started_by if row else None)
        rows = incident_queries.list_incidents(
            conn,
            status=None,
            instance_id=instance_id,
            definition_key=None,
            limit=limit,
            offset=offset,
        )
    return Page([IncidentView(**r) for r in rows[:limit]], limit, offset, len(rows) > limit)


def _retry_external(
    store: Store, principal: Principal, instance_id: str, fixes: dict[str, Any], why: str
) -> InstanceView | None:
    """A parked instance whose incident is an external task's last failure is retried by
    giving that task one more retry (the task still waits for a worker: nothing runs in the
    engine); None when the incident is not an external task's."""
    with store.begin(write=True) as conn:
        row = load_visible_for_update(conn, principal, instance_id)
        incident = row.incident or {}
        if row.status != PARKED or not incident.get("external_task_id"):
            return None
        _admin(principal, "Retrying an instance")
        if fixes:
            raise Conflict(
                f"Instance {instance_id} waits for the external task "
                f"'{incident.get('element_name')}': a worker supplies its variables, so a "
                "retry cannot change them; retry without variables."
            )
        now = store.now()
        if not external_tasks.retry_incident(
            conn, row, retries=1, actor=principal.name, at=now, reason=why
        ):
            return None
        rows = event_rows(
            row,
            [engine.StepEvent("instance.retried", payload={"variables": {}, "reason": why})],
            conn=conn,
            actor=principal.name,
            at=now,
        )
        if not queries.save_instance(conn, row):
            raise Conflict(f"Instance {instance_id} was changed concurrently; retry.")
        queries.insert_events(conn, rows)
        messages.deliver_kept(conn, store, row, actor=principal.name, at=now)
        notices.deliver_held(conn, store, row, at=now)  # objections to its notices meanwhile
        definition = definition_by_id(store, conn, row.definition_id)
        return instance_view(row, definition, queries.open_tasks(conn, row.id), now)
