"""Bodies of the archive's routes (/v1/archive/...)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from powerflow.api.schemas import EventRead, Schema


class ArchivedTaskRead(Schema):
    """A task of an archived instance as it was when the instance was archived."""

    id: str
    element_id: str
    name: str
    state: str
    roles: list[str]
    assignee: str | None
    completed_by: str | None
    created_at: str = Field(description="ISO 8601, as recorded")
    ended_at: str | None = Field(description="ISO 8601, as recorded")


class ArchivedInstanceRead(Schema):
    """An archived instance (read-only): its row, data and tasks as archived, and its events."""

    id: str
    definition_key: str
    definition_version: int
    business_key: str | None
    status: str
    started_by: str
    created_at: datetime
    ended_at: datetime
    archived_at: datetime
    checkpoint_size: int = Field(
        description="The signed checkpoint (tree size) that covered every event when archived"
    )
    data: dict[str, Any]
    tasks: list[ArchivedTaskRead]
    events: list[EventRead]


class ProofItem(Schema):
    """One event of the instance as its leaf of the audit log, with its inclusion proof."""

    leaf_index: int
    leaf: str = Field(description="The event's leaf, byte for byte (docs/audit.md, 'The leaf')")
    proof: list[str] = Field(description="The audit path, hex (RFC 9162 2.1.3)")


class ProofBundle(Schema):
    """Every event of an archived instance with its inclusion proof against one signed
    checkpoint: 'powerflow archive verify-proofs' checks it with the log's public key alone."""

    format: str = Field(description="powerflow-archive-proofs/1")
    instance_id: str
    tree_size: int
    checkpoint: str = Field(description="The C2SP signed note of the checkpoint")
    events: list[ProofItem]
