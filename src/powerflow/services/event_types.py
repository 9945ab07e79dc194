"""The payload of every event type: the contract that api/events.schema.json publishes.

Services validate each payload against its model as the event is recorded, so the published
schema and the stored events cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Payload(BaseModel):
    """Base of event payloads: nothing beyond the declared fields."""

    model_config = ConfigDict(extra="forbid")


class InstanceStarted(Payload):
    """An instance was started; with the start variables and the starter's roles, and for an
    instance a timer start event created, the trigger: ``{"type": "timer", "element_id",
    "due_at"}`` (the starter is then the ``timer`` actor, without roles)."""

    variables: dict[str, Any]
    roles: list[str]
    trigger: dict[str, Any] | None = None


class TaskReady(Payload):
    """A human task became ready; who may act on it."""

    roles: list[str]


class TaskClaimed(Payload):
    """A person took a task."""


class TaskUnclaimed(Payload):
    """A task was released."""

    previous_assignee: str


class TaskCompleted(Payload):
    """A task was completed: by a person (data, role) or by the engine (kind, automatic)."""

    data: dict[str, Any] | None = None
    role: str | None = None
    kind: str | None = None
    automatic: bool = False


class FlowTaken(Payload):
    """One outgoing sequence flow a gateway took."""

    flow_id: str | None
    flow_name: str | None
    target: str | None
    condition: str | None


class GatewayDecided(Payload):
    """A gateway chose its outgoing flows."""

    taken: list[FlowTaken]


class TimerFired(Payload):
    """A timer event fired."""


class MessageReceived(Payload):
    """A message reached the instance."""

    name: str | None = None
    payload: dict[str, Any] | None = None


class InstanceCompleted(Payload):
    """The instance reached an end event (the event's element)."""


class InstanceFailed(Payload):
    """An automatic step failed; the engine's message."""

    message: str


class InstanceCancelled(Payload):
    """The instance was cancelled, optionally with a reason."""

    reason: str | None = None


class InstanceSuspended(Payload):
    """A supervisor suspended the instance: nothing advances it until it is resumed."""

    reason: str | None = None


class InstanceResumed(Payload):
    """A supervisor resumed a suspended instance."""

    reason: str | None = None


class AlertRaised(Payload):
    """An alert was raised on the instance (a deadline passed, or a rule was broken)."""

    alert_id: int
    level: str
    source: str
    reason: str
    message: str
    rule_id: str | None = None
    deadline_at: str | None = None


class AlertAcknowledged(Payload):
    """A monitor acknowledged an alert, with a comment."""

    alert_id: int
    level: str
    comment: str | None = None


class AlertResolved(Payload):
    """An alert was resolved: its task completed, its instance ended, or by hand."""

    alert_id: int
    level: str
    resolution: str


class ViolationRecorded(Payload):
    """A negative-list rule was broken by an act that went ahead (effect warn or record)."""

    violation_id: int
    rule_id: str
    rule_version: int
    effect: str
    act: str
    message: str
    legal_basis: list[str]
    evidence: dict[str, Any]


class ViolationBlocked(ViolationRecorded):
    """An act was refused by a blocking rule; the act itself was not applied."""


class ClockPaused(Payload):
    """The case clock stopped: a task of a pf:clockPause element opened."""

    reason: str | None = None
    task_id: str


class ClockResumed(Payload):
    """The case clock runs again; the case's due dates moved later by the time paused."""

    paused_since: str
    paused_seconds: int
    promised_due_at: str | None = None
    statutory_due_at: str | None = None


class DeadlineExtended(Payload):
    """An approved extension moved a deadline of the case (or of one task) later."""

    limit: str
    task_id: str | None = None
    duration: str
    reason: str
    approver_role: str
    previous_due_at: str
    new_due_at: str


PAYLOADS: dict[str, type[Payload]] = {
    "instance.started": InstanceStarted,
    "task.ready": TaskReady,
    "task.claimed": TaskClaimed,
    "task.unclaimed": TaskUnclaimed,
    "task.completed": TaskCompleted,
    "gateway.decided": GatewayDecided,
    "timer.fired": TimerFired,
    "message.received": MessageReceived,
    "instance.completed": InstanceCompleted,
    "instance.failed": InstanceFailed,
    "instance.cancelled": InstanceCancelled,
    "instance.suspended": InstanceSuspended,
    "instance.resumed": InstanceResumed,
    "alert.raised": AlertRaised,
    "alert.acknowledged": AlertAcknowledged,
    "alert.resolved": AlertResolved,
    "violation.recorded": ViolationRecorded,
    "violation.blocked": ViolationBlocked,
    "clock.paused": ClockPaused,
    "clock.resumed": ClockResumed,
    "deadline.extended": DeadlineExtended,
}


def checked_payload(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload validated against its event type's model (unknown types are refused)."""
    model = PAYLOADS.get(event_type)
    if model is None:
        raise ValueError(f"unknown event type {event_type!r}: add it to PAYLOADS")
    model.model_validate(payload)
    return payload
