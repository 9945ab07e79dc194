"""Starting, reading, cancelling instances and delivering messages to them."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from powerflow import engine
from powerflow.db import external_queries, message_queries, queries
from powerflow.db.engine import DatabaseBusy, Store
from powerflow.db.models import Event, Instance
from powerflow.db.queries import InstanceRow
from powerflow.services import messages
from powerflow.services.auth import Principal
from powerflow.services.calls import bind_new
from powerflow.services.definitions import (
    BpmnFileMissing,
    definition_by_id,
    resolve,
    runnable,
)
from powerflow.services.errors import Conflict, DomainError, Forbidden, InvalidInput
from powerflow.services.events import event_rows
from powerflow.services.forms import check_start_variables
from powerflow.services.incidents import (
    PARKED,
    IncidentLog,
    InstanceBroken,
    breakage_of,
    cause,
    fail_instance,
    parked_conflict,
    record_breakage,
)
from powerflow.services.power.alerts import resolve_alerts
from powerflow.services.steps import instance_view, record_step
from powerflow.services.views import EventView, InstanceView, Page
from powerflow.services.visibility import (
    check_instance,
    instance_not_found,
    may_see_instance,
    missing_instance,
    visible_instances_clause,
)

START_ROLES = ("clerk", "admin")
TERMINAL = ("completed", "cancelled")
"""Statuses of ended instances. ``failed`` is not one: a failed step parks the instance at an
incident until an administrator retries, skips, moves, migrates or cancels it."""


def load_for_update(conn: Connection, instance_id: str) -> InstanceRow:
    """The instance row, locked for this transaction; NotFound if there is none."""
    row = queries.load_instance(conn, instance_id, lock=True)
    if row is None:
        raise instance_not_found(instance_id)
    return row


def load_visible_for_update(
    conn: Connection, principal: Principal, instance_id: str
) -> InstanceRow:
    """The instance row, locked; NotFound if there is none or the caller may not see it."""
    row = queries.load_instance(conn, instance_id, lock=True)
    if row is None:
        raise missing_instance(conn, principal, instance_id)
    if not may_see_instance(conn, principal, instance_id, row.started_by):
        raise instance_not_found(instance_id)
    return row


def start_instance(
    store: Store,
    principal: Principal,
    definition_key: str,
    *,
    business_key: str | None = None,
    variables: dict[str, Any] | None = None,
    version: int | None = None,
) -> InstanceView:
    """Start the latest (or given) version of a definition and run it to its first wait state.

    The variables may hold only what the start event's form (or the process) declares.
    """
    if not principal.has(*START_ROLES):
        raise Forbidden("Starting a process needs the 'clerk' role.")
    variables = variables or {}
    try:
        engine.check_plain_json(variables, where="variables")
    except engine.DataRejected as exc:
        raise InvalidInput(str(exc)) from None
    duplicate = Conflict(
        f"An instance of {definition_key} with business key '{business_key}' already exists."
    )
    try:
        with store.begin(write=True) as conn:
            definition = resolve(store, conn, definition_key, version)
            if not definition.executable:
                raise Conflict(
                    f"{definition.key} v{definition.version} cannot be started: "
                    f"{definition.not_executable_reason}"
                )
            if business_key is not None and queries.business_key_taken(
                conn, definition.key, business_key
            ):
                raise duplicate
            check_start_variables(definition.catalog, variables)
            process = bind_new(store, conn, definition)
            step = engine.start(process, variables)
            now = store.now()
            row = InstanceRow.new(
                definition_id=definition.id,
                definition_key=definition.key,
                definition_version=definition.version,
                business_key=business_key,
                status=step.status,
                state=step.state,
                started_by=principal.name,
                at=now,
            )
            if process.bound:  # called tasks' roles, forms and limits: the bound versions
                definition = replace(definition, catalog=process.catalog)
            tasks = record_step(
                conn,
                row,
                definition,
                step,
                actor=principal.name,
                at=now,
                extra={
                    "instance.started": {"variables": variables, "roles": sorted(principal.roles)}
                },
                new_instance=True,
                store=store,
            )
            return instance_view(row, definition, tasks, now)
    except IntegrityError:
        raise duplicate from None


def get_instance(store: Store, principal: Principal, instance_id: str) -> InstanceView:
    """One instance with its ready tasks, if the caller may see it (NotFound otherwise)."""
    with store.read() as session:
        row = session.get(Instance, instance_id)
        conn = queries.connection(session)
        check_instance(conn, principal, instance_id, row.started_by if row else None)
        assert row is not None  # check_instance raised otherwise
        return _orm_view(store, session, row)


def list_instances(
    store: Store,
    principal: Principal,
    *,
    definition_key: str | None,
    status: str | None,
    business_key: str | None,
    limit: int,
    offset: int,
) -> Page:
    """Instances the caller may see, newest first, filtered by definition key, status and
    business key (one statement per page, visibility included)."""
    stmt = select(Instance)
    visible = visible_instances_clause(principal)
    if visible is not None:
        stmt = stmt.where(visible)
    if definition_key:
        stmt = stmt.where(Instance.definition_key == definition_key)
    if status:
        stmt = stmt.where(Instance.status == status)
    if business_key:
        stmt = stmt.where(Instance.business_key == business_key)
    stmt = stmt.order_by(Instance.created_at.desc(), Instance.id).limit(limit + 1).offset(offset)
    now = store.now()
    with store.read() as session:
        rows = session.scalars(stmt).all()
        conn = queries.connection(session)
        shown = rows[:limit]
        open_by_instance = queries.open_tasks_of(conn, [r.id for r in shown])
        items = [
            instance_view(
                r,
                definition_by_id(store, conn, r.definition_id),
                open_by_instance.get(r.id, []),
                now,
            )
            for r in shown
        ]
    return Page(items, limit, offset, len(rows) > limit)


def _orm_view(store: Store, session: Session, row: Instance) -> InstanceView:
    conn = queries.connection(session)
    definition = definition_by_id(store, conn, row.definition_id)
    return instance_view(row, definition, queries.open_tasks(conn, row.id), store.now())


def _step_on(
    store: Store,
    principal: Principal,
    instance_id: str,
    action: str,
    run: Any,
    *,
    extra: dict[str, dict[str, Any]] | None = None,
    allow_suspended: bool = False,
    permit: Callable[[InstanceRow], None] | None = None,
    record_broken: bool = True,
) -> InstanceView:
    """Advance a visible instance in one transaction; ``permit`` raises Forbidden if the caller
    may see the instance but not do this to it (checked after visibility: a stranger gets
    NotFound, whatever their roles). An instance that cannot be loaded or run is marked failed
    with an incident and answers Conflict (unless ``record_broken`` is off: the caller does)."""
    args = (store, principal, instance_id, action, run, extra, allow_suspended, permit)
    if not record_broken:
        return _step(*args, guard=nullcontext())
    try:
        return _step(*args, guard=breakage_of(instance_id, action))
    except InstanceBroken as broken:
        raise record_breakage(store, broken, actor=principal.name) from None


def _step(
    store: Store,
    principal: Principal,
    instance_id: str,
    action: str,
    run: Any,
    extra: dict[str, dict[str, Any]] | None,
    allow_suspended: bool,
    permit: Callable[[InstanceRow], None] | None,
    *,
    guard: AbstractContextManager[None],
) -> InstanceView:
    with store.begin(write=True) as conn:
        row = load_visible_for_update(conn, principal, instance_id)
        if permit is not None:
            permit(row)
        if row.status in TERMINAL:
            raise Conflict(f"Instance {instance_id} has {row.status}; it cannot be {action}.")
        if row.status == "suspended" and not allow_suspended:
            raise Conflict(f"Instance {instance_id} is suspended; it cannot be {action}.")
        if row.status == PARKED and action != "cancelled":
            raise parked_conflict(row, action)
        definition = definition_by_id(store, conn, row.definition_id)
        with guard:
            process = runnable(conn, definition, row.state)
            step = run(process, row.state)
        if process.bound:  # called tasks' roles, forms and limits: from the bound versions
            definition = replace(definition, catalog=process.catalog)
        tasks = record_step(
            conn,
            row,
            definition,
            step,
            actor=principal.name,
            at=store.now(),
            extra=extra,
            store=store,
        )
        return instance_view(row, definition, tasks, store.now())


def cancel_instance(
    store: Store, principal: Principal, instance_id: str, reason: str | None
) -> InstanceView:
    """Cancel a running instance (administrators, or the person who started it)."""

    def permit(row: InstanceRow) -> None:
        if not principal.is_admin and row.started_by != principal.name:
            raise Forbidden(
                "Only an administrator or the person who started it can cancel an instance."
            )
        if not principal.is_admin and row.status == "suspended":  # stopped to be examined
            raise Forbidden(
                f"Instance {row.id} is suspended (by a supervision case or an administrator): "
                "only an administrator can cancel it now."
            )

    try:
        return _step_on(
            store,
            principal,
            instance_id,
            "cancelled",
            engine.cancel,
            extra={"instance.cancelled": {"reason": reason}},
            allow_suspended=True,
            permit=permit,
            record_broken=False,
        )
    except (DomainError, DatabaseBusy, SQLAlchemyError):
        raise
    except Exception as exc:  # the saved state or the definition cannot be loaded
        broken = InstanceBroken(
            instance_id,
            "The instance could not be cancelled: it or its definition cannot be loaded or run "
            f"({cause(exc)}).",
        )
        if _cancel_parked_without_engine(store, principal, instance_id, reason, permit):
            return get_instance(store, principal, instance_id)
        raise record_breakage(store, broken, actor=principal.name) from None


def _cancel_parked_without_engine(
    store: Store,
    principal: Principal,
    instance_id: str,
    reason: str | None,
    permit: Callable[[InstanceRow], None],
) -> bool:
    """Cancel an instance parked at an incident whose state cannot even be loaded: its open
    tasks are closed and its incident resolved; the saved state stays as it was. False when
    the instance is not parked (then it is parked with an incident instead)."""
    with store.begin(write=True) as conn:
        row = load_visible_for_update(conn, principal, instance_id)
        permit(row)
        if row.status != PARKED:
            return False
        now = store.now()
        log = IncidentLog(conn, row, at=now, actor=principal.name)
        resolved = log.resolved("cancelled", reason)
        open_rows = queries.open_tasks(conn, row.id)
        queries.close_tasks(
            conn,
            [
                {"b_id": t.id, "state": "cancelled", "ended_at": now, "completed_by": None}
                for t in open_rows
            ],
        )
        external_queries.cancel_open_of(conn, row.id, now)  # workers can do nothing more
        message_queries.replace_subscriptions(conn, row.id, [], new=False)  # nor messages
        row.status = "cancelled"
        row.incident = None
        row.updated_at = now
        row.ended_at = now
        row.next_alert_at = None
        cancelled = engine.StepEvent("instance.cancelled", payload={"reason": reason})
        closed = [
            engine.StepEvent(
                "task.cancelled", t.element_id, t.name, t.id, {"reason": "instance_cancelled"}
            )
            for t in open_rows
        ]
        more = (
            resolve_alerts(conn, row, at=now, everything="instance_cancelled")
            if row.alert_level is not None
            else []
        )
        from powerflow.services.supervision import notices

        more += notices.ended(conn, row.id, now)  # its open notices are withdrawn
        rows = event_rows(
            row, [*resolved, *closed, cancelled, *more], conn=conn, actor=principal.name, at=now
        )
        if not queries.save_instance(conn, row):
            raise Conflict(f"Instance {instance_id} was changed concurrently; retry.")
        queries.insert_events(conn, rows)
        return True


SUPERVISE_ROLES = ("admin", "monitor")


def set_suspended(
    store: Store, principal: Principal, instance_id: str, *, suspend: bool, reason: str | None
) -> InstanceView:
    """Suspend a running instance (nothing advances it) or resume a suspended one."""
    with store.begin(write=True) as conn:
        row = load_visible_for_update(conn, principal, instance_id)
        if not principal.has(*SUPERVISE_ROLES):
            raise Forbidden(
                "Suspending or resuming an instance needs the 'monitor' or 'admin' role."
            )
        apply_suspension(conn, store, row, actor=principal.name, suspend=suspend, reason=reason)
        definition = definition_by_id(store, conn, row.definition_id)
        return instance_view(row, definition, queries.open_tasks(conn, row.id), store.now())


def apply_suspension(
    conn: Connection,
    store: Store,
    row: InstanceRow,
    *,
    actor: str,
    suspend: bool,
    reason: str | None,
    case_id: int | None = None,
) -> int:
    """Suspend or resume a locked instance row in the caller's transaction (the caller checked
    who may); the event carries the supervision case's id when a case did it. Returns the
    event's seq."""
    instance_id = row.id
    if suspend and row.status != "running":
        raise Conflict(
            f"Instance {instance_id} is {row.status}; only a running one can be suspended."
        )
    if not suspend and row.status != "suspended":
        raise Conflict(f"Instance {instance_id} is {row.status}, not suspended.")
    now = store.now()
    row.status = "suspended" if suspend else "running"
    row.updated_at = now
    kind = "instance.suspended" if suspend else "instance.resumed"
    payload: dict[str, Any] = {"reason": reason}
    if case_id is not None:
        payload["case_id"] = case_id
    rows = event_rows(
        row, [engine.StepEvent(kind, payload=payload)], conn=conn, actor=actor, at=now
    )
    if not queries.save_instance(conn, row):
        raise Conflict(f"Instance {instance_id} was changed concurrently; retry.")
    queries.insert_events(conn, rows)
    if not suspend:  # what was kept for it while suspended
        messages.deliver_kept(conn, store, row, actor=actor, at=now)
        from powerflow.services.supervision.notices import deliver_held

        deliver_held(conn, store, row, at=now)  # objections to its notices meanwhile
    return int(rows[0]["seq"])


def deliver_message(
    store: Store, principal: Principal, instance_id: str, name: str, payload: dict[str, Any]
) -> InstanceView:
    """Deliver a named message to an instance that waits for it (a clerk or administrator
    who may see the instance)."""

    def permit(row: InstanceRow) -> None:
        if not principal.has("clerk", "admin"):
            raise Forbidden("Delivering messages needs the 'clerk' role.")

    try:
        engine.check_plain_json(payload, where="payload")
    except engine.DataRejected as exc:
        raise InvalidInput(str(exc)) from None

    def run(process: engine.LoadedProcess, state: str) -> engine.StepResult:
        try:
            return engine.deliver_message(process, state, name, payload)
        except engine.NotWaitingForMessage:
            raise Conflict(
                f"Instance {instance_id} is not waiting for a message named '{name}'."
            ) from None

    return _step_on(
        store,
        principal,
        instance_id,
        "sent messages",
        run,
        extra={"message.received": {"payload": payload}},
        permit=permit,
    )


class _EngineStepFailed(Exception):
    """The engine could not restore or step an instance (wraps the original error)."""


def fire_timers(store: Store, principal: Principal, instance_id: str) -> InstanceView | None:
    """Fire the due timers of one instance now (the timer worker does this on schedule).

    Domain errors and transient database errors propagate (the caller retries later). Any
    other failure (a definition that cannot be parsed, saved state that cannot be restored)
    rolls the step back and marks the instance failed with an incident in a transaction of its
    own; None is returned then, and the instance is never tried again.
    """

    def run(process: engine.LoadedProcess, state: str) -> engine.StepResult:
        try:
            return engine.fire_due_timers(process, state)
        except Exception as exc:
            raise _EngineStepFailed(cause(exc)) from exc

    try:
        return _step_on(store, principal, instance_id, "advanced", run, record_broken=False)
    except BpmnFileMissing as exc:  # waiting will not bring it back
        message = f"The timer could not fire: {exc.message}"
    except (DomainError, DatabaseBusy, OperationalError, InterfaceError):
        raise  # not the instance's fault: tried again later
    except _EngineStepFailed as exc:
        message = f"The timer could not fire: the saved state cannot be restored or run ({exc})."
    except Exception as exc:
        message = (
            "The timer could not fire: the instance or its definition cannot be loaded "
            f"({cause(exc)})."
        )
    fail_instance(store, instance_id, actor=principal.name, message=message)
    return None


def events_of(
    store: Store, principal: Principal, instance_id: str, *, after: int, limit: int
) -> Page:
    """The recorded steps of an instance the caller may see, in order."""
    with store.read() as session:
        started_by = session.scalar(select(Instance.started_by).where(Instance.id == instance_id))
        check_instance(queries.connection(session), principal, instance_id, started_by)
        rows = session.scalars(
            select(Event)
            .where(Event.instance_id == instance_id, Event.seq > after)
            .order_by(Event.seq)
            .limit(limit + 1)
        ).all()
    items = [EventView.of(r) for r in rows[:limit]]
    return Page(items, limit, after, len(rows) > limit)
