"""Statistical anomalies (R26): indicators whose value over a period moved by more than a
threshold against a baseline period, per process, element of a process, role or person.

Audit bodies compare a unit's figures with its own past ("spending up 36 % year on year"):
this reads the statistics (services/supervision/statistics.py) for the period and for its
baseline (the period of the same length just before it, or the same days a year earlier) and
lists every indicator whose relative change reaches the threshold. A small number is not an
anomaly: an indicator is compared only where the larger of its two values reaches ``minimum``
(counts), or where both periods completed at least ``minimum`` (rates and durations)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from powerflow.db.engine import Store
from powerflow.services.auth import Principal
from powerflow.services.errors import InvalidInput
from powerflow.services.supervision import statistics
from powerflow.services.supervision.statistics import (
    PROCESS_READ_ROLES,
    READ_ROLES,
    Figures,
    Listing,
    Range,
    check_roles,
)

Subject = Literal["process", "element", "role", "person"]
Baseline = Literal["previous", "year"]
DEFAULT_DAYS = 30

COUNTS: dict[str, Callable[[Figures], int]] = {
    "started": lambda f: f.started,
    "completed": lambda f: f.completed,
    "cancelled": lambda f: f.cancelled,
    "overdue": lambda f: f.overdue,
    "alerts": lambda f: sum(f.alerts.values()),
    "violations": lambda f: sum(f.violations.values()),
}
"""Indicators that count things in the period."""
MEASURES: dict[str, Callable[[Figures], float | None]] = {
    "overdue_rate": lambda f: f.overdue_rate,
    "p50_seconds": lambda f: f.durations.p50_seconds,
    "p90_seconds": lambda f: f.durations.p90_seconds,
}
"""Indicators measured over what completed in the period (compared where both periods
completed enough)."""


@dataclass(frozen=True)
class Finding:
    """One indicator of one process, element, role or person that moved past the threshold.

    ``change`` is (current - baseline) / baseline; None when the baseline was zero (it
    appeared)."""

    name: str
    indicator: str
    baseline: float
    current: float
    change: float | None


@dataclass(frozen=True)
class Report:
    """The findings of one comparison, largest change first (appearances before them)."""

    subject: Subject
    period: Range
    baseline: Range
    baseline_kind: Baseline
    threshold: float
    minimum: int
    findings: list[Finding]


def baseline_days(first: date, last: date, kind: Baseline) -> tuple[date, date]:
    """The baseline of the period ``first``..``last``: the same number of days just before it,
    or the same days a year earlier (29 February falls back to the 28th)."""
    if kind == "previous":
        length = (last - first).days + 1
        return first - timedelta(days=length), first - timedelta(days=1)
    return _year_before(first), _year_before(last)


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _compare(
    name: str, base: Figures, now: Figures, threshold: float, minimum: int
) -> list[Finding]:
    found: list[Finding] = []
    pairs: list[tuple[str, float, float]] = []
    for indicator, count in COUNTS.items():
        counted = count(base), count(now)
        if max(counted) >= minimum:
            pairs.append((indicator, *counted))
    if base.completed >= minimum and now.completed >= minimum:
        for indicator, measure in MEASURES.items():
            mb, mc = measure(base), measure(now)
            if mb is not None and mc is not None:
                pairs.append((indicator, mb, mc))
    for indicator, b, c in pairs:
        if b == 0:
            if c > 0:
                found.append(Finding(name, indicator, b, c, None))
            continue
        change = (c - b) / b
        if abs(change) >= threshold:
            found.append(Finding(name, indicator, b, c, round(change, 4)))
    return found


def _elements(
    store: Store, principal: Principal, definition_key: str | None, **span: date | None
) -> Listing:
    """One process's elements as a listing (the heat map's figures)."""
    if definition_key is None:
        raise InvalidInput("Comparing elements needs the process: give definition_key.")
    found = statistics.process(store, principal, definition_key, **span)
    return Listing(found.range, found.elements)


_READERS: dict[Subject, Callable[..., Listing]] = {
    "process": statistics.processes,
    "element": _elements,
    "role": statistics.roles,
    "person": statistics.people,
}
_ZERO = Figures(
    started=0,
    completed=0,
    cancelled=0,
    failed=0,
    running=None,
    durations=statistics.Durations(0, None, None, None),
    overdue=0,
    overdue_rate=None,
    alerts={},
    violations={},
    cases={},
    extra={},
)


def anomalies(
    store: Store,
    principal: Principal,
    *,
    subject: Subject = "process",
    first: date | None = None,
    last: date | None = None,
    baseline: Baseline = "previous",
    threshold: float = 0.3,
    minimum: int = 10,
    definition_key: str | None = None,
) -> Report:
    """Each indicator of each process, element of one process, role or person (``subject``)
    whose figure over ``first``..``last`` (default: the 30 days ending today) changed by at
    least ``threshold`` (0.3: 30 %, up or down) against the baseline period, or appeared from
    zero. The reads are the statistics' own, with their roles (a designer may compare
    processes and elements only)."""
    roles = PROCESS_READ_ROLES if subject in ("process", "element") else READ_ROLES
    check_roles(principal, roles, f"statistical anomalies per {subject}")
    if not 0 < threshold <= 100:
        raise InvalidInput("threshold is a fraction above 0 (0.3 means a change of 30 %).")
    if minimum < 1:
        raise InvalidInput("minimum must be at least 1.")
    if definition_key is not None and subject == "process":
        raise InvalidInput(
            "definition_key names the process whose elements, roles or people are compared; "
            "processes are all compared."
        )
    read = _READERS[subject]
    extra: dict[str, Any] = {} if subject == "process" else {"definition_key": definition_key}
    if last is None:
        last = store.now().astimezone(ZoneInfo(store.time_zone)).date()
    try:
        if first is None:
            first = last - timedelta(days=DEFAULT_DAYS - 1)
        base_first, base_last = baseline_days(first, last, baseline)
    except (OverflowError, ValueError):
        raise InvalidInput("The period or its baseline would begin before the year 1.") from None
    current = read(store, principal, first=first, last=last, **extra)
    before = read(store, principal, first=base_first, last=base_last, **extra)
    now_by = {n.name: n.figures for n in current.items}
    base_by = {n.name: n.figures for n in before.items}
    findings = [
        f
        for name in sorted(now_by.keys() | base_by.keys())
        for f in _compare(
            name, base_by.get(name, _ZERO), now_by.get(name, _ZERO), threshold, minimum
        )
    ]
    findings.sort(key=lambda f: (f.change is not None, -abs(f.change or 0.0), f.name))
    return Report(
        subject=subject,
        period=current.range,
        baseline=before.range,
        baseline_kind=baseline,
        threshold=threshold,
        minimum=minimum,
        findings=findings,
    )
