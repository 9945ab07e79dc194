"""Request and response bodies of the power layer's calendar and power-list routes.

Kept apart from schemas.py so that the power layer's parts grow without touching one file.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from powerflow.api.schemas import PowerBoundary, Risk, Schema, Text, TimeLimit


class LibraryDayRead(Schema):
    """What the holiday library says of a date an administrator edited."""

    kind: Literal["holiday", "workday"]
    name: str


class CalendarDayRead(Schema):
    """A day that differs from the Monday-Friday week, or that an administrator edited."""

    date: date
    weekday: str = Field(description="Monday ... Sunday")
    kind: Literal["holiday", "workday"]
    working: bool
    name: str
    source: Literal["library", "administrator"] = Field(
        description="library: the holiday library (China's State Council notices); "
        "administrator: an edit through this API, which wins over the library"
    )
    changed_by: str | None = None
    changed_at: datetime | None = None
    library: LibraryDayRead | None = Field(
        default=None, description="The library's own entry for the date, when an edit overrides it"
    )


class CalendarYearRead(Schema):
    """A year of the business calendar: its non-working weekdays and working weekend days."""

    year: int
    time_zone: str = Field(description="Days start and end at midnight in this IANA time zone")
    days: list[CalendarDayRead]


class CalendarDayWrite(BaseModel):
    """An administrator's edit of one day."""

    kind: Literal["holiday", "workday"] = Field(
        description="holiday: not a working day; workday: a working day (such as a make-up day)"
    )
    name: Text = Field(min_length=1, max_length=200, description="Such as 'National Day'")


class PowerElementRead(Schema):
    """An activity of a process that exercises a power: who does it, in what time, at what risk."""

    element_id: str
    name: str
    tag: str = Field(description="The BPMN element: userTask, serviceTask, ...")
    roles: list[str]
    time_limit: TimeLimit | None = None
    risk: Risk | None = None


class PowerProcessRead(Schema):
    """A process (its latest deployed version) that exercises a power item."""

    key: str
    version: int
    name: str
    definition_id: int
    executable: bool = Field(description="False: stored for viewing only, it cannot be started")
    legal_basis: list[str]
    responsible_roles: list[str]
    boundary: PowerBoundary | None = None
    time_limits: dict[Literal["step", "statutory", "promised"], TimeLimit] = Field(
        default_factory=dict
    )
    elements: list[PowerElementRead]


class PowerRead(Schema):
    """One item of the organisation's power list, with the processes that exercise it."""

    code: str
    name: str
    category: str | None = None
    legal_basis: list[str]
    responsible_roles: list[str]
    boundary: PowerBoundary | None = None
    time_limits: dict[Literal["step", "statutory", "promised"], TimeLimit] = Field(
        default_factory=dict, description="The processes' own time limits by kind"
    )
    processes: list[PowerProcessRead]
