"""Request and response bodies of supervision cases, corrections and a person's record."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from powerflow.api.alert_schemas import _utc_within_bounds
from powerflow.api.schemas import INT32_MAX, INT64_MAX, EventRead, Page, Schema, Text

Outcome = Literal[
    "no_fault",
    "criticism_education",
    "written_self_examination",
    "circular",
    "org_handling",
    "disciplinary_sanction",
    "judicial_transfer",
]
Due = Annotated[
    AwareDatetime | None,
    AfterValidator(lambda v: None if v is None else _utc_within_bounds(v)),
    Field(description="When it is due: a future time with its offset (optional)"),
]
RoleName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
PersonName = Annotated[
    str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
]


class CaseOpen(BaseModel):
    """Open a supervision case on exactly one subject: an instance, an alert or a violation."""

    model_config = ConfigDict(extra="forbid")

    instance_id: str | None = Field(default=None, min_length=1, max_length=36)
    alert_id: int | None = Field(default=None, ge=1, le=INT32_MAX)
    violation_id: int | None = Field(default=None, ge=1, le=INT32_MAX)
    title: Text = Field(min_length=1, max_length=255)
    reason: Text = Field(min_length=1, max_length=4000, description="Why the case is opened")
    responsible_unit: Text | None = Field(default=None, min_length=1, max_length=255)
    responsible_role: RoleName | None = None
    due_at: Due = None


class FindingCreate(BaseModel):
    """A finding, optionally resting on events of the case's instance."""

    model_config = ConfigDict(extra="forbid")

    text: Text = Field(min_length=1, max_length=8000)
    evidence: list[Annotated[int, Field(ge=1, le=INT64_MAX)]] = Field(
        default_factory=list, max_length=100, description="Ids of events of the case's instance"
    )


class CorrectionCreate(BaseModel):
    """What must be corrected, by a role or a person (exactly one), optionally by when."""

    model_config = ConfigDict(extra="forbid")

    demand: Text = Field(min_length=1, max_length=4000)
    to_role: RoleName | None = None
    to_person: PersonName | None = None
    due_at: Due = None


class CorrectionReply(BaseModel):
    """What was corrected."""

    model_config = ConfigDict(extra="forbid")

    text: Text = Field(min_length=1, max_length=8000)


class CaseAct(BaseModel):
    """Why the instance is suspended or resumed (recorded in its event with the case id)."""

    model_config = ConfigDict(extra="forbid")

    reason: Text = Field(min_length=1, max_length=2000)


class CaseClose(BaseModel):
    """Close a case with an accountability outcome and the people it concerns."""

    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    people: list[PersonName] = Field(
        default_factory=list,
        max_length=100,
        description="User names of the people the outcome concerns (at least one unless no_fault)",
    )
    summary: Text = Field(min_length=1, max_length=8000)


class CaseRead(Schema):
    """A supervision case (``people`` and ``summary`` only for monitors, auditors, admins)."""

    id: int
    instance_id: str
    business_key: str | None = Field(
        default=None, description="The business key of the case's instance (case number)."
    )
    subject: Literal["instance", "alert", "violation"]
    alert_id: int | None
    violation_id: int | None
    title: str
    reason: str
    responsible_unit: str | None
    responsible_role: str | None
    due_at: datetime | None
    state: Literal["open", "closed"]
    opened_by: str
    opened_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    outcome: Outcome | None
    summary: str | None
    people: list[str]


class FindingRead(Schema):
    """A finding on a case."""

    id: int
    text: str
    evidence: list[int]
    recorded_by: str
    recorded_at: datetime


class CorrectionRead(Schema):
    """A correction a case demands, and its reply."""

    id: int
    case_id: int
    case_title: str
    instance_id: str
    demand: str
    to_role: str | None
    to_person: str | None
    due_at: datetime | None
    state: Literal["open", "answered"]
    requested_by: str
    requested_at: datetime
    reply: str | None
    replied_by: str | None
    replied_at: datetime | None


class CaseDetailRead(CaseRead):
    """A case with its findings, corrections and timeline: all of them for monitors,
    auditors and administrators; for an addressee, only the corrections addressed to them."""

    findings: list[FindingRead]
    corrections: list[CorrectionRead]
    timeline: list[EventRead] = Field(
        description="The events of the instance's chain that belong to the case, in order"
    )


CasePage = Page[CaseRead]
CorrectionPage = Page[CorrectionRead]


class RecordAlert(Schema):
    """An alert on a task the person claimed or completed."""

    id: int
    level: str
    state: str
    reason: str
    message: str
    instance_id: str
    business_key: str | None = Field(
        default=None, description="The business key of the instance (case number)."
    )
    task_id: str | None
    raised_at: datetime


class RecordViolation(Schema):
    """A violation the person committed."""

    id: int
    rule_id: str
    effect: str
    level: str | None
    act: str
    message: str
    instance_id: str
    business_key: str | None = Field(
        default=None, description="The business key of the instance (case number)."
    )
    task_id: str | None
    occurred_at: datetime


class RecordOutcome(Schema):
    """A closed case whose outcome names the person."""

    id: int
    instance_id: str
    business_key: str | None = Field(
        default=None, description="The business key of the instance (case number)."
    )
    title: str
    outcome: str
    summary: str | None
    closed_at: datetime
    closed_by: str


class PersonRecordRead(Schema):
    """A person's record over a time range: up to 100 of each kind of item, newest first;
    counts over the whole range."""

    person: str
    since: datetime | None
    until: datetime | None
    counts: dict[str, int] = Field(description="alerts, violations, outcomes")
    alerts_by_level: dict[str, int]
    violations_by_rule: dict[str, int]
    outcomes_by_kind: dict[str, int]
    alerts: list[RecordAlert]
    violations: list[RecordViolation]
    outcomes: list[RecordOutcome]
