"""SQL of the message router: subscriptions, start triggers and the message log."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, insert, select, update

from powerflow.db.models import Message, MessageCatch, MessageSubscription, StartTrigger, User
from powerflow.db.queries import Prepared, PreparedRows

SUBSCRIPTIONS = cast(Table, MessageSubscription.__table__)
CATCHES = cast(Table, MessageCatch.__table__)
TRIGGERS = cast(Table, StartTrigger.__table__)
MESSAGES = cast(Table, Message.__table__)
_S = SUBSCRIPTIONS.c

# Every step rewrites its instance's rows, and every message looks some up: compiled once.
_DELETE_SUBSCRIPTIONS = Prepared(delete(SUBSCRIPTIONS).where(_S.instance_id == bindparam("b_id")))
_INSERT_SUBSCRIPTION = Prepared(
    insert(SUBSCRIPTIONS).values({c.name: bindparam(c.name) for c in _S if c.name != "id"})
)
_BY_KEY = PreparedRows(
    select(_S.instance_id, _S.properties, _S.correlation_key)
    .where(
        _S.kind == bindparam("kind"),
        _S.message_name == bindparam("name"),
        _S.correlation_key == bindparam("key"),
    )
    .order_by(_S.id)
)
_UNKEYED = PreparedRows(
    select(_S.instance_id, _S.properties, _S.correlation_key)
    .where(
        _S.kind == bindparam("kind"),
        _S.message_name == bindparam("name"),
        _S.correlation_key.is_(None),
    )
    .order_by(_S.id)
)
_OF_INSTANCE = PreparedRows(
    select(_S.message_name, _S.properties, _S.correlation_key)
    .where(_S.instance_id == bindparam("instance_id"), _S.kind == "message")
    .order_by(_S.id)
)
_CATCH_PROPERTIES = PreparedRows(
    select(CATCHES.c.properties)
    .where(CATCHES.c.kind == bindparam("kind"), CATCHES.c.name == bindparam("name"))
    .distinct()
)
_KEPT = PreparedRows(
    select(MESSAGES.c.id)
    .where(
        MESSAGES.c.status == "kept",
        MESSAGES.c.name == bindparam("name"),
        MESSAGES.c.expires_at > bindparam("now"),
    )
    .order_by(MESSAGES.c.created_at, MESSAGES.c.id)
)


def replace_subscriptions(
    conn: Connection, instance_id: str, rows: list[dict[str, Any]], *, new: bool
) -> None:
    """An instance's subscriptions become ``rows`` (a new instance has none to remove)."""
    if not new:
        _DELETE_SUBSCRIPTIONS.execute(conn, {"b_id": instance_id})
    if rows:
        _INSERT_SUBSCRIPTION.execute(conn, [{"instance_id": instance_id, **r} for r in rows])


def property_sets(conn: Connection, kind: str, name: str) -> list[str]:
    """The distinct correlation property sets (JSON) of the catches of ``name``: from the
    deploy-time index, else (definitions deployed before it) from the waiting catches."""
    found = [str(r[0]) for r in _CATCH_PROPERTIES.all(conn, {"kind": kind, "name": name})]
    if found:
        return found
    stmt = select(_S.properties).where(_S.kind == kind, _S.message_name == name).distinct()
    return [str(p) for p in conn.scalars(stmt)]


def matching_subscriptions(
    conn: Connection, kind: str, name: str, keys: list[str]
) -> list[tuple[str, str, str | None]]:
    """(instance id, properties, key) of the catches a message with one of ``keys`` reaches:
    exact keys first, then catches that take any message; oldest subscription first."""
    params = {"kind": kind, "name": name}
    keyed = [row for key in keys for row in _BY_KEY.all(conn, {**params, "key": key})]
    rows = [*keyed, *_UNKEYED.all(conn, params)]
    return [(str(r[0]), str(r[1]), r[2]) for r in rows]


def signal_listeners(conn: Connection, name: str) -> list[str]:
    """The instances waiting for signal ``name``, oldest subscription first, each once."""
    seen: dict[str, None] = {}
    for row in _UNKEYED.all(conn, {"kind": "signal", "name": name}):
        seen.setdefault(str(row[0]), None)
    return list(seen)


def message_subscriptions_of(
    conn: Connection, instance_id: str
) -> list[tuple[str, str, str | None]]:
    """(name, properties, key) of an instance's message catches."""
    rows = _OF_INSTANCE.all(conn, {"instance_id": instance_id})
    return [(str(r[0]), str(r[1]), r[2]) for r in rows]


def add_catches(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Index the message catches of a newly deployed definition."""
    if rows:
        conn.execute(insert(CATCHES), rows)


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


def user_roles(conn: Connection, name: str) -> list[str]:
    """The roles of a user (empty for an unknown or removed one)."""
    roles = conn.execute(select(User.roles).where(User.name == name)).scalar()
    return [str(r) for r in roles or ()]
