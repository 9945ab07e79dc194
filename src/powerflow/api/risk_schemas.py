"""Request and response bodies of risk points: countersignatures and the risk map."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from powerflow.api.schemas import Schema, Text, TimeLimit


class CountersignDecision(BaseModel):
    """A second person's decision on a completion waiting for their countersignature."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "refuse"]
    comment: Text | None = Field(
        default=None, max_length=4000, description="Why; required to refuse"
    )


class CountersignRead(Schema):
    """One completion of a high-risk task submitted for countersignature, and its decision."""

    id: int
    task_id: str
    instance_id: str
    role: str = Field(description="The role that must countersign")
    state: Literal["pending", "approved", "refused", "cancelled"] = Field(
        description="cancelled: the task was closed while it waited (instance cancelled, ...)"
    )
    data: dict[str, Any] = Field(description="The data submitted with the completion")
    comment: str | None = Field(description="The reasoned comment of the person who submitted")
    requested_by: str
    requested_role: str | None
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_comment: str | None


class RiskPointRead(Schema):
    """A risk point (廉政风险点) as the model declares it."""

    level: Literal["low", "medium", "high"]
    description: str | None = None
    measures: list[str] = []


class RiskRequirements(Schema):
    """What a high-risk link requires of a completion."""

    comment: bool = Field(description="A reasoned comment with every completion")
    countersign: str | None = Field(description="The role that countersigns each completion")


class RuleSummary(Schema):
    """A negative-list rule that guards claiming or completing the element."""

    id: str
    version: int
    source: str
    kind: str
    effect: str
    on: list[str]
    message: str
    legal_basis: list[str]


class RiskMapElement(Schema):
    """One activity of the process, with its risk point and what watches it."""

    element_id: str
    name: str
    tag: str
    lane: str | None
    position: int | None = Field(description="Reading order in the diagram")
    roles: list[str] = Field(description="The responsible roles")
    risk: RiskPointRead | None
    requirements: RiskRequirements
    time_limits: dict[Literal["step", "statutory", "promised"], TimeLimit]
    legal_basis: list[str]
    rules: list[RuleSummary]


class RiskMapRead(Schema):
    """The risk map of a process version: every activity in the diagram's reading order."""

    definition_key: str
    definition_version: int
    definition_id: int
    name: str
    elements: list[RiskMapElement]
