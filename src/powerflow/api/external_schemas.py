"""Request and response bodies of /v1/external-tasks (Camunda's external task API, snake_case)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from powerflow.api.schemas import Page, Schema, Text

MAX_LOCK_MS = 7 * 24 * 3600 * 1000  # a week
WorkerId = Field(min_length=1, max_length=255, description="The worker's own id")


class FetchTopic(BaseModel):
    """A topic a worker takes tasks of, and how long it locks each."""

    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=255)
    lock_duration: int = Field(ge=1, le=MAX_LOCK_MS, description="Milliseconds")


class FetchAndLock(BaseModel):
    """Fetch and lock up to ``max_tasks`` tasks of the topics, waiting up to
    ``async_response_timeout`` milliseconds for one (long polling) when none is there."""

    model_config = ConfigDict(extra="forbid")

    worker_id: Text = WorkerId
    max_tasks: int = Field(default=1, ge=1, le=100)
    topics: list[FetchTopic] = Field(min_length=1, max_length=50)
    async_response_timeout: int = Field(
        default=0, ge=0, le=60_000, description="Milliseconds to wait for a task (long polling)"
    )


class LockedTaskRead(Schema):
    """A task locked for the worker: what to do and with which variables."""

    id: str
    topic: str
    instance_id: str
    definition_key: str
    business_key: str | None
    element_id: str
    name: str
    priority: int
    variables: dict[str, Any] = Field(
        description="The task's declared inputs, or (none declared) the instance's data"
    )
    outputs: list[str] | None = Field(
        description="The only variables completion accepts (null: any)"
    )
    retries: int | None
    error_message: str | None
    worker_id: str
    lock_expires_at: datetime


class ExternalComplete(BaseModel):
    """Complete a locked task."""

    model_config = ConfigDict(extra="forbid")

    worker_id: Text = WorkerId
    variables: dict[str, Any] = Field(default_factory=dict)


class ExternalFailure(BaseModel):
    """Report that the work failed: ``retries`` left (0: an incident stops the instance),
    fetchable again after ``retry_timeout`` milliseconds."""

    model_config = ConfigDict(extra="forbid")

    worker_id: Text = WorkerId
    error_message: Text = Field(min_length=1, max_length=4000)
    error_details: Text | None = Field(default=None, max_length=100_000)
    retries: int = Field(ge=0, le=1000)
    retry_timeout: int = Field(default=0, ge=0, le=MAX_LOCK_MS, description="Milliseconds")


class ExternalExtendLock(BaseModel):
    """Keep the lock ``new_duration`` milliseconds from now."""

    model_config = ConfigDict(extra="forbid")

    worker_id: Text = WorkerId
    new_duration: int = Field(ge=1, le=MAX_LOCK_MS, description="Milliseconds")


class ExternalBpmnError(BaseModel):
    """Report a business error: the error boundary event catching ``error_code`` takes over."""

    model_config = ConfigDict(extra="forbid")

    worker_id: Text = WorkerId
    error_code: Text = Field(min_length=1, max_length=255)
    error_message: Text | None = Field(default=None, max_length=1000)


class ExternalRetries(BaseModel):
    """Give a task new retries (resolves the incident its last failure raised)."""

    model_config = ConfigDict(extra="forbid")

    retries: int = Field(ge=1, le=1000)


class ExternalTaskRead(Schema):
    """An external task as monitoring sees it (without its variables)."""

    id: str
    instance_id: str
    element_id: str
    name: str
    topic: str
    state: str = Field(description="open, locked, incident, completed or cancelled")
    priority: int
    worker_id: str | None
    lock_expires_at: datetime | None
    fetchable_at: datetime
    retries: int | None
    error_message: str | None
    error_details: str | None
    created_at: datetime
    ended_at: datetime | None


class ExternalTaskPage(Page[ExternalTaskRead]):
    """A page of external tasks."""
