"""/v1/stats: counts, durations, overdue rates, alerts and violations per process, element,
role and person over a range of days (services/supervision/statistics.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query

from powerflow.api.deps import PrincipalDep, StoreDep, call
from powerflow.api.errors import documented
from powerflow.api.stats_schemas import (
    AnomalyRead,
    AnomalyReport,
    FiguresRead,
    NamedFigures,
    ProcessStatsRead,
    RangeRead,
    StatsListing,
)
from powerflow.services.supervision import anomalies, statistics

router = APIRouter(tags=["statistics"])
From = Annotated[
    date | None,
    Query(
        alias="from",
        description="First day counted (ISO date, business time zone; default: the start)",
    ),
]
To = Annotated[
    date | None,
    Query(description="Last day counted, included (ISO date; default: today)"),
]
Key = Annotated[str | None, Query(max_length=255, description="Only this process")]
STATS_ERRORS = documented(
    not_found="No process is deployed under this key",
    forbidden="Reading statistics needs the monitor, auditor or admin role (designers: the "
    "per-process figures only)",
    invalid="A bad date, or a range that ends before it starts or spans more than 3660 days",
)


def _range(span: statistics.Range) -> RangeRead:
    return RangeRead(
        from_=span.first, to=span.last, as_of_event_id=span.as_of_event_id, as_of=span.as_of
    )


def _listing(found: statistics.Listing) -> StatsListing:
    return StatsListing(
        range=_range(found.range),
        items=[NamedFigures.model_validate(item) for item in found.items],
    )


@router.get(
    "/v1/stats/processes",
    response_model=StatsListing,
    responses=STATS_ERRORS,
    summary="Figures per process",
)
async def process_stats(
    store: StoreDep, principal: PrincipalDep, from_: From = None, to: To = None
) -> StatsListing:
    """Each process's instances started, completed, cancelled, failed and running, their
    durations, overdue rate, alerts by level and violations by rule over the range."""
    found = await call(store, statistics.processes, store, principal, first=from_, last=to)
    return _listing(found)


@router.get(
    "/v1/stats/processes/{key}",
    response_model=ProcessStatsRead,
    responses=STATS_ERRORS,
    summary="One process's figures, per element",
)
async def one_process_stats(
    key: Annotated[str, Path(max_length=255)],
    store: StoreDep,
    principal: PrincipalDep,
    from_: From = None,
    to: To = None,
) -> ProcessStatsRead:
    """The process's figures and each element's (tasks ready, completed, cancelled and still
    open at the end of the range, durations from ready to completed, overdue rate, alerts by
    level, violations by rule): a heat map."""
    found = await call(store, statistics.process, store, principal, key, first=from_, last=to)
    return ProcessStatsRead(
        definition_key=found.definition_key,
        range=_range(found.range),
        process=FiguresRead.model_validate(found.process),
        elements=[NamedFigures.model_validate(e) for e in found.elements],
    )


@router.get(
    "/v1/stats/roles",
    response_model=StatsListing,
    responses=STATS_ERRORS,
    summary="Figures per role",
)
async def role_stats(
    store: StoreDep,
    principal: PrincipalDep,
    from_: From = None,
    to: To = None,
    definition_key: Key = None,
) -> StatsListing:
    """Each role's tasks (those it was a candidate for: ready, completed, cancelled, still
    open at the end of the range, durations, overdue) and the alerts that concern it, over the
    range."""
    found = await call(
        store,
        statistics.roles,
        store,
        principal,
        definition_key=definition_key,
        first=from_,
        last=to,
    )
    return _listing(found)


@router.get(
    "/v1/stats/people",
    response_model=StatsListing,
    responses=STATS_ERRORS,
    summary="Figures per person",
)
async def people_stats(
    store: StoreDep,
    principal: PrincipalDep,
    from_: From = None,
    to: To = None,
    definition_key: Key = None,
) -> StatsListing:
    """Each person's instances started, tasks completed (durations, overdue), tasks claimed
    and still held at the end of the range (running), the alerts that concern them and the
    violations they committed, over the range."""
    found = await call(
        store,
        statistics.people,
        store,
        principal,
        definition_key=definition_key,
        first=from_,
        last=to,
    )
    return _listing(found)


@router.get(
    "/v1/stats/anomalies",
    response_model=AnomalyReport,
    responses=STATS_ERRORS,
    summary="Statistical anomalies (R26): indicators that moved against a baseline",
)
async def anomaly_report(
    store: StoreDep,
    principal: PrincipalDep,
    by: Annotated[
        anomalies.Subject,
        Query(
            description="Compare processes, the elements of one process (give "
            "definition_key), roles or people"
        ),
    ] = "process",
    from_: Annotated[
        date | None,
        Query(alias="from", description="First day of the period (default: 30 days to `to`)"),
    ] = None,
    to: To = None,
    baseline: Annotated[
        anomalies.Baseline,
        Query(
            description="previous: the same number of days just before the period; year: the "
            "same days a year earlier"
        ),
    ] = "previous",
    threshold: Annotated[
        float, Query(gt=0, le=100, description="Relative change that counts (0.3: 30 %)")
    ] = 0.3,
    minimum: Annotated[
        int,
        Query(
            ge=1,
            le=1_000_000,
            description="Smallest count compared (rates and durations: completions in each period)",
        ),
    ] = 10,
    definition_key: Key = None,
) -> AnomalyReport:
    """Each indicator (started, completed, cancelled, overdue, alerts, violations, overdue
    rate, p50 and p90 durations) of each process, element of one process, role or person whose
    figure over the period changed by at least ``threshold`` against the baseline, up or down,
    or appeared from zero.
    Processes and elements: monitor, auditor, admin, designer; roles and people: monitor,
    auditor, admin."""
    found = await call(
        store,
        anomalies.anomalies,
        store,
        principal,
        subject=by,
        first=from_,
        last=to,
        baseline=baseline,
        threshold=threshold,
        minimum=minimum,
        definition_key=definition_key,
    )
    return AnomalyReport(
        by=found.subject,
        range=_range(found.period),
        baseline_range=_range(found.baseline),
        baseline=found.baseline_kind,
        threshold=found.threshold,
        minimum=found.minimum,
        findings=[AnomalyRead.model_validate(f) for f in found.findings],
    )
