"""What an event's leaf in the audit log is: one canonical serialization, documented in
docs/audit.md ("The leaf").

The leaf is the UTF-8 JSON object of every column of the event row that matters, keys sorted,
no whitespace (orjson, ``OPT_SORT_KEYS``), with a version key ``"v": 1``:

    {"actor", "definition_key", "definition_version", "element_id", "element_name", "hash",
     "id", "instance_id", "occurred_at", "payload", "prev_hash", "seq", "task_id", "type", "v"}

An event that binds its instance's state (``state_digest``: services/state_binding.py) has a
version-2 leaf: the same object with ``"state_digest"`` added and ``"v": 2``.

``occurred_at`` is ISO 8601 in UTC with its offset (``datetime.isoformat()``, as the chain
hash uses it); absent values are ``null``. Its leaf hash is ``SHA-256(0x00 || leaf)``. The
export writes each leaf as one line, byte for byte, so an auditor hashes lines.
"""

from __future__ import annotations

from typing import Any

import orjson

from powerflow.audit_log.chain import CHAINED_FIELDS

LEAF_VERSION = 1
BOUND_LEAF_VERSION = 2
COLUMNS = ("id", *CHAINED_FIELDS, "prev_hash", "hash")
"""The event row's columns a leaf holds: its global id, what its chain hash covers, and the
chain itself (the keys are sorted in the leaf, so this order does not matter)."""


def leaf_bytes(row: Any) -> bytes:
    """The canonical leaf of an event row (a mapping with the event table's columns:
    a dict or a SQLAlchemy ``RowMapping``)."""
    content: dict[str, Any] = {name: row[name] for name in COLUMNS}
    content["occurred_at"] = row["occurred_at"].isoformat()
    content["v"] = LEAF_VERSION
    digest = row.get("state_digest")
    if digest is not None:
        content["state_digest"] = digest
        content["v"] = BOUND_LEAF_VERSION
    return orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
