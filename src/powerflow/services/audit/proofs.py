"""Inclusion and consistency proofs of the audit log, read from the stored subtree hashes.

An inclusion proof shows that an event's leaf is at its index in the tree of a given size (whose
root a checkpoint signs); a consistency proof shows that the tree of one size is a prefix of the
tree of a larger size. Both reveal only hashes: whoever holds the event checks its leaf.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from powerflow.audit_log import consistency_proof, inclusion_proof
from powerflow.db import audit_queries as q
from powerflow.db.engine import Store
from powerflow.services.audit.checkpoints import check_reader
from powerflow.services.audit.sequencer import edge
from powerflow.services.auth import Principal
from powerflow.services.errors import Conflict, InvalidInput, NotFound


@dataclass(frozen=True)
class InclusionProof:
    """Leaf ``leaf_index`` with ``leaf_hash`` is in the tree of ``tree_size`` with ``root``."""

    event_id: int
    leaf_index: int
    leaf_hash: bytes
    tree_size: int
    root: bytes
    hashes: list[bytes]


@dataclass(frozen=True)
class ConsistencyProof:
    """The tree of ``first`` leaves (``first_root``) is a prefix of the tree of ``second``."""

    first: int
    second: int
    first_root: bytes
    second_root: bytes
    hashes: list[bytes]


def _size(conn: Connection, requested: int | None, what: str) -> int:
    size = q.tree_size(conn)
    if requested is None:
        latest = q.latest_checkpoint(conn)
        return size if latest is None else int(latest["tree_size"])
    if requested > size:
        raise InvalidInput(
            f"The {what} {requested} is larger than the audit log, which holds {size} events; "
            f"ask for a tree size of at most {size}."
        )
    return requested


def _root(conn: Connection, size: int) -> bytes:
    return edge(conn, size).root()


def inclusion(
    store: Store, principal: Principal, event_id: int, tree_size: int | None
) -> InclusionProof:
    """The proof that an event is in the tree of ``tree_size`` leaves (default: the latest
    checkpoint's)."""
    check_reader(principal)
    with store.begin(write=False) as conn:
        leaf = q.leaf_of_event(conn, event_id)
        if leaf is None:
            if q.event_exists(conn, event_id):
                raise Conflict(
                    f"Event {event_id} is not in the audit log yet: the sequencer appends it "
                    "within a second or two; retry in a moment."
                )
            raise NotFound(f"No event {event_id} is recorded.")
        size = _size(conn, tree_size, "tree size")
        index, leaf_hash = leaf
        if index >= size:
            raise Conflict(
                f"Event {event_id} is leaf {index}, after the tree of {size} leaves; ask for a "
                f"tree size above {index} (the next checkpoint will cover it; retry in a moment)."
            )
        hashes = inclusion_proof(index, size, lambda c: q.subtree_hashes(conn, c))
        return InclusionProof(event_id, index, leaf_hash, size, _root(conn, size), hashes)


def consistency(store: Store, principal: Principal, first: int, second: int) -> ConsistencyProof:
    """The proof that the tree of ``first`` leaves is a prefix of the tree of ``second``."""
    check_reader(principal)
    if first > second:
        raise InvalidInput(
            f"A consistency proof goes from a smaller tree to a larger one: from={first} is "
            f"larger than to={second}."
        )
    with store.begin(write=False) as conn:
        _size(conn, second, "tree size (to)")
        hashes = consistency_proof(first, second, lambda c: q.subtree_hashes(conn, c))
        return ConsistencyProof(first, second, _root(conn, first), _root(conn, second), hashes)
