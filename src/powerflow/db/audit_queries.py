"""SQL of the audit log: leaves, stored subtree hashes, checkpoints, unsequenced events."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    RowMapping,
    Table,
    and_,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from powerflow.db.models import ArchivedEvent, AuditCheckpoint, AuditLeaf, AuditNode, Event

LEAVES = cast(Table, AuditLeaf.__table__)
NODES = cast(Table, AuditNode.__table__)
CHECKPOINTS = cast(Table, AuditCheckpoint.__table__)
EVENTS = cast(Table, Event.__table__)
ARCHIVED_EVENTS = cast(Table, ArchivedEvent.__table__)

_CHUNK = 400  # coordinates per IN list (well under any dialect's parameter limit)


def tree_size(conn: Connection) -> int:
    """How many leaves the log has (leaf indexes run 0..size-1 without a gap)."""
    top = conn.execute(select(func.max(LEAVES.c.leaf_index))).scalar()
    return 0 if top is None else int(top) + 1


def last_sequenced_event(conn: Connection) -> int:
    """The highest event id in the log (0 when it is empty)."""
    return int(conn.execute(select(func.max(LEAVES.c.event_id))).scalar() or 0)


def subtree_hashes(
    conn: Connection, coords: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """The stored hash of each complete aligned subtree (level 0: leaves)."""
    out: dict[tuple[int, int], bytes] = {}
    leaves = [i for level, i in coords if level == 0]
    nodes = [(level, i) for level, i in coords if level > 0]
    for start in range(0, len(leaves), _CHUNK):
        part = leaves[start : start + _CHUNK]
        for index, h in conn.execute(
            select(LEAVES.c.leaf_index, LEAVES.c.leaf_hash).where(LEAVES.c.leaf_index.in_(part))
        ):
            out[(0, int(index))] = bytes(h)
    by_level: dict[int, list[int]] = {}
    for level, i in nodes:
        by_level.setdefault(level, []).append(i)
    if by_level:  # one statement; per level an index range the primary key serves
        query = select(NODES.c.level, NODES.c.node_index, NODES.c.hash).where(
            or_(
                *(
                    and_(NODES.c.level == level, NODES.c.node_index.in_(idx))
                    for level, idx in by_level.items()
                )
            )
        )
        for level, index, h in conn.execute(query):
            out[(int(level), int(index))] = bytes(h)
    missing = [c for c in coords if c not in out]
    if missing:
        raise LookupError(f"the audit log's store lacks subtrees {missing[:5]}")
    return out


def late_commit_window(conn: Connection, window: int) -> int:
    """How far below the newest sequenced event id a pass must look for events that committed
    late: ``window`` on PostgreSQL, none on SQLite (one writer: ids commit in order)."""
    return 0 if conn.dialect.name == "sqlite" else window


def nothing_pending(conn: Connection, last_sequenced: int) -> bool:
    """True when no event can be waiting for the sequencer: on SQLite, writers commit one at a
    time in id order, so nothing is pending once the newest event is sequenced. On PostgreSQL
    a lower id can still commit later: False (the anti-join looks)."""
    if conn.dialect.name != "sqlite":
        return False
    newest = conn.execute(select(func.max(EVENTS.c.id))).scalar()
    return newest is None or int(newest) <= last_sequenced


def unsequenced_events(conn: Connection, after_id: int, limit: int) -> list[RowMapping]:
    """Committed events with an id above ``after_id`` that have no leaf yet, in id order
    (an anti-join: an event whose transaction committed late is found too)."""
    query = (
        select(EVENTS)
        .where(
            EVENTS.c.id > after_id,
            ~exists().where(LEAVES.c.event_id == EVENTS.c.id),
        )
        .order_by(EVENTS.c.id)
        .limit(limit)
    )
    return list(conn.execute(query).mappings())


def append(conn: Connection, leaves: list[dict[str, Any]], nodes: list[dict[str, Any]]) -> None:
    """Insert new leaves and the subtree hashes they complete."""
    if leaves:
        conn.execute(insert(LEAVES), leaves)
    if nodes:
        conn.execute(insert(NODES), nodes)


def leaf_of_event(conn: Connection, event_id: int) -> tuple[int, bytes] | None:
    """The leaf index and hash of an event, if it is sequenced."""
    row = conn.execute(
        select(LEAVES.c.leaf_index, LEAVES.c.leaf_hash).where(LEAVES.c.event_id == event_id)
    ).first()
    return None if row is None else (int(row[0]), bytes(row[1]))


def event_exists(conn: Connection, event_id: int) -> bool:
    """Whether an event of this id is committed."""
    return conn.execute(select(EVENTS.c.id).where(EVENTS.c.id == event_id)).first() is not None


def events_in_leaf_order(conn: Connection, batch: int = 1000) -> Iterator[Mapping[str, Any]]:
    """Every sequenced event with its leaf index and hash, in leaf order, read in batches
    (keyset); an archived event is read from ``archived_events`` (same id and columns). A leaf
    whose event row is in neither table is skipped."""
    after = -1
    while True:
        leaves = list(
            conn.execute(
                select(LEAVES.c.leaf_index, LEAVES.c.event_id, LEAVES.c.leaf_hash)
                .where(LEAVES.c.leaf_index > after)
                .order_by(LEAVES.c.leaf_index)
                .limit(batch)
            )
        )
        rows: dict[int, RowMapping] = {}
        for table in (EVENTS, ARCHIVED_EVENTS):
            missing = [int(leaf.event_id) for leaf in leaves if int(leaf.event_id) not in rows]
            if not missing:
                break
            for row in conn.execute(select(table).where(table.c.id.in_(missing))).mappings():
                rows[int(row["id"])] = row
        for leaf in leaves:
            found = rows.get(int(leaf.event_id))
            if found is not None:
                yield {**found, "leaf_index": leaf.leaf_index, "leaf_hash": leaf.leaf_hash}
        if len(leaves) < batch:
            return
        after = int(leaves[-1].leaf_index)


def latest_checkpoint(conn: Connection) -> RowMapping | None:
    """The checkpoint of the largest tree."""
    return (
        conn.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.tree_size.desc()).limit(1))
        .mappings()
        .first()
    )


def checkpoint_at(conn: Connection, size: int) -> RowMapping | None:
    """The checkpoint of a tree size, if one was made."""
    return (
        conn.execute(select(CHECKPOINTS).where(CHECKPOINTS.c.tree_size == size)).mappings().first()
    )


def checkpoints(conn: Connection, before: int | None, limit: int) -> list[RowMapping]:
    """Checkpoints, largest tree first, below ``before`` when given."""
    query = select(CHECKPOINTS).order_by(CHECKPOINTS.c.tree_size.desc()).limit(limit)
    if before is not None:
        query = query.where(CHECKPOINTS.c.tree_size < before)
    return list(conn.execute(query).mappings())


def all_checkpoints(conn: Connection) -> list[RowMapping]:
    """Every checkpoint, smallest tree first."""
    return list(conn.execute(select(CHECKPOINTS).order_by(CHECKPOINTS.c.tree_size)).mappings())


def insert_checkpoint(
    conn: Connection,
    *,
    tree_size: int,
    root: bytes,
    created_at: datetime,
    origin: str,
    key_id: str,
    note: str,
) -> None:
    """Keep a signed checkpoint."""
    conn.execute(
        insert(CHECKPOINTS).values(
            tree_size=tree_size,
            root=root,
            created_at=created_at,
            origin=origin,
            key_id=key_id,
            note=note,
        )
    )


def set_note(conn: Connection, size: int, old: str, new: str) -> bool:
    """Replace a checkpoint's note (a cosignature added) by compare-and-set."""
    done = conn.execute(
        update(CHECKPOINTS)
        .where(CHECKPOINTS.c.tree_size == size, CHECKPOINTS.c.note == old)
        .values(note=new)
    )
    return bool(done.rowcount == 1)
