"""Connections and transactions; the one place that knows SQLite from PostgreSQL.

SQLite: WAL, busy timeout, ``BEGIN IMMEDIATE`` for write transactions, and an in-process lock so
writers queue instead of spinning on the busy timeout. PostgreSQL: READ COMMITTED, row locks
(``SELECT ... FOR UPDATE``) taken by the statements in ``db/queries.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker


class DatabaseBusy(Exception):
    """The database is locked by another writer; the request may be retried."""


class Store:
    """A database: engine, session factory and the write discipline for its dialect."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 5000, echo: bool = False) -> None:
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        self.is_sqlite = self.dialect == "sqlite"
        self._write_lock = threading.Lock() if self.is_sqlite else None
        self.engine = self._make_engine(busy_timeout_ms, echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._write_engine = (
            self.engine.execution_options(pf_write=True) if self.is_sqlite else self.engine
        )
        # Process-local caches of rows that never change once written, per database.
        self.immutable_cache: dict[object, object] = {}
        # Called after every committed write transaction (e.g. to wake event subscribers).
        self.commit_listeners: list[Callable[[], None]] = []

    def _make_engine(self, busy_timeout_ms: int, echo: bool) -> Engine:
        if not self.is_sqlite:
            return create_engine(
                self.url,
                echo=echo,
                json_serializer=_json_dumps,
                json_deserializer=orjson.loads,
                pool_pre_ping=True,
                pool_size=10,
                max_overflow=10,
                isolation_level="READ COMMITTED",
            )
        engine = create_engine(
            self.url,
            echo=echo,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
            pool_size=8,
            max_overflow=8,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # BEGIN is emitted below
            cur = dbapi_conn.cursor()
            for pragma in (
                "journal_mode=WAL",
                "synchronous=NORMAL",
                "foreign_keys=ON",
                f"busy_timeout={busy_timeout_ms}",
                "cache_size=-20000",
            ):
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            write = conn.get_execution_options().get("pf_write", False)
            conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction: committed on success, rolled back on any exception."""
        lock = self._write_lock
        if lock is not None and not lock.acquire(timeout=30):
            raise DatabaseBusy("timed out waiting for the database write lock")
        try:
            with self._translate_busy():
                bind = (
                    self.engine.execution_options(pf_write=True) if self.is_sqlite else self.engine
                )
                with (
                    Session(bind, expire_on_commit=False, autoflush=False) as session,
                    session.begin(),
                ):
                    yield session
        finally:
            if lock is not None:
                lock.release()
        self._committed()

    @contextmanager
    def begin(self, *, write: bool) -> Iterator[Connection]:
        """A Core connection in a transaction, for the hot paths (no ORM unit of work).

        Same discipline as ``write()``/``read()``: committed on success, rolled back on error.
        """
        lock = self._write_lock if write else None
        if lock is not None and not lock.acquire(timeout=30):
            raise DatabaseBusy("timed out waiting for the database write lock")
        try:
            with self._translate_busy():
                bind = self._write_engine if write else self.engine
                with bind.begin() as conn:
                    yield conn
        finally:
            if lock is not None:
                lock.release()
        if write:
            self._committed()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction."""
        with self._translate_busy(), self._sessions() as session, session.begin():
            yield session

    def _committed(self) -> None:
        for listener in self.commit_listeners:
            listener()

    @contextmanager
    def _translate_busy(self) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            if is_busy_error(exc):
                raise DatabaseBusy(str(exc.orig)) from exc
            raise

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _json_dumps(value: Any) -> str:
    """JSON columns are written with orjson: several times faster than the json module."""
    return orjson.dumps(value).decode()


def is_busy_error(exc: OperationalError) -> bool:
    """True for SQLite 'database is locked' and PostgreSQL lock timeouts."""
    text = str(exc.orig).lower()
    return (
        "database is locked" in text
        or "database table is locked" in text
        or "lock timeout" in text
        or "could not obtain lock" in text
    )
