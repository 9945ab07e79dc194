"""Process-local copies of small, rarely changed tables that rules read on every act.

Lists and declarations change a few times a day and are read at every claim and completion a
list or recusal rule guards. Each is kept in memory per database and re-read only when its
version (row count, highest id, count of withdrawn rows: any insert or withdrawal moves it)
changed; the version itself is checked at most once per ``CHECK_SECONDS``. A change made through
this process is seen at once (``forget`` after its commit); other workers see it within
``CHECK_SECONDS``, like a changed API rule or user role.
"""

from __future__ import annotations

import functools
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

from powerflow.db.engine import Store

CHECK_SECONDS = 1.0
T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    version: tuple[Any, ...]
    value: T
    checked_until: float


class Snapshot(Generic[T]):
    """One table's in-memory copy per database, refreshed when its version moves."""

    def __init__(self, version: Any, load: Callable[[Connection], T]) -> None:
        self._version = version
        self._load = load
        # Keyed by the store's connection pool: one copy per database per process (a store's
        # write engine shares the pool of its read engine).
        self._by_database: weakref.WeakKeyDictionary[Any, _Entry[T]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, conn: Connection) -> T:
        """The current copy (one small statement at most once per CHECK_SECONDS)."""
        key = conn.engine.pool
        entry = self._by_database.get(key)
        now = time.monotonic()
        if entry is not None and entry.checked_until > now:
            return entry.value
        version = tuple(conn.execute(self._version).one())
        if entry is None or entry.version != version:
            entry = _Entry(version, self._load(conn), now + CHECK_SECONDS)
        else:
            entry = _Entry(entry.version, entry.value, now + CHECK_SECONDS)
        with self._lock:
            self._by_database[key] = entry
        return entry.value

    def forget(self, store: Store) -> None:
        """Check the version again on the next read (call after committing a change)."""
        with self._lock:
            self._by_database.pop(store.engine.pool, None)


F = TypeVar("F", bound=Callable[..., Any])


def refreshes(snapshot: Snapshot[Any]) -> Callable[[F], F]:
    """Decorate a use case that changes the snapshot's table (taking the store first): the
    snapshot is re-checked once the use case's transaction has ended."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def run(store: Store, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(store, *args, **kwargs)
            finally:
                snapshot.forget(store)

        return run  # type: ignore[return-value]

    return wrap
