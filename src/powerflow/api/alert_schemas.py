"""Request and response bodies of alerts, alert profiles and deadline extensions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import Query
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from powerflow.api.schemas import AlertLevel, Page, Schema

LimitKind = Literal["promised", "statutory", "step"]
FIRST_YEAR, LAST_YEAR = 1900, 9000


def _utc_within_bounds(value: datetime) -> datetime:
    """An aware time between the years 1900 and 9000, in UTC (a far one would overflow)."""
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"the time must fall between the years {FIRST_YEAR} and {LAST_YEAR}")
    return value.astimezone(UTC)


TimeBound = Annotated[
    AwareDatetime | None,
    AfterValidator(lambda v: None if v is None else _utc_within_bounds(v)),
    Query(
        description="A time with its offset, such as 2026-03-01T00:00:00Z or "
        "2026-03-01T08:00:00+08:00 (a date alone or a time without offset is refused)"
    ),
]
Duration = Annotated[str, Field(min_length=2, max_length=40, pattern=r"^-?P[0-9YMWDTHS.,]*$")]


class AlertRead(Schema):
    """A prompt, yellow or red alert on a case (and possibly one of its tasks)."""

    id: int
    level: AlertLevel
    state: Literal["open", "acknowledged", "resolved"]
    source: str = Field(description="time_limit or rule")
    reason: str = Field(description="e.g. step_limit_passed, promised_limit_approaching")
    message: str
    instance_id: str
    business_key: str | None = Field(
        default=None, description="The business key of the alert's instance (case number)."
    )
    definition_key: str
    task_id: str | None
    element_id: str | None
    roles: list[str]
    persons: list[str]
    rule_id: str | None
    rule_version: int | None
    violation_id: int | None
    deadline_at: datetime | None
    raised_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    acknowledge_comment: str | None
    resolved_at: datetime | None
    resolution: str | None


class AlertPage(Page[AlertRead]):
    """A page of alerts, newest first."""


class AlertAcknowledge(BaseModel):
    """Acknowledge an alert: what was done or will be done about it."""

    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(default=None, max_length=4000)


class ThresholdBody(BaseModel):
    """Raise ``level`` when the ``limit``'s due time plus ``offset`` has passed."""

    model_config = ConfigDict(extra="forbid")

    level: AlertLevel
    limit: LimitKind
    offset: Duration = Field(
        default="PT0S",
        description="ISO 8601 duration in the limit's own calendar; -P1D is one day before",
    )


class AlertProfileBody(BaseModel):
    """A profile's thresholds and the alert levels of rule effects."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "description": "Prompt one working day before, yellow when passed",
                    "thresholds": [
                        {"level": "prompt", "limit": "promised", "offset": "-P1D"},
                        {"level": "yellow", "limit": "promised", "offset": "PT0S"},
                        {"level": "red", "limit": "statutory", "offset": "PT0S"},
                    ],
                    "rule_levels": {"warn": "yellow", "block": "red"},
                }
            ]
        },
    )

    description: str = Field(default="", max_length=2000)
    thresholds: list[ThresholdBody] = Field(default_factory=list, max_length=20)
    rule_levels: dict[Literal["warn", "block"], AlertLevel] = Field(default_factory=dict)


class AlertProfileRead(AlertProfileBody):
    """A named alert profile."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    name: str


class DeadlineExtension(BaseModel):
    """Extend a deadline of the case (promised, statutory) or of one open task (step)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "limit": "statutory",
                    "duration": "P10D",
                    "reason": "Complex case: expert opinion needed (approved by the head)",
                }
            ]
        },
    )

    limit: LimitKind
    task_id: str | None = Field(default=None, max_length=36, description="For a step limit")
    duration: Duration
    reason: str = Field(min_length=1, max_length=2000)
