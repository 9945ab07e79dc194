"""Bodies of the audit log's routes (/v1/audit/..., /public/audit/...). Hashes are base64, as
in checkpoints."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field

from powerflow.api.schemas import Schema


class CheckpointRead(Schema):
    """A signed checkpoint: the log's tree of ``tree_size`` events has ``root``."""

    tree_size: int = Field(description="Number of events (leaves) the checkpoint covers")
    root: str = Field(description="The tree's root hash, base64 (RFC 6962 / RFC 9162)")
    created_at: datetime
    origin: str = Field(description="The log's name: the checkpoint's first line")
    key_id: str = Field(description="The signing key's id (8 hex digits)")
    note: str = Field(
        description="The C2SP signed note (c2sp.org/tlog-checkpoint): origin, size, root, "
        "'time <seconds>', a blank line, the log's signature and any witness cosignatures"
    )


class CheckpointList(Schema):
    """Checkpoints, largest tree first."""

    items: list[CheckpointRead]
    next_before: int | None = Field(
        description="Pass as 'before' for the next page; null when this is the last"
    )


class InclusionProofRead(Schema):
    """The event's leaf is at ``leaf_index`` in the tree of ``tree_size`` leaves with ``root``:
    check with RFC 9162 section 2.1.3.2 (powerflow.audit_log.verify_inclusion)."""

    event_id: int
    leaf_index: int
    leaf_hash: str = Field(description="SHA-256(0x00 || leaf), base64 (docs/audit.md)")
    tree_size: int
    root: str
    hashes: list[str] = Field(description="The audit path, leaf to root, base64")


class ConsistencyProofRead(Schema):
    """The tree of ``from`` leaves is a prefix of the tree of ``to`` leaves: check with RFC
    9162 section 2.1.4.2 (powerflow.audit_log.verify_consistency)."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    from_: int = Field(alias="from")
    to: int
    from_root: str
    to_root: str
    hashes: list[str] = Field(description="The consistency proof, base64")


class AuditKeyRead(Schema):
    """The log's public key."""

    origin: str = Field(description="The key's name, which is every checkpoint's origin line")
    key_id: str = Field(description="8 hex digits")
    verifier_key: str = Field(
        description="The verifier key string <name>+<key id>+<base64 key> "
        "(golang.org/x/mod/sumdb/note), as 'powerflow audit verify --public-key' takes it"
    )
    witnesses: list[str] = Field(
        description="Verifier keys of the witnesses whose cosignatures the log accepts"
    )


class CosignatureAdd(Schema):
    """A checkpoint as a witness returned it, with its cosignature line."""

    note: str = Field(min_length=1, max_length=65536)
