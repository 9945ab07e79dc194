"""The digest that binds an instance's live state to its audit log.

The last event of every batch an instance writes records ``state_digest``: the SHA-256 of the
instance's status, saved engine state and data as the batch left them. The event's chain hash
covers it and the event is a leaf of the Merkle log, so the recorded digest cannot be changed
unseen; an edit of the saved state, the data or the status then no longer matches it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from powerflow.audit_log.chain import canonical

DOMAIN = b"powerflow state v1\n"


def state_digest(status: str, state: str, data: dict[str, Any]) -> str:
    """SHA-256 (hex) over the status, the saved state (the exact text stored) and the data
    (canonical JSON, keys sorted, so PostgreSQL's JSONB key order does not matter)."""
    return digest_of_canonical(status, state, canonical(data))


def digest_of_canonical(status: str, state: str, data: bytes) -> str:
    """``state_digest`` with the data already in canonical JSON."""
    h = hashlib.sha256(DOMAIN)
    h.update(status.encode())
    h.update(b"\n")
    h.update(hashlib.sha256(state.encode()).digest())
    h.update(hashlib.sha256(data).digest())
    return h.hexdigest()
