"""SQL of the business calendar's edits (table ``calendar_days``), the same on both dialects."""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

from sqlalchemy import Connection, Table, func, insert, select, update

from powerflow.db.models import CalendarDay

_table = cast(Table, CalendarDay.__table__)
_VERSION = select(func.count(), func.coalesce(func.sum(_table.c.revision), 0))
_ACTIVE = (
    select(_table.c.day, _table.c.kind, _table.c.name)
    .where(_table.c.removed_at.is_(None))
    .order_by(_table.c.day)
)


def version(conn: Connection) -> tuple[int, int]:
    """A value that changes with every edit (rows are never deleted; each write adds 1)."""
    count, total = conn.execute(_VERSION).one()
    return int(count), int(total)


def active_edits(conn: Connection) -> list[tuple[date, str, str]]:
    """(day, kind, name) of every edit in force, by date."""
    return [(row.day, row.kind, row.name) for row in conn.execute(_ACTIVE)]


def edits_between(conn: Connection, first: date, last: date) -> list[CalendarDay]:
    """The edits in force between two dates (inclusive), with who made them and when."""
    rows = conn.execute(
        select(_table)
        .where(_table.c.removed_at.is_(None), _table.c.day.between(first, last))
        .order_by(_table.c.day)
    )
    return [CalendarDay(**row._mapping) for row in rows]


def get(conn: Connection, day: date) -> CalendarDay | None:
    """The edit of ``day`` (in force or removed), or None."""
    row = conn.execute(select(_table).where(_table.c.day == day)).first()
    return CalendarDay(**row._mapping) if row is not None else None


def put(conn: Connection, day: date, kind: str, name: str, by: str, at: datetime) -> bool:
    """Set the edit of ``day``; True if it is new (never edited before)."""
    values = {"kind": kind, "name": name, "changed_by": by, "changed_at": at, "removed_at": None}
    done = conn.execute(
        update(_table).where(_table.c.day == day).values(revision=_table.c.revision + 1, **values)
    )
    if done.rowcount:
        return False
    conn.execute(insert(_table).values(day=day, revision=1, **values))
    return True


def remove(conn: Connection, day: date, by: str, at: datetime) -> bool:
    """Withdraw the edit of ``day`` (kept, with ``removed_at``); False if none is in force."""
    done = conn.execute(
        update(_table)
        .where(_table.c.day == day, _table.c.removed_at.is_(None))
        .values(revision=_table.c.revision + 1, changed_by=by, changed_at=at, removed_at=at)
    )
    return bool(done.rowcount)
