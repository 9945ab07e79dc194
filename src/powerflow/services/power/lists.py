"""Named lists for ``list`` rules (R18): a blacklist of suppliers, of intermediaries, ...

Administrators manage them; entries are removed by marking them (the record stays), so a
violation can always be traced to the entry that caused it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, select

from powerflow.db.engine import Store
from powerflow.db.models import RuleList, RuleListEntry
from powerflow.engine.rules import LIST_NAME
from powerflow.services.auth import Principal
from powerflow.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from powerflow.services.power.declarations import normalized
from powerflow.services.power.snapshots import Snapshot, refreshes
from powerflow.services.visibility import sees_everything


@dataclass(frozen=True)
class EntryView:
    """A value on a list."""

    value: str
    reason: str
    added_by: str
    added_at: datetime
    removed_by: str | None
    removed_at: datetime | None


@dataclass(frozen=True)
class ListView:
    """A list with its entries (only when read one by one)."""

    name: str
    description: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    entries: list[EntryView] = field(default_factory=list)


def _entry(row: RuleListEntry) -> EntryView:
    return EntryView(
        row.value, row.reason, row.added_by, row.added_at, row.removed_by, row.removed_at
    )


def _list(row: RuleList, entries: list[EntryView] | None = None) -> ListView:
    return ListView(
        row.name, row.description, row.created_by, row.created_at, row.updated_at, entries or []
    )


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("Only an administrator may change lists.")


def _require_reader(principal: Principal) -> None:
    if not sees_everything(principal):
        raise Forbidden("Reading lists needs the monitor, auditor or admin role.")


def put_list(
    store: Store, principal: Principal, name: str, description: str
) -> tuple[ListView, bool]:
    """Create a list or change its description; (the list, whether it is new)."""
    _require_admin(principal)
    if not LIST_NAME.match(name):
        raise InvalidInput(
            f"'{name}' is not a list name: use letters, digits, '.', '_' or '-' (at most 100)."
        )
    now = store.now()
    with store.write() as session:
        row = session.get(RuleList, name)
        created = row is None
        if row is None:
            row = RuleList(
                name=name,
                description=description,
                created_by=principal.name,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
        else:
            row.description = description
            row.updated_at = now
        session.flush()
        return _list(row), created


def list_lists(store: Store, principal: Principal) -> list[ListView]:
    """Every list, without entries."""
    _require_reader(principal)
    with store.read() as session:
        return [_list(r) for r in session.scalars(select(RuleList).order_by(RuleList.name))]


def get_list(store: Store, principal: Principal, name: str, *, removed: bool) -> ListView:
    """A list with its active entries (and the removed ones when asked)."""
    _require_reader(principal)
    with store.read() as session:
        row = session.get(RuleList, name)
        if row is None:
            raise NotFound(f"There is no list '{name}'.")
        stmt = select(RuleListEntry).where(RuleListEntry.list_name == name)
        if not removed:
            stmt = stmt.where(RuleListEntry.removed_at.is_(None))
        entries = [_entry(e) for e in session.scalars(stmt.order_by(RuleListEntry.id))]
        return _list(row, entries)


def _load_entries(conn: Connection) -> dict[str, frozenset[str]]:
    entries: dict[str, set[str]] = {}
    rows = conn.execute(
        select(RuleListEntry.list_name, RuleListEntry.value_norm).where(
            RuleListEntry.removed_at.is_(None)
        )
    )
    for list_name, value_norm in rows:
        entries.setdefault(list_name, set()).add(value_norm)
    return {name: frozenset(values) for name, values in entries.items()}


ENTRIES = Snapshot(
    select(
        func.count(),
        func.coalesce(func.max(RuleListEntry.id), 0),
        func.count(RuleListEntry.removed_at),
    ),
    _load_entries,
)
"""Every list's active entries (normalized), kept in memory (snapshots.py)."""


@refreshes(ENTRIES)
def add_entry(store: Store, principal: Principal, name: str, value: str, reason: str) -> EntryView:
    """Put a value on a list; 409 if it is on it already."""
    _require_admin(principal)
    norm = normalized(value)
    if not norm:
        raise InvalidInput("value must not be empty.")
    with store.write() as session:
        if session.get(RuleList, name) is None:
            raise NotFound(f"There is no list '{name}'; create it first (PUT /v1/lists/{name}).")
        if _active(session.connection(), name, norm) is not None:
            raise Conflict(f"'{value.strip()}' is already on the list '{name}'.")
        row = RuleListEntry(
            list_name=name,
            value=value.strip()[:255],
            value_norm=norm[:255],
            reason=reason,
            added_by=principal.name,
            added_at=store.now(),
        )
        session.add(row)
        session.flush()
        return _entry(row)


@refreshes(ENTRIES)
def remove_entry(store: Store, principal: Principal, name: str, value: str) -> EntryView:
    """Take a value off a list (kept, with removed_at)."""
    _require_admin(principal)
    with store.write() as session:
        entry_id = _active(session.connection(), name, normalized(value))
        if entry_id is None:
            raise NotFound(f"'{value}' is not on the list '{name}'.")
        row = session.get(RuleListEntry, entry_id)
        assert row is not None
        row.removed_at = store.now()
        row.removed_by = principal.name
        session.flush()
        return _entry(row)


_ACTIVE_ENTRY = select(RuleListEntry.id).where(
    RuleListEntry.list_name == bindparam("list_name"),
    RuleListEntry.value_norm == bindparam("value_norm"),
    RuleListEntry.removed_at.is_(None),
)


def _active(conn: Connection, name: str, norm: str) -> int | None:
    found = conn.execute(_ACTIVE_ENTRY, {"list_name": name, "value_norm": norm}).scalar()
    return int(found) if found is not None else None


def listed(conn: Connection, name: str, values: list[Any]) -> str | None:
    """The first of the values that is an active entry of the list, if any."""
    active = ENTRIES.get(conn).get(name)
    if not active:
        return None
    for value in values:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            norm = normalized(str(value))
            if norm and norm in active:
                return str(value)
    return None
