"""A person's record (个人档案 of e-supervision): the alerts on tasks they held or completed,
the violations they committed, and the outcomes of closed cases that name them, with counts,
over an optional time range. Monitors, auditors and administrators read it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from powerflow.db import case_queries
from powerflow.db.engine import Store
from powerflow.services.auth import Principal
from powerflow.services.errors import Forbidden, InvalidInput
from powerflow.services.visibility import sees_everything

RECORD_LIMIT = 100
"""At most this many of each kind of item, newest first (the counts cover them all)."""


@dataclass(frozen=True)
class PersonRecord:
    """What the record shows: items newest first, counts over the whole range."""

    person: str
    since: datetime | None
    until: datetime | None
    alerts: list[dict[str, Any]]
    alerts_by_level: dict[str, int]
    violations: list[dict[str, Any]]
    violations_by_rule: dict[str, int]
    outcomes: list[dict[str, Any]]
    outcomes_by_kind: dict[str, int]
    counts: dict[str, int]


def person_record(
    store: Store,
    principal: Principal,
    name: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> PersonRecord:
    """The record of the person with this user name (monitor, auditor, admin)."""
    if not sees_everything(principal):
        raise Forbidden("Reading a person's record needs the monitor, auditor or admin role.")
    if since is not None and until is not None and until <= since:
        raise InvalidInput("until must be later than since.")
    with store.begin(write=False) as conn:
        alerts, by_level = case_queries.person_alerts(conn, name, since, until, RECORD_LIMIT)
        violations, by_rule = case_queries.person_violations(conn, name, since, until, RECORD_LIMIT)
        outcomes, by_kind = case_queries.person_outcomes(conn, name, since, until, RECORD_LIMIT)
    return PersonRecord(
        person=name,
        since=since,
        until=until,
        alerts=alerts,
        alerts_by_level=by_level,
        violations=violations,
        violations_by_rule=by_rule,
        outcomes=outcomes,
        outcomes_by_kind=by_kind,
        counts={
            "alerts": sum(by_level.values()),
            "violations": sum(by_rule.values()),
            "outcomes": sum(by_kind.values()),
        },
    )
