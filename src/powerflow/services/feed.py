"""Reading the event log across instances, in id order, for pull consumers and streams."""

from __future__ import annotations

from sqlalchemy import func, select

from powerflow.db.engine import Store
from powerflow.db.models import Event
from powerflow.services.errors import InvalidInput
from powerflow.services.instances import event_view
from powerflow.services.views import EventView

MAX_TYPES = 20


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
    """Events with an id greater than ``after``, oldest first, matching the filters."""
    stmt = select(Event).where(Event.id > after)
    if definition_key:
        stmt = stmt.where(Event.definition_key == definition_key)
    if instance_id:
        stmt = stmt.where(Event.instance_id == instance_id)
    if types:
        stmt = stmt.where(Event.type.in_(types))
    stmt = stmt.order_by(Event.id).limit(limit)
    with store.read() as session:
        return [event_view(e) for e in session.scalars(stmt)]


def latest_event_id(store: Store) -> int:
    """The id of the newest event (0 when there is none)."""
    with store.read() as session:
        return int(session.scalar(select(func.max(Event.id))) or 0)
