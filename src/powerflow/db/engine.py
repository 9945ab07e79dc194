"""Connections and transactions; the one place that knows SQLite from PostgreSQL.

SQLite: WAL, busy timeout, ``BEGIN IMMEDIATE`` for write transactions, and an in-process lock so
writers queue instead of spinning on the busy timeout. PostgreSQL: READ COMMITTED, row locks
(``SELECT ... FOR UPDATE``) taken by the statements in ``db/queries.py``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from powerflow.clock import Clock, SystemClock
from powerflow.periodic import PeriodicThread

log = logging.getLogger("powerflow.db")

# SQLite copies its write-ahead log into the database file inside the commit that crosses this
# many pages. With the background checkpointer running that never happens on a request; without
# it (command-line use) the log grows to at most about 40 MB before a commit checkpoints it.
WAL_AUTOCHECKPOINT_PAGES = 10_000


class DatabaseBusy(Exception):
    """The database is locked by another writer; the request may be retried."""


class TextNotStorable(Exception):
    """A text value holds the NUL character, which PostgreSQL cannot store or compare."""


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
        self._checkpointer: WalCheckpointer | None = None
        self._writer: Connection | None = None
        # The source of "now" for every recorded step and deadline; tests swap in a ManualClock.
        self.clock: Clock = SystemClock()
        # IANA zone of the business calendar (settings.time_zone; set by the app and the CLI).
        self.time_zone: str = "Asia/Shanghai"
        # Messages between instances (settings.message_ttl_seconds / message_chain_limit).
        self.message_ttl_seconds: int = 3600
        self.message_chain_limit: int = 100
        # Objections one public notice takes (settings.notice_max_objections).
        self.notice_max_objections: int = 100

    def now(self) -> datetime:
        """The current time by this store's clock (aware, UTC)."""
        return self.clock.now()

    def start_checkpointer(self, interval: float = 0.2) -> None:
        """Checkpoint a SQLite file's write-ahead log from a background thread (no-op otherwise).

        SQLite's own automatic checkpoint runs inside the commit that crosses its threshold: that
        request then copies pages and waits for an fsync, while the event loop waits with it.
        """
        path = self.url.database
        if not self.is_sqlite or not path or path == ":memory:" or self._checkpointer:
            return
        self._checkpointer = WalCheckpointer(path, interval)
        self._checkpointer.start()

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
                f"wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}",
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
        """A write transaction: committed on success, rolled back on any exception (then the
        exception's ``after_rollback``, if it has one, runs: see ``follow_up``)."""
        with self._follow_up(), self._write() as session:
            yield session

    @contextmanager
    def _follow_up(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            follow_up(self, exc)
            raise

    @contextmanager
    def _write(self) -> Iterator[Session]:
        lock = self._write_lock
        if lock is not None and not lock.acquire(timeout=30):
            raise DatabaseBusy("timed out waiting for the database write lock")
        try:
            with (
                self._translate_busy(),
                Session(self._write_engine, expire_on_commit=False, autoflush=False) as session,
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
        if not write:
            with self._begin(write=False) as conn:
                yield conn
            return
        with self._follow_up(), self._begin(write=True) as conn:
            yield conn

    @contextmanager
    def _begin(self, *, write: bool) -> Iterator[Connection]:
        if not write:
            with self._translate_busy(), self.engine.begin() as conn:
                yield conn
            return
        lock = self._write_lock
        if lock is None:
            with self._translate_busy(), self.engine.begin() as conn:
                yield conn
            self._committed()
            return
        if not lock.acquire(timeout=30):
            raise DatabaseBusy("timed out waiting for the database write lock")
        try:
            with self._translate_busy():
                conn = self._writer_connection()
                try:
                    with conn.begin():
                        yield conn
                except BaseException:
                    if conn.invalidated or conn.closed:
                        self._writer = None
                    raise
        finally:
            lock.release()
        self._committed()

    def _writer_connection(self) -> Connection:
        """SQLite's one writer connection, kept checked out (callers hold the write lock).

        Writers run one at a time anyway; reusing one connection saves the pool checkout,
        the reset on return and SQLAlchemy's connection set-up on every write.
        """
        if self._writer is None:
            self._writer = self._write_engine.connect()
        return self._writer

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read-only transaction that sees one snapshot for all its statements.

        For readers that page through many statements (an export): on PostgreSQL REPEATABLE
        READ, READ ONLY (READ COMMITTED would see commits made between two pages); SQLite's
        deferred read transaction in WAL mode already sees one snapshot from its first read.
        """
        with self._translate_busy(), self.engine.connect() as conn:
            if not self.is_sqlite:
                conn = conn.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            with conn.begin():
                yield conn

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
        except (OperationalError, sqlite3.OperationalError) as exc:
            # BEGIN IMMEDIATE is issued by an event listener on the driver connection, so its
            # "database is locked" arrives as the driver's own error, not wrapped by SQLAlchemy.
            if is_busy_error(exc):
                raise DatabaseBusy(str(getattr(exc, "orig", exc))) from exc
            raise
        except DataError as exc:
            message = str(exc.orig)
            if "NUL" in message or "\\u0000" in message:
                raise TextNotStorable(message) from exc
            raise

    def dispose(self) -> None:
        """Stop the checkpointer and close every pooled connection."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        lock = self._write_lock
        if self._writer is not None and lock is not None and lock.acquire(timeout=30):
            try:
                self._writer.close()
                self._writer = None
            finally:
                lock.release()
        self.engine.dispose()


class WalCheckpointer(PeriodicThread):
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` every ``interval`` seconds, and once on stop.

    PASSIVE never waits for readers or writers; it copies what it can. The sqlite3 module
    releases the GIL while SQLite works, so the copy and its fsync run beside the requests.
    """

    def __init__(self, path: str, interval: float) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout=1000")
        super().__init__(
            "powerflow-wal",
            interval,
            self._checkpoint,
            last_tick_on_stop=True,
            on_stop=self._conn.close,
        )

    def _checkpoint(self) -> None:
        try:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # busy or locked: the next round catches up
            log.info("WAL checkpoint skipped: %s", exc)


def follow_up(store: Store, exc: BaseException) -> None:
    """Run what a refused write records once its transaction has rolled back.

    An exception may carry ``after_rollback(store)``: a record of the refusal itself (for
    example the incident of a step refused on a tampered state) that must not roll back with
    the act. It runs once, in a transaction of its own; a failure there is logged, never
    raised over the refusal.
    """
    action = getattr(exc, "after_rollback", None)
    if action is None:
        return
    exc.after_rollback = None  # type: ignore[attr-defined]  # once, even through nested writes
    try:
        action(store)
    except Exception:
        log.exception("recording a refused write failed")


def _json_dumps(value: Any) -> str:
    """JSON columns are written with orjson: several times faster than the json module."""
    return orjson.dumps(value).decode()


def is_busy_error(exc: OperationalError | sqlite3.OperationalError) -> bool:
    """True for SQLite 'database is locked' and PostgreSQL lock timeouts."""
    text = str(getattr(exc, "orig", exc)).lower()
    return (
        "database is locked" in text
        or "database table is locked" in text
        or "lock timeout" in text
        or "could not obtain lock" in text
    )
