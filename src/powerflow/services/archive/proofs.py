"""The proof bundle of an archived instance (audit_log/bundle.py): each of its events as its
leaf, with the inclusion proof against the newest signed checkpoint, which covers them all (an
instance is archived only once a checkpoint covers its events)."""

from __future__ import annotations

from typing import Any

from powerflow.audit_log import inclusion_proof
from powerflow.audit_log.bundle import FORMAT
from powerflow.db import archive_queries as q
from powerflow.db import audit_queries
from powerflow.db.engine import Store
from powerflow.services.audit.checkpoints import check_reader
from powerflow.services.audit.leaves import leaf_bytes
from powerflow.services.auth import Principal
from powerflow.services.errors import Conflict
from powerflow.services.visibility import instance_not_found


def bundle(store: Store, principal: Principal, instance_id: str) -> dict[str, Any]:
    """The bundle of an archived instance (auditors, monitors, administrators)."""
    check_reader(principal)
    with store.begin(write=False) as conn:
        row = q.archived_summary(conn, instance_id)
        if row is None:
            raise instance_not_found(instance_id)
        events = q.archived_events(conn, instance_id)
        leaves = q.leaves_of(conn, [int(e["id"]) for e in events])
        latest = audit_queries.latest_checkpoint(conn)
        if latest is None or len(leaves) != len(events):
            raise Conflict(
                f"Instance {instance_id} has events that are not in the audit log: its archive "
                "cannot be proved (run 'powerflow audit verify')."
            )
        size = int(latest["tree_size"])
        items = []
        for ev in events:
            index, _ = leaves[int(ev["id"])]
            proof = inclusion_proof(index, size, lambda c: audit_queries.subtree_hashes(conn, c))
            items.append(
                {
                    "leaf_index": index,
                    "leaf": leaf_bytes(ev).decode(),
                    "proof": [h.hex() for h in proof],
                }
            )
    return {
        "format": FORMAT,
        "instance_id": instance_id,
        "tree_size": size,
        "checkpoint": latest["note"],
        "events": items,
    }
