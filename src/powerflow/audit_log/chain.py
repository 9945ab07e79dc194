"""The per-instance hash chain of events: what each event's ``hash`` covers and how it is made.

One definition for the service that writes the chain (services/events.py) and for the offline
verifier that checks it from an export (offline.py), so the two cannot drift apart.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

CHAINED_FIELDS = (
    "instance_id",
    "seq",
    "type",
    "definition_key",
    "definition_version",
    "element_id",
    "element_name",
    "task_id",
    "actor",
    "payload",
    "occurred_at",
)
"""The fields of an event its hash covers (``occurred_at`` as ISO 8601 text), and
``state_digest`` when the event has one (older events have none: their hashes are unchanged)."""


def chained_content(event: Any) -> dict[str, Any]:
    """What an event's hash covers, from a mapping of its fields (``occurred_at`` as text)."""
    content = {name: event.get(name) for name in CHAINED_FIELDS}
    if event.get("state_digest") is not None:
        content["state_digest"] = event["state_digest"]
    return content


def canonical(content: dict[str, Any]) -> bytes:
    """Canonical JSON used for hashing: orjson with sorted keys (compact, UTF-8)."""
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)


def event_hash(prev_hash: str | None, content: dict[str, Any]) -> str:
    """sha256 over the predecessor's hash (hex, empty for the first) and the canonical content."""
    return hashlib.sha256((prev_hash or "").encode() + canonical(content)).hexdigest()
