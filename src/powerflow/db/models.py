"""SQLAlchemy models: the durable store of definitions, instances, tasks, events and users.

One schema for SQLite and PostgreSQL; Alembic's history in ``migrations/`` creates it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored and returned as aware UTC datetimes, on every dialect."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(postgresql.JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """Aware current time in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention Alembic can rely on."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSONType, list[Any]: JSONType}


class User(Base):
    """A person or system account with roles; authenticates with a bearer token."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    roles: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Deployment(Base):
    """One uploaded BPMN file, stored byte for byte, identified by its content hash."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    xml: Mapped[bytes] = mapped_column(LargeBinary)
    deployed_by: Mapped[str] = mapped_column(String(100))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Definition(Base):
    """A version of one process (key = BPMN process id) or decision table (key = DMN decision
    id) from a deployment."""

    __tablename__ = "definitions"
    __table_args__ = (
        UniqueConstraint("key", "version"),
        UniqueConstraint("key", "deployment_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"))
    # "process" (a bpmn:process) or "decision" (a DMN decision table, evaluated by business
    # rule tasks; never started on its own)
    kind: Mapped[str] = mapped_column(String(16), default="process", server_default="process")
    content_hash: Mapped[str] = mapped_column(String(64))
    executable: Mapped[bool] = mapped_column(Boolean)
    not_executable_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    catalog: Mapped[dict[str, Any]] = mapped_column(JSONType)
    warnings: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    deployed_by: Mapped[str] = mapped_column(String(100))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Instance(Base):
    """A running or ended process instance with its saved engine state."""

    __tablename__ = "instances"
    __table_args__ = (
        UniqueConstraint("definition_key", "business_key"),
        Index("ix_instances_status_created", "status", "created_at"),
        # the timer worker's claim and next-due lookups (status = 'running', by due time)
        Index("ix_instances_status_timer", "status", "next_timer_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("definitions.id"), index=True)
    definition_key: Mapped[str] = mapped_column(String(255))
    definition_version: Mapped[int] = mapped_column(Integer)
    business_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    incident: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    next_timer_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    waiting_messages: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    event_seq: Mapped[int] = mapped_column(Integer, default=0)
    last_event_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The power layer's clock (services/power/): the case's promised and statutory deadlines,
    # when its clock was paused (None while it runs), its highest open alert level, and when the
    # alert loop must next look at it (indexed: the loop reads only what is due).
    promised_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    statutory_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    clock_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    alert_level: Mapped[str | None] = mapped_column(String(8), nullable=True)
    next_alert_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)


class Task(Base):
    """Projection of human tasks for inbox queries; rebuilt from each engine step."""

    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_instance_state", "instance_id", "state"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"))
    element_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    lane: Mapped[str | None] = mapped_column(String(255), nullable=True)
    roles: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    # ready, awaiting_countersign, completed, cancelled. Widened to 32 by migration 0016 where
    # the length is enforced; SQLite ignores it (and would have to rebuild the table), so there
    # the column stays as declared in 0001.
    state: Mapped[str] = mapped_column(String(32).with_variant(String(16), "sqlite"))
    assignee: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # Highest alert level raised on this task (prompt, yellow, red) and when the alert loop
    # must next look at it; both None when nothing is or will be due.
    alert_level: Mapped[str | None] = mapped_column(String(8), nullable=True)
    next_alert_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)


class ClosedTaskRow(Base):
    """A closed task's projection row as it was, kept when a moved token opens the task again
    under the same id (its ``tasks`` row is then written afresh): the statistics count the
    closing event with the row it closed, ready time, due time, roles and holder (0021)."""

    __tablename__ = "closed_task_rows"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(String(36), index=True)
    state: Mapped[str] = mapped_column(String(32))
    roles: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    assignee: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TaskRole(Base):
    """One candidate role of a task (a task may have several); indexed for the inbox."""

    __tablename__ = "task_roles"

    role: Mapped[str] = mapped_column(String(255), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), primary_key=True, index=True)


class Event(Base):
    """One recorded step, written in the same transaction as the change it records.

    Events of an instance form a hash chain: ``prev_hash`` is the predecessor's ``hash``.
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("instance_id", "seq"),
        # who acted on which instance: the visibility rule (services/visibility.py)
        Index("ix_events_actor_instance", "actor", "instance_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(String(36))  # (instance_id, seq) is indexed
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(64), index=True)
    definition_key: Mapped[str] = mapped_column(String(255))
    definition_version: Mapped[int] = mapped_column(Integer)
    element_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    element_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    actor: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hash: Mapped[str] = mapped_column(String(64))
    state_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """On the last event of each batch an instance writes: the digest of the saved state, data
    and status the batch left (services/audit/binding.py); the chain hash covers it."""


class Webhook(Base):
    """A subscription that receives events by HTTP POST, signed per Standard Webhooks.

    Deliveries follow the event table in id order from ``cursor``; the cursor moves only after a
    receiver acknowledged an event (2xx), so delivery is at least once and survives restarts.
    """

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    filters: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="active")
    paused_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    cursor: Mapped[int] = mapped_column(BigId, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebhookDelivery(Base):
    """The delivery log: one row per event and webhook, with its attempts and last outcome."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("webhook_id", "event_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Alert(Base):
    """A prompt, yellow or red signal on a case (and optionally one of its tasks).

    ``dedupe_key`` names the threshold crossing (for example ``task:<id>:step:yellow`` or
    ``violation:<id>``): it is unique, so each crossing raises exactly one alert even when
    several workers or a restart look at it twice.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_state_raised", "state", "raised_at"),
        Index("ix_alerts_instance", "instance_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    level: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16), default="open")
    source: Mapped[str] = mapped_column(String(16))  # time_limit | rule
    reason: Mapped[str] = mapped_column(String(64))  # e.g. step_limit_passed, R11
    message: Mapped[str] = mapped_column(Text)
    instance_id: Mapped[str] = mapped_column(String(36))
    definition_key: Mapped[str] = mapped_column(String(255))
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    element_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    roles: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    persons: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    rule_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    rule_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    violation_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledge_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolution: Mapped[str | None] = mapped_column(String(64), nullable=True)


# -- Business calendar (issue 8, helper B) ----------------------------------------------------


class CalendarDay(Base):
    """An administrator's edit of one calendar day: a holiday or a working day, and its name.

    Edits override the holiday library for that date. A removed edit is kept (``removed_at``)
    and every write raises ``revision``, so the sum of revisions changes with each edit: that
    is how every worker notices an edit cheaply.
    """

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # holiday | workday
    name: Mapped[str] = mapped_column(String(200))
    changed_by: Mapped[str] = mapped_column(String(100))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)


# ----------------------------------------------------------------- negative-list rules (0007)


class RuleVersion(Base):
    """One version of an organisation-wide rule set through the API; a change is a new row.

    The current rule is the highest version of its ``rule_id``; ``enabled`` False retires it.
    Rules declared in BPMN files live in their definition's catalog instead.
    """

    __tablename__ = "rule_versions"
    __table_args__ = (UniqueConstraint("rule_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    effect: Mapped[str] = mapped_column(String(8))
    level: Mapped[str | None] = mapped_column(String(8), nullable=True)
    message: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    process_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    elements: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    acts: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Declaration(Base):
    """A person's declared relationship or interest (recusal, R12); withdrawn, never deleted."""

    __tablename__ = "declarations"
    __table_args__ = (Index("ix_declarations_person", "person", "withdrawn_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person: Mapped[str] = mapped_column(String(100))
    counterparty: Mapped[str] = mapped_column(String(255))
    counterparty_norm: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    declared_by: Mapped[str] = mapped_column(String(100))
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RuleList(Base):
    """A named list for ``list`` rules (R18), such as blacklisted suppliers."""

    __tablename__ = "rule_lists"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RuleListEntry(Base):
    """A value on a list; removal keeps the row (removed_at) for the record."""

    __tablename__ = "rule_list_entries"
    __table_args__ = (Index("ix_rule_list_entries_lookup", "list_name", "value_norm"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_name: Mapped[str] = mapped_column(ForeignKey("rule_lists.name"))
    value: Mapped[str] = mapped_column(String(255))
    value_norm: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text, default="")
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Violation(Base):
    """A broken rule: which version, by whom, on what act, with its evidence and effect."""

    __tablename__ = "violations"
    __table_args__ = (
        Index("ix_violations_occurred", "occurred_at"),
        Index("ix_violations_instance", "instance_id"),
        Index("ix_violations_rule", "rule_id"),
        Index("ix_violations_actor", "actor", "occurred_at"),  # a person's record (0015)
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(String(100))
    rule_version: Mapped[int] = mapped_column(Integer)
    rule_source: Mapped[str] = mapped_column(String(8))  # bpmn | api
    kind: Mapped[str] = mapped_column(String(32))
    effect: Mapped[str] = mapped_column(String(8))
    level: Mapped[str | None] = mapped_column(String(8), nullable=True)
    act: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    legal_basis: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    instance_id: Mapped[str] = mapped_column(String(36))
    definition_key: Mapped[str] = mapped_column(String(255))
    definition_version: Mapped[int] = mapped_column(Integer)
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    element_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    actor: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RuleLedger(Base):
    """What a ``cumulative`` rule sums: one row per completed guarded act (R13).

    Keyed by the rule, the process and a hash of the key values, so the sum over a window is
    one indexed range query.
    """

    __tablename__ = "rule_ledger"
    __table_args__ = (
        Index("ix_rule_ledger_sum", "rule_id", "definition_key", "key_hash", "occurred_at"),
        Index("ix_rule_ledger_instance", "instance_id", "rule_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(String(100))
    definition_key: Mapped[str] = mapped_column(String(255))
    key_hash: Mapped[str] = mapped_column(String(64))
    instance_id: Mapped[str] = mapped_column(String(36))
    amount: Mapped[float] = mapped_column(Float)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- Alert profiles (helper C: deadlines and alerts; migration 0009) -------------------------


class AlertProfile(Base):
    """A named set of alert thresholds (level, watched limit, offset) and rule levels.

    A process picks one with ``pf:alertProfile``; ``two-tier`` is the default. Seeded by
    migration 0009, edited by administrators (``PUT /v1/alert-profiles/{name}``).
    """

    __tablename__ = "alert_profiles"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    thresholds: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    rule_levels: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- External tasks (helper "external": service tasks done by workers; migration 0012) -------


class ExternalTask(Base):
    """A service task waiting for a worker (Camunda's external task), kept in step with the
    engine by ``services/steps.record_step``.

    ``state``: ``open`` (a worker may fetch it from ``fetchable_at``), ``locked`` (by
    ``worker_id`` until ``lock_expires_at``; fetchable again from then: ``fetchable_at`` equals
    it), ``incident`` (its last retry failed), ``completed`` or ``cancelled``. ``variables`` are
    what a worker receives (the declared inputs, else the task's data when it opened);
    ``outputs`` the variables it may submit (None: any).
    """

    __tablename__ = "external_tasks"
    __table_args__ = (
        Index("ix_external_tasks_fetch", "topic", "state", "fetchable_at"),
        Index("ix_external_tasks_instance", "instance_id", "state"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"))
    element_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    variables: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    outputs: Mapped[list[Any] | None] = mapped_column(JSONType, nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    lock_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    fetchable_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retries: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_details: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


# --- Incidents (issue 9 section 4: parked instances; migration 0014) -------------------------


class IncidentRecord(Base):
    """One incident of an instance: a failed step that parked it, until an administrator
    retries, skips, moves, migrates or cancels (``resolution``, who, why and when)."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_status_created", "status", "created_at"),
        Index("ix_incidents_instance", "instance_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"))
    definition_key: Mapped[str] = mapped_column(String(255))
    definition_version: Mapped[int] = mapped_column(Integer)
    element_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    element_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # open, resolved
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    resolution: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


# --- Messages and signals between instances (issue 9 §1; migration 0010) ---------------------


class MessageSubscription(Base):
    """A message or signal an instance can catch now, rebuilt at every step of the instance.

    ``correlation_key`` is the canonical JSON of the property values the catch expects (NULL:
    any message of that name); ``properties`` the JSON of its (name, retrieval expression)
    pairs, which compute an incoming message's key. Looked up by (kind, name, key).
    """

    __tablename__ = "message_subscriptions"
    __table_args__ = (
        Index("ix_message_subscriptions_lookup", "kind", "message_name", "correlation_key"),
        Index("ix_message_subscriptions_instance", "instance_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(16))
    message_name: Mapped[str] = mapped_column(String(255))
    correlation_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    properties: Mapped[str] = mapped_column(String(2000), default="[]")
    element_id: Mapped[str | None] = mapped_column(String(255), nullable=True)


class StartTrigger(Base):
    """A message or signal start event of a deployed definition (indexed at deploy)."""

    __tablename__ = "start_triggers"
    __table_args__ = (Index("ix_start_triggers_lookup", "kind", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    definition_id: Mapped[int] = mapped_column(Integer, index=True)
    definition_key: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255))
    element_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    properties: Mapped[str] = mapped_column(String(2000), default="[]")


class MessageCatch(Base):
    """The correlation properties of a message or signal catch of a deployed definition (indexed
    at deploy): the property sets an incoming message's correlation keys are computed for."""

    __tablename__ = "message_catches"
    __table_args__ = (Index("ix_message_catches_lookup", "kind", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    definition_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255))
    properties: Mapped[str] = mapped_column(String(2000), default="[]")


class Message(Base):
    """Every message and signal posted or thrown between instances, with what became of it:
    delivered, started an instance, kept for a later catch (until ``expires_at``), expired."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_status_expires", "status", "expires_at"),
        Index("ix_messages_name_status", "name", "status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255))
    correlation: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    business_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str] = mapped_column(String(100))
    source_instance_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    delivered_to: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    started: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


# ------------------------------------------------------------------ timer start events (0011)


class StartTimer(Base):
    """The schedule of one timer start event of a deployed definition version.

    A worker fires a due row by moving ``next_fire_at`` on with a compare-and-set (the row it
    read must still carry the value it read) in the transaction that creates the instance, so
    several workers start one instance per firing. ``next_fire_at`` is NULL once the timer has
    no firing left; deploying a new version of the key deletes the old version's rows.
    """

    __tablename__ = "start_timers"

    definition_id: Mapped[int] = mapped_column(ForeignKey("definitions.id"), primary_key=True)
    element_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    definition_key: Mapped[str] = mapped_column(String(255), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # date | duration | cycle
    value: Mapped[str] = mapped_column(String(255))  # the ISO 8601 value
    next_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    remaining_cycles: Mapped[int] = mapped_column(Integer)  # after next_fire_at; -1: no end
    interval_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    fired_count: Mapped[int] = mapped_column(Integer, default=0)
    last_fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_instance_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# ------------------------------------------------------------- supervision cases (督办, 0015)


class SupervisionCase(Base):
    """A supervision case (督办) a monitor opened on an instance, one of its alerts or one of its
    violations; closed with an accountability outcome and the people it concerns
    (services/supervision/cases.py)."""

    __tablename__ = "supervision_cases"
    __table_args__ = (
        Index("ix_supervision_cases_opened", "opened_at"),
        Index("ix_supervision_cases_instance", "instance_id"),
        Index("ix_supervision_cases_state", "state", "opened_at"),
        Index("ix_supervision_cases_opened_by", "opened_by", "opened_at"),
        Index("ix_supervision_cases_outcome", "outcome", "closed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(String(36))
    subject: Mapped[str] = mapped_column(String(16))  # instance | alert | violation
    alert_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    violation_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    title: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(Text)
    responsible_unit: Mapped[str | None] = mapped_column(String(255), nullable=True)
    responsible_role: Mapped[str | None] = mapped_column(String(255), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    state: Mapped[str] = mapped_column(String(8))  # open | closed
    opened_by: Mapped[str] = mapped_column(String(100))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)


class CasePerson(Base):
    """One person a closed case's outcome names (the person record reads these)."""

    __tablename__ = "case_people"

    case_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("supervision_cases.id"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class CaseFinding(Base):
    """A finding recorded on a case, with the ids of the instance events it rests on."""

    __tablename__ = "case_findings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("supervision_cases.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    evidence: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaseCorrection(Base):
    """A correction a case demands of a role or a person, and their reply."""

    __tablename__ = "case_corrections"
    __table_args__ = (
        Index("ix_case_corrections_person", "to_person", "state"),
        Index("ix_case_corrections_role", "to_role", "state"),
        Index("ix_case_corrections_instance", "instance_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("supervision_cases.id"), index=True)
    instance_id: Mapped[str] = mapped_column(String(36))
    demand: Mapped[str] = mapped_column(Text)
    to_role: Mapped[str | None] = mapped_column(String(255), nullable=True)
    to_person: Mapped[str | None] = mapped_column(String(100), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    state: Mapped[str] = mapped_column(String(8))  # open | answered
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    replied_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CaseEvent(Base):
    """Which events of the instance's chain belong to a case: its timeline is these events."""

    __tablename__ = "case_events"

    case_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("supervision_cases.id"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)  # the event's seq in its instance


# --- Risk points: countersignatures (issue 10 §1; migration 0016) ----------------------------


class TaskCountersign(Base):
    """One completion of a high-risk task waiting for, or decided by, a countersignature.

    The first completion stores what was submitted (``data``, ``comment``) and who submitted it;
    the task waits in state ``awaiting_countersign`` until a second person holding ``role``
    approves (the engine completes the task with this data) or refuses (the task is ready
    again). ``state``: pending, approved, refused. ``ledger``: the rule ledger rows the
    completion adds, written only when it is approved (services/power/policy.py).
    """

    __tablename__ = "task_countersigns"
    __table_args__ = (
        Index("ix_task_countersigns_task", "task_id", "requested_at"),
        Index("ix_task_countersigns_role_state", "role", "state"),
        # who may see a case: the countersign role of its completions (services/visibility.py)
        Index("ix_task_countersigns_instance_role", "instance_id", "role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"))
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id"))
    role: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_role: Mapped[str | None] = mapped_column(String(255), nullable=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ledger: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    decided_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision_comment: Mapped[str | None] = mapped_column(Text, nullable=True)


# ------------------------------------------------------------- public notices (公示, 0017)


class Notice(Base):
    """A public notice (公示) a ``pf:notice`` element published when it started: the fields it
    shows (a snapshot), and its period (services/supervision/notices.py). ``closed_at``: when
    its end was recorded; ``withdrawn_at``: its case was cancelled during the period (0019)."""

    __tablename__ = "notices"
    __table_args__ = (
        Index("ix_notices_instance", "instance_id", "ends_at"),
        Index("ix_notices_ends", "ends_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(String(36))
    definition_key: Mapped[str] = mapped_column(String(255))
    element_id: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(255))
    fields: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    objection_message: Mapped[str | None] = mapped_column(String(255), nullable=True)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class NoticeObjection(Base):
    """An objection a member of the public raised during a notice's period. The name and
    contact are read by supervisors only (GET /v1/notices/{id}/objections). ``held``: raised
    while the case could take no message (suspended, or parked at an incident), to be delivered
    when it runs again (0019)."""

    __tablename__ = "notice_objections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    notice_id: Mapped[int] = mapped_column(BigId, ForeignKey("notices.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    contact: Mapped[str | None] = mapped_column(String(255), nullable=True)
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


# ------------------------------------------------------------------ statistics (0018)


class StatCount(Base):
    """One additive counter of the statistics (services/supervision/statistics.py).

    Keyed by process, element ('' for the process as a whole), role ('' for all), person ('' for
    all), period, metric and label (a histogram bucket, an alert level, a rule id; '' when the
    metric has none). Each count is kept twice: per day (``span`` 'd', ``day`` the day in the
    business time zone) and per month (``span`` 'm', ``day`` the month's first day), so that a
    long range sums months and only its ragged ends by day. The aggregator only adds to ``n``.
    """

    __tablename__ = "stat_counts"
    __table_args__ = (
        # the people and roles summaries: one dimension fixed to '', the span fixed, the other
        # dimension ranged (> ''); the processes summary: role = person = ''
        Index("ix_stat_counts_person_span_role_day", "person", "span", "role", "day"),
        Index("ix_stat_counts_role_span_person_day", "role", "span", "person", "day"),
    )

    # primary key order serves the per-process reads: key, role = '', person = '', span, days
    definition_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    role: Mapped[str] = mapped_column(String(255), primary_key=True)
    person: Mapped[str] = mapped_column(String(100), primary_key=True)
    span: Mapped[str] = mapped_column(String(1), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    element_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(255), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class StatCursor(Base):
    """How far an aggregator has read the event table: every event with an id up to
    ``last_event_id`` is counted. Moved by compare-and-set in the transaction that adds the
    counts, so two workers never count an event twice."""

    __tablename__ = "stat_cursors"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditLeaf(Base):
    """An event as a leaf of the audit log's Merkle tree (services/audit/leaves.py says what
    its leaf hash covers). Leaves are appended in commit order by the sequencer: a leaf index
    is never reused and every event gets exactly one (the unique event id)."""

    __tablename__ = "audit_leaves"

    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditNode(Base):
    """The hash of a complete aligned subtree of the audit log: the ``2**level`` leaves from
    ``node_index * 2**level`` (level >= 1; level 0 is ``audit_leaves``). Written once, when its
    last leaf is appended; a proof reads O(log n) of them."""

    __tablename__ = "audit_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    node_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpoint(Base):
    """A signed checkpoint of the audit log: the tree of ``tree_size`` leaves has ``root``.
    ``note`` is the C2SP signed note (the log's signature, and any witness cosignatures)."""

    __tablename__ = "audit_checkpoints"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    origin: Mapped[str] = mapped_column(String(255))
    key_id: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(Text)


# --- Archive and retention (issue 12 §2; migration 0024) -------------------------------------


class ArchivedInstance(Base):
    """An ended instance moved out of the live tables after the retention period
    (services/archive/). ``record`` holds the instance row and its per-instance rows (tasks,
    task roles, closed task rows, countersignatures, external tasks, incidents) as JSON; the
    columns beside it are what lookups and verification need. ``checkpoint_size``: the signed
    checkpoint that covered every event of the instance when it was archived."""

    __tablename__ = "archived_instances"
    __table_args__ = (
        UniqueConstraint("definition_key", "business_key"),
        Index("ix_archived_instances_archived_at", "archived_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    definition_key: Mapped[str] = mapped_column(String(255))
    definition_version: Mapped[int] = mapped_column(Integer)
    business_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    started_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime())
    archived_at: Mapped[datetime] = mapped_column(UTCDateTime())
    event_count: Mapped[int] = mapped_column(Integer)
    last_event_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger)
    checkpoint_size: Mapped[int] = mapped_column(BigInteger)
    record: Mapped[dict[str, Any]] = mapped_column(JSONType)


class ArchivedEvent(Base):
    """An event of an archived instance: the ``events`` row unchanged (same id, so its leaf in
    ``audit_leaves`` still names it)."""

    __tablename__ = "archived_events"
    __table_args__ = (UniqueConstraint("instance_id", "seq"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    instance_id: Mapped[str] = mapped_column(String(36))
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(64))
    definition_key: Mapped[str] = mapped_column(String(255))
    definition_version: Mapped[int] = mapped_column(Integer)
    element_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    element_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    actor: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hash: Mapped[str] = mapped_column(String(64))
    state_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ArchivedTask(Base):
    """Which archived instance a task id belonged to: a request naming the task is told the
    instance is archived instead of "does not exist"."""

    __tablename__ = "archived_tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(36), index=True)
