"""Read models returned by services (plain dataclasses; the HTTP layer renders them)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class DefinitionView:
    """One deployed version of a process."""

    id: int
    key: str
    version: int
    name: str
    executable: bool
    not_executable_reason: str | None
    content_hash: str
    deployment_id: int
    deployed_by: str
    deployed_at: datetime
    catalog: dict[str, Any]
    warnings: list[dict[str, Any]]
    kind: str = "process"  # or "decision" (a DMN decision table)

    @property
    def metadata(self) -> dict[str, Any]:
        """The process-level powerflow metadata."""
        return dict(self.catalog.get("process", {}))

    @property
    def decision(self) -> dict[str, Any] | None:
        """A decision table's hit policy, inputs, outputs and rule count (kind "decision")."""
        found = self.catalog.get("decision")
        return dict(found) if isinstance(found, dict) else None

    @property
    def start_form(self) -> list[dict[str, Any]]:
        """The form fields of the start event: the variables POST /v1/instances takes."""
        return list(self.catalog.get("start", {}).get("form", []))


@dataclass(frozen=True)
class DeployOutcome:
    """Result of an upload: whether anything new was deployed, and the definitions."""

    created: bool
    message: str
    definitions: list[DefinitionView]


@dataclass(frozen=True)
class TaskRecord:
    """A human task as the inbox sees it."""

    id: str
    instance_id: str
    definition_key: str
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
    overdue: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    form: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] | None = None
    metadata_values: dict[str, Any] | None = None  # spiffworkflow:taskMetadataValues
    business_key: str | None = None  # the instance's, where the read joins it


@dataclass(frozen=True)
class InstanceView:
    """A process instance with its open tasks."""

    id: str
    definition_key: str
    definition_version: int
    business_key: str | None
    status: str
    version: int
    data: dict[str, Any]
    incident: dict[str, Any] | None
    next_timer_at: datetime | None
    waiting_messages: list[Any]
    started_by: str
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    tasks: list[TaskRecord]  # the first EMBEDDED_TASKS ready tasks, in reading order
    promised_due_at: datetime | None = None
    statutory_due_at: datetime | None = None
    clock_paused: bool = False
    alert_level: str | None = None
    tasks_total: int = 0  # every ready task, embedded or not


@dataclass(frozen=True)
class EventView:
    """One recorded step."""

    id: int
    instance_id: str
    seq: int
    type: str
    definition_key: str
    definition_version: int
    element_id: str | None
    element_name: str | None
    task_id: str | None
    actor: str
    payload: dict[str, Any]
    occurred_at: datetime
    prev_hash: str | None
    hash: str

    @classmethod
    def of(cls, row: Any) -> EventView:
        """The view of an event row: a mapping (a Core row, an archived record) or an object
        with the columns as attributes (an ORM row). Columns a view does not show (the state
        digest) are left out."""
        if hasattr(row, "keys"):
            return cls(**{name: row[name] for name in EVENT_VIEW_FIELDS})
        return cls(**{name: getattr(row, name) for name in EVENT_VIEW_FIELDS})


EVENT_VIEW_FIELDS = tuple(f.name for f in fields(EventView))


@dataclass(frozen=True)
class Page:
    """A slice of a list, with whether more items follow."""

    items: list[Any]
    limit: int
    offset: int
    has_more: bool


@dataclass(frozen=True)
class MessageView:
    """A message or signal in the message log, with what became of it."""

    id: str
    kind: str
    name: str
    status: str  # delivered, started, kept, expired, broadcast
    correlation: dict[str, Any] | None
    business_key: str | None
    payload: dict[str, Any]
    sender: str
    source_instance_id: str | None
    delivered_to: list[str]
    started: list[str]
    created_at: datetime
    expires_at: datetime | None
    ended_at: datetime | None
