"""Reading recorded violations (monitors, auditors, administrators)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from powerflow.db.engine import Store
from powerflow.db.models import Instance, Violation
from powerflow.engine.rules import EFFECTS
from powerflow.services.auth import Principal
from powerflow.services.errors import Forbidden, InvalidInput
from powerflow.services.views import Page
from powerflow.services.visibility import sees_everything


@dataclass(frozen=True)
class ViolationView:
    """A violation as the API shows it."""

    id: int
    rule_id: str
    rule_version: int
    rule_source: str
    kind: str
    effect: str
    level: str | None
    act: str
    message: str
    legal_basis: list[str]
    evidence: dict[str, Any]
    instance_id: str
    definition_key: str
    definition_version: int
    task_id: str | None
    element_id: str | None
    actor: str
    occurred_at: datetime
    business_key: str | None = None  # the instance's


def list_violations(
    store: Store,
    principal: Principal,
    *,
    rule_id: str | None = None,
    definition_key: str | None = None,
    instance_id: str | None = None,
    actor: str | None = None,
    effect: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Page:
    """Violations, newest first, filtered; one statement."""
    if not sees_everything(principal):
        raise Forbidden("Reading violations needs the monitor, auditor or admin role.")
    if effect is not None and effect not in EFFECTS:
        raise InvalidInput(f"effect must be one of: {', '.join(EFFECTS)}.")
    # the instance's business key with each row (one outer join, still one statement)
    stmt = select(Violation, Instance.business_key).outerjoin(
        Instance, Instance.id == Violation.instance_id
    )
    for column, value in (
        (Violation.rule_id, rule_id),
        (Violation.definition_key, definition_key),
        (Violation.instance_id, instance_id),
        (Violation.actor, actor),
        (Violation.effect, effect),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(Violation.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(Violation.occurred_at < until)
    stmt = stmt.order_by(Violation.id.desc()).limit(limit + 1).offset(offset)
    with store.read() as session:
        rows = session.execute(stmt).all()
        items = [
            ViolationView(
                id=r.id,
                rule_id=r.rule_id,
                rule_version=r.rule_version,
                rule_source=r.rule_source,
                kind=r.kind,
                effect=r.effect,
                level=r.level,
                act=r.act,
                message=r.message,
                legal_basis=list(r.legal_basis),
                evidence=dict(r.evidence),
                instance_id=r.instance_id,
                definition_key=r.definition_key,
                definition_version=r.definition_version,
                task_id=r.task_id,
                element_id=r.element_id,
                actor=r.actor,
                occurred_at=r.occurred_at,
                business_key=key,
            )
            for r, key in rows[:limit]
        ]
    return Page(items, limit, offset, len(rows) > limit)
