"""Request and response bodies of incidents, retry, skip, token moves and migrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from powerflow.api.schemas import InstanceRead, Page, Schema, Text

Reason = Field(
    min_length=1,
    max_length=2000,
    description="Why: recorded with the act in the instance's events and its incident",
)
ElementId = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z_][\w.-]*$")


class IncidentRead(Schema):
    """An incident: the element where a failed step parked an instance, the engine's message,
    and, once resolved, what an administrator did about it, who and why."""

    id: str
    instance_id: str
    definition_key: str
    definition_version: int
    element_id: str | None
    element_name: str | None
    message: str
    status: Literal["open", "resolved"]
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: Literal["retried", "skipped", "moved", "cancelled"] | None
    reason: str | None


IncidentPage = Page[IncidentRead]


class InstanceRetry(BaseModel):
    """Run the failed element again, optionally with corrected variables first."""

    model_config = ConfigDict(extra="forbid")

    variables: dict[str, Any] = Field(
        default_factory=dict,
        description="Plain JSON merged into the failed task's data before it runs again "
        "(checked like task data; recorded in the instance.retried event)",
    )
    reason: Text = Reason


class InstanceSkip(BaseModel):
    """Complete the failed element without running it."""

    model_config = ConfigDict(extra="forbid")

    reason: Text = Reason


class TokenMove(BaseModel):
    """Move the token back to an earlier element; it runs again from there."""

    model_config = ConfigDict(extra="forbid")

    to_element: str = ElementId
    from_element: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Where the token is now (a check, and which branch when several are open)",
    )
    reason: Text = Reason


class InstanceMigrate(BaseModel):
    """Move an instance to another version of its definition, or ask what that would change."""

    model_config = ConfigDict(extra="forbid")

    to_version: int = Field(ge=1, le=2_147_483_647)
    dry_run: bool = False
    reason: Text | None = Field(
        default=None,
        max_length=2000,
        description="Why (required unless dry_run)",
    )


class MigrationRead(Schema):
    """What a migration changed (or a dry run would change), and whether it is possible."""

    dry_run: bool
    from_version: int
    to_version: int
    possible: bool
    reasons: list[str] = Field(description="Why it is not possible (empty when it is)")
    added: list[str] = Field(description="Elements only the new version has")
    removed: list[str] = Field(description="Elements only the current version has")
    changed: dict[str, list[str]] = Field(
        description="Elements of both versions and which of their attributes differ"
    )
    reset: list[str] = Field(
        description="Open or waiting elements of the instance re-predicted from the new version"
    )
    instance: InstanceRead | None = Field(
        default=None, description="The instance after the migration (absent for a dry run)"
    )
