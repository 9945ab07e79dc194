"""Hot-path SQL, built once: loading and saving instances, the task projection, events, tokens.

The request paths that run on every step (authenticate, start, complete) use these prepared
SQLAlchemy Core statements on the session's connection instead of the ORM unit of work: same SQL
on both dialects, a fraction of the Python overhead. Row locking differs per dialect and is
chosen here (``FOR UPDATE`` on PostgreSQL; SQLite's write transaction already excludes others).
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Insert,
    Select,
    Table,
    bindparam,
    case,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import UpdateBase

from powerflow.db.models import (
    Alert,
    ArchivedInstance,
    Definition,
    Deployment,
    Event,
    Instance,
    Task,
    TaskRole,
    User,
)

INSTANCES = cast(Table, Instance.__table__)
TASKS = cast(Table, Task.__table__)
_I = INSTANCES.c
_ARCHIVED = cast(Table, ArchivedInstance.__table__)
_T = TASKS.c

USER_BY_TOKEN = select(User.__table__.c.name, User.__table__.c.roles).where(
    User.__table__.c.token_hash == bindparam("token_hash"), User.__table__.c.disabled.is_(False)
)

INSTANCE_COLUMNS = (
    _I.id,
    _I.definition_id,
    _I.definition_key,
    _I.definition_version,
    _I.business_key,
    _I.status,
    _I.state,
    _I.version,
    _I.data,
    _I.incident,
    _I.next_timer_at,
    _I.waiting_messages,
    _I.event_seq,
    _I.last_event_hash,
    _I.started_by,
    _I.created_at,
    _I.updated_at,
    _I.ended_at,
    _I.promised_due_at,
    _I.statutory_due_at,
    _I.clock_paused_at,
    _I.alert_level,
    _I.next_alert_at,
)
_SELECT_INSTANCE = select(*INSTANCE_COLUMNS).where(_I.id == bindparam("instance_id"))
_SELECT_INSTANCE_LOCKED = _SELECT_INSTANCE.with_for_update()

UPDATE_INSTANCE = (
    update(INSTANCES)
    .where(_I.id == bindparam("b_id"), _I.version == bindparam("b_version"))
    .values(
        state=bindparam("state"),
        status=bindparam("status"),
        version=bindparam("new_version"),
        data=bindparam("data"),
        incident=bindparam("incident"),
        next_timer_at=bindparam("next_timer_at"),
        waiting_messages=bindparam("waiting_messages"),
        event_seq=bindparam("event_seq"),
        last_event_hash=bindparam("last_event_hash"),
        updated_at=bindparam("updated_at"),
        ended_at=bindparam("ended_at"),
        promised_due_at=bindparam("promised_due_at"),
        statutory_due_at=bindparam("statutory_due_at"),
        clock_paused_at=bindparam("clock_paused_at"),
        alert_level=bindparam("alert_level"),
        next_alert_at=bindparam("next_alert_at"),
    )
)


def _insert(table: Table, skip: tuple[str, ...] = ()) -> Insert:
    return insert(table).values({c.name: bindparam(c.name) for c in table.c if c.name not in skip})


INSERT_INSTANCE = _insert(INSTANCES)
INSERT_TASK = _insert(TASKS)
INSERT_TASK_ROLE = _insert(cast(Table, TaskRole.__table__))
INSERT_EVENT = _insert(cast(Table, Event.__table__), skip=("id",))
OPEN_TASK_STATES = ("ready", "awaiting_countersign")
"""A task is open while ready, and while its completion waits for a countersignature (the
engine still holds it ready: services/power/countersign.py)."""
_OPEN_STATE = or_(*(_T.state == state for state in OPEN_TASK_STATES))  # no expanding IN: the
# prepared statements below are compiled once, with their literal values fixed
CLOSE_TASK = (
    update(TASKS)
    .where(_T.id == bindparam("b_id"), _OPEN_STATE)
    .values(
        state=bindparam("state"),
        ended_at=bindparam("ended_at"),
        completed_by=bindparam("completed_by"),
        next_alert_at=null(),  # a closed task is never due again: out of the alert loop's index
    )
)
TASK_COLUMNS = (
    _T.id,
    _T.instance_id,
    _T.element_id,
    _T.name,
    _T.kind,
    _T.lane,
    _T.roles,
    _T.state,
    _T.assignee,
    _T.created_at,
    _T.due_at,
    _T.ended_at,
    _T.completed_by,
    _T.alert_level,
    _T.next_alert_at,
)
_TASK_WITH_INSTANCE = (
    select(*TASK_COLUMNS, *INSTANCE_COLUMNS)
    .join_from(TASKS, INSTANCES, _T.instance_id == _I.id)
    .where(_T.id == bindparam("task_id"))
)
_TASK_WITH_INSTANCE_LOCKED = _TASK_WITH_INSTANCE.with_for_update(of=INSTANCES)
DEFINITIONS = cast(Table, Definition.__table__)
SELECT_DEFINITION = select(DEFINITIONS).where(DEFINITIONS.c.id == bindparam("definition_id"))
DEPLOYMENTS = cast(Table, Deployment.__table__)
SELECT_XML = select(DEPLOYMENTS.c.xml).where(DEPLOYMENTS.c.id == bindparam("deployment_id"))
SELECT_OPEN_TASKS = (
    select(*TASK_COLUMNS)
    .where(_T.instance_id == bindparam("instance_id"), _OPEN_STATE)
    .order_by(_T.created_at, _T.id)
)


class Prepared:
    """A write statement compiled once per dialect and run straight on the DBAPI cursor.

    SQLAlchemy's per-execution work (cache key, parameter construction, result set-up) costs
    more than SQLite's own execution of these small statements. The SQL text and the column
    types' bind processors still come from SQLAlchemy, so the values written are exactly the
    ones a Core execution would write, on every dialect.
    """

    def __init__(self, statement: UpdateBase) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, list[str] | None, dict[str, Any], dict[str, Any]]] = {}

    def _for(
        self, dialect: Dialect
    ) -> tuple[str, list[str] | None, dict[str, Any], dict[str, Any]]:
        hit = self._compiled.get(dialect.name)
        if hit is None:
            compiled = self.statement.compile(dialect=dialect)
            order = list(compiled.positiontup or []) if compiled.positional else None
            processors = dict(compiled._bind_processors)
            fixed = {k: v for k, v in compiled.params.items() if v is not None}
            hit = self._compiled[dialect.name] = (compiled.string, order, processors, fixed)
        return hit

    def execute(self, conn: Connection, params: dict[str, Any] | list[dict[str, Any]]) -> int:
        """Run with one parameter set or many; return the affected row count."""
        sql, order, processors, fixed = self._for(conn.dialect)
        many = isinstance(params, list)
        rows = params if isinstance(params, list) else [params]
        converted: list[Any] = []
        for row in rows:
            merged = {**fixed, **row} if fixed else row
            values = {k: (processors[k](v) if k in processors else v) for k, v in merged.items()}
            converted.append(tuple(values[k] for k in order) if order is not None else values)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if many:
                cursor.executemany(sql, converted)
            else:
                cursor.execute(sql, converted[0])
            return int(cursor.rowcount)
        finally:
            cursor.close()


class PreparedSelect:
    """A SELECT compiled once per dialect, run on the DBAPI cursor, rows decoded with the
    column types' own result processors (the same values a Core execution returns)."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, list[str] | None, list[Any], dict[str, Any]]] = {}

    def _for(self, dialect: Dialect) -> tuple[str, list[str] | None, list[Any], dict[str, Any]]:
        hit = self._compiled.get(dialect.name)
        if hit is None:
            compiled = self.statement.compile(dialect=dialect)
            order = list(compiled.positiontup or []) if compiled.positional else None
            processors = [
                col.type.dialect_impl(dialect).result_processor(dialect, None)
                for col in self.statement.selected_columns
            ]
            fixed = {k: v for k, v in compiled.params.items() if v is not None}  # e.g. LIMIT
            hit = self._compiled[dialect.name] = (compiled.string, order, processors, fixed)
        return hit

    def first(self, conn: Connection, params: dict[str, Any]) -> tuple[Any, ...] | None:
        """The first row, decoded, or None."""
        sql, order, processors, fixed = self._for(conn.dialect)
        if fixed:
            params = {**fixed, **params}
        args: Any = tuple(params[k] for k in order) if order is not None else params
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, args)
            row = cursor.fetchone()
        finally:
            cursor.close()
        if row is None:
            return None
        return tuple(p(v) if p is not None else v for p, v in zip(processors, row, strict=True))


class PreparedRows:
    """A prepared SELECT that returns every row, decoded (``decode=False``: as the driver
    returns them, for aggregates whose type needs the driver's own column type to decode).

    ``memo``: remember up to that many decoded rows by their raw values, for queries that read
    the same rows again and again (the open tasks of a large instance, on each of its steps);
    decoded rows are tuples, shared, so a caller must copy any list or dict it changes."""

    def __init__(self, statement: Any, *, decode: bool = True, memo: int = 0) -> None:
        self.statement = statement
        self.decode = decode
        self._compiled: dict[str, Any] = {}
        self._memo_size = memo
        self._memo: OrderedDict[Any, tuple[Any, ...]] = OrderedDict()
        self._memo_lock = threading.Lock()

    def _for(self, dialect: Any) -> Any:
        hit = self._compiled.get(dialect.name)
        if hit is None:
            compiled = self.statement.compile(dialect=dialect)
            binds = dict(compiled._bind_processors)  # e.g. aware datetimes to the stored form
            order = list(compiled.positiontup or []) if compiled.positional else None
            processors = [
                col.type.dialect_impl(dialect).result_processor(dialect, None)
                if self.decode
                else None
                for col in self.statement.selected_columns
            ]
            fixed = {k: v for k, v in compiled.params.items() if v is not None}
            hit = (compiled.string, order, processors, fixed, binds)
            self._compiled[dialect.name] = hit
        return hit

    def all(self, conn: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Every row, decoded."""
        sql, order, processors, fixed, binds = self._for(conn.dialect)
        if fixed:
            params = {**fixed, **params}
        if binds:
            params = {k: (binds[k](v) if k in binds else v) for k, v in params.items()}
        args: Any = tuple(params[k] for k in order) if order is not None else params
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, args)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        if self._memo_size:
            return [self._remembered(processors, row) for row in rows]
        return [
            tuple(p(v) if p is not None else v for p, v in zip(processors, row, strict=True))
            for row in rows
        ]

    def _remembered(self, processors: list[Any], row: Any) -> tuple[Any, ...]:
        try:
            key = tuple(row)
            with self._memo_lock:
                hit = self._memo.get(key)
        except TypeError:  # a value the driver decoded into something unhashable
            key, hit = None, None
        if hit is not None:
            return hit
        decoded = tuple(p(v) if p is not None else v for p, v in zip(processors, row, strict=True))
        if key is not None:
            with self._memo_lock:
                self._memo[key] = decoded
                if len(self._memo) > self._memo_size:
                    self._memo.popitem(last=False)
        return decoded


_UPDATE_INSTANCE = Prepared(UPDATE_INSTANCE)
_INSERT_INSTANCE = Prepared(INSERT_INSTANCE)
_INSERT_TASK = Prepared(INSERT_TASK)
_INSERT_TASK_ROLE = Prepared(INSERT_TASK_ROLE)
_INSERT_EVENT = Prepared(INSERT_EVENT)
_CLOSE_TASK = Prepared(CLOSE_TASK)
_LOAD_TASK_AND_INSTANCE = PreparedSelect(_TASK_WITH_INSTANCE)
_LOAD_TASK_AND_INSTANCE_LOCKED = PreparedSelect(_TASK_WITH_INSTANCE_LOCKED)
# Columns in TaskRow's field order; a large instance reads its open tasks on every step.
_OPEN_TASKS = PreparedRows(SELECT_OPEN_TASKS, memo=20_000)


@dataclass
class InstanceRow:
    """An instance as loaded for a step; services change it, ``save_instance`` writes it."""

    id: str
    definition_id: int
    definition_key: str
    definition_version: int
    business_key: str | None
    status: str
    state: str
    version: int
    data: dict[str, Any]
    incident: dict[str, Any] | None
    next_timer_at: datetime | None
    waiting_messages: list[Any]
    event_seq: int
    last_event_hash: str | None
    started_by: str
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    promised_due_at: datetime | None = None
    statutory_due_at: datetime | None = None
    clock_paused_at: datetime | None = None
    alert_level: str | None = None
    next_alert_at: datetime | None = None
    as_loaded: tuple[str, str, dict[str, Any]] | None = field(
        default=None, repr=False, compare=False
    )
    """Status, saved state and data as read from the database (None for a new instance): what
    the audit log's state binding checks before the instance writes events."""
    bound_seq: int | None = field(default=None, repr=False, compare=False)
    """The event count at which this object's state was last checked against, or bound to,
    its events (services/state_binding.py)."""

    def __post_init__(self) -> None:
        if self.as_loaded is None and self.event_seq:
            self.as_loaded = (self.status, self.state, self.data)

    @classmethod
    def new(
        cls,
        *,
        definition_id: int,
        definition_key: str,
        definition_version: int,
        business_key: str | None,
        status: str,
        state: str,
        started_by: str,
        at: datetime,
    ) -> InstanceRow:
        """A fresh instance (before its first step is recorded), with a new id."""
        return cls(
            id=str(uuid.uuid4()),
            definition_id=definition_id,
            definition_key=definition_key,
            definition_version=definition_version,
            business_key=business_key,
            status=status,
            state=state,
            version=1,
            data={},
            incident=None,
            next_timer_at=None,
            waiting_messages=[],
            event_seq=0,
            last_event_hash=None,
            started_by=started_by,
            created_at=at,
            updated_at=at,
            ended_at=None,
        )


@dataclass
class TaskRow:
    """A row of the task projection."""

    id: str
    instance_id: str
    element_id: str
    name: str
    kind: str
    lane: str | None
    roles: list[str]
    state: str
    assignee: str | None
    created_at: datetime
    due_at: datetime | None
    ended_at: datetime | None
    completed_by: str | None
    alert_level: str | None = None
    next_alert_at: datetime | None = None


def connection(session: Session) -> Connection:
    """The connection of the session's current transaction."""
    return session.connection()


def user_by_token(conn: Connection, token_hash: str) -> tuple[str, list[str]] | None:
    """Name and roles of the active user with this token hash."""
    row = conn.execute(USER_BY_TOKEN, {"token_hash": token_hash}).first()
    return (row[0], list(row[1])) if row is not None else None


def load_instance(conn: Connection, instance_id: str, *, lock: bool) -> InstanceRow | None:
    """An instance row; with ``lock`` the row is locked until commit where the dialect can."""
    stmt = _SELECT_INSTANCE_LOCKED if lock and conn.dialect.name != "sqlite" else _SELECT_INSTANCE
    row = conn.execute(stmt, {"instance_id": instance_id}).first()
    return InstanceRow(**row._mapping) if row is not None else None


def _row_values(row: InstanceRow) -> dict[str, Any]:
    values = dict(row.__dict__)
    del values["as_loaded"], values["bound_seq"]
    return values


def insert_instance(conn: Connection, row: InstanceRow, serializer_version: str) -> None:
    """Insert a new instance."""
    values = _row_values(row)
    values["serializer_version"] = serializer_version
    _INSERT_INSTANCE.execute(conn, values)


def save_instance(conn: Connection, row: InstanceRow) -> bool:
    """Write a changed instance if nobody changed it since it was loaded; bumps its version."""
    values = _row_values(row)
    values["b_id"] = values.pop("id")
    values["b_version"] = row.version
    values["new_version"] = row.version + 1
    for unchanged in (
        "definition_id",
        "definition_key",
        "definition_version",
        "business_key",
        "started_by",
        "created_at",
        "version",
    ):
        values.pop(unchanged)
    if _UPDATE_INSTANCE.execute(conn, values) != 1:
        return False
    row.version += 1
    return True


def load_task_and_instance(
    conn: Connection, task_id: str
) -> tuple[TaskRow, InstanceRow] | tuple[None, None]:
    """A task and its instance in one query, the instance locked where the dialect can."""
    sqlite = conn.dialect.name == "sqlite"
    stmt = _LOAD_TASK_AND_INSTANCE if sqlite else _LOAD_TASK_AND_INSTANCE_LOCKED
    row = stmt.first(conn, {"task_id": task_id})
    if row is None:
        return None, None
    n = len(TASK_COLUMNS)
    task = TaskRow(*row[:n])
    instance = InstanceRow(*row[n:])
    return task, instance


_BUSINESS_KEY = (
    select(_I.id)
    .where(
        _I.definition_key == bindparam("definition_key"),
        _I.business_key == bindparam("business_key"),
    )
    .union_all(
        select(_ARCHIVED.c.id).where(
            _ARCHIVED.c.definition_key == bindparam("definition_key"),
            _ARCHIVED.c.business_key == bindparam("business_key"),
        )
    )
)


def business_key_taken(conn: Connection, definition_key: str, business_key: str) -> bool:
    """Whether an instance of the definition key already uses this business key (a live one,
    or an archived one: a business key names one case for good)."""
    params = {"definition_key": definition_key, "business_key": business_key}
    return conn.execute(_BUSINESS_KEY, params).first() is not None


def definition_row(conn: Connection, definition_id: int) -> dict[str, Any] | None:
    """A definitions row as a mapping."""
    row = conn.execute(SELECT_DEFINITION, {"definition_id": definition_id}).first()
    return dict(row._mapping) if row is not None else None


def definition_rows(conn: Connection, definition_ids: list[int]) -> list[dict[str, Any]]:
    """The definitions rows of these ids, as mappings, in one statement."""
    if not definition_ids:
        return []
    rows = conn.execute(select(DEFINITIONS).where(DEFINITIONS.c.id.in_(definition_ids))).all()
    return [dict(row._mapping) for row in rows]


_LATEST_DEFINITION_ID = PreparedSelect(
    select(DEFINITIONS.c.id)
    .where(DEFINITIONS.c.key == bindparam("key"))
    .order_by(DEFINITIONS.c.version.desc())
    .limit(1)
)
_DEFINITION_ID = PreparedSelect(
    select(DEFINITIONS.c.id).where(
        DEFINITIONS.c.key == bindparam("key"), DEFINITIONS.c.version == bindparam("version")
    )
)


def definition_id(conn: Connection, key: str, version: int | None) -> int | None:
    """The id of a key's given version, or of its latest version."""
    if version is None:
        row = _LATEST_DEFINITION_ID.first(conn, {"key": key})
    else:
        row = _DEFINITION_ID.first(conn, {"key": key, "version": version})
    return int(row[0]) if row is not None else None


def deployment_xml(conn: Connection, deployment_id: int) -> bytes | None:
    """The stored BPMN file of a deployment."""
    xml = conn.execute(SELECT_XML, {"deployment_id": deployment_id}).scalar()
    return bytes(xml) if xml is not None else None


def open_tasks(conn: Connection, instance_id: str) -> list[TaskRow]:
    """The open tasks of an instance (ready or awaiting a countersignature), oldest first."""
    return _task_rows(_OPEN_TASKS.all(conn, {"instance_id": instance_id}))


_COUNT_OPEN_TASKS = PreparedRows(
    select(func.count())
    .select_from(TASKS)
    .where(_T.instance_id == bindparam("instance_id"), _OPEN_STATE),
    decode=False,
)
_OPEN_PAGES: OrderedDict[tuple[Any, ...], PreparedRows] = OrderedDict()
_OPEN_PAGES_LOCK = threading.Lock()
_OPEN_PAGES_MAX = 256  # distinct reading orders (definition versions) kept compiled


def open_task_page(
    conn: Connection, instance_id: str, ranks: dict[str, int], unplaced: int, limit: int
) -> tuple[list[TaskRow], int]:
    """The first ``limit`` open tasks of an instance in reading order (``ranks``: element id ->
    rank, ``unplaced`` for the others), then creation, and how many are open in all.

    The database sorts and cuts the page (an instance with hundreds of ready tasks sends only
    the ``limit`` rows an answer embeds, which come decoded from the statement's memo) and
    counts the rest in a second statement."""
    page = _open_page_statement(ranks, unplaced, limit)
    rows = page.all(conn, {"instance_id": instance_id})
    ((total,),) = _COUNT_OPEN_TASKS.all(conn, {"instance_id": instance_id})
    return _task_rows(rows), int(total)


def _open_page_statement(ranks: dict[str, int], unplaced: int, limit: int) -> PreparedRows:
    """The page statement for one reading order, compiled once and kept (least recently used
    out first)."""
    key = (limit, unplaced, *ranks.items())  # a catalog lists its elements in one order
    with _OPEN_PAGES_LOCK:
        hit = _OPEN_PAGES.get(key)
        if hit is not None:
            _OPEN_PAGES.move_to_end(key)
            return hit
    order = case(ranks, value=_T.element_id, else_=unplaced) if ranks else literal(unplaced)
    statement = PreparedRows(
        select(*TASK_COLUMNS)
        .where(_T.instance_id == bindparam("instance_id"), _OPEN_STATE)
        .order_by(order, _T.created_at, _T.id)
        .limit(limit),
        memo=5_000,
    )
    with _OPEN_PAGES_LOCK:
        statement = _OPEN_PAGES.setdefault(key, statement)
        while len(_OPEN_PAGES) > _OPEN_PAGES_MAX:
            _OPEN_PAGES.popitem(last=False)
    return statement


def _task_rows(decoded: list[tuple[Any, ...]]) -> list[TaskRow]:
    """TaskRows of decoded open-task rows, each with its own roles list (the decoded rows are
    shared through the PreparedRows memo)."""
    tasks = [TaskRow(*row) for row in decoded]
    for task in tasks:
        task.roles = list(task.roles)
    return tasks


def open_tasks_of(conn: Connection, instance_ids: list[str]) -> dict[str, list[TaskRow]]:
    """The open tasks of several instances in one query, grouped by instance."""
    grouped: dict[str, list[TaskRow]] = {}
    if not instance_ids:
        return grouped
    stmt = (
        select(*TASK_COLUMNS)
        .where(_T.instance_id.in_(instance_ids), _OPEN_STATE)
        .order_by(_T.created_at, _T.id)
    )
    for r in conn.execute(stmt):
        task = TaskRow(**r._mapping)
        grouped.setdefault(task.instance_id, []).append(task)
    return grouped


def close_tasks(conn: Connection, closes: list[dict[str, Any]]) -> None:
    """Mark open tasks completed or cancelled (``b_id``, ``state``, ``ended_at``, ...)."""
    if closes:
        _CLOSE_TASK.execute(conn, closes)


def insert_tasks(
    conn: Connection, tasks: list[dict[str, Any]], roles: list[dict[str, Any]]
) -> None:
    """Insert new task rows and their candidate roles."""
    if tasks:
        _INSERT_TASK.execute(conn, tasks)
    if roles:
        _INSERT_TASK_ROLE.execute(conn, roles)


EVENT_ORDER_LOCK = 0x706F776572666C  # any constant; names the lock in pg_locks


def insert_events(conn: Connection, events: list[dict[str, Any]]) -> None:
    """Append event rows; their ids must be visible to readers in increasing order.

    SQLite has one writer, so ids are assigned in commit order. On PostgreSQL, concurrent
    transactions draw sequence values and commit in any order, and a reader following ids could
    skip an event that commits after a higher id. A transaction-level advisory lock taken just
    before the insert (and held until commit) makes id order and commit order the same.
    """
    if not events:
        return
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (EVENT_ORDER_LOCK,))
        finally:
            cursor.close()
    _INSERT_EVENT.execute(conn, events)


ALERTS = cast(Table, Alert.__table__)


def insert_alert(conn: Connection, values: dict[str, Any]) -> int | None:
    """Insert an alert unless one with its ``dedupe_key`` exists; the new id, or None.

    ``ON CONFLICT DO NOTHING`` on both dialects: two workers raising the same crossing at once
    both succeed, one of them inserts.
    """
    dialect_insert: Any = postgresql_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = (
        dialect_insert(ALERTS)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(ALERTS.c.id)
    )
    new_id = conn.execute(stmt).scalar()
    return int(new_id) if new_id is not None else None
