"""Transaction-scoped advisory locks: PostgreSQL serialises writers of one key with them.

SQLite needs none (one writer at a time holds the database), so there the call costs nothing.
Used by the cumulative rules: the sum over a key is read and its ledger row written under one
lock, so two instances completing at once cannot both read the sum before either writes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import Connection, text

_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


def lock_id(*parts: str) -> int:
    """A signed 64-bit lock number for a tuple of texts (stable across processes)."""
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_keys(conn: Connection, keys: Iterable[tuple[str, ...]]) -> None:
    """Hold a lock on each key until the transaction ends (PostgreSQL; nothing on SQLite).

    Keys are taken in a fixed order, so two transactions locking the same keys never deadlock.
    """
    if conn.dialect.name != "postgresql":
        return
    for key in sorted({lock_id(*k) for k in keys}):
        conn.execute(_LOCK, {"key": key})
