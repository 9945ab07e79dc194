"""Request and response bodies of messages and signals between instances."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from powerflow.api.schemas import Page, Schema, Text


class MessagePost(BaseModel):
    """A BPMN message for whichever instance waits for it (or a message start event)."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=255, description="The message's name")
    correlation: dict[str, Any] | None = Field(
        default=None,
        description="Values of the correlation properties, by property name; a property not "
        "given is read from the payload with its retrieval expression",
    )
    payload: dict[str, Any] = Field(default_factory=dict)
    business_key: Text | None = Field(
        default=None,
        max_length=255,
        description="Only an instance with this business key receives it; an instance it "
        "starts gets this business key",
    )
    all: bool = Field(
        default=False,
        description="Deliver to every instance that waits for it and correlates, not only to "
        "the one waiting longest",
    )


class SignalPost(BaseModel):
    """A BPMN signal, broadcast to every instance that waits for it and every signal start."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=255)
    payload: dict[str, Any] = Field(default_factory=dict)


class MessageRead(Schema):
    """A message or signal and what became of it."""

    id: str
    kind: Literal["message", "signal"]
    name: str
    status: Literal["delivered", "started", "kept", "expired", "broadcast"]
    correlation: dict[str, Any] | None
    business_key: str | None
    payload: dict[str, Any]
    sender: str
    source_instance_id: str | None
    delivered_to: list[str] = Field(
        description="Instances it reached (in a reply, only those the caller may see)"
    )
    started: list[str] = Field(
        description="Instances it started (in a reply, only those the caller may see)"
    )
    created_at: datetime
    expires_at: datetime | None
    ended_at: datetime | None


class MessagePage(Page[MessageRead]):
    """A page of the message log, newest first."""
