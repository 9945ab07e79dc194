"""Reading the event log across instances, in id order, for pull consumers and streams."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table, func, select

from powerflow.db.engine import Store
from powerflow.db.models import Event
from powerflow.services.errors import InvalidInput
from powerflow.services.views import EventView

MAX_TYPES = 20
_EVENTS = cast(Table, Event.__table__)


def parse_types(types: str | None) -> list[str]:
    """A comma-separated list of event types, validated."""
    if not types:
        return []
    items = [t.strip() for t in types.split(",") if t.strip()]
    if len(items) > MAX_TYPES:
        raise InvalidInput(f"At most {MAX_TYPES} event types can be filtered on at once.")
    return items


def events_after(
    store: Store,
    *,
    after: int,
    limit: int,
    definition_key: str | None = None,
    instance_id: str | None = None,
    types: list[str] | None = None,
) -> list[EventView]:
    """Events with an id greater than ``after``, oldest first, matching the filters.

    Core rows straight into views (no ORM identity map): the stream's shared tail runs this
    after every commit.
    """
    c = _EVENTS.c
    stmt = select(_EVENTS).where(c.id > after)
    if definition_key:
        stmt = stmt.where(c.definition_key == definition_key)
    if instance_id:
        stmt = stmt.where(c.instance_id == instance_id)
    if types:
        stmt = stmt.where(c.type.in_(types))
    stmt = stmt.order_by(c.id).limit(limit)
    with store.begin(write=False) as conn:
        return [EventView.of(row) for row in conn.execute(stmt).mappings()]


def latest_event_id(store: Store) -> int:
    """The id of the newest event (0 when there is none)."""
    with store.read() as session:
        return int(session.scalar(select(func.max(Event.id))) or 0)
