"""Request and response bodies of the rules routes: rules, declarations, lists, violations."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from powerflow.api.schemas import Page, Schema

RuleKind = Literal[
    "separation-of-duties",
    "authority",
    "recusal",
    "required-before",
    "quorum",
    "speaking-order",
    "list",
    "cumulative",
    "reason-required",
    "expression",
]
Effect = Literal["block", "warn", "record"]
Level = Literal["prompt", "yellow", "red"]
Act = Literal["claim", "complete"]
DeclarationKind = Literal[
    "spouse",
    "lineal_blood",
    "collateral_3",
    "in_law",
    "employment_3y",
    "director_3y",
    "controller_3y",
    "other",
]


class RuleWrite(BaseModel):
    """A new version of an organisation-wide rule."""

    model_config = ConfigDict(extra="forbid")

    kind: RuleKind
    effect: Effect = "block"
    level: Level | None = Field(
        default=None, description="Alert level; default block: red, warn: yellow, record: none"
    )
    message: str = Field(min_length=1, max_length=2000, description="The sentence a clerk reads")
    legal_basis: list[str] = Field(default_factory=list, max_length=20)
    process_key: str | None = Field(default=None, max_length=255)
    elements: list[str] = Field(default_factory=list, max_length=200)
    on: list[Act] = Field(default_factory=list, max_length=2)
    params: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class RuleRead(Schema):
    """A rule: from the API (versioned) or declared in a BPMN file (version = its process's)."""

    rule_id: str
    version: int
    source: Literal["bpmn", "api"]
    process_key: str | None
    kind: str
    effect: str
    level: str | None
    on: list[str]
    elements: list[str]
    legal_basis: list[str]
    message: str
    params: dict[str, Any]
    enabled: bool
    created_by: str | None = None
    created_at: datetime | None = None


class RuleDetail(RuleRead):
    """A rule with every version, newest first."""

    versions: list[RuleRead]


class ViolationRead(Schema):
    """A broken rule: the version broken, the act, the actor and the evidence."""

    id: int
    rule_id: str
    rule_version: int
    rule_source: str
    kind: str
    effect: str
    level: str | None
    act: str
    message: str
    legal_basis: list[str]
    evidence: dict[str, Any]
    instance_id: str
    business_key: str | None = Field(
        default=None, description="The business key of the violation's instance (case number)."
    )
    definition_key: str
    definition_version: int
    task_id: str | None
    element_id: str | None
    actor: str
    occurred_at: datetime


class ViolationPage(Page[ViolationRead]):
    """A page of violations, newest first."""


class DeclarationWrite(BaseModel):
    """A declared relationship or interest."""

    model_config = ConfigDict(extra="forbid")

    counterparty: str = Field(min_length=1, max_length=255)
    kind: DeclarationKind
    note: str | None = Field(default=None, max_length=2000)
    person: str | None = Field(
        default=None, max_length=100, description="Administrators only; default the caller"
    )


class DeclarationRead(Schema):
    """A declaration (withdrawn ones keep their record)."""

    id: int
    person: str
    counterparty: str
    kind: str
    note: str | None
    declared_by: str
    declared_at: datetime
    withdrawn_by: str | None
    withdrawn_at: datetime | None


class DeclarationPage(Page[DeclarationRead]):
    """A page of declarations."""


class ListWrite(BaseModel):
    """A list's description."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(default="", max_length=2000)


class EntryWrite(BaseModel):
    """A value to put on a list, and why."""

    model_config = ConfigDict(extra="forbid")

    value: str = Field(min_length=1, max_length=255)
    reason: str = Field(default="", max_length=2000)


class EntryRead(Schema):
    """A value on a list; removed entries keep their record."""

    value: str
    reason: str
    added_by: str
    added_at: datetime
    removed_by: str | None
    removed_at: datetime | None


class ListRead(Schema):
    """A list; read one by one, with its entries."""

    name: str
    description: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    entries: list[EntryRead] = Field(default_factory=list)
