"""Who may see a process instance: the people involved in it, and those who supervise.

The one rule behind every read of an instance, its data, tasks, events and audit trail. An
instance is visible to:

- monitors, auditors and administrators (every instance);
- its starter (``instances.started_by``);
- whoever holds a role of one of its tasks, past or present (``task_roles``); a task that names
  no role is open to every clerk, so every clerk holds it;
- whoever holds the countersign role of one of its completions, once that completion was
  submitted for countersignature (``task_countersigns.role``, pending or decided): the second
  person decides on the case, so they see it whole, as the first did;
- whoever acted on it: the actor of any of its events (starting, claiming, releasing,
  completing, delivering a message, cancelling). Claims and completions are always recorded as
  events, so this covers a task's ``assignee`` and ``completed_by`` too.

Nobody else learns that the instance exists: a single instance answers the same "does not
exist" as an unknown id, and lists leave it out. A holder of the role of a task that does not
exist yet sees nothing until that task is created; from then on, the instance's whole history.

Lists filter with ``visible_instances_clause`` (correlated EXISTS, part of the page's one
statement); a single instance is checked with ``may_see_instance`` (no statement at all for
supervisors and the starter, one indexed statement otherwise).
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    Table,
    exists,
    false,
    literal,
    or_,
    select,
)

from powerflow.db import archive_queries
from powerflow.db.models import Event, Instance, Task, TaskCountersign, TaskRole
from powerflow.services.auth import Principal
from powerflow.services.errors import DomainError, Forbidden, Gone, NotFound
from powerflow.services.events import MACHINE_ACTORS

SEE_ALL_ROLES = ("admin", "monitor", "auditor")
"""Roles that see every instance (read only unless another rule lets them act)."""

FEED_ROLES = ("admin", "monitor")
"""Roles that read the event feed of every instance: the global list, stream and webhooks."""


_TASKS = cast(Table, Task.__table__)
_TASK_ROLES = cast(Table, TaskRole.__table__)
_EVENTS = cast(Table, Event.__table__)
_INSTANCES = cast(Table, Instance.__table__)
_COUNTERSIGNS = cast(Table, TaskCountersign.__table__)


def sees_everything(principal: Principal) -> bool:
    """Whether the caller sees every instance (monitor, auditor, admin)."""
    return principal.has(*SEE_ALL_ROLES)


def _involvement(principal: Principal, instance_id: Any) -> ColumnElement[bool]:
    """True when the caller holds a role of a task of the instance or acted on it.

    ``instance_id`` is a column (correlated, for lists) or a literal (one instance). Each branch
    is one index probe: ``task_roles(role, task_id)`` after ``tasks(instance_id, ...)``,
    ``task_countersigns(instance_id, role)`` and ``events(actor, instance_id)``.
    """
    # Aliases, so that a list over ``tasks`` itself is not correlated into these subqueries.
    t = _TASKS.alias("pf_vis_task").c
    r = _TASK_ROLES.alias("pf_vis_role").c
    e = _EVENTS.c
    branches: list[ColumnElement[bool]] = []
    if principal.roles:
        branches.append(
            exists()
            .where(t.instance_id == instance_id)
            .where(r.task_id == t.id, r.role.in_(sorted(principal.roles)))
        )
        c = _COUNTERSIGNS.alias("pf_vis_countersign").c
        branches.append(
            exists().where(c.instance_id == instance_id, c.role.in_(sorted(principal.roles)))
        )
    if principal.has("clerk"):
        branches.append(
            exists().where(t.instance_id == instance_id).where(~exists().where(r.task_id == t.id))
        )
    if principal.name not in MACHINE_ACTORS:
        branches.append(exists().where(e.actor == principal.name, e.instance_id == instance_id))
    return or_(*branches) if branches else false()


def visible_instances_clause(principal: Principal) -> ColumnElement[bool] | None:
    """A WHERE clause over ``instances`` keeping the ones the caller may see; None: all."""
    if sees_everything(principal):
        return None
    i = _INSTANCES.c
    return or_(i.started_by == principal.name, _involvement(principal, i.id))


def visible_tasks_clause(principal: Principal) -> ColumnElement[bool] | None:
    """A WHERE clause over ``tasks`` keeping those of instances the caller may see; None: all."""
    if sees_everything(principal):
        return None
    i, t = _INSTANCES.c, _TASKS.c
    started = exists().where(i.id == t.instance_id, i.started_by == principal.name)
    return or_(started, _involvement(principal, t.instance_id))


def may_see_instance(
    conn: Connection, principal: Principal, instance_id: str, started_by: str
) -> bool:
    """Whether the caller may see this (existing) instance.

    Supervisors and the starter cost nothing; anyone else one statement of index probes.
    """
    if sees_everything(principal) or started_by == principal.name:
        return True
    query = select(literal(1)).where(_involvement(principal, literal(instance_id)))
    return conn.execute(query).first() is not None


def may_see_instance_id(conn: Connection, principal: Principal, instance_id: str) -> bool:
    """Whether the caller may see the instance with this id, without its row at hand (one
    statement; False for an unknown id unless the caller sees everything)."""
    if sees_everything(principal):
        return True
    i = _INSTANCES.c
    started = exists().where(i.id == instance_id, i.started_by == principal.name)
    query = select(literal(1)).where(or_(started, _involvement(principal, literal(instance_id))))
    return conn.execute(query).first() is not None


def instance_not_found(instance_id: str) -> NotFound:
    """The answer for an unknown instance and for one the caller may not see: the same."""
    return NotFound(f"Instance {instance_id} does not exist.")


def task_not_found(task_id: str) -> NotFound:
    """The answer for an unknown task and for one of an instance the caller may not see."""
    return NotFound(f"Task {task_id} does not exist.")


def check_instance(
    conn: Connection, principal: Principal, instance_id: str, started_by: str | None
) -> None:
    """NotFound unless the instance exists (``started_by`` given) and the caller may see it;
    Gone for an archived instance the caller may see."""
    if started_by is None:
        raise missing_instance(conn, principal, instance_id)
    if not may_see_instance(conn, principal, instance_id, started_by):
        raise instance_not_found(instance_id)


# ---------------------------------------------------------------------- archived instances


def may_see_archived(conn: Connection, principal: Principal, row: RowMapping) -> bool:
    """The same rule over an archived instance (``archived_instances`` row with its record):
    supervisors, the starter, holders of a role of one of its tasks (every clerk for a task
    without a role) or of its countersign roles, and whoever acted on it."""
    if sees_everything(principal) or row["started_by"] == principal.name:
        return True
    record = row["record"]
    roles = {str(r["role"]) for r in record.get("task_roles", [])}
    roles |= {str(c["role"]) for c in record.get("countersigns", [])}
    if roles & principal.roles:
        return True
    with_role = {str(r["task_id"]) for r in record.get("task_roles", [])}
    if principal.has("clerk") and any(t["id"] not in with_role for t in record.get("tasks", [])):
        return True
    if principal.name in MACHINE_ACTORS:
        return False
    return archive_queries.acted_on_archived(conn, str(row["id"]), principal.name)


def _archived_answer(
    conn: Connection, principal: Principal, instance_id: str, what: str
) -> DomainError | None:
    row = archive_queries.archived_instance(conn, instance_id)
    if row is None or not may_see_archived(conn, principal, row):
        return None
    where = f"/v1/archive/instances/{instance_id}"
    return Gone(
        f"{what} archived on {row['archived_at']:%Y-%m-%d} ({row['status']} on "
        f"{row['ended_at']:%Y-%m-%d}): it is read-only now; read its record, events and "
        f"proofs at GET {where}.",
        instance_id=instance_id,
        archive=where,
    )


def missing_instance(conn: Connection, principal: Principal, instance_id: str) -> DomainError:
    """The answer for an instance that is not in the live table: Gone, naming where to read
    it, for an archived instance the caller may see; NotFound otherwise."""
    gone = _archived_answer(conn, principal, instance_id, f"Instance {instance_id} was")
    return gone or instance_not_found(instance_id)


def missing_task(conn: Connection, principal: Principal, task_id: str) -> DomainError:
    """The answer for a task that is not in the live table: Gone for a task of an archived
    instance the caller may see; NotFound otherwise."""
    instance_id = archive_queries.archived_task_instance(conn, task_id)
    if instance_id is not None:
        what = f"Task {task_id} belongs to instance {instance_id}, which was"
        gone = _archived_answer(conn, principal, instance_id, what)
        if gone is not None:
            return gone
    return task_not_found(task_id)


def check_feed_reader(principal: Principal) -> None:
    """Forbidden unless the caller may read the events of every instance."""
    if not principal.has(*FEED_ROLES):
        raise Forbidden(
            "Reading the events of every instance needs the 'monitor' or 'admin' role; the "
            "events of an instance you are involved in are at /v1/instances/{id}/events."
        )
