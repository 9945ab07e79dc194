"""Messages and signals between instances: the router, kept messages and their expiry.

One transaction carries a whole chain: a message posted over HTTP, or thrown by an instance's
step (``after_step``, called by ``steps.record_step``), reaches the instances whose catches wait
for it (by correlation key), else starts an instance at a message start event of the latest
definitions, else is kept for a catch reached later (``POWERFLOW_MESSAGE_TTL_SECONDS``) or
refused. What those deliveries throw in turn is queued and routed in the same transaction, up
to ``POWERFLOW_MESSAGE_CHAIN_LIMIT`` deliveries; anything failing rolls the whole chain back.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections import deque
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from powerflow import engine
from powerflow.db import message_queries as mq
from powerflow.db import queries
from powerflow.db.engine import Store
from powerflow.db.queries import InstanceRow
from powerflow.services import state_binding
from powerflow.services.auth import Principal
from powerflow.services.calls import bind_new
from powerflow.services.definitions import definition_by_id, runnable
from powerflow.services.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from powerflow.services.events import SYSTEM_ACTOR, event_rows
from powerflow.services.state_binding import StateTampered
from powerflow.services.views import DefinitionView, MessageView, Page
from powerflow.services.visibility import may_see_instance

log = logging.getLogger("powerflow.messages")

SEND_ROLES = ("clerk", "admin", "worker")
ROUTE_ANY_ROLES = ("admin", "worker")
"""Senders whose messages and signals reach any instance (administrators, and the systems that
integrate with powerflow through a ``worker`` account); a clerk's reach only the instances the
clerk may see (started, or involved in by a role or an act), like the per-instance route."""
READ_ROLES = ("monitor", "auditor", "admin")
KEY_LIMIT = 500


def correlation_key(values: dict[str, Any] | None) -> str | None:
    """The indexed form of correlation values: canonical JSON, hashed when long."""
    key = engine.correlation_key(values)
    if key is not None and len(key) > KEY_LIMIT:
        return "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def _props_json(props: tuple[tuple[str, str], ...]) -> str:
    return orjson.dumps([list(p) for p in props]).decode()[:2000]


def _props(text: str | None) -> tuple[tuple[str, str], ...]:
    if not text:
        return ()
    return tuple((str(a), str(b)) for a, b in orjson.loads(text))


@dataclass
class _Message:
    kind: str
    name: str
    payload: dict[str, Any]
    given: dict[str, Any] | None = None
    business_key: str | None = None
    every: bool = False
    source: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    scope: Principal | None = None  # a sender who may reach only the instances they may see


@dataclass
class _Chain:
    """The deliveries of one transaction: a queue instead of recursion, and a limit."""

    store: Store
    actor: str
    at: datetime
    roles: list[str] = field(default_factory=list)
    queue: deque[tuple[str, str, Any]] = field(default_factory=deque)
    count: int = 0
    touched: set[str] = field(default_factory=set)
    principal: Principal | None = None  # the caller of POST /v1/messages or /v1/signals
    visible: set[str] = field(default_factory=set)  # reached instances it could see before

    def one_more(self) -> None:
        self.count += 1
        limit = self.store.message_chain_limit
        if self.count > limit:
            raise Conflict(
                f"Messages and signals passed between instances more than {limit} times in one "
                "step (POWERFLOW_MESSAGE_CHAIN_LIMIT): the diagrams probably send each other "
                "messages in a loop. Nothing was changed."
            )


_CHAIN: ContextVar[_Chain | None] = ContextVar("powerflow_message_chain", default=None)


# --- The hook every step runs --------------------------------------------------------------


def after_step(
    conn: Connection,
    store: Store | None,
    instance: InstanceRow,
    step: engine.StepResult,
    *,
    actor: str,
    at: datetime,
    new_instance: bool,
) -> bool:
    """Keep the instance's subscriptions in step, route what it threw, deliver kept messages
    its new catches take; all in the caller's transaction. True when further deliveries changed
    this instance (its row is then refreshed in place)."""
    rows = [
        {
            "kind": s.kind,
            "message_name": s.name[:255],
            "correlation_key": correlation_key(s.correlation),
            "properties": _props_json(s.properties),
            "element_id": s.element_id,
        }
        for s in step.subscriptions
    ]
    mq.replace_subscriptions(conn, instance.id, rows, new=new_instance)
    work: list[tuple[str, str, Any]] = [("thrown", instance.id, ev) for ev in step.thrown]
    if any(s.kind == "message" for s in step.subscriptions):
        work.append(("kept", instance.id, None))
    if not work:
        return False
    if store is None:
        log.warning("instance %s threw or awaits messages outside the router", instance.id)
        return False
    chain = _CHAIN.get()
    if chain is not None:  # inside a chain: its loop routes this
        chain.queue.extend(work)
        return False
    chain = _Chain(store, actor, at)
    token = _CHAIN.set(chain)
    try:
        chain.queue.extend(work)
        _drain(conn, chain)
    finally:
        _CHAIN.reset(token)
    if instance.id not in chain.touched:
        return False
    fresh = queries.load_instance(conn, instance.id, lock=False)
    if fresh is not None:
        instance.__dict__.update(fresh.__dict__)
    return True


def deliver_kept(
    conn: Connection, store: Store, instance: InstanceRow, *, actor: str, at: datetime
) -> None:
    """An instance that runs again without an engine step (resumed, or its external task's
    incident resolved) takes the oldest kept message one of its catches waits for: it was kept
    while the instance could receive nothing. Its row is refreshed in place when it changed."""
    if instance.status != "running" or not mq.message_subscriptions_of(conn, instance.id):
        return
    chain = _Chain(store, actor, at)
    token = _CHAIN.set(chain)
    try:
        chain.queue.append(("kept", instance.id, None))
        _drain(conn, chain)
    finally:
        _CHAIN.reset(token)
    if instance.id in chain.touched:
        fresh = queries.load_instance(conn, instance.id, lock=False)
        if fresh is not None:
            instance.__dict__.update(fresh.__dict__)


def _drain(conn: Connection, chain: _Chain) -> None:
    while chain.queue:
        what, instance_id, item = chain.queue.popleft()
        if what == "thrown":
            _route_thrown(conn, chain, instance_id, item)
        else:
            _deliver_kept(conn, chain, instance_id)


# --- Routing -------------------------------------------------------------------------------


def _route_thrown(
    conn: Connection, chain: _Chain, instance_id: str, thrown: engine.ThrownEvent
) -> None:
    msg = _Message(
        thrown.kind,
        thrown.name,
        thrown.payload,
        thrown.correlation,
        every=thrown.kind == "signal",
        source=instance_id,
    )
    if msg.kind == "signal":
        delivered, started = _route_signal(conn, chain, msg)
        _record(conn, chain, msg, "broadcast", delivered, started)
        _append(conn, chain, instance_id, "signal.thrown", {"name": msg.name, "message_id": msg.id})
        return
    delivered, started = _route_message(conn, chain, msg)
    if delivered or started:
        outcome = "delivered" if delivered else "started"
        _record(conn, chain, msg, outcome, delivered, started)
        _append(
            conn,
            chain,
            instance_id,
            "message.thrown",
            {"name": msg.name, "message_id": msg.id, "outcome": outcome},
        )
        return
    expires = _keep_until(chain)
    if expires is None:
        raise Conflict(
            f"The message '{msg.name}' this step throws reaches no waiting instance and starts "
            "none, and unmatched messages are not kept (POWERFLOW_MESSAGE_TTL_SECONDS=0); "
            "nothing was changed."
        )
    _record(conn, chain, msg, "kept", [], [], expires_at=expires)
    _append(
        conn,
        chain,
        instance_id,
        "message.kept",
        {"name": msg.name, "message_id": msg.id, "expires_at": expires.isoformat()},
    )


def _keep_until(chain: _Chain) -> datetime | None:
    ttl = chain.store.message_ttl_seconds
    return chain.at + timedelta(seconds=ttl) if ttl > 0 else None


def _matches(props: tuple[tuple[str, str], ...], key: str | None, msg: _Message) -> bool:
    """Whether a catch (its properties and expected key) takes the message."""
    if not props:
        return True
    values = engine.message_correlation(props, msg.payload, msg.given)
    if values is None:  # SpiffWorkflow would fail computing it as it catches
        return False
    return key is None or key == correlation_key(values)


def _route_message(conn: Connection, chain: _Chain, msg: _Message) -> tuple[list[str], list[str]]:
    keys: set[str] = set()
    for text in mq.property_sets(conn, "message", msg.name):
        key = correlation_key(engine.message_correlation(_props(text), msg.payload, msg.given))
        if key is not None:
            keys.add(key)
    delivered: list[str] = []
    tried: set[str] = set()
    candidates = mq.matching_subscriptions(conn, "message", msg.name, sorted(keys))
    for instance_id, text, key in candidates:
        if instance_id in tried or instance_id == msg.source:
            continue
        props = _props(text)
        if not _matches(props, key, msg):
            continue
        tried.add(instance_id)
        if _deliver(conn, chain, instance_id, msg, props):
            delivered.append(instance_id)
            if not msg.every:
                break
    if delivered:
        return delivered, []
    return [], _start(conn, chain, msg)


def _route_signal(conn: Connection, chain: _Chain, msg: _Message) -> tuple[list[str], list[str]]:
    delivered = [
        instance_id
        for instance_id in mq.signal_listeners(conn, msg.name)
        if instance_id != msg.source and _deliver(conn, chain, instance_id, msg, ())
    ]
    return delivered, _start(conn, chain, msg)


def _deliver(
    conn: Connection,
    chain: _Chain,
    instance_id: str,
    msg: _Message,
    props: tuple[tuple[str, str], ...],
) -> bool:
    """Deliver to one instance (locked); False when it no longer waits for this."""
    row = queries.load_instance(conn, instance_id, lock=True)
    if row is None or row.status != "running":
        return False
    if msg.business_key is not None and row.business_key != msg.business_key:
        return False
    if msg.scope is not None and not may_see_instance(conn, msg.scope, row.id, row.started_by):
        return False  # another person's case: a clerk's message does not reach it
    try:
        state_binding.check(conn, row)
    except StateTampered as exc:  # not the sender's fault: its own step goes on without it
        log.warning("%s %s not delivered to %s: %s", msg.kind, msg.name, instance_id, exc.why)
        return False
    store = chain.store
    definition = definition_by_id(store, conn, row.definition_id)
    try:
        process = runnable(conn, definition, row.state)
        if msg.kind == "signal":
            step = engine.deliver_signal(process, row.state, msg.name, msg.payload)
        else:
            payload = engine.with_correlation(props, msg.payload, msg.given)
            with engine.accepting_payload(_accepted(msg, definition)):
                step = engine.deliver_message(process, row.state, msg.name, payload)
    except (engine.NotWaitingForMessage, engine.NotWaitingForSignal, engine.InstanceNotRunning):
        return False
    except (DomainError, engine.DataRejected) as exc:
        log.info("%s %s not delivered to %s: %s", msg.kind, msg.name, instance_id, exc)
        return False
    except Exception as exc:  # an instance that cannot be restored: not this message's fault
        log.warning("%s %s not delivered to %s: %r", msg.kind, msg.name, instance_id, exc)
        return False
    chain.one_more()
    if chain.principal is not None and may_see_instance(
        conn, chain.principal, row.id, row.started_by
    ):
        chain.visible.add(row.id)
    received: dict[str, Any] = {"payload": msg.payload, "message_id": msg.id}
    if msg.kind == "message":
        received["correlation"] = msg.given
    _record_step(conn, chain, row, definition, step, {f"{msg.kind}.received": received})
    return True


def _record_step(
    conn: Connection,
    chain: _Chain,
    row: InstanceRow,
    definition: DefinitionView,
    step: engine.StepResult,
    extra: dict[str, dict[str, Any]],
    *,
    new_instance: bool = False,
) -> None:
    from powerflow.services.steps import record_step  # steps calls this module back

    record_step(
        conn,
        row,
        definition,
        step,
        actor=chain.actor if new_instance else _actor_on(conn, chain, row.id, row.started_by),
        at=chain.at,
        extra=extra,
        new_instance=new_instance,
        store=chain.store,
    )
    chain.touched.add(row.id)


def _actor_on(conn: Connection, chain: _Chain, instance_id: str, started_by: str | None) -> str:
    """Who the events of a delivery are recorded as: the person whose act caused it, except
    that a message or signal sent over HTTP reaching an instance its sender may not see is
    recorded as ``system`` (acting on an instance makes one its participant: sending must not
    open every waiting case to the sender). The message log names the sender."""
    principal = chain.principal
    if principal is None or may_see_instance(conn, principal, instance_id, started_by or ""):
        return chain.actor
    return SYSTEM_ACTOR


def _accepted(msg: _Message, definition: DefinitionView) -> frozenset[str] | str:
    """The payload names a catch without ``messageVariable`` takes into its data: every name
    of a message another instance threw (both are models); of a message sent over HTTP, those
    the process's ``pf:acceptsData`` accepts (none without it), as for data people submit."""
    if msg.source is not None:
        return "*"
    rule = definition.catalog.get("accepts_data")
    return "*" if rule == "*" else frozenset(rule or ())


def _business_key(msg: _Message, props: tuple[tuple[str, str], ...]) -> str | None:
    """The business key of an instance a message starts: the one the sender named, else the
    start event's correlation values (so one value starts one instance, even under a race)."""
    if msg.business_key is not None:
        return msg.business_key
    if msg.kind != "message" or not props:
        return None
    values = engine.message_correlation(props, msg.payload, msg.given)
    if not values:
        return None
    return ",".join(f"{k}={orjson.dumps(v).decode()}" for k, v in sorted(values.items()))[:255]


def _start(conn: Connection, chain: _Chain, msg: _Message) -> list[str]:
    """Start an instance of every latest definition whose start event takes the message."""
    started: list[str] = []
    for trigger in mq.triggers(conn, msg.kind, msg.name):
        definition = definition_by_id(chain.store, conn, trigger["definition_id"])
        if not definition.executable:
            continue
        props = _props(trigger["properties"])
        business_key = _business_key(msg, props)
        if business_key is not None and queries.business_key_taken(
            conn, definition.key, business_key
        ):
            continue  # started already: the message is for a catch of that instance, or kept
        process = bind_new(chain.store, conn, definition)
        payload = engine.with_correlation(props, msg.payload, msg.given)
        if msg.kind == "message":
            with engine.accepting_payload(_accepted(msg, definition)):
                step = engine.start_by_message(process, msg.name, payload)
        else:
            step = engine.start_by_signal(process, msg.name, payload)
        chain.one_more()
        row = _new_row(definition, step, business_key, chain)
        extra = {
            "instance.started": {"variables": {}, "roles": chain.roles},
            f"{msg.kind}.received": {"payload": msg.payload, "message_id": msg.id},
        }
        nested: AbstractContextManager[Any] = (
            nullcontext() if conn.dialect.name == "sqlite" else conn.begin_nested()
        )
        try:
            with nested:
                _record_step(conn, chain, row, definition, step, extra, new_instance=True)
        except _integrity_errors(conn):  # the same business key started concurrently: once
            continue
        started.append(row.id)
    return started


def _integrity_errors(conn: Connection) -> tuple[type[Exception], ...]:
    """SQLAlchemy's and the driver's own (the hot inserts run on the driver's cursor)."""
    dbapi = getattr(conn.dialect, "loaded_dbapi", None)
    driver = getattr(dbapi, "IntegrityError", None)
    return (IntegrityError, driver) if isinstance(driver, type) else (IntegrityError,)


def _new_row(
    definition: DefinitionView, step: engine.StepResult, business_key: str | None, chain: _Chain
) -> InstanceRow:
    return InstanceRow.new(
        definition_id=definition.id,
        definition_key=definition.key,
        definition_version=definition.version,
        business_key=business_key,
        status=step.status,
        state=step.state,
        started_by=chain.actor,
        at=chain.at,
    )


def _deliver_kept(conn: Connection, chain: _Chain, instance_id: str) -> None:
    """Deliver the oldest kept message one of the instance's catches takes (its next step
    queues the next look)."""
    subs = mq.message_subscriptions_of(conn, instance_id)
    if not subs:
        return
    for kept in mq.kept_messages(conn, sorted({s[0] for s in subs}), chain.at):
        if kept["source_instance_id"] == instance_id:
            continue
        msg = _Message(
            "message",
            kept["name"],
            kept["payload"],
            kept["correlation"],
            kept["business_key"],
            source=kept["source_instance_id"],
            id=kept["id"],
            scope=_sender_scope(conn, kept) if kept["source_instance_id"] is None else None,
        )
        for name, text, key in subs:
            props = _props(text)
            if name != msg.name or not _matches(props, key, msg):
                continue
            if not mq.mark_message(
                conn,
                msg.id,
                "kept",
                status="delivered",
                delivered_to=[instance_id],
                ended_at=chain.at,
            ):
                break  # taken by someone else meanwhile
            if _deliver(conn, chain, instance_id, msg, props):
                return
            mq.mark_message(
                conn, msg.id, "delivered", status="kept", delivered_to=[], ended_at=None
            )
            break


def _sender_scope(conn: Connection, kept: dict[str, Any]) -> Principal | None:
    """The reach of the person who posted a kept message, as of now (their roles may have
    changed since): None for a sender whose messages reach any instance."""
    sender = Principal(name=kept["sender"], roles=frozenset(mq.user_roles(conn, kept["sender"])))
    return None if sender.has(*ROUTE_ANY_ROLES) else sender


# --- Recording -----------------------------------------------------------------------------


def _record(
    conn: Connection,
    chain: _Chain,
    msg: _Message,
    status: str,
    delivered: list[str],
    started: list[str],
    *,
    expires_at: datetime | None = None,
) -> None:
    mq.insert_message(
        conn,
        {
            "id": msg.id,
            "kind": msg.kind,
            "name": msg.name[:255],
            "correlation": msg.given,
            "payload": msg.payload,
            "business_key": msg.business_key,
            "status": status,
            "sender": chain.actor[:100],
            "source_instance_id": msg.source,
            "delivered_to": delivered,
            "started": started,
            "created_at": chain.at,
            "expires_at": expires_at,
            "ended_at": None if status == "kept" else chain.at,
        },
    )


def _append(
    conn: Connection, chain: _Chain, instance_id: str, kind: str, payload: dict[str, Any]
) -> None:
    """One event on an instance outside an engine step (the thrower's side of a message)."""
    row = queries.load_instance(conn, instance_id, lock=False)
    actor = _actor_on(conn, chain, instance_id, row.started_by if row else None)
    append_event(conn, instance_id, kind, payload, actor=actor, at=chain.at)
    chain.touched.add(instance_id)


def append_event(
    conn: Connection,
    instance_id: str,
    kind: str,
    payload: dict[str, Any],
    *,
    actor: str,
    at: datetime,
    element: tuple[str | None, str | None] = (None, None),
) -> bool:
    """Append one event (of the ``element``: id, name) to an instance's hash chain (locked,
    version-checked)."""
    row = queries.load_instance(conn, instance_id, lock=True)
    if row is None:
        return False
    event = engine.StepEvent(kind, element[0], element[1], payload=payload)
    rows = event_rows(row, [event], conn=conn, actor=actor, at=at)
    row.updated_at = at
    if not queries.save_instance(conn, row):
        raise Conflict(f"Instance {instance_id} was changed concurrently; retry.")
    queries.insert_events(conn, rows)
    return True


def deliver_to_instance(
    conn: Connection,
    store: Store,
    instance_id: str,
    name: str,
    payload: dict[str, Any],
    *,
    actor: str,
    at: datetime,
) -> bool:
    """Deliver a message a model declares (a notice's objection message) to one instance, in
    the caller's transaction, with what it throws in turn; False when it does not wait for it.
    Its payload names are taken into the catching task's data (the model named the message)."""
    chain = _Chain(store, actor, at)
    token = _CHAIN.set(chain)
    try:
        msg = _Message("message", name, payload, source="model")
        delivered = _deliver(conn, chain, instance_id, msg, ())
        _drain(conn, chain)
    finally:
        _CHAIN.reset(token)
    return delivered


# --- Use cases -----------------------------------------------------------------------------


def _check_plain(payload: dict[str, Any], correlation: dict[str, Any] | None) -> None:
    try:
        engine.check_plain_json(payload, where="payload")
        if correlation is not None:
            engine.check_plain_json(correlation, where="correlation")
    except engine.DataRejected as exc:
        raise InvalidInput(str(exc)) from None


def post(
    store: Store,
    principal: Principal,
    *,
    kind: str,
    name: str,
    payload: dict[str, Any],
    correlation: dict[str, Any] | None = None,
    business_key: str | None = None,
    every: bool = False,
) -> MessageView:
    """Send a message (to the waiting instance(s) it correlates with, else a start event, else
    kept or refused) or broadcast a signal, in one transaction with everything it causes.

    The view names only the instances the caller may see.
    """
    if not principal.has(*SEND_ROLES):
        raise Forbidden(f"Sending {kind}s needs the 'clerk', 'worker' or 'admin' role.")
    _check_plain(payload, correlation)
    msg = _Message(kind, name, payload, correlation or None, business_key, every)
    msg.scope = None if principal.has(*ROUTE_ANY_ROLES) else principal
    try:
        with store.begin(write=True) as conn:
            chain = _Chain(store, principal.name, store.now(), sorted(principal.roles))
            chain.principal = principal
            token = _CHAIN.set(chain)
            try:
                if kind == "signal":
                    delivered, started = _route_signal(conn, chain, msg)
                    status = "broadcast"
                else:
                    delivered, started = _route_message(conn, chain, msg)
                    status = "delivered" if delivered else "started" if started else "kept"
                expires = _keep_until(chain) if status == "kept" else None
                if status == "kept" and expires is None:
                    raise NotFound(_refusal(msg))
                _record(conn, chain, msg, status, delivered, started, expires_at=expires)
                _drain(conn, chain)
            finally:
                _CHAIN.reset(token)
            return MessageView(
                id=msg.id,
                kind=kind,
                name=name,
                status=status,
                correlation=msg.given,
                business_key=business_key,
                payload=payload,
                sender=principal.name,
                source_instance_id=None,
                delivered_to=[i for i in delivered if i in chain.visible],
                started=started,  # the caller started them: theirs to see
                created_at=chain.at,
                expires_at=expires,
                ended_at=None if status == "kept" else chain.at,
            )
    except IntegrityError:
        raise Conflict(
            f"Another {kind} started the same instance at the same moment; retry."
        ) from None


def _refusal(msg: _Message) -> str:
    given = f" with correlation {msg.given}" if msg.given else ""
    return (
        f"No instance waits for the message '{msg.name}'{given} and no deployed definition "
        "starts with it; unmatched messages are not kept (POWERFLOW_MESSAGE_TTL_SECONDS=0)."
    )


def list_messages(
    store: Store,
    principal: Principal,
    *,
    status: str | None,
    name: str | None,
    limit: int,
    offset: int,
) -> Page:
    """Messages and signals with their outcome, newest first (monitors and administrators)."""
    if not principal.has(*READ_ROLES):
        raise Forbidden("Reading the message log needs the 'monitor' or 'auditor' role.")
    with store.begin(write=False) as conn:
        rows = mq.list_messages(conn, status=status, name=name, limit=limit + 1, offset=offset)
    items = [MessageView(**r) for r in rows[:limit]]
    return Page(items, limit, offset, len(rows) > limit)


def expire_messages(store: Store, *, limit: int = 100) -> int:
    """Expire kept messages whose time has passed (each claimed by compare-and-set, so several
    workers expire it once); the instance that threw one gets a ``message.expired`` event."""
    now = store.now()
    with store.begin(write=False) as conn:
        due = mq.expired_ids(conn, now, limit)
    done = 0
    for message_id in due:
        try:
            with store.begin(write=True) as conn:
                if not mq.mark_message(conn, message_id, "kept", status="expired", ended_at=now):
                    continue
                row = mq.message_row(conn, message_id)
                source = row["source_instance_id"] if row else None
                if row is not None and source:
                    append_event(
                        conn,
                        source,
                        "message.expired",
                        {"name": row["name"], "message_id": message_id},
                        actor="system",
                        at=now,
                    )
            done += 1
        except Exception as exc:  # one message at a time: the others go on
            log.warning("message %s not expired: %r", message_id, exc)
    return done


def index_for_router(conn: Connection, definition: DefinitionView) -> list[engine.StartTrigger]:
    """Index a newly deployed definition for the router: its message catches' correlation
    properties, and its message and signal start events (its key's older versions stop
    starting by message)."""
    process = runnable(conn, definition) if definition.executable else None
    triggers = engine.process_start_triggers(process) if process is not None else []
    if process is not None:
        mq.add_catches(
            conn,
            [
                {
                    "definition_id": definition.id,
                    "kind": kind,
                    "name": name[:255],
                    "properties": _props_json(props),
                }
                for kind, name, props in sorted(engine.process_catch_properties(process))
            ],
        )
    mq.replace_triggers(
        conn,
        definition.key,
        [
            {
                "definition_id": definition.id,
                "definition_key": definition.key,
                "kind": t.kind,
                "name": t.name[:255],
                "element_id": t.element_id,
                "properties": _props_json(t.properties),
            }
            for t in triggers
        ],
    )
    return triggers
