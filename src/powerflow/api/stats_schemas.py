"""Response bodies of the statistics (/v1/stats/...)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import ConfigDict, Field

from powerflow.api.schemas import Schema


class DurationsRead(Schema):
    """Wall-clock durations of what completed in the range: instances (start to end) or tasks
    (ready to completed). Percentiles come from log-spaced histogram buckets and are within
    9.05 % of the exact value (0 stands for under one second); the mean is exact."""

    count: int
    mean_seconds: float | None
    p50_seconds: float | None
    p90_seconds: float | None


class FiguresRead(Schema):
    """The figures of a process, element, role or person over the range."""

    started: int = Field(description="Instances started (process, person) or tasks ready")
    completed: int = Field(description="Instances or tasks completed")
    cancelled: int = Field(
        description="Instances cancelled (process); tasks closed without completion (element, role)"
    )
    failed: int = Field(description="Instances parked by a failed step (an incident)")
    running: int | None = Field(
        description="At the end of the range, whenever they started: instances started and not "
        "completed or cancelled (process; parked ones included); tasks made ready and not "
        "completed or cancelled (element, role; null where no task was ever ready, as for an "
        "automatic step); tasks the person claimed and still held (person)"
    )
    durations: DurationsRead
    overdue: int = Field(description="Completed after their due time")
    overdue_rate: float | None = Field(description="overdue / completed (null: none completed)")
    alerts: dict[str, int] = Field(description="Alerts raised, by level")
    violations: dict[str, int] = Field(description="Rule violations (recorded or blocked), by rule")
    cases: dict[str, int] = Field(
        description="Supervision cases closed, by accountability outcome (processes only)"
    )
    extra: dict[str, dict[str, int]] = Field(
        description="Further counters by metric and label added by later handlers"
    )


class RangeRead(Schema):
    """The days counted, both included, in the business time zone; and how fresh the counts
    are: every event up to ``as_of_event_id`` is counted (the aggregator runs every
    ``stats_poll_seconds``), none after it."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    from_: date | None = Field(alias="from", description="First day (null: from the start)")
    to: date
    as_of_event_id: int
    as_of: datetime | None


class NamedFigures(Schema):
    """Figures of one process, element, role or person."""

    name: str
    figures: FiguresRead


class StatsListing(Schema):
    """Figures per process, role or person."""

    range: RangeRead
    items: list[NamedFigures]


class ProcessStatsRead(Schema):
    """A process's figures and each element's, for a heat map on the diagram. Elements are
    BPMN element ids: tasks (counts, durations ready to completed, overdue, still open at the
    end of the range), and any element an alert or violation was raised at."""

    definition_key: str
    range: RangeRead
    process: FiguresRead
    elements: list[NamedFigures]


class AnomalyRead(Schema):
    """An indicator of one process, role or person that moved past the threshold."""

    name: str = Field(description="The process key, element id, role or person")
    indicator: str = Field(
        description="started, completed, cancelled, overdue, alerts, violations (counts in the "
        "period); overdue_rate, p50_seconds, p90_seconds (over what completed in it)"
    )
    baseline: float = Field(description="The indicator over the baseline period")
    current: float = Field(description="The indicator over the period")
    change: float | None = Field(
        description="(current - baseline) / baseline, e.g. 0.36 for 36 % up; null when the "
        "baseline was zero (the indicator appeared)"
    )


class AnomalyReport(Schema):
    """Statistical anomalies (R26): every indicator whose change against the baseline period
    reaches the threshold, appearances from zero first, then the largest change first."""

    by: str = Field(description="process, element, role or person")
    range: RangeRead = Field(description="The period compared")
    baseline_range: RangeRead = Field(description="The baseline period")
    baseline: str = Field(description="previous (the same number of days just before) or year")
    threshold: float
    minimum: int
    findings: list[AnomalyRead]
