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
    """An instance was started; with the start variables and the starter's roles."""

    variables: dict[str, Any]
    roles: list[str]


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
}


def checked_payload(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload validated against its event type's model (unknown types are refused)."""
    model = PAYLOADS.get(event_type)
    if model is None:
        raise ValueError(f"unknown event type {event_type!r}: add it to PAYLOADS")
    model.model_validate(payload)
    return payload
