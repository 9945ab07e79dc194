"""Public notices (公示): published when a ``pf:notice`` element starts, holding back the step
after it until the period has passed (R17), and taking objections from the public meanwhile.

- ``after_step`` runs inside the transaction that records a step (``services/steps.py``): a
  notice element that started (its human task opened, or its automatic task ran) publishes a
  notice row with a snapshot of its fields and ``ends_at`` from the business calendar
  (``notice.published``); a notice of the instance whose period has passed is closed at the
  instance's next step (``notice.closed``). Nothing runs for a process without notices.
- ``blocked_elements`` tells the policy which human tasks follow a notice; the R17 check
  (``notice_period``) refuses their completion while a notice of the instance is open.
- ``object_to`` stores an objection, records ``notice.objection_received`` on the instance and
  delivers the notice's objection message to it (services/messages.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, func, insert, select, update

from powerflow.db.engine import Store
from powerflow.db.models import Event, Notice, NoticeObjection
from powerflow.db.queries import InstanceRow, TaskRow, load_instance
from powerflow.engine import StepEvent, StepResult
from powerflow.services.auth import Principal
from powerflow.services.errors import Conflict, Forbidden, NotFound
from powerflow.services.events import SYSTEM_ACTOR
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
"""Statuses of a case whose open notice is withdrawn: it takes no objections any more."""
_NOTICES = cast(Table, Notice.__table__)
_OBJECTIONS = cast(Table, NoticeObjection.__table__)
_EVENTS = cast(Table, Event.__table__)


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
    deliver the notice's objection message. ``disclosed(conn, notice_row)`` says whether the
    notice is public (else NotFound, as for an unknown id)."""
    from powerflow.services.messages import append_event, deliver_to_instance

    with store.begin(write=True) as conn:
        row = conn.execute(select(_NOTICES).where(_NOTICES.c.id == notice_id)).first()
        if row is None or not disclosed(conn, row):
            raise NotFound("There is no public notice with this id.")
        now = store.now()
        ends_at = _aware(row.ends_at)
        if now >= ends_at:
            raise Conflict(
                f"The notice period ended at {ends_at.isoformat()}: objections are no longer "
                "accepted."
            )
        case = load_instance(conn, row.instance_id, lock=True)  # serialized with a cancel
        if case is None or case.status in WITHDRAWN:
            raise Conflict(
                "The case this notice belongs to was cancelled, which withdrew the notice: "
                "objections are no longer accepted."
            )
        objection_id = int(
            conn.execute(
                insert(_OBJECTIONS).returning(_OBJECTIONS.c.id),
                {
                    "notice_id": notice_id,
                    "text": text,
                    "name": name,
                    "contact": contact,
                    "delivered": False,
                    "received_at": now,
                },
            ).scalar_one()
        )
        delivered = False
        if row.objection_message:
            delivered = deliver_to_instance(
                conn,
                store,
                row.instance_id,
                row.objection_message,
                {"notice_id": notice_id, "objection_id": objection_id, "objection": text},
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
            "received_at": _aware(r.received_at),
        }
        for r in rows
    ]


def deliver_held(conn: Connection, store: Store, instance: InstanceRow, *, at: datetime) -> None:
    """On resume: deliver, oldest first, the objections raised while the instance was suspended
    (stored undelivered then, since a suspended case takes no message) as their notices'
    objection messages; the row is refreshed in place when one was delivered."""
    from powerflow.services.messages import deliver_to_instance

    since = conn.execute(
        select(_EVENTS.c.occurred_at)
        .where(_EVENTS.c.instance_id == instance.id, _EVENTS.c.type == "instance.suspended")
        .order_by(_EVENTS.c.seq.desc())
        .limit(1)
    ).scalar()
    if since is None:
        return
    held = conn.execute(
        select(_OBJECTIONS.c.id, _OBJECTIONS.c.text, _NOTICES.c.id.label("notice_id"))
        .add_columns(_NOTICES.c.objection_message)
        .join(_NOTICES, _NOTICES.c.id == _OBJECTIONS.c.notice_id)
        .where(
            _NOTICES.c.instance_id == instance.id,
            _NOTICES.c.objection_message.is_not(None),
            _OBJECTIONS.c.delivered.is_(False),
            _OBJECTIONS.c.received_at >= since,
        )
        .order_by(_OBJECTIONS.c.id)
    ).all()
    touched = False
    for row in held:
        payload = {
            "notice_id": int(row.notice_id),
            "objection_id": int(row.id),
            "objection": row.text,
        }
        if deliver_to_instance(
            conn, store, instance.id, row.objection_message, payload, actor=SYSTEM_ACTOR, at=at
        ):
            touched = True
            conn.execute(
                update(_OBJECTIONS).where(_OBJECTIONS.c.id == row.id).values(delivered=True)
            )
    if touched:
        fresh = load_instance(conn, instance.id, lock=False)
        if fresh is not None:
            instance.__dict__.update(fresh.__dict__)
