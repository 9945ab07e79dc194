"""The plain records the writers format: one recorded event, reduced to what mining needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class MiningEvent:
    """One recorded event of an instance, with the instance's trace attributes.

    Deliberately not the event's payload: only activity, time, resource, role, lifecycle and
    ids leave the system (data minimisation, docs/audit.md "Export for process mining").
    """

    event_id: int
    instance_id: str
    seq: int
    type: str
    occurred_at: datetime
    element_id: str | None
    element_name: str | None
    task_id: str | None
    actor: str
    person: str | None
    """The actor when a person acted; None for the engine's own steps (system, timer)."""
    role: str | None
    """The role the person acted in, where the event records one."""
    reason: str | None
    """Why a task was cancelled (task.cancelled only): decides its lifecycle transition."""
    case_id: str | None
    """The supervision case the event belongs to (case.* and a case's suspensions)."""
    case_subject: str | None
    """What a case was opened on (case.opened only)."""
    case_outcome: str | None
    """How a case was closed (case.closed only)."""
    business_key: str | None
    definition_key: str
    definition_version: int
