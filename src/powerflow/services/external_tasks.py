"""External tasks: workers fetch and lock service tasks of a topic, complete them, report
failures (retries, then an incident) or BPMN errors, extend their locks.

Who may act: the system role ``worker``; a worker that also holds roles ``topic.<name>`` is
limited to those topics. Monitors, auditors and administrators list external tasks; an
administrator sets the retries of a task whose last retry failed (which resolves its incident).
The table is kept in step with the engine by ``services/steps.record_step``
(``services/external_rows.apply_step``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from powerflow import engine
from powerflow.db import external_queries as q
from powerflow.db import incident_queries, queries
from powerflow.db.engine import Store
from powerflow.db.models import ExternalTask
from powerflow.db.queries import InstanceRow
from powerflow.engine import external as engine_external
from powerflow.services import messages
from powerflow.services.auth import Principal
from powerflow.services.definitions import definition_by_id, runnable
from powerflow.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from powerflow.services.events import event_rows
from powerflow.services.incidents import (
    PARKED,
    IncidentLog,
    InstanceBroken,
    breakage_of,
    record_breakage,
)
from powerflow.services.steps import record_step

WORKER_ROLE = "worker"
TOPIC_ROLE_PREFIX = "topic."
MONITOR_ROLES = ("admin", "monitor", "auditor")
STATES = ("open", "locked", "incident", "completed", "cancelled")
MAX_LOCK_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class LockedTask:
    """A task a worker has just locked: what it needs to do the work."""

    id: str
    topic: str
    instance_id: str
    definition_key: str
    business_key: str | None
    element_id: str
    name: str
    priority: int
    variables: dict[str, Any]
    outputs: list[str] | None
    retries: int | None
    error_message: str | None
    worker_id: str
    lock_expires_at: datetime


# --- who may act -----------------------------------------------------------------------------


def _allowed_topics(principal: Principal) -> set[str] | None:
    """The topics a worker is limited to (its ``topic.<name>`` roles), None if not limited."""
    topics = {
        r[len(TOPIC_ROLE_PREFIX) :] for r in principal.roles if r.startswith(TOPIC_ROLE_PREFIX)
    }
    return topics or None


def _require_worker(principal: Principal) -> None:
    if not principal.has(WORKER_ROLE):
        raise Forbidden("Working on external tasks needs the 'worker' role.")


def _check_topic(principal: Principal, topic: str) -> None:
    allowed = _allowed_topics(principal)
    if allowed is not None and topic not in allowed:
        raise Forbidden(
            f"This worker is limited to the topics {', '.join(sorted(allowed))}; the task is "
            f"of the topic '{topic}'."
        )


def _held(
    conn: Connection, store: Store, principal: Principal, task_id: str, worker_id: str
) -> tuple[ExternalTask, InstanceRow]:
    """The task, locked by this worker and the lock not expired (checked in this order: 404,
    403, 409), with its instance (locked, running: else 409)."""
    _require_worker(principal)
    task = q.load(conn, task_id)
    if task is None:
        raise NotFound(f"External task {task_id} does not exist.")
    _check_topic(principal, task.topic)
    instance = queries.load_instance(conn, task.instance_id, lock=True)
    task = q.load(conn, task_id)  # as of the instance's lock: every change holds it
    if task is None or instance is None:
        raise NotFound(f"External task {task_id} does not exist.")
    if task.state != "locked":
        raise Conflict(f"External task {task_id} is {task.state}, not locked by a worker.")
    if task.worker_id != worker_id:
        raise Conflict(
            f"External task {task_id} is locked by another worker ('{task.worker_id}'), not "
            f"'{worker_id}'."
        )
    if task.lock_expires_at is None or task.lock_expires_at <= store.now():
        raise Conflict(
            f"The lock of worker '{worker_id}' on external task {task_id} expired at "
            f"{task.lock_expires_at.isoformat() if task.lock_expires_at else 'once'}; fetch it "
            "again."
        )
    if instance.status != "running":
        raise Conflict(f"Instance {instance.id} is {instance.status}; its external tasks wait.")
    return task, instance


def _event(
    conn: Connection,
    instance: InstanceRow,
    task: ExternalTask,
    kind: str,
    payload: dict[str, Any],
    *,
    actor: str,
    at: datetime,
    more: list[engine.StepEvent] | None = None,
) -> None:
    """One event (and ``more``) on the instance's chain; the instance row is saved."""
    event = engine.StepEvent(kind, task.element_id, task.name, task.id, payload)
    rows = event_rows(instance, [event, *(more or [])], conn=conn, actor=actor, at=at)
    instance.updated_at = at
    if not queries.save_instance(conn, instance):
        raise Conflict(f"Instance {instance.id} was changed concurrently; retry.")
    queries.insert_events(conn, rows)


# --- fetch and lock --------------------------------------------------------------------------


def fetch_and_lock(
    store: Store,
    principal: Principal,
    *,
    worker_id: str,
    max_tasks: int,
    topics: dict[str, int],
) -> list[LockedTask]:
    """Lock up to ``max_tasks`` tasks of the given topics (name -> lock duration in ms) for a
    worker; two workers never get the same task. Empty when nothing is fetchable."""
    _require_worker(principal)
    if not topics:
        raise InvalidInput("Name at least one topic to fetch.")
    for name in topics:
        _check_topic(principal, name)
    now = store.now()
    locked: list[LockedTask] = []
    with store.begin(write=True) as conn:
        for row in q.candidates(conn, topics, now, max_tasks * 2):
            if len(locked) >= max_tasks:
                break
            if not q.lock_instance(conn, row.instance_id):
                continue  # another transaction works on its instance: take another task
            instance = queries.load_instance(conn, row.instance_id, lock=True)
            expires = now + timedelta(milliseconds=topics[row.topic])
            if instance is None or instance.status != "running":
                continue
            if not q.take(conn, row, worker_id=worker_id, expires=expires):
                continue  # another worker took it since it was read
            task = q.load(conn, row.id)
            if task is None:
                continue
            _event(
                conn,
                instance,
                task,
                "external_task.locked",
                {
                    "topic": task.topic,
                    "worker_id": worker_id,
                    "lock_expires_at": expires.isoformat(),
                },
                actor=principal.name,
                at=now,
            )
            locked.append(
                LockedTask(
                    id=task.id,
                    topic=task.topic,
                    instance_id=task.instance_id,
                    definition_key=instance.definition_key,
                    business_key=instance.business_key,
                    element_id=task.element_id,
                    name=task.name,
                    priority=task.priority,
                    variables=dict(task.variables or {}),
                    outputs=list(task.outputs) if task.outputs is not None else None,
                    retries=task.retries,
                    error_message=task.error_message,
                    worker_id=worker_id,
                    lock_expires_at=expires,
                )
            )
    return locked


# --- complete, BPMN error --------------------------------------------------------------------


def complete(
    store: Store, principal: Principal, task_id: str, *, worker_id: str, variables: dict[str, Any]
) -> None:
    """A worker finished the task: its variables (plain JSON, only the declared outputs if the
    task declares outputs) go into the instance, which runs to its next wait state."""
    try:
        engine.check_plain_json(variables, where="variables")
    except engine.DataRejected as exc:
        raise InvalidInput(str(exc)) from None
    try:
        _advance(store, principal, task_id, worker_id, "complete", variables=variables)
    except InstanceBroken as broken:
        raise record_breakage(store, broken, actor=principal.name) from None


def bpmn_error(
    store: Store,
    principal: Principal,
    task_id: str,
    *,
    worker_id: str,
    error_code: str,
    error_message: str | None,
) -> None:
    """A worker reports a business error: the error boundary event catching ``error_code``
    takes over. 422 if nothing in the model catches it (the task stays locked)."""
    try:
        _advance(
            store, principal, task_id, worker_id, "error", code=error_code, message=error_message
        )
    except InstanceBroken as broken:
        raise record_breakage(store, broken, actor=principal.name) from None


def _advance(
    store: Store,
    principal: Principal,
    task_id: str,
    worker_id: str,
    how: str,
    *,
    variables: dict[str, Any] | None = None,
    code: str = "",
    message: str | None = None,
) -> None:
    with store.begin(write=True) as conn:
        _task, instance = _held(conn, store, principal, task_id, worker_id)
        definition = definition_by_id(store, conn, instance.definition_id)
        payload: dict[str, Any] = {"worker_id": worker_id}
        with breakage_of(instance.id, "advanced"):
            try:
                process = runnable(conn, definition, instance.state)
                if how == "complete":
                    step = engine_external.complete(
                        process, instance.state, task_id, variables or {}, payload
                    )
                else:
                    if message:
                        payload["error_message"] = message[:1000]
                    step = engine_external.throw_error(
                        process, instance.state, task_id, code, payload
                    )
            except (engine_external.VariablesRejected, engine_external.NoErrorCatcher) as exc:
                raise InvalidInput(str(exc)) from None
            except (engine.TaskNotReady, engine.TaskNotFound, engine.InstanceNotRunning) as exc:
                raise Conflict(f"External task {task_id} cannot be completed now: {exc}.") from None
        record_step(
            conn,
            instance,
            definition,
            step,
            actor=principal.name,
            at=store.now(),
            completed_task_id=task_id,
            store=store,
        )


# --- failure, retries, incidents -------------------------------------------------------------


def failure(
    store: Store,
    principal: Principal,
    task_id: str,
    *,
    worker_id: str,
    error_message: str,
    error_details: str | None,
    retries: int,
    retry_timeout_ms: int,
) -> None:
    """A worker could not do the task. With ``retries`` left it is fetchable again after
    ``retry_timeout_ms``; at 0 the instance stops with an incident (``raise_incident``)."""
    with store.begin(write=True) as conn:
        task, instance = _held(conn, store, principal, task_id, worker_id)
        now = store.now()
        retry_at = now + timedelta(milliseconds=retry_timeout_ms)
        q.save(
            conn,
            task,
            state="open" if retries > 0 else "incident",
            worker_id=None,
            lock_expires_at=None,
            fetchable_at=retry_at,
            retries=retries,
            error_message=error_message[:4000],
            error_details=error_details[:100_000] if error_details else None,
        )
        payload: dict[str, Any] = {
            "topic": task.topic,
            "worker_id": worker_id,
            "error_message": error_message[:1000],
            "retries": retries,
        }
        if retries > 0:
            payload["retry_at"] = retry_at.isoformat()
            _event(
                conn, instance, task, "external_task.failed", payload, actor=principal.name, at=now
            )
            return
        raise_incident(conn, instance, task, payload, actor=principal.name, at=now)


def raise_incident(
    conn: Connection,
    instance: InstanceRow,
    task: ExternalTask,
    failed: dict[str, Any],
    *,
    actor: str,
    at: datetime,
) -> None:
    """The one place an external task's last failure stops its instance: status failed, an
    incident naming the element, the task and the worker's message; events
    ``external_task.failed`` and ``instance.failed``. Timers and messages the instance waits
    for are kept, so that setting retries (``set_retries``) resumes it as it was."""
    message = (
        f"The external task '{task.name}' (topic '{task.topic}') failed and has no retries "
        f"left: {task.error_message}"
    )
    incident_id = str(uuid.uuid4())
    instance.status = PARKED
    instance.incident = {
        "id": incident_id,
        "element_id": task.element_id,
        "element_name": task.name,
        "message": message,
        "external_task_id": task.id,
    }
    incident_queries.insert_incident(
        conn,
        {
            "id": incident_id,
            "instance_id": instance.id,
            "definition_key": instance.definition_key,
            "definition_version": instance.definition_version,
            "element_id": task.element_id,
            "element_name": task.name[:255] or None,
            "message": message,
            "status": "open",
            "created_at": at,
        },
    )
    more = [
        engine.StepEvent(
            "instance.failed",
            task.element_id,
            task.name,
            None,
            {"message": message, "incident_id": incident_id},
        )
    ]
    _event(conn, instance, task, "external_task.failed", failed, actor=actor, at=at, more=more)


def set_retries(store: Store, principal: Principal, task_id: str, *, retries: int) -> ExternalTask:
    """An administrator gives a task more retries: it is fetchable at once, and if its last
    failure stopped the instance, the instance runs again (its incident resolved)."""
    if not principal.is_admin:
        raise Forbidden("Setting the retries of an external task needs the 'admin' role.")
    if retries < 1:
        raise InvalidInput("retries must be at least 1.")
    with store.begin(write=True) as conn:
        task = q.load(conn, task_id)
        instance = queries.load_instance(conn, task.instance_id, lock=True) if task else None
        task = q.load(conn, task_id)  # as of the instance's lock
        if task is None or instance is None:
            raise NotFound(f"External task {task_id} does not exist.")
        if task.state not in ("open", "incident"):
            raise Conflict(
                f"External task {task_id} is {task.state}; only a task waiting for a retry or "
                "stopped by an incident takes new retries."
            )
        now = store.now()
        reopen(conn, instance, task, retries, actor=principal.name, at=now)
        messages.deliver_kept(conn, store, instance, actor=principal.name, at=now)
        from powerflow.services.supervision.notices import deliver_held

        deliver_held(conn, store, instance, at=now)  # objections to its notices meanwhile
        return task


def reopen(
    conn: Connection,
    instance: InstanceRow,
    task: ExternalTask,
    retries: int,
    *,
    actor: str,
    at: datetime,
    resolution: str = "retried",
    reason: str | None = "new retries for the external task",
) -> None:
    """Inside a transaction holding the instance's lock: give the task ``retries``, fetchable at
    once; if its last failure stopped the instance (``incident.external_task_id``), the
    instance runs again with its incident resolved. One event, ``external_task.retries_set``.

    An administrator's retry of an instance whose incident names an external task should call
    this (``retry_incident``) instead of re-running the engine: the task is still waiting."""
    reopened = task.state == "incident"
    more: list[engine.StepEvent] = []
    q.save(conn, task, state="open", retries=retries, fetchable_at=at)
    if (
        reopened
        and instance.status == "failed"
        and (instance.incident or {}).get("external_task_id") == task.id
    ):
        instance.status = "running"
        instance.incident = None
        instance.ended_at = None
        more = IncidentLog(conn, instance, at=at, actor=actor).resolved(resolution, reason)
    _event(
        conn,
        instance,
        task,
        "external_task.retries_set",
        {"topic": task.topic, "retries": retries, "incident_resolved": reopened},
        actor=actor,
        at=at,
        more=more,
    )


def retry_incident(
    conn: Connection,
    instance: InstanceRow,
    *,
    retries: int,
    actor: str,
    at: datetime,
    reason: str | None = None,
) -> bool:
    """If the instance's incident is an external task's last failure, reopen that task with
    ``retries`` (see ``reopen``) and return True; else change nothing and return False."""
    task_id = (instance.incident or {}).get("external_task_id")
    task = q.load(conn, task_id) if task_id else None
    if task is None or task.state != "incident":
        return False
    reopen(conn, instance, task, retries, actor=actor, at=at, reason=reason)
    return True


# --- extend lock, list -----------------------------------------------------------------------


def extend_lock(
    store: Store, principal: Principal, task_id: str, *, worker_id: str, new_duration_ms: int
) -> None:
    """The worker holding the lock keeps it ``new_duration_ms`` from now."""
    with store.begin(write=True) as conn:
        task, _instance = _held(conn, store, principal, task_id, worker_id)
        expires = store.now() + timedelta(milliseconds=new_duration_ms)
        q.save(conn, task, lock_expires_at=expires, fetchable_at=expires)


def list_external(
    store: Store,
    principal: Principal,
    *,
    topic: str | None,
    state: str | None,
    instance_id: str | None,
    worker_id: str | None,
    limit: int,
    offset: int,
) -> tuple[list[ExternalTask], bool]:
    """External tasks for monitoring (monitors, auditors, administrators: all; workers: those
    of their topics), oldest first; without the variables (they are the instance's data)."""
    if principal.has(*MONITOR_ROLES):
        topics = None
    elif principal.has(WORKER_ROLE):
        topics = _allowed_topics(principal)
    else:
        raise Forbidden(
            "Listing external tasks needs the 'worker', 'monitor', 'auditor' or 'admin' role."
        )
    if state is not None and state not in STATES:
        raise InvalidInput(f"state must be one of: {', '.join(STATES)}.")
    with store.begin(write=False) as conn:
        rows = q.page(
            conn,
            topics=topics,
            topic=topic,
            state=state,
            instance_id=instance_id,
            worker_id=worker_id,
            limit=limit + 1,
            offset=offset,
        )
    return rows[:limit], len(rows) > limit
