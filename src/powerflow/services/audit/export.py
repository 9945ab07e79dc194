"""``powerflow audit export``: the audit log as files an outside auditor verifies offline.

``leaves.jsonl`` holds leaf ``i`` on line ``i`` byte for byte (services/audit/leaves.py),
``leaf_hashes.txt`` per exported leaf ``<leaf index> <leaf hash hex>`` as the database's tree
holds it (they only help the verifier name a changed or deleted leaf), ``checkpoints.jsonl``
every kept checkpoint as ``{"tree_size", "root", "created_at", "note"}``. Read in batches
from one read transaction and written as read, so a large log never sits in memory.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import orjson

from powerflow.db import audit_queries as q
from powerflow.db.engine import Store
from powerflow.services.audit.leaves import leaf_bytes
from powerflow.services.audit.sequencer import sequence

LEAVES = "leaves.jsonl"
LEAF_HASHES = "leaf_hashes.txt"
CHECKPOINTS = "checkpoints.jsonl"


@dataclass(frozen=True)
class Exported:
    """What was written."""

    leaves: int
    checkpoints: int
    missing: int
    """Leaves of the tree whose event row is gone (deleted from the database)."""


def export(store: Store, out: Path) -> Exported:
    """Write the log's leaves and checkpoints into directory ``out`` (created if missing)."""
    sequence(store)
    out.mkdir(parents=True, exist_ok=True)
    count = missing = 0
    with (
        store.begin(write=False) as conn,
        (out / LEAVES).open("wb") as leaves,
        (out / LEAF_HASHES).open("w") as hashes,
    ):
        marks = q.all_checkpoints(conn)
        for row in q.events_in_leaf_order(conn):
            missing += int(row["leaf_index"]) - count - missing  # leaves without their event
            leaves.write(leaf_bytes(row) + b"\n")
            hashes.write(f"{row['leaf_index']} {bytes(row['leaf_hash']).hex()}\n")
            count += 1
    with (out / CHECKPOINTS).open("wb") as f:
        for cp in marks:
            record = {
                "tree_size": int(cp["tree_size"]),
                "root": base64.b64encode(bytes(cp["root"])).decode(),
                "created_at": cp["created_at"].isoformat(),
                "note": cp["note"],
            }
            f.write(orjson.dumps(record) + b"\n")
    return Exported(count, len(marks), missing)
