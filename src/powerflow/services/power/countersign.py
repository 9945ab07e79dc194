"""Countersignature (会签/复核) of a high-risk link's completion.

A task whose risk point names a ``countersign`` role is completed in two acts:

1. The person completing it (``POST /v1/tasks/{id}/complete``) passes every check of a normal
   completion (role, state, form, the policy with its rules); the engine does not run. The
   task row goes to ``awaiting_countersign`` and what they submitted is stored
   (``task_countersigns``); event ``task.countersign_requested``.
2. A different person holding the countersign role decides
   (``POST /v1/tasks/{id}/countersign``): ``approve`` completes the task now with the stored
   data, in one transaction and through the same path as a direct completion
   (``services/tasks.advance``): events ``task.countersigned``, then ``task.completed`` with
   the first person as actor and ``countersigned_by``. ``refuse`` (with a comment) makes the
   task ready again; event ``task.countersign_refused``.

The rules ran at the first act; the violations they found were recorded then, the cumulative
ledger rows of the completion are written only when it is approved.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from powerflow import engine
from powerflow.db import countersign_queries as cq
from powerflow.db import queries
from powerflow.db.engine import Store
from powerflow.db.queries import InstanceRow, TaskRow
from powerflow.services.auth import Principal
from powerflow.services.calls import bound_definition
from powerflow.services.definitions import definition_by_id, runnable
from powerflow.services.errors import Conflict, Forbidden, InvalidInput, RuleViolated
from powerflow.services.events import event_rows
from powerflow.services.forms import check_task_data
from powerflow.services.incidents import InstanceBroken, record_breakage
from powerflow.services.power import policy
from powerflow.services.power.risk import countersign_role
from powerflow.services.steps import instance_view
from powerflow.services.tasks import DataCheck, advance, data_check, may_see
from powerflow.services.views import DefinitionView, InstanceView
from powerflow.services.visibility import may_see_instance_id, missing_task, task_not_found

DECISIONS = ("approve", "refuse")


def request(
    store: Store,
    conn: Connection,
    principal: Principal,
    task: TaskRow,
    instance: InstanceRow,
    definition: DefinitionView,
    data: dict[str, Any],
    comment: str | None,
    role: str | None,
    outcome: policy.Outcome,
    *,
    check: DataCheck,
) -> InstanceView:
    """Store a completion that passed every check for its countersignature; the engine waits."""
    if check is not None:  # a required field left out: it must be prefilled, checked now
        process = runnable(conn, definition, instance.state)
        current = next(
            (v.data for v in engine.open_tasks(process, instance.state) if v.id == task.id), {}
        )
        check_task_data(definition.catalog, task.element_id, data, current or {})
    now = store.now()
    countersign = str(outcome.countersign)
    if not cq.set_task_state(conn, task.id, old="ready", new=cq.AWAITING):
        raise Conflict(f"Task '{task.name}' was changed concurrently; retry.")
    countersign_id = cq.add(
        conn,
        {
            "task_id": task.id,
            "instance_id": instance.id,
            "role": countersign,
            "state": "pending",
            "data": data,
            "comment": comment,
            "requested_by": principal.name,
            "requested_role": role,
            "requested_at": now,
            "ledger": policy.held_ledger(outcome),
        },
    )
    policy.record(conn, instance, outcome, at=now, hold_ledger=True)
    event = engine.StepEvent(
        "task.countersign_requested",
        task.element_id,
        task.name,
        task.id,
        {
            "countersign_id": countersign_id,
            "countersign_role": countersign,
            "data": data,
            "comment": comment,
            "role": role,
        },
    )
    _append(conn, instance, [event], actor=principal.name, at=now)
    return instance_view(instance, definition, queries.open_tasks(conn, instance.id), now)


def _append(
    conn: Connection, instance: InstanceRow, events: list[engine.StepEvent], *, actor: str, at: Any
) -> None:
    rows = event_rows(instance, events, conn=conn, actor=actor, at=at)
    instance.updated_at = at
    if not queries.save_instance(conn, instance):
        raise Conflict(f"Instance {instance.id} was changed concurrently; retry.")
    queries.insert_events(conn, rows)


def decide(
    store: Store, principal: Principal, task_id: str, decision: str, comment: str | None
) -> InstanceView:
    """Approve or refuse the completion waiting for the caller's countersignature.

    404: unknown task, or one the caller may not see. 409: the task needs no countersignature,
    or no completion of it is waiting (never completed, already decided, or raced). 403: the
    caller lacks the countersign role, or submitted the completion themselves. 422: a refusal
    without a comment.
    """
    if decision not in DECISIONS:
        raise InvalidInput(f"decision must be one of: {', '.join(DECISIONS)}.")
    comment = (comment or "").strip() or None
    try:
        return _decide(store, principal, task_id, decision, comment)
    except InstanceBroken as broken:
        raise record_breakage(store, broken, actor=principal.name) from None
    except RuleViolated as exc:  # the approval rolled back; the attempt is recorded on its own
        policy.record_blocked(store, exc)
        raise


def _decide(
    store: Store, principal: Principal, task_id: str, decision: str, comment: str | None
) -> InstanceView:
    with store.begin(write=True) as conn:
        task, instance = queries.load_task_and_instance(conn, task_id)
        if task is None or instance is None:
            raise missing_task(conn, principal, task_id)
        last = cq.latest(conn, task.id)
        waiting = last if last and last["state"] == "pending" else None
        if task.state != cq.AWAITING:
            waiting = None  # the task was closed while it waited (instance cancelled, ...)
        definition = definition_by_id(store, conn, instance.definition_id)
        definition = bound_definition(conn, definition, instance.state, instance.id)
        role = str(last["role"]) if last else countersign_role(definition, task.element_id)
        if not (
            may_see(principal, list(task.roles))
            or (last is not None and principal.has(str(last["role"])))  # its countersigners
            or may_see_instance_id(conn, principal, task.instance_id)
        ):
            raise task_not_found(task_id)
        if role is None:
            raise Conflict(f"Task '{task.name}' needs no countersignature (its model asks none).")
        if waiting is None:
            raise Conflict(
                f"Task '{task.name}' is {task.state}: no completion of it is waiting for a "
                "countersignature."
            )
        if not principal.has(role):
            raise Forbidden(
                f"Task '{task.name}' can only be countersigned by someone with the role: {role}."
            )
        if principal.name == waiting["requested_by"]:
            raise Forbidden(
                f"You completed task '{task.name}' yourself; a second person holding the role "
                f"{role} must countersign it."
            )
        if instance.status != "running":
            raise Conflict(
                f"Instance {instance.id} is {instance.status}; its tasks cannot be countersigned."
            )
        if decision == "refuse" and comment is None:
            raise InvalidInput(
                "A refusal needs a comment saying why, for the person who submitted."
            )
        now = store.now()
        if decision == "approve":  # the countersigner takes part: who-acts rules hold them too
            held = policy.check_countersigner(
                store,
                conn,
                principal=principal,
                definition=definition,
                task=task,
                instance=instance,
                submitted=dict(waiting["data"] or {}),
            )
            policy.record(conn, instance, held, at=now)
        state = "approved" if decision == "approve" else "refused"
        if not cq.decide(
            conn, int(waiting["id"]), state=state, by=principal.name, at=now, comment=comment
        ):
            raise Conflict(f"Task '{task.name}' was countersigned or refused meanwhile.")
        common = {
            "countersign_id": int(waiting["id"]),
            "countersign_role": role,
            "requested_by": str(waiting["requested_by"]),
            "comment": comment,
        }
        if decision == "refuse":
            if not cq.set_task_state(conn, task.id, old=cq.AWAITING, new="ready"):
                raise Conflict(f"Task '{task.name}' was changed concurrently; retry.")
            event = engine.StepEvent(
                "task.countersign_refused", task.element_id, task.name, task.id, common
            )
            _append(conn, instance, [event], actor=principal.name, at=now)
            return instance_view(instance, definition, queries.open_tasks(conn, instance.id), now)
        signed = engine.StepEvent("task.countersigned", task.element_id, task.name, task.id, common)
        queries.insert_events(
            conn, event_rows(instance, [signed], conn=conn, actor=principal.name, at=now)
        )
        data = dict(waiting["data"] or {})
        completed: dict[str, Any] = {
            "role": waiting["requested_role"],
            "countersigned_by": principal.name,
        }
        if waiting["comment"]:
            completed["comment"] = waiting["comment"]
        return advance(
            store,
            conn,
            task,
            instance,
            definition,
            data,
            check=data_check(definition.catalog, task.element_id, data),
            actor=str(waiting["requested_by"]),
            completed=completed,
            ledger=list(waiting["ledger"] or []),
        )
