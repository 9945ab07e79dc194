"""Plain, typed values that cross the engine boundary.

Nothing here refers to SpiffWorkflow: services and the HTTP layer only ever see these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

JSONValue = Any
InstanceStatus = Literal["running", "completed", "failed", "cancelled"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an uploaded BPMN file, phrased for a process designer."""

    message: str
    line: int | None = None
    element_id: str | None = None
    process_id: str | None = None
    severity: Literal["error", "warning"] = "error"

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape used in API responses and stored with definitions."""
        return {
            "message": self.message,
            "line": self.line,
            "element_id": self.element_id,
            "process_id": self.process_id,
            "severity": self.severity,
        }


@dataclass(frozen=True)
class FormField:
    """A field of a user task's form (from ``camunda:formData``)."""

    id: str
    label: str
    type: str = "string"
    required: bool = False
    default: str | None = None
    options: tuple[tuple[str, str], ...] = ()  # (id, name) for enum fields
    readonly: bool = False
    # camunda:constraint min/max (numbers) and minlength/maxlength (text length)
    limits: tuple[tuple[str, float], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape used in API responses."""
        return {
            "id": self.id,
            "label": self.label,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "options": [{"id": i, "name": n} for i, n in self.options],
            "readonly": self.readonly,
            "limits": dict(self.limits),
        }


@dataclass(frozen=True)
class TaskView:
    """A human task waiting for someone (READY in the engine)."""

    id: str
    element_id: str
    name: str
    kind: str  # userTask, manualTask, task
    lane: str | None
    roles: tuple[str, ...]
    data: dict[str, JSONValue]  # filled only where asked for (``open_tasks``)
    # spiffworkflow:taskMetadataValues evaluated against the task's data (``open_tasks`` only)
    metadata_values: dict[str, JSONValue] | None = None


@dataclass(frozen=True)
class ExternalTaskView:
    """A service task waiting for a worker: its topic, the variables a worker receives, and the
    variables it may submit (``outputs``: None when the task declares none)."""

    id: str
    element_id: str
    name: str
    topic: str
    priority: int
    variables: dict[str, JSONValue]
    outputs: tuple[str, ...] | None


@dataclass(frozen=True)
class PendingTimer:
    """A timer the instance waits on, with its due time as an aware UTC ISO string."""

    element_id: str
    due_at: str


@dataclass(frozen=True)
class PendingMessage:
    """A message the instance waits for."""

    element_id: str | None
    name: str


@dataclass(frozen=True)
class Subscription:
    """A message or signal the instance can catch now, with the correlation it expects.

    ``correlation`` holds the expected value of each correlation property (``None``: any
    message of that name, as for a catch without correlation or whose values are not known
    yet); ``properties`` are the (property name, retrieval expression) pairs that compute a
    message's values from its payload.
    """

    kind: Literal["message", "signal"]
    name: str
    element_id: str | None
    correlation: dict[str, JSONValue] | None = None
    properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ThrownEvent:
    """A message or signal the instance threw that nothing inside it caught: the host routes it
    to other instances (``correlation``: the property values the thrower computed)."""

    kind: Literal["message", "signal"]
    name: str
    payload: dict[str, JSONValue]
    correlation: dict[str, JSONValue] | None = None


@dataclass(frozen=True)
class StartTrigger:
    """A top-level start event of a process that a message or signal starts."""

    kind: Literal["message", "signal"]
    name: str
    element_id: str | None
    properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class StepEvent:
    """One step that happened inside the engine, in order (becomes one event row)."""

    type: str
    element_id: str | None = None
    element_name: str | None = None
    task_id: str | None = None
    payload: dict[str, JSONValue] = field(default_factory=dict)


@dataclass(frozen=True)
class Incident:
    """Why an instance stopped: the element at fault and the engine's message."""

    element_id: str | None
    element_name: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape stored on the instance and returned by the API."""
        return {
            "element_id": self.element_id,
            "element_name": self.element_name,
            "message": self.message,
        }


@dataclass(frozen=True)
class StepResult:
    """What one engine call produced: the new saved state and everything a service records."""

    state: str
    status: InstanceStatus
    open_tasks: tuple[TaskView, ...]
    new_tasks: tuple[TaskView, ...]
    closed_task_ids: tuple[str, ...]
    timers: tuple[PendingTimer, ...]
    messages: tuple[PendingMessage, ...]
    events: tuple[StepEvent, ...]
    data: dict[str, JSONValue]
    incident: Incident | None = None
    # the views (element, name, roles) of ``closed_task_ids``, in the same order, as the tasks
    # were before the step: a task closed without completion is reported with its element
    closed_tasks: tuple[TaskView, ...] = ()
    new_external: tuple[ExternalTaskView, ...] = ()  # external tasks the step opened
    closed_external: tuple[str, ...] = ()  # ids of external tasks the step closed
    subscriptions: tuple[Subscription, ...] = ()
    thrown: tuple[ThrownEvent, ...] = ()

    @property
    def next_timer_at(self) -> str | None:
        """The earliest due time among the waiting timers, if any."""
        return min((t.due_at for t in self.timers), default=None)
