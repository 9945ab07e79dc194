"""Which recorded events a mining log holds, and the XES lifecycle transition of each.

Transitions are those of the XES standard lifecycle model (lifecycle extension, model
"standard"). A human task has no separate "start" in powerflow: it is offered (schedule),
claimed (assign), released (reassign) and completed; a countersignature holds it (suspend)
until the second person decides (resume).
"""

from __future__ import annotations

from powerflow.mining.records import MiningEvent

TRANSITIONS: dict[str, str] = {
    "instance.started": "complete",
    "task.ready": "schedule",
    "task.claimed": "assign",
    "task.unclaimed": "reassign",
    "task.countersign_requested": "suspend",
    "task.countersigned": "resume",
    "task.countersign_refused": "resume",
    "task.completed": "complete",
    "task.cancelled": "withdraw",  # pi_abort when the instance ended: see transition()
    "external_task.locked": "start",
    "external_task.completed": "complete",
    "external_task.failed": "ate_abort",
    "external_task.error_thrown": "ate_abort",
    "timer.fired": "complete",
    "message.received": "complete",
    "signal.received": "complete",
    "error.caught": "complete",
    "escalation.caught": "complete",
    "element.skipped": "manualskip",
    "instance.failed": "ate_abort",
    "instance.suspended": "suspend",
    "instance.resumed": "resume",
    "instance.completed": "complete",
    "instance.cancelled": "pi_abort",
}
"""Events of the control flow: the XES log holds these (and the OCEL log too)."""

CASE_TYPES: tuple[str, ...] = (
    "case.opened",
    "case.finding_recorded",
    "case.correction_requested",
    "case.corrected",
    "case.closed",
)
"""Supervision-case events: only the OCEL log holds these, each related to its case object."""

XES_TYPES: tuple[str, ...] = tuple(sorted(TRANSITIONS))
OCEL_TYPES: tuple[str, ...] = tuple(sorted((*TRANSITIONS, *CASE_TYPES)))

INSTANCE_ENDED = frozenset({"instance_cancelled", "instance_completed"})
"""task.cancelled reasons that mean the whole instance ended around the task."""

STATUS_AFTER: dict[str, str] = {
    "instance.started": "running",
    "instance.suspended": "suspended",
    "instance.resumed": "running",
    "instance.failed": "failed",
    "instance.completed": "completed",
    "instance.cancelled": "cancelled",
}
"""The instance's status from each of these events on (the OCEL instance object's history)."""


def transition(event: MiningEvent) -> str:
    """The XES lifecycle transition of an event ("complete" for case events)."""
    if event.type == "task.cancelled" and event.reason in INSTANCE_ENDED:
        return "pi_abort"
    return TRANSITIONS.get(event.type, "complete")


def activity(event: MiningEvent) -> str:
    """The activity: the BPMN element's name, else its id, else the event type (events of the
    instance as a whole, e.g. instance.started)."""
    return event.element_name or event.element_id or event.type
