"""Schemas of the public routes (/public/) and of the supervisors' objection list."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from powerflow.services.supervision.notices import CONTACT_LIMIT, NAME_LIMIT, TEXT_LIMIT


class PublicLimit(BaseModel):
    """A time limit: an ISO 8601 duration, counted in calendar or working days."""

    duration: str | None
    calendar: str | None


class PublicProcessRef(BaseModel):
    """A public process exercising a power item."""

    key: str
    version: int
    name: str


class PublicPower(BaseModel):
    """One item of the public power list."""

    code: str
    name: str
    category: str | None
    legal_basis: list[str]
    responsible_roles: list[str] = Field(description="The roles (units) answerable for it")
    time_limits: dict[str, PublicLimit | None]
    processes: list[PublicProcessRef]


class PublicNoticeSpec(BaseModel):
    """What a step's notice publishes and for how long."""

    period: str
    calendar: str
    fields: list[str]
    objections: bool = Field(description="Whether objections reach the case as a message")


class PublicStep(BaseModel):
    """A step of a public process."""

    element_id: str
    name: str
    time_limit: PublicLimit | None
    risk: dict[str, Any] | None = Field(
        description="The step's integrity risk point: level and prevention measures"
    )
    notice: PublicNoticeSpec | None
    published_fields: list[str] = Field(description="Result fields shown once the step is done")


class PublicProcess(BaseModel):
    """A public process: legal basis, power item, time limits and steps."""

    key: str
    version: int
    name: str
    legal_basis: list[str]
    power_item: dict[str, Any] | None
    time_limits: dict[str, PublicLimit | None]
    progress_public: bool
    steps: list[PublicStep]
    diagram: str | None = Field(
        description="Where the BPMN file is (application/xml); null when the file also holds "
        "processes that are not public (the file is served whole, so it is not published)"
    )


class DoneStep(BaseModel):
    """A step done: its name and when (never who)."""

    element_id: str
    name: str
    completed_at: datetime | None


class CurrentStep(BaseModel):
    """A step open now, since when, and its own due time."""

    element_id: str
    name: str
    since: datetime | None
    due_at: datetime | None
    overdue: bool


class PublicProgress(BaseModel):
    """The published progress of one case, by business key."""

    process_key: str
    process_name: str
    business_key: str
    status: str = Field(description="in_progress, completed or ended")
    started_at: datetime | None
    ended_at: datetime | None
    steps_done: list[DoneStep]
    current_steps: list[CurrentStep]
    promised_due_at: datetime | None
    statutory_due_at: datetime | None
    overdue: bool = Field(description="Past its promised or statutory due time")
    results: dict[str, Any] = Field(description="The disclosed fields of finished public steps")
    notices: list[int] = Field(description="Ids of the case's notices (GET /public/notices/{id})")


class PublicNotice(BaseModel):
    """A public notice (公示): its fields and period."""

    id: int
    process_key: str
    process_name: str
    title: str
    fields: dict[str, Any]
    published_at: datetime | None
    ends_at: datetime
    state: Literal["open", "closed", "withdrawn"] = Field(
        description="open during the period; closed after it; withdrawn: its case was "
        "cancelled during the period"
    )
    withdrawn_at: datetime | None = Field(description="When it was withdrawn, if it was")
    open: bool
    accepts_objections: bool


class ObjectionWrite(BaseModel):
    """An objection to a notice; name and contact are seen by supervisors only."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=TEXT_LIMIT)
    name: str | None = Field(default=None, max_length=NAME_LIMIT)
    contact: str | None = Field(default=None, max_length=CONTACT_LIMIT)


class ObjectionReceipt(BaseModel):
    """The receipt of an objection (no personal data)."""

    id: int
    notice_id: int
    received_at: datetime
    delivered: bool = Field(description="Whether it reached the case as its objection message")


class ObjectionRead(BaseModel):
    """An objection as supervisors read it, with the objector's name and contact."""

    id: int
    notice_id: int
    text: str
    name: str | None
    contact: str | None
    delivered: bool = Field(description="Whether it reached the case as its objection message")
    held: bool = Field(
        description="Raised while the case took no message (suspended, or parked at an "
        "incident): delivered when the case runs again"
    )
    received_at: datetime
