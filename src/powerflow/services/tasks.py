"""The inbox: listing, claiming and completing human tasks within the caller's roles."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, Connection, exists, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, aliased

from powerflow import engine
from powerflow.db import countersign_queries, queries
from powerflow.db.engine import Store
from powerflow.db.models import Instance, Task, TaskRole
from powerflow.db.queries import InstanceRow, TaskRow
from powerflow.services.auth import Principal
from powerflow.services.calls import bound_definition
from powerflow.services.definitions import definition_by_id, runnable
from powerflow.services.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    RuleViolated,
)
from powerflow.services.events import event_rows
from powerflow.services.forms import check_task_data, missing_required
from powerflow.services.incidents import InstanceBroken, breakage_of, cause, record_breakage
from powerflow.services.instances import load_for_update
from powerflow.services.power import policy
from powerflow.services.power.alerts import ALERT_LEVELS
from powerflow.services.steps import instance_view, record_step, task_record
from powerflow.services.task_order import document_order_column
from powerflow.services.views import DefinitionView, InstanceView, Page, TaskRecord
from powerflow.services.visibility import (
    may_see_instance_id,
    missing_task,
    sees_everything,
    task_not_found,
    visible_tasks_clause,
)

log = logging.getLogger(__name__)
TASK_STATES = ("ready", "awaiting_countersign", "completed", "cancelled")


def may_act(principal: Principal, roles: list[str]) -> bool:
    """Whether the caller may claim or complete a task with these candidate roles.

    A task with roles needs one of them (administrators included: acting on a case is done in
    one's own name and role). A task without roles is open to every clerk.
    """
    if roles:
        return principal.has(*roles)
    return principal.has("clerk")


def may_see(principal: Principal, roles: list[str]) -> bool:
    """Whether the caller sees a task without asking who is involved in its instance.

    Monitors, auditors and administrators see every task, a holder of its role sees it; the
    instance's other participants see it too (``services/visibility.py``, one more statement).
    """
    return sees_everything(principal) or may_act(principal, roles)


def list_tasks(
    store: Store,
    principal: Principal,
    *,
    state: str | None,
    role: str | None,
    assignee: str | None,
    instance_id: str | None,
    limit: int,
    offset: int,
    overdue: bool | None = None,
    alert_level: str | None = None,
) -> Page:
    """The caller's inbox, oldest first, filtered by state, role, assignee, instance, whether
    overdue and alert level (one statement per page).

    Monitors, auditors and administrators list every task; others the tasks they may act on,
    and with ``instance_id`` of an instance they are involved in, every task of it.
    """
    if state is not None and state not in TASK_STATES:
        raise InvalidInput(f"state must be one of: {', '.join(TASK_STATES)}.")
    if alert_level is not None and alert_level not in ALERT_LEVELS:
        raise InvalidInput(f"alert_level must be one of: {', '.join(ALERT_LEVELS)}.")
    now = store.now()
    # The definition id comes with each row (an alias: the visibility clause below correlates
    # with ``instances`` itself), so a page is one statement.
    owner = aliased(Instance)
    stmt = select(Task, owner.definition_id, owner.business_key).join(
        owner, owner.id == Task.instance_id
    )
    if overdue is not None:
        late = Task.due_at.is_not(None) & (
            ((Task.state == "ready") & (Task.due_at < now))
            | ((Task.state != "ready") & (Task.ended_at > Task.due_at))
        )
        stmt = stmt.where(late if overdue else ~late)
    if alert_level:
        stmt = stmt.where(Task.alert_level == alert_level)
    if state:
        stmt = stmt.where(Task.state == state)
    if assignee:
        stmt = stmt.where(Task.assignee == assignee)
    if instance_id:
        stmt = stmt.where(Task.instance_id == instance_id)
    if role:
        stmt = stmt.where(exists().where(TaskRole.task_id == Task.id, TaskRole.role == role))
    involved = visible_tasks_clause(principal)
    if involved is not None:
        has_role = exists().where(TaskRole.task_id == Task.id, TaskRole.role.in_(principal.roles))
        actable: ColumnElement[bool] = has_role
        if principal.has("clerk"):
            actable = has_role | ~exists().where(TaskRole.task_id == Task.id)
        if principal.roles:  # a completion waiting for the caller's countersignature
            actable = actable | (
                (Task.state == countersign_queries.AWAITING)
                & countersign_queries.awaiting_clause(Task.id, principal.roles)
            )
        stmt = stmt.where(actable | involved if instance_id else actable)
    with store.read() as session:
        conn = session.connection()
        order: list[Any] = [Task.created_at, Task.id]
        if instance_id:  # one case: its tasks in the diagram's reading order, then creation
            definition_id = session.scalar(
                select(Instance.definition_id).where(Instance.id == instance_id)
            )
            if definition_id is not None:
                catalog = definition_by_id(store, conn, definition_id).catalog
                order.insert(0, document_order_column(catalog))
        stmt = stmt.order_by(*order).limit(limit + 1).offset(offset)
        rows = session.execute(stmt).all()
        items = [
            task_record(t, definition_by_id(store, conn, definition_id), now=now, business_key=key)
            for t, definition_id, key in rows[:limit]
        ]
    return Page(items, limit, offset, len(rows) > limit)


def _record(
    store: Store,
    session: Session,
    task: Task,
    data: dict[str, Any] | None = None,
    definition: DefinitionView | None = None,
) -> TaskRecord:
    owner = session.execute(
        select(Instance.definition_id, Instance.business_key).where(Instance.id == task.instance_id)
    ).first()
    if definition is None:
        definition_id = int(owner.definition_id) if owner is not None else 0
        definition = definition_by_id(store, session.connection(), definition_id)
    key = owner.business_key if owner is not None else None
    return task_record(task, definition, data=data, now=store.now(), business_key=key)


def _visible_task(session: Session, principal: Principal, task_id: str) -> Task:
    """The task, if the caller may see its instance; NotFound (as for an unknown id) if not."""
    conn = session.connection()
    task = session.get(Task, task_id)
    if task is None:
        raise missing_task(conn, principal, task_id)
    if (
        not may_see(principal, list(task.roles))
        and not _involved(conn, principal, task)
        and not countersigner_of(conn, principal, task)
    ):
        raise task_not_found(task_id)
    return task


def countersigner_of(conn: Connection, principal: Principal, task: Task | TaskRow) -> bool:
    """Whether the caller holds the role that countersigns (or countersigned) a completion of
    the task: such a task is theirs to see, as a task is its role holders'."""
    last = countersign_queries.latest(conn, task.id)
    return last is not None and principal.has(str(last["role"]))


def countersigns(store: Store, principal: Principal, task_id: str) -> list[dict[str, Any]]:
    """Every countersignature of a task (waiting or decided, oldest first), to whoever sees the
    task: what was submitted and by whom, and each decision with its comment. One still waiting
    when its task was closed otherwise (the instance cancelled, a boundary event) reads
    ``cancelled``."""
    with store.read() as session:
        task = _visible_task(session, principal, task_id)
        rows = countersign_queries.of_task(session.connection(), task.id)
    for row in rows:  # the task was closed while it waited (instance cancelled, boundary event)
        if row["state"] == "pending" and task.state != countersign_queries.AWAITING:
            row["state"] = "cancelled"
    return rows


def _involved(conn: Connection, principal: Principal, task: Task | TaskRow) -> bool:
    """Whether the caller may see the task's instance (one statement)."""
    return may_see_instance_id(conn, principal, task.instance_id)


def _role_message(task: Task | TaskRow) -> str:
    roles = ", ".join(task.roles) or "clerk"
    return f"Task '{task.name}' can only be done by someone with the role: {roles}."


def get_task(store: Store, principal: Principal, task_id: str) -> TaskRecord:
    """One task with its form fields and, while it is open, the data it will start from."""
    with store.read() as session:
        task = _visible_task(session, principal, task_id)
        data = values = None
        bound: DefinitionView | None = None
        if task.state == "ready":
            instance = session.get(Instance, task.instance_id)
            if instance is not None:
                conn = session.connection()
                definition = definition_by_id(store, conn, instance.definition_id)
                try:
                    process = runnable(conn, definition, instance.state)
                    views = engine.open_tasks(process, instance.state)
                    if process.bound:  # a called task's form: from the version that runs it
                        bound = replace(definition, catalog=process.catalog)
                except (DomainError, SQLAlchemyError):
                    raise
                except Exception as exc:  # the next act on it records the incident
                    log.warning("task %s: its instance cannot be loaded: %s", task_id, cause(exc))
                    views = []
                view = next((v for v in views if v.id == task_id), None)
                if view is not None:
                    data, values = view.data, view.metadata_values
        return replace(_record(store, session, task, data, bound), metadata_values=values)


def _check_actor(conn: Connection, principal: Principal, task: Task | TaskRow) -> None:
    """Forbidden if the caller lacks the task's role; NotFound if they may not even see it.

    The visibility statement runs only on refusal: the path of an allowed act is unchanged.
    """
    if not may_act(principal, list(task.roles)):
        if not _involved(conn, principal, task):
            raise task_not_found(task.id)
        raise Forbidden(_role_message(task))


def claim(store: Store, principal: Principal, task_id: str) -> TaskRecord:
    """Assign a ready task to the caller; 409 if someone else holds it, 403 if a rule refuses.

    A refusal by a rule rolls the claim back, then records the attempt on the instance.
    """
    try:
        return _claim(store, principal, task_id)
    except RuleViolated as exc:
        policy.record_blocked(store, exc)
        raise


def _claim(store: Store, principal: Principal, task_id: str) -> TaskRecord:
    with store.write() as session:
        task = _visible_task(session, principal, task_id)
        conn = session.connection()
        _check_actor(conn, principal, task)
        if task.state != "ready":
            raise Conflict(f"Task '{task.name}' is {task.state}; it cannot be claimed.")
        found = session.execute(
            select(Instance.status, Instance.definition_id).where(Instance.id == task.instance_id)
        ).first()
        status, definition_id = found if found is not None else (None, 0)
        if status != "running":
            raise Conflict(f"Instance {task.instance_id} is {status}; its tasks cannot be claimed.")
        if task.assignee not in (None, principal.name):
            raise Conflict(f"Task '{task.name}' is already claimed by {task.assignee}.")
        definition = definition_by_id(store, conn, int(definition_id))
        if task.assignee is None:
            outcome = policy.check(
                store,
                conn,
                act="claim",
                principal=principal,
                definition=definition,
                task=task,
                load_instance=lambda: load_for_update(conn, task.instance_id),
            )
            task.assignee = principal.name
            _task_event(store, session, task, "task.claimed", principal, outcome=outcome)
        return _record(store, session, task, definition=definition)


def unclaim(store: Store, principal: Principal, task_id: str) -> TaskRecord:
    """Release a claimed task (its assignee, or an administrator)."""
    with store.write() as session:
        task = _visible_task(session, principal, task_id)
        if task.state != "ready":
            raise Conflict(f"Task '{task.name}' is {task.state}; it cannot be unclaimed.")
        if task.assignee is None:
            raise Conflict(f"Task '{task.name}' is not claimed.")
        if task.assignee != principal.name and not principal.is_admin:
            raise Forbidden(
                f"Task '{task.name}' is claimed by {task.assignee}; only they or an "
                "administrator can release it."
            )
        previous = task.assignee
        task.assignee = None
        _task_event(
            store, session, task, "task.unclaimed", principal, {"previous_assignee": previous}
        )
        return _record(store, session, task)


def _task_event(
    store: Store,
    session: Session,
    task: Task,
    kind: str,
    principal: Principal,
    payload: dict[str, Any] | None = None,
    outcome: policy.Outcome | None = None,
) -> None:
    """Record a claim or release on the instance's event chain (the instance version moves),
    after what the rules found of a claim (warn and record violations)."""
    conn = queries.connection(session)
    session.flush()
    instance = load_for_update(conn, task.instance_id)
    event = engine.StepEvent(kind, task.element_id, task.name, task.id, payload or {})
    now = store.now()
    policy.record(conn, instance, outcome, at=now)
    rows = event_rows(instance, [event], conn=conn, actor=principal.name, at=now)
    instance.updated_at = now
    if not queries.save_instance(conn, instance):
        raise Conflict(f"Instance {instance.id} was changed concurrently; retry.")
    queries.insert_events(conn, rows)


def complete(
    store: Store,
    principal: Principal,
    task_id: str,
    data: dict[str, Any],
    comment: str | None = None,
) -> InstanceView:
    """Complete a ready task with data and run the instance to its next wait state, atomically.

    Checks, in order and before anything is written: the task exists, the caller holds its role,
    it is ready and not claimed by someone else, the data is plain JSON and holds only the fields
    the model declares for the task, of the declared types (services/forms.py), then the policy
    (the task's risk point, then the rules). Two concurrent completions of one task: one wins,
    the other gets Conflict. ``comment``: the completer's reasoned comment (recorded with
    ``task.completed``; required by a high-risk link's ``requireComment``).

    When the task's risk point requires a countersignature, the engine does not run: the task
    waits in state ``awaiting_countersign`` with the data and comment stored
    (services/power/countersign.py decides it).
    """
    try:
        engine.check_plain_json(data)
    except engine.DataRejected as exc:
        raise InvalidInput(str(exc)) from None
    if comment is not None:
        comment = comment.strip() or None
    try:
        return _complete(store, principal, task_id, data, comment)
    except InstanceBroken as broken:
        raise record_breakage(store, broken, actor=principal.name) from None
    except RuleViolated as exc:  # the act rolled back; the attempt is recorded on its own
        policy.record_blocked(store, exc)
        raise


DataCheck = Callable[[dict[str, Any], dict[str, Any]], None] | None


def data_check(catalog: dict[str, Any], element_id: str, data: dict[str, Any]) -> DataCheck:
    """Check submitted task data against the task's form now, or (a required field left out,
    perhaps prefilled) return the check the engine runs against the task's current data."""
    if missing_required(catalog, element_id, data):  # may be prefilled: ask the engine
        return lambda current, submitted: check_task_data(catalog, element_id, submitted, current)
    check_task_data(catalog, element_id, data, {})
    return None


def _complete(
    store: Store, principal: Principal, task_id: str, data: dict[str, Any], comment: str | None
) -> InstanceView:
    with store.begin(write=True) as conn:
        task, instance = queries.load_task_and_instance(conn, task_id)
        if task is None or instance is None:
            raise missing_task(conn, principal, task_id)
        _check_actor(conn, principal, task)
        if task.state != "ready":
            raise Conflict(f"Task '{task.name}' is already {task.state}.")
        if task.assignee not in (None, principal.name):
            raise Conflict(f"Task '{task.name}' is claimed by {task.assignee}.")
        if instance.status != "running":
            raise Conflict(
                f"Instance {instance.id} is {instance.status}; its tasks cannot be completed."
            )
        definition = definition_by_id(store, conn, instance.definition_id)
        definition = bound_definition(conn, definition, instance.state, instance.id)
        check = data_check(definition.catalog, task.element_id, data)
        outcome = policy.check(
            store,
            conn,
            act="complete",
            principal=principal,
            definition=definition,
            task=task,
            load_instance=lambda: instance,
            submitted=data,
            comment=comment,
        )
        role = next((r for r in task.roles if r in principal.roles), None)
        if outcome is not None and outcome.countersign:
            from powerflow.services.power.countersign import request

            return request(
                store,
                conn,
                principal,
                task,
                instance,
                definition,
                data,
                comment,
                role,
                outcome,
                check=check,
            )
        completed: dict[str, Any] = {"role": role}
        if comment:
            completed["comment"] = comment
        return advance(
            store,
            conn,
            task,
            instance,
            definition,
            data,
            check=check,
            actor=principal.name,
            completed=completed,
            outcome=outcome,
        )


def advance(
    store: Store,
    conn: Connection,
    task: TaskRow,
    instance: InstanceRow,
    definition: DefinitionView,
    data: dict[str, Any],
    *,
    check: DataCheck,
    actor: str,
    completed: dict[str, Any],
    outcome: policy.Outcome | None = None,
    ledger: list[dict[str, Any]] | None = None,
) -> InstanceView:
    """Complete the task in the engine with this data and record the step: the one path of every
    completion, direct or countersigned (``completed``: what ``task.completed`` adds; ``ledger``:
    rule ledger rows held until now)."""
    with breakage_of(instance.id, "advanced"):
        try:
            step = engine.complete_task(
                runnable(conn, definition, instance.state),
                instance.state,
                task.id,
                data,
                check=check,
            )
        except (engine.TaskNotReady, engine.TaskNotFound, engine.InstanceNotRunning) as exc:
            raise Conflict(f"Task '{task.name}' cannot be completed now: {exc}.") from None
    now = store.now()
    policy.record(conn, instance, outcome, at=now)
    if ledger:
        policy.write_ledger(conn, policy.released_ledger(ledger, at=now))
    tasks = record_step(
        conn,
        instance,
        definition,
        step,
        actor=actor,
        at=now,
        completed_task_id=task.id,
        extra={"task.completed": completed},
        store=store,
    )
    return instance_view(instance, definition, tasks, now)


def empty_inbox_hint(principal: Principal) -> str:
    """Why an inbox is empty, in the caller's terms: the roles it was selected by."""
    roles = ", ".join(sorted(principal.roles)) or "none"
    return (
        f"No task matches. Your roles are: {roles}. A task shows here when it waits for one of "
        "your roles (each task lists its roles); if you should act on a task, ask an "
        "administrator to give you its role."
    )
