"""SQL of the state binding: the last event an instance wrote and the last digest it bound."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Connection, Table, bindparam, select

from powerflow.db.models import Event
from powerflow.db.queries import PreparedSelect

EVENTS = cast(Table, Event.__table__)
_E = EVENTS.c

_LAST_EVENT = PreparedSelect(
    select(_E.seq, _E.hash, _E.state_digest)
    .where(_E.instance_id == bindparam("instance_id"))
    .order_by(_E.seq.desc())
    .limit(1)
)
_LAST_DIGEST = PreparedSelect(
    select(_E.state_digest)
    .where(_E.instance_id == bindparam("instance_id"), _E.state_digest.is_not(None))
    .order_by(_E.seq.desc())
    .limit(1)
)


def last_event(conn: Connection, instance_id: str) -> tuple[int, str, str | None] | None:
    """Sequence number, hash and state digest (or None) of the instance's last event."""
    row = _LAST_EVENT.first(conn, {"instance_id": instance_id})
    return None if row is None else (int(row[0]), str(row[1]), row[2])


def last_digest(conn: Connection, instance_id: str) -> str | None:
    """The state digest the instance's events last recorded (None when none ever did)."""
    row = _LAST_DIGEST.first(conn, {"instance_id": instance_id})
    return None if row is None else str(row[0])
