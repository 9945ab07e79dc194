"""Public notices (公示): published when a ``pf:notice`` element starts, holding back the step
after it until the period has passed (R17), and taking objections from the public meanwhile.

- ``after_step`` runs inside the transaction that records a step (``services/steps.py``): a
  notice element that started (its human task opened, or its automatic task ran) publishes a
  notice row with a snapshot of its fields and ``ends_at`` from the business calendar
  (``notice.published``); a notice of the instance whose period has passed is closed at the
  instance's next step (``notice.closed``). Nothing runs for a process without notices.
- ``blocked_elements`` tells the policy which human tasks follow a notice; the R17 check
  (``notice_period``) refuses their completion while a notice of the instance is open.
- ``object_to`` stores an objection (at most ``POWERFLOW_NOTICE_MAX_OBJECTIONS`` per notice),
  records ``notice.objection_received`` on the instance and delivers the notice's objection
  message to it (services/messages.py), its payload under the one name
  ``engine.OBJECTION_PAYLOAD``. An objection raised while the instance takes no message
  (suspended, or parked at an incident) is held, and ``deliver_held`` delivers it when the
  instance runs again (resume, retry, skip, move, new retries of an external task), once.
- ``ended`` withdraws the open notices of a cancelled instance (``notice.withdrawn``); a case
  that ends (cancelled, or run to its end by a recovery or a delivery) lets the objections
  held for it go (``let_go``: no longer held, not delivered, ``notice.objections_undelivered``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, func, insert, select, update

from powerflow.db.engine import Store
from powerflow.db.models import Notice, NoticeObjection
from powerflow.db.queries import InstanceRow, TaskRow, load_instance
from powerflow.engine import OBJECTION_PAYLOAD, StepEvent, StepResult
from powerflow.services.auth import Principal
from powerflow.services.errors import Conflict, Forbidden, NotFound
from powerflow.services.events import SYSTEM_ACTOR
from powerflow.services.incidents import PARKED
from powerflow.services.power.calendar import calendar_for
from powerflow.services.views import DefinitionView

RULE_ID = "R17"
KIND = "notice-period"
HUMAN_TAGS = ("userTask", "manualTask", "task")
READ_ROLES = ("monitor", "auditor", "admin")
TEXT_LIMIT = 4000
NAME_LIMIT = 100
CONTACT_LIMIT = 255
WITHDRAWN = ("cancelled",)
"""Statuses of a case whose open notices are withdrawn: they take no objections any more. A
case that completes during a notice's period leaves the notice running (a notice may announce
the case's result): its objections are recorded, with nothing to deliver them to."""
ENDED = ("completed", "cancelled")
"""Statuses of a case that ended: objections held for it are let go (``let_go``)."""
STOPPED = ("suspended", PARKED)
"""Statuses of a case that takes no message now: objections to its notices are held."""
_NOTICES = cast(Table, Notice.__table__)
_OBJECTIONS = cast(Table, NoticeObjection.__table__)


def state(row: Any, now: datetime) -> str:
    """A notice's state: ``open`` during its period, ``closed`` after it, ``withdrawn`` when
    its case was cancelled during the period."""
    if row.withdrawn_at is not None:
        return "withdrawn"
    return "open" if now < _aware(row.ends_at) else "closed"


def payload(notice_id: int, objection_id: int, text: str) -> dict[str, Any]:
    """The objection message's payload: one name, which the model may not declare itself
    (engine/reserved.py), so it replaces none of the model's own data."""
    return {OBJECTION_PAYLOAD: {"notice_id": notice_id, "objection_id": objection_id, "text": text}}


def notice_elements(store: Store, definition: DefinitionView) -> dict[str, dict[str, Any]]:
    """The elements of a definition that publish a notice, with their ``pf:notice``
    (cached with the definition: empty for most processes)."""
    key = ("notices", definition.id)
    hit = store.immutable_cache.get(key)
    if isinstance(hit, dict):
        return hit
    found = {
        element_id: {**element["metadata"]["notice"], "name": element.get("name") or element_id}
        for element_id, element in (definition.catalog.get("elements") or {}).items()
        if (element.get("metadata") or {}).get("notice")
    }
    store.immutable_cache[key] = found
    return found


def blocked_elements(catalog: dict[str, Any]) -> dict[str, list[str]]:
    """Human task -> the notice elements it follows: the first human tasks reached from each
    notice element along sequence flows (through gateways, events and automatic tasks)."""
    elements: dict[str, Any] = catalog.get("elements") or {}
    notices = [k for k, e in elements.items() if (e.get("metadata") or {}).get("notice")]
    if not notices:
        return {}
    outgoing: dict[str, list[str]] = {}
    for flow in catalog.get("flows") or {}:
        source, _, target = flow.partition("->")
        outgoing.setdefault(source, []).append(target)
    blocked: dict[str, list[str]] = {}
    for notice in notices:
        seen: set[str] = set()
        stack = [notice]
        while stack:
            for target in outgoing.get(stack.pop(), ()):
                if target in seen:
                    continue
                seen.add(target)
                if (elements.get(target) or {}).get("tag") in HUMAN_TAGS:
                    blocked.setdefault(target, []).append(notice)
                else:
                    stack.append(target)
    return blocked


def rule_message(notice: dict[str, Any]) -> str:
    """The sentence a refused completion answers with."""
    days = " working" if notice.get("calendar") == "working" else ""
    return (
        f"The public notice '{notice.get('title') or notice.get('name')}' ({notice['period']},"
        f"{days} calendar) has not ended yet: this step may be completed only after the notice "
        "period has passed (see the evidence's ends_at)."
    )


def notice_period(rule: Any, facts: Any) -> dict[str, Any] | None:
    """R17: an open notice of the instance, published by an element this task follows."""
    row = facts.conn.execute(
        select(_NOTICES.c.id, _NOTICES.c.ends_at, _NOTICES.c.element_id)
        .where(
            _NOTICES.c.instance_id == facts.instance.id,
            _NOTICES.c.element_id.in_(list(rule.params["notices"])),
            _NOTICES.c.ends_at > facts.now,
        )
        .order_by(_NOTICES.c.ends_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return {
        "notice_id": int(row.id),
        "notice_element_id": row.element_id,
        "ends_at": _aware(row.ends_at).isoformat(),
    }


# ----------------------------------------------------------------- the step hook


def after_step(
    conn: Connection,
    store: Store | None,
    instance: InstanceRow,
    definition: DefinitionView,
    step: StepResult,
    new_tasks: list[TaskRow],
    at: datetime,
) -> list[StepEvent]:
    """Publish the notices of elements that started in this step, close those whose period
    has passed; the events to record with the step (none for a process without notices)."""
    if store is None:
        return []
    if step.status in WITHDRAWN:  # looked up whatever the version: cancelling is rare
        return ended(conn, instance.id, at)
    spec = notice_elements(store, definition)
    if not spec:
        return []
    events = _close_due(conn, instance.id, at)
    started: list[tuple[str, str, str | None]] = [
        (t.element_id, t.name, t.id) for t in new_tasks if t.element_id in spec
    ]
    started += [
        (e.element_id, e.element_name or e.element_id, e.task_id)
        for e in step.events
        if e.type == "task.completed" and e.payload.get("automatic") and e.element_id in spec
    ]
    if not started:
        return events
    calendar = calendar_for(store, conn)
    data = instance.data or {}
    for element_id, name, task_id in started:
        notice = spec[element_id]
        fields = {f: data[f] for f in notice["fields"] if f in data}
        working = notice["calendar"] == "working"
        ends_at = calendar.add(at, notice["period"], working=working)
        notice_id = conn.execute(
            insert(_NOTICES).returning(_NOTICES.c.id),
            {
                "instance_id": instance.id,
                "definition_key": instance.definition_key,
                "element_id": element_id,
                "title": (notice.get("title") or name)[:255],
                "fields": fields,
                "objection_message": notice.get("objection_message"),
                "published_at": at,
                "ends_at": ends_at,
                "closed_at": None,
            },
        ).scalar_one()
        events.append(
            StepEvent(
                "notice.published",
                element_id,
                name,
                task_id,
                {"notice_id": int(notice_id), "fields": fields, "ends_at": ends_at.isoformat()},
            )
        )
    return events


def _close_due(conn: Connection, instance_id: str, at: datetime) -> list[StepEvent]:
    rows = conn.execute(
        select(_NOTICES.c.id, _NOTICES.c.ends_at, _NOTICES.c.element_id, _NOTICES.c.title).where(
            _NOTICES.c.instance_id == instance_id,
            _NOTICES.c.ends_at <= at,
            _NOTICES.c.closed_at.is_(None),
        )
    ).all()
    events: list[StepEvent] = []
    for row in rows:
        count = conn.execute(
            select(func.count()).where(_OBJECTIONS.c.notice_id == row.id)
        ).scalar_one()
        conn.execute(update(_NOTICES).where(_NOTICES.c.id == row.id).values(closed_at=at))
        events.append(
            StepEvent(
                "notice.closed",
                row.element_id,
                row.title,
                None,
                {
                    "notice_id": int(row.id),
                    "ends_at": _aware(row.ends_at).isoformat(),
                    "objections": int(count),
                },
            )
        )
    return events


def let_go(conn: Connection, instance_id: str, reason: str) -> list[StepEvent]:
    """The case ended (``reason``: ``instance_cancelled`` or ``instance_completed``) while
    objections to its notices were held for it: they will never reach it. They are no longer
    held (nor delivered), and ``notice.objections_undelivered`` records which, per notice. One
    statement when none is held."""
    held = conn.execute(
        select(_OBJECTIONS.c.id, _NOTICES.c.id.label("notice_id"))
        .add_columns(_NOTICES.c.element_id, _NOTICES.c.title)
        .join(_NOTICES, _NOTICES.c.id == _OBJECTIONS.c.notice_id)
        .where(_NOTICES.c.instance_id == instance_id, _OBJECTIONS.c.held.is_(True))
        .order_by(_NOTICES.c.id, _OBJECTIONS.c.id)
    ).all()
    if not held:
        return []
    conn.execute(
        update(_OBJECTIONS)
        .where(_OBJECTIONS.c.id.in_([int(r.id) for r in held]))
        .values(held=False)
    )
    by_notice: dict[int, list[Any]] = {}
    for row in held:
        by_notice.setdefault(int(row.notice_id), []).append(row)
    return [
        StepEvent(
            "notice.objections_undelivered",
            rows[0].element_id,
            rows[0].title,
            None,
            {"notice_id": notice_id, "objection_ids": [int(r.id) for r in rows], "reason": reason},
        )
        for notice_id, rows in by_notice.items()
    ]


def ended(conn: Connection, instance_id: str, at: datetime) -> list[StepEvent]:
    """The instance was cancelled: its notices whose period has passed are closed, those still
    open are withdrawn (no longer open, no more objections; ``notice.withdrawn``). Objections
    held for the instance, to any of its notices, will never reach it: ``let_go``."""
    events = _close_due(conn, instance_id, at)
    rows = conn.execute(
        select(_NOTICES.c.id, _NOTICES.c.ends_at, _NOTICES.c.element_id, _NOTICES.c.title).where(
            _NOTICES.c.instance_id == instance_id,
            _NOTICES.c.ends_at > at,
            _NOTICES.c.closed_at.is_(None),
        )
    ).all()
    for row in rows:
        count = conn.execute(
            select(func.count()).where(_OBJECTIONS.c.notice_id == row.id)
        ).scalar_one()
        conn.execute(
            update(_NOTICES).where(_NOTICES.c.id == row.id).values(withdrawn_at=at, closed_at=at)
        )
        events.append(
            StepEvent(
                "notice.withdrawn",
                row.element_id,
                row.title,
                None,
                {
                    "notice_id": int(row.id),
                    "ends_at": _aware(row.ends_at).isoformat(),
                    "objections": int(count),
                    "reason": "instance_cancelled",
                },
            )
        )
    return events + let_go(conn, instance_id, "instance_cancelled")


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


# ----------------------------------------------------------------- objections


def object_to(
    store: Store,
    notice_id: int,
    *,
    text: str,
    name: str | None,
    contact: str | None,
    disclosed: Any,
) -> dict[str, Any]:
    """Store an objection raised during the notice's period, record it on the instance and
    deliver the notice's objection message (held while the instance takes no message).
    ``disclosed(conn, notice_row)`` says whether the notice is public (else NotFound, as for an
    unknown id)."""
    from powerflow.services.messages import append_event, deliver_to_instance

    with store.begin(write=True) as conn:
        row = conn.execute(select(_NOTICES).where(_NOTICES.c.id == notice_id)).first()
        if row is None or not disclosed(conn, row):
            raise NotFound("There is no public notice with this id.")
        # serialized with a cancellation and with the other objections to the instance's notices
        case = load_instance(conn, row.instance_id, lock=True)
        row = conn.execute(select(_NOTICES).where(_NOTICES.c.id == notice_id)).one()
        now = store.now()
        if row.withdrawn_at is not None or case is None or case.status in WITHDRAWN:
            raise Conflict(
                "This notice was withdrawn when the case it belongs to was cancelled: "
                "objections are no longer accepted."
            )
        ends_at = _aware(row.ends_at)
        if now >= ends_at:
            raise Conflict(
                f"The notice period ended at {ends_at.isoformat()}: objections are no longer "
                "accepted."
            )
        limit = store.notice_max_objections
        count = conn.execute(
            select(func.count()).where(_OBJECTIONS.c.notice_id == notice_id)
        ).scalar_one()
        if count >= limit:
            raise Conflict(
                f"This notice has received {limit} objections, the most one notice takes here "
                "(POWERFLOW_NOTICE_MAX_OBJECTIONS): no more are accepted on this page. Please "
                "raise yours with the office through its other channels (letter, telephone or "
                "its reporting platform)."
            )
        held = bool(row.objection_message) and case.status in STOPPED
        objection_id = int(
            conn.execute(
                insert(_OBJECTIONS).returning(_OBJECTIONS.c.id),
                {
                    "notice_id": notice_id,
                    "text": text,
                    "name": name,
                    "contact": contact,
                    "delivered": False,
                    "held": held,
                    "received_at": now,
                },
            ).scalar_one()
        )
        delivered = False
        if row.objection_message and not held:
            delivered = deliver_to_instance(
                conn,
                store,
                row.instance_id,
                row.objection_message,
                payload(notice_id, objection_id, text),
                actor=SYSTEM_ACTOR,
                at=now,
            )
            if delivered:
                conn.execute(
                    update(_OBJECTIONS)
                    .where(_OBJECTIONS.c.id == objection_id)
                    .values(delivered=True)
                )
        append_event(
            conn,
            row.instance_id,
            "notice.objection_received",
            {
                "notice_id": notice_id,
                "objection_id": objection_id,
                "text": text,
                "delivered": delivered,
            },
            actor=SYSTEM_ACTOR,
            at=now,
        )
        return {
            "id": objection_id,
            "notice_id": notice_id,
            "received_at": now,
            "delivered": delivered,
        }


def objections(store: Store, principal: Principal, notice_id: int) -> list[dict[str, Any]]:
    """A notice's objections with the objectors' names and contacts (supervisors only)."""
    if not principal.has(*READ_ROLES):
        raise Forbidden("Reading objections needs the monitor, auditor or admin role.")
    with store.begin(write=False) as conn:
        found = conn.execute(select(_NOTICES.c.id).where(_NOTICES.c.id == notice_id)).first()
        if found is None:
            raise NotFound("There is no notice with this id.")
        rows = conn.execute(
            select(_OBJECTIONS)
            .where(_OBJECTIONS.c.notice_id == notice_id)
            .order_by(_OBJECTIONS.c.id)
        ).all()
    return [
        {
            "id": int(r.id),
            "notice_id": int(r.notice_id),
            "text": r.text,
            "name": r.name,
            "contact": r.contact,
            "delivered": bool(r.delivered),
            "held": bool(r.held),
            "received_at": _aware(r.received_at),
        }
        for r in rows
    ]


def deliver_held(conn: Connection, store: Store, instance: InstanceRow, *, at: datetime) -> bool:
    """The instance runs again (resumed, or recovered from an incident): deliver, oldest first,
    the objections held for it as their notices' objection messages, each once (no longer held
    afterwards, delivered or not: a catch that no longer waits does not get it later either).
    True when one was delivered; the row is then refreshed in place. One statement when none is
    held; nothing while the instance still takes no message."""
    from powerflow.services.messages import append_event, deliver_to_instance

    if instance.status != "running":
        return False
    held = conn.execute(
        select(_OBJECTIONS.c.id, _OBJECTIONS.c.text, _NOTICES.c.id.label("notice_id"))
        .add_columns(_NOTICES.c.objection_message)
        .join(_NOTICES, _NOTICES.c.id == _OBJECTIONS.c.notice_id)
        .where(_NOTICES.c.instance_id == instance.id, _OBJECTIONS.c.held.is_(True))
        .order_by(_OBJECTIONS.c.id)
    ).all()
    fresh: InstanceRow | None = None
    not_waiting: set[str] = set()  # messages the instance did not take: until one is delivered
    for row in held:
        delivered = False
        if row.objection_message and row.objection_message not in not_waiting:
            delivered = deliver_to_instance(
                conn,
                store,
                instance.id,
                row.objection_message,
                payload(int(row.notice_id), int(row.id), row.text),
                actor=SYSTEM_ACTOR,
                at=at,
            )
            if delivered:
                not_waiting.clear()
                fresh = load_instance(conn, instance.id, lock=False)
            else:
                not_waiting.add(row.objection_message)
        conn.execute(
            update(_OBJECTIONS)
            .where(_OBJECTIONS.c.id == row.id)
            .values(held=False, delivered=delivered)
        )
        if fresh is not None and fresh.status in STOPPED:
            break  # the delivery parked it at an incident: the rest stay held for its recovery
        if fresh is not None and fresh.status in ENDED:
            break  # the delivery ran it to its end: the rest can reach nothing
    if fresh is not None and fresh.status in ENDED:
        reason = f"instance_{fresh.status}"
        for ev in let_go(conn, instance.id, reason):
            element = (ev.element_id, ev.element_name)
            append_event(
                conn, instance.id, ev.type, ev.payload, actor=SYSTEM_ACTOR, at=at, element=element
            )
        fresh = load_instance(conn, instance.id, lock=False)
    if fresh is not None:
        instance.__dict__.update(fresh.__dict__)
    return fresh is not None
