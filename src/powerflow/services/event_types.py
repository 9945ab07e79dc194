"""The payload of every event type: the contract that api/events.schema.json publishes.

Services validate each payload against its model as the event is recorded, so the published
schema and the stored events cannot drift apart.
"""

from __future__ import annotations

from typing import Any, Literal

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
    """A task was completed: by a person (data, role, and the reasoned comment when one was
    given) or by the engine (kind, automatic). After a countersignature: who countersigned (the
    actor is still the person who completed it)."""

    data: dict[str, Any] | None = None
    role: str | None = None
    kind: str | None = None
    automatic: bool = False
    comment: str | None = None
    countersigned_by: str | None = None


class TaskCancelled(Payload):
    """A human task closed without being completed (the event names its element and task;
    the actor is whoever took the step that closed it). ``reason``: ``instance_cancelled``,
    ``instance_completed`` (a terminate end event ended the instance while it was open),
    ``token_moved`` (an administrator moved the token), ``instance_migrated`` (it was not
    kept by the migration) or ``interrupted`` (the process closed it: an interrupting boundary
    event or event subprocess, an event-based gateway, a multi-instance completion condition,
    a terminate end event inside a subprocess; the step's other events say which)."""

    reason: Literal[
        "instance_cancelled",
        "instance_completed",
        "token_moved",
        "instance_migrated",
        "interrupted",
    ]


class TaskCountersignRequested(Payload):
    """A person completed a high-risk task whose risk point needs a countersignature: the
    process waits; what they submitted (data, comment, their role) and the role that must
    countersign."""

    countersign_id: int
    countersign_role: str
    data: dict[str, Any]
    comment: str | None = None
    role: str | None = None


class TaskCountersigned(Payload):
    """A second person holding the countersign role approved the completion (their comment);
    the ``task.completed`` of the person who submitted it follows."""

    countersign_id: int
    countersign_role: str
    requested_by: str
    comment: str | None = None


class TaskCountersignRefused(Payload):
    """A second person holding the countersign role refused the completion, saying why: the
    task is ready again for the person who submitted it."""

    countersign_id: int
    countersign_role: str
    requested_by: str
    comment: str


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
    """A message reached the instance (with the sender's correlation values and the id of the
    message in the message log when it came through the router)."""

    name: str | None = None
    payload: dict[str, Any] | None = None
    correlation: dict[str, Any] | None = None
    message_id: str | None = None


class MessageThrown(Payload):
    """A message the instance threw reached other instances or started one (``outcome``)."""

    name: str
    message_id: str
    outcome: str


class MessageKept(Payload):
    """A message the instance threw reached nothing yet: kept for a later catch until then."""

    name: str
    message_id: str
    expires_at: str


class MessageExpired(Payload):
    """A message the instance threw was kept until its time passed and reached nothing."""

    name: str
    message_id: str


class SignalReceived(Payload):
    """A signal reached the instance (a catch, a boundary event, an event subprocess or a
    signal start event)."""

    name: str | None = None
    payload: dict[str, Any] | None = None
    message_id: str | None = None


class SignalThrown(Payload):
    """The instance broadcast a signal nothing inside it caught (the message log has where it
    went)."""

    name: str
    message_id: str


class ErrorCaught(Payload):
    """A boundary event or an event subprocess caught a BPMN error (the catching element)."""

    code: str | None = None
    name: str | None = None


class EscalationCaught(Payload):
    """A boundary event or an event subprocess caught a BPMN escalation (the catching
    element)."""

    code: str | None = None
    name: str | None = None


class InstanceCompleted(Payload):
    """The instance reached an end event (the event's element)."""


class InstanceFailed(Payload):
    """An automatic step failed and parked the instance; the engine's message and the id of
    the incident opened for it (GET /v1/incidents)."""

    message: str
    incident_id: str | None = None


class InstanceCancelled(Payload):
    """The instance was cancelled, optionally with a reason."""

    reason: str | None = None


class InstanceSuspended(Payload):
    """A supervisor suspended the instance: nothing advances it until it is resumed; from a
    supervision case, with the case's id (``POST /v1/cases/{id}/suspend``)."""

    reason: str | None = None
    case_id: int | None = None


class InstanceResumed(Payload):
    """A supervisor resumed a suspended instance; from a supervision case, with its id."""

    reason: str | None = None
    case_id: int | None = None


class CaseOpened(Payload):
    """A monitor opened a supervision case (督办) on the instance, one of its alerts or one of
    its violations. Texts stay in the case (read under the case's visibility rule); the chain
    carries their sha256 ``digest`` so that a later change to the case is evident."""

    case_id: int
    subject: str
    alert_id: int | None = None
    violation_id: int | None = None
    responsible_role: str | None = None
    due_at: str | None = None
    digest: str


class CaseFindingRecorded(Payload):
    """A finding was recorded on a case, resting on these events of the instance (ids)."""

    case_id: int
    finding_id: int
    evidence: list[int]
    digest: str


class CaseCorrectionRequested(Payload):
    """A case demands a correction of a role or a person, optionally by ``due_at``."""

    case_id: int
    correction_id: int
    to_role: str | None = None
    to_person: str | None = None
    due_at: str | None = None
    digest: str


class CaseCorrected(Payload):
    """The addressee of a correction replied with what was corrected."""

    case_id: int
    correction_id: int
    digest: str


class CaseClosed(Payload):
    """A case was closed with an accountability outcome (docs/supervision.md) concerning
    ``people`` persons (their names stay in the case)."""

    case_id: int
    outcome: str
    people: int
    digest: str


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


class ExternalTaskLocked(Payload):
    """A worker fetched and locked an external task until ``lock_expires_at``."""

    topic: str
    worker_id: str
    lock_expires_at: str


class ExternalTaskCompleted(Payload):
    """A worker completed an external task; the names of the variables it set. ``skipped``:
    an administrator skipped it (POST /v1/instances/{id}/skip) after its last failure; no
    worker then."""

    topic: str
    worker_id: str | None = None
    variables: list[str]
    skipped: bool = False


class ExternalTaskFailed(Payload):
    """A worker reported a failure: fetchable again at ``retry_at`` while retries remain; with
    none left the instance stops with an incident (an ``instance.failed`` event follows)."""

    topic: str
    worker_id: str
    error_message: str
    retries: int
    retry_at: str | None = None


class ExternalTaskErrorThrown(Payload):
    """A worker reported a BPMN error; the error boundary event catching its code took over."""

    topic: str
    worker_id: str
    error_code: str
    error_message: str | None = None


class ExternalTaskRetriesSet(Payload):
    """An administrator gave an external task new retries (resolving its incident if its last
    failure had stopped the instance)."""

    topic: str
    retries: int
    incident_resolved: bool


class IncidentResolved(Payload):
    """An administrator acted on a parked instance: its incident is closed, with what was
    done (retried, skipped, moved, cancelled) and why."""

    incident_id: str
    resolution: str
    reason: str | None = None


class InstanceRetried(Payload):
    """An administrator ran the failed element again, after merging these variables into its
    data (empty: unchanged)."""

    variables: dict[str, Any]
    reason: str


class ElementSkipped(Payload):
    """An administrator completed the failed element without running it."""

    reason: str


class TokenMoved(Payload):
    """An administrator reset the token to this element (it runs again); the elements the
    token was at."""

    from_elements: list[str]
    reason: str


class RolesChanged(Payload):
    """An open task a migration kept, now offered to the roles of its element in the new
    version."""

    task_id: str
    element_id: str
    from_roles: list[str]
    to_roles: list[str]


class InstanceMigrated(Payload):
    """An administrator moved the instance to another version of its definition; what
    changed (element ids), which open or waiting elements were re-predicted, and which open
    tasks it kept are now offered to other roles (``roles_changed``)."""

    from_version: int
    to_version: int
    reason: str
    possible: bool
    reasons: list[str]
    added: list[str]
    removed: list[str]
    changed: dict[str, list[str]]
    reset: list[str]
    roles_changed: list[RolesChanged] = []


class NoticePublished(Payload):
    """A ``pf:notice`` element started: its notice is public (GET /public/notices/{id}) with
    these fields until ``ends_at``; the step after it waits until then (R17)."""

    notice_id: int
    fields: dict[str, Any]
    ends_at: str


class NoticeObjectionReceived(Payload):
    """A member of the public raised an objection during the notice period; whether it was
    delivered to the instance as the notice's objection message. The objector's name and
    contact are not in the event: supervisors read them with GET /v1/notices/{id}/objections."""

    notice_id: int
    objection_id: int
    text: str
    delivered: bool


class NoticeClosed(Payload):
    """The notice's period passed (recorded when it is first noticed: by a read or the next
    act on the instance, see docs/public.md); ``objections``: how many were raised."""

    notice_id: int
    ends_at: str
    objections: int


class NoticeWithdrawn(Payload):
    """The case was cancelled during the notice's period: the notice is withdrawn (no longer
    open, listed among the ended ones as withdrawn, no more objections). ``ends_at``: when its
    period would have ended; ``objections``: how many were raised; ``reason``:
    ``instance_cancelled``."""

    notice_id: int
    ends_at: str
    objections: int
    reason: str


class NoticeObjectionsUndelivered(Payload):
    """The case ended (``reason``: ``instance_cancelled``, ``instance_completed``) while these
    objections to the notice were held for it (raised while it took no message): they will
    never reach it and are no longer held. The objections stay recorded (and listed to
    supervisors as neither delivered nor held)."""

    notice_id: int
    objection_ids: list[int]
    reason: Literal["instance_cancelled", "instance_completed"]


PAYLOADS: dict[str, type[Payload]] = {
    "instance.started": InstanceStarted,
    "task.ready": TaskReady,
    "task.claimed": TaskClaimed,
    "task.unclaimed": TaskUnclaimed,
    "task.completed": TaskCompleted,
    "task.cancelled": TaskCancelled,
    "task.countersign_requested": TaskCountersignRequested,
    "task.countersigned": TaskCountersigned,
    "task.countersign_refused": TaskCountersignRefused,
    "gateway.decided": GatewayDecided,
    "timer.fired": TimerFired,
    "message.received": MessageReceived,
    "message.thrown": MessageThrown,
    "message.kept": MessageKept,
    "message.expired": MessageExpired,
    "signal.received": SignalReceived,
    "signal.thrown": SignalThrown,
    "error.caught": ErrorCaught,
    "escalation.caught": EscalationCaught,
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
    "external_task.locked": ExternalTaskLocked,
    "external_task.completed": ExternalTaskCompleted,
    "external_task.failed": ExternalTaskFailed,
    "external_task.error_thrown": ExternalTaskErrorThrown,
    "external_task.retries_set": ExternalTaskRetriesSet,
    "incident.resolved": IncidentResolved,
    "instance.retried": InstanceRetried,
    "element.skipped": ElementSkipped,
    "token.moved": TokenMoved,
    "instance.migrated": InstanceMigrated,
    "case.opened": CaseOpened,
    "case.finding_recorded": CaseFindingRecorded,
    "case.correction_requested": CaseCorrectionRequested,
    "case.corrected": CaseCorrected,
    "case.closed": CaseClosed,
    "notice.published": NoticePublished,
    "notice.objection_received": NoticeObjectionReceived,
    "notice.closed": NoticeClosed,
    "notice.withdrawn": NoticeWithdrawn,
    "notice.objections_undelivered": NoticeObjectionsUndelivered,
}


def checked_payload(event_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload validated against its event type's model (unknown types are refused)."""
    model = PAYLOADS.get(event_type)
    if model is None:
        raise ValueError(f"unknown event type {event_type!r}: add it to PAYLOADS")
    model.model_validate(payload)
    return payload
