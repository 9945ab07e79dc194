"""Reading and acknowledging alerts: who sees which, and the open → acknowledged step.

Participants of an instance (``services/visibility.py``) see its alerts; monitors, auditors and
administrators see every alert. Monitors and administrators acknowledge an alert with a comment
(``alert.acknowledged`` on the instance's chain). A deadline alert resolves when its task
closes or its instance ends (``deadlines.py``, ``alerts.resolve_alerts``); a rule alert never
resolves by itself: it stays open, after its instance ends too, until a monitor acknowledges it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from powerflow.db import alert_queries, queries
from powerflow.db.engine import Store
from powerflow.db.models import Alert, Instance
from powerflow.engine import StepEvent
from powerflow.services.auth import Principal
from powerflow.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from powerflow.services.events import event_rows
from powerflow.services.instances import load_for_update
from powerflow.services.power.alerts import ALERT_LEVELS, ALERT_STATES
from powerflow.services.views import Page
from powerflow.services.visibility import (
    may_see_instance,
    sees_everything,
    visible_instances_clause,
)

ACK_ROLES = ("monitor", "admin")


@dataclass(frozen=True)
class AlertView:
    """An alert as the API shows it."""

    id: int
    level: str
    state: str
    source: str
    reason: str
    message: str
    instance_id: str
    definition_key: str
    task_id: str | None
    element_id: str | None
    roles: list[str]
    persons: list[str]
    rule_id: str | None
    rule_version: int | None
    violation_id: int | None
    deadline_at: datetime | None
    raised_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    acknowledge_comment: str | None
    resolved_at: datetime | None
    resolution: str | None
    business_key: str | None = None  # the instance's


def _view(row: Alert, business_key: str | None = None) -> AlertView:
    fields = {n: getattr(row, n) for n in AlertView.__dataclass_fields__ if n != "business_key"}
    return AlertView(**fields, business_key=business_key)


def _not_found(alert_id: int) -> NotFound:
    return NotFound(f"Alert {alert_id} does not exist.")


def list_alerts(
    store: Store,
    principal: Principal,
    *,
    state: str | None = None,
    level: str | None = None,
    definition_key: str | None = None,
    instance_id: str | None = None,
    role: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page:
    """Alerts the caller may see, newest first, filtered (one statement per page)."""
    if state is not None and state not in ALERT_STATES:
        raise InvalidInput(f"state must be one of: {', '.join(ALERT_STATES)}.")
    if level is not None and level not in ALERT_LEVELS:
        raise InvalidInput(f"level must be one of: {', '.join(ALERT_LEVELS)}.")
    # the instance's business key comes with each row (one join, one statement per page)
    stmt = select(Alert, Instance.business_key).join(Instance, Instance.id == Alert.instance_id)
    visible = visible_instances_clause(principal)
    if visible is not None:
        stmt = stmt.where(visible)
    if state:
        stmt = stmt.where(Alert.state == state)
    if level:
        stmt = stmt.where(Alert.level == level)
    if definition_key:
        stmt = stmt.where(Alert.definition_key == definition_key)
    if instance_id:
        stmt = stmt.where(Alert.instance_id == instance_id)
    if since:
        stmt = stmt.where(Alert.raised_at >= since)
    if until:
        stmt = stmt.where(Alert.raised_at < until)
    with store.read() as session:
        if role:
            stmt = stmt.where(alert_queries.has_role(role, session.get_bind().dialect.name))
        stmt = stmt.order_by(Alert.raised_at.desc(), Alert.id.desc()).limit(limit + 1)
        rows = session.execute(stmt.offset(offset)).all()
        items = [_view(r, key) for r, key in rows[:limit]]
    return Page(items, limit, offset, len(rows) > limit)


def get_alert(store: Store, principal: Principal, alert_id: int) -> AlertView:
    """One alert, if the caller may see its instance (NotFound otherwise, as for no alert)."""
    with store.read() as session:
        row = session.get(Alert, alert_id)
        if row is None:
            raise _not_found(alert_id)
        owner = session.execute(
            select(Instance.started_by, Instance.business_key).where(Instance.id == row.instance_id)
        ).first()
        if not sees_everything(principal):
            conn = queries.connection(session)
            if owner is None or not may_see_instance(
                conn, principal, row.instance_id, owner.started_by
            ):
                raise _not_found(alert_id)
        return _view(row, owner.business_key if owner is not None else None)


def acknowledge(
    store: Store, principal: Principal, alert_id: int, comment: str | None
) -> AlertView:
    """Acknowledge an open alert (monitors and administrators), with an optional comment."""
    if not principal.has(*ACK_ROLES):
        get_alert(store, principal, alert_id)  # NotFound first for whoever may not see it
        raise Forbidden("Acknowledging an alert needs the 'monitor' or 'admin' role.")
    with store.write() as session:
        row = session.get(Alert, alert_id)
        if row is None:
            raise _not_found(alert_id)
        if row.state != "open":
            raise Conflict(f"Alert {alert_id} is {row.state}; only an open alert is acknowledged.")
        now = store.now()
        row.state = "acknowledged"
        row.acknowledged_by = principal.name
        row.acknowledged_at = now
        row.acknowledge_comment = comment
        session.flush()
        conn = queries.connection(session)
        instance = load_for_update(conn, row.instance_id)
        payload: dict[str, Any] = {"alert_id": row.id, "level": row.level, "comment": comment}
        event = StepEvent("alert.acknowledged", row.element_id, None, row.task_id, payload)
        events = event_rows(instance, [event], conn=conn, actor=principal.name, at=now)
        if not queries.save_instance(conn, instance):
            raise Conflict(f"Instance {instance.id} was changed concurrently; retry.")
        queries.insert_events(conn, events)
        return _view(row, instance.business_key)
