"""Alerts: prompt, yellow and red signals on a case, raised exactly once per threshold crossing.

``open_alert`` is the one way an alert comes into being, whoever raises it (the alert loop when
a deadline passes, a rule when it is broken): it inserts the row under its unique dedupe key and
returns the ``alert.raised`` event for the caller to append to the instance's chain in the same
transaction. A second attempt at the same crossing inserts nothing and returns None.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from powerflow.db import alert_queries, queries
from powerflow.db.models import Alert
from powerflow.db.queries import InstanceRow
from powerflow.engine import StepEvent

ALERT_LEVELS = ("prompt", "yellow", "red")
ALERT_STATES = ("open", "acknowledged", "resolved")


def higher_level(a: str | None, b: str | None) -> str | None:
    """The more severe of two alert levels (None is below prompt)."""
    rank: dict[str | None, int] = {None: -1}
    rank.update((level, i) for i, level in enumerate(ALERT_LEVELS))
    return a if rank[a] >= rank[b] else b


@dataclass(frozen=True)
class AlertSpec:
    """What is alerted: level, why (source and reason), a sentence, and what it is about."""

    level: str
    source: str  # "time_limit" or "rule"
    reason: str  # e.g. "step_limit_passed", or the rule id
    message: str
    dedupe_key: str
    task_id: str | None = None
    element_id: str | None = None
    element_name: str | None = None
    roles: Sequence[str] = ()
    persons: Sequence[str] = ()
    rule_id: str | None = None
    rule_version: int | None = None
    violation_id: int | None = None
    deadline_at: datetime | None = None


def open_alert(
    conn: Connection, instance: InstanceRow, spec: AlertSpec, *, at: datetime
) -> StepEvent | None:
    """Insert the alert unless this crossing was already alerted; its ``alert.raised`` event.

    Raises the instance's ``alert_level`` (the caller saves the instance and appends the event
    with ``event_rows`` in the same transaction).
    """
    if spec.level not in ALERT_LEVELS:
        raise ValueError(f"unknown alert level {spec.level!r}")
    alert_id = queries.insert_alert(
        conn,
        {
            "dedupe_key": spec.dedupe_key[:200],
            "level": spec.level,
            "state": "open",
            "source": spec.source,
            "reason": spec.reason[:64],
            "message": spec.message,
            "instance_id": instance.id,
            "definition_key": instance.definition_key,
            "task_id": spec.task_id,
            "element_id": spec.element_id,
            "roles": list(spec.roles),
            "persons": list(spec.persons),
            "rule_id": spec.rule_id,
            "rule_version": spec.rule_version,
            "violation_id": spec.violation_id,
            "deadline_at": spec.deadline_at,
            "raised_at": at,
        },
    )
    if alert_id is None:
        return None
    instance.alert_level = higher_level(instance.alert_level, spec.level)
    payload = {
        "alert_id": alert_id,
        "level": spec.level,
        "source": spec.source,
        "reason": spec.reason,
        "message": spec.message,
        "rule_id": spec.rule_id,
        "deadline_at": spec.deadline_at.isoformat() if spec.deadline_at else None,
    }
    return StepEvent("alert.raised", spec.element_id, spec.element_name, spec.task_id, payload)


def has_open_alert(conn: Connection, instance_id: str, dedupe_prefix: str) -> bool:
    """Whether the instance has an open alert whose ``dedupe_key`` starts with the prefix
    (the prefix holds no LIKE wildcard: callers build it from hex digits)."""
    found = conn.execute(
        select(Alert.id)
        .where(
            Alert.instance_id == instance_id,
            Alert.state == "open",
            Alert.dedupe_key.startswith(dedupe_prefix, autoescape=True),
        )
        .limit(1)
    ).first()
    return found is not None


_RANK = {level: i for i, level in enumerate(ALERT_LEVELS)}


def highest(levels: Iterable[str | None]) -> str | None:
    """The most severe of several alert levels (None when there is none)."""
    best: str | None = None
    for level in levels:
        best = higher_level(best, level)
    return best


def resolve_alerts(
    conn: Connection,
    instance: InstanceRow,
    *,
    at: datetime,
    resolutions: dict[str, str] | None = None,
    everything: str | None = None,
) -> list[StepEvent]:
    """Resolve the open deadline alerts of closed tasks (``resolutions``: task id -> resolution)
    or, with ``everything`` (the instance ended), all of the instance's; their ``alert.resolved``
    events. Rule alerts stay open for a monitor (``alert_queries.resolve_alerts``).

    Recomputes the instance's ``alert_level`` from what stays open (the caller saves it).
    """
    resolved: list[dict[str, Any]] = []
    if everything is not None:
        resolved = alert_queries.resolve_alerts(conn, instance.id, None, everything, at)
    else:
        by_resolution: dict[str, list[str]] = {}
        for task_id, resolution in (resolutions or {}).items():
            by_resolution.setdefault(resolution, []).append(task_id)
        for resolution, task_ids in by_resolution.items():
            resolved += alert_queries.resolve_alerts(conn, instance.id, task_ids, resolution, at)
    return _resolved_events(conn, instance, resolved)


def resolve_superseded(
    conn: Connection,
    instance: InstanceRow,
    limits: Iterable[str],
    task_id: str | None,
    at: datetime,
    resolution: str,
) -> list[StepEvent]:
    """Resolve the deadline alerts raised against deadlines that moved (of ``limits``, or of
    the task ``task_id``); their ``alert.resolved`` events. The thresholds of the new deadline
    are raised afresh (their dedupe keys name it). Nothing is read when the instance has no
    alert open."""
    if instance.alert_level is None:
        return []
    rows: list[dict[str, Any]] = []
    for limit in limits:
        rows += alert_queries.resolve_superseded(conn, instance.id, limit, task_id, at, resolution)
    return _resolved_events(conn, instance, rows)


def _resolved_events(
    conn: Connection, instance: InstanceRow, resolved: list[dict[str, Any]]
) -> list[StepEvent]:
    """The ``alert.resolved`` events of resolved alert rows; the instance's level follows what
    is still open."""
    if not resolved:
        return []
    instance.alert_level = highest(alert_queries.open_alert_levels(conn, instance.id))
    return [
        StepEvent(
            "alert.resolved",
            r["element_id"],
            None,
            r["task_id"],
            {"alert_id": r["id"], "level": r["level"], "resolution": r["resolution"]},
        )
        for r in resolved
    ]
