"""SQL of the message router: subscriptions, start triggers and the message log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, delete, insert, select, update

from powerflow.db.models import Instance, Message, MessageSubscription, StartTrigger

SUBSCRIPTIONS = cast(Table, MessageSubscription.__table__)
TRIGGERS = cast(Table, StartTrigger.__table__)
MESSAGES = cast(Table, Message.__table__)
_INSTANCES = cast(Table, Instance.__table__)


def replace_subscriptions(
    conn: Connection, instance_id: str, rows: list[dict[str, Any]], *, new: bool
) -> None:
    """An instance's subscriptions become ``rows`` (a new instance has none to remove)."""
    if not new:
        conn.execute(delete(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.instance_id == instance_id))
    if rows:
        conn.execute(insert(SUBSCRIPTIONS), [{"instance_id": instance_id, **r} for r in rows])


def property_sets(conn: Connection, kind: str, name: str) -> list[str]:
    """The distinct correlation property sets (JSON) of the catches waiting for ``name``."""
    c = SUBSCRIPTIONS.c
    stmt = select(c.properties).where(c.kind == kind, c.message_name == name).distinct()
    return [str(p) for p in conn.scalars(stmt)]


def matching_subscriptions(
    conn: Connection, kind: str, name: str, keys: list[str], business_key: str | None
) -> list[tuple[str, str, str | None]]:
    """(instance id, properties, key) of the catches a message with one of ``keys`` reaches:
    exact keys first, then catches that take any message; oldest subscription first."""
    c = SUBSCRIPTIONS.c
    keyed: Any = c.correlation_key.is_(None)
    if keys:
        keyed = keyed | c.correlation_key.in_(keys)
    stmt = select(c.instance_id, c.properties, c.correlation_key).where(
        c.kind == kind, c.message_name == name, keyed
    )
    if business_key is not None:
        i = _INSTANCES.c
        stmt = stmt.join(_INSTANCES, i.id == c.instance_id).where(i.business_key == business_key)
    stmt = stmt.order_by(c.correlation_key.is_(None), c.id)
    return [(str(r[0]), str(r[1]), r[2]) for r in conn.execute(stmt)]


def signal_listeners(conn: Connection, name: str) -> list[str]:
    """The instances waiting for signal ``name``, oldest subscription first, each once."""
    c = SUBSCRIPTIONS.c
    stmt = select(c.instance_id, c.id).where(c.kind == "signal", c.message_name == name)
    seen: dict[str, None] = {}
    for instance_id, _ in conn.execute(stmt.order_by(c.id)):
        seen.setdefault(str(instance_id), None)
    return list(seen)


def message_subscriptions_of(
    conn: Connection, instance_id: str
) -> list[tuple[str, str, str | None]]:
    """(name, properties, key) of an instance's message catches."""
    c = SUBSCRIPTIONS.c
    stmt = select(c.message_name, c.properties, c.correlation_key).where(
        c.instance_id == instance_id, c.kind == "message"
    )
    return [(str(r[0]), str(r[1]), r[2]) for r in conn.execute(stmt.order_by(c.id))]


def replace_triggers(conn: Connection, definition_key: str, rows: list[dict[str, Any]]) -> None:
    """The start triggers of a definition key become those of its newest version."""
    conn.execute(delete(TRIGGERS).where(TRIGGERS.c.definition_key == definition_key))
    if rows:
        conn.execute(insert(TRIGGERS), rows)


def triggers(conn: Connection, kind: str, name: str) -> list[dict[str, Any]]:
    """The start events of the latest deployed definitions that ``name`` starts."""
    c = TRIGGERS.c
    stmt = select(TRIGGERS).where(c.kind == kind, c.name == name).order_by(c.definition_key)
    return [dict(r._mapping) for r in conn.execute(stmt)]


def insert_message(conn: Connection, values: dict[str, Any]) -> None:
    """Record a message (or signal) and its outcome."""
    conn.execute(insert(MESSAGES), values)


def kept_messages(conn: Connection, names: list[str], now: datetime) -> list[dict[str, Any]]:
    """Kept, unexpired messages with one of ``names``, oldest first."""
    c = MESSAGES.c
    stmt = (
        select(MESSAGES)
        .where(c.status == "kept", c.name.in_(names), c.expires_at > now)
        .order_by(c.created_at, c.id)
    )
    return [dict(r._mapping) for r in conn.execute(stmt)]


def mark_message(conn: Connection, message_id: str, was: str, **values: Any) -> bool:
    """Move a message from status ``was`` to new values (compare-and-set: once only)."""
    c = MESSAGES.c
    stmt = update(MESSAGES).where(c.id == message_id, c.status == was).values(**values)
    return conn.execute(stmt).rowcount == 1


def expired_ids(conn: Connection, now: datetime, limit: int) -> list[str]:
    """Kept messages whose time has passed, oldest first."""
    c = MESSAGES.c
    stmt = (
        select(c.id)
        .where(c.status == "kept", c.expires_at <= now)
        .order_by(c.expires_at)
        .limit(limit)
    )
    return [str(i) for i in conn.scalars(stmt)]


def message_row(conn: Connection, message_id: str) -> dict[str, Any] | None:
    """One message row."""
    row = conn.execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).first()
    return dict(row._mapping) if row is not None else None


def list_messages(
    conn: Connection, *, status: str | None, name: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """Messages newest first, filtered by status and name."""
    c = MESSAGES.c
    stmt = select(MESSAGES)
    if status:
        stmt = stmt.where(c.status == status)
    if name:
        stmt = stmt.where(c.name == name)
    stmt = stmt.order_by(c.created_at.desc(), c.id).limit(limit).offset(offset)
    return [dict(r._mapping) for r in conn.execute(stmt)]
