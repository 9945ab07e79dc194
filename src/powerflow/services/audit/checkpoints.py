"""Signed checkpoints of the audit log: made periodically and on demand, kept, cosigned.

A checkpoint is a C2SP signed note whose text is a tlog-checkpoint body: the origin (the log
key's name), the tree size, the base64 root hash, and one extension line ``time <seconds since
the epoch>`` (when it was made, under the log's signature). One checkpoint per tree size.
"""

from __future__ import annotations

import base64
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import RowMapping

from powerflow.audit_log import note
from powerflow.audit_log.checkpoint import Checkpoint, parse_body
from powerflow.db import audit_queries as q
from powerflow.db.engine import Store
from powerflow.services.audit.sequencer import append_pending, edge, sequence
from powerflow.services.auth import Principal
from powerflow.services.errors import Conflict, Forbidden, InvalidInput, NotFound

READ_ROLES = ("auditor", "monitor", "admin")


@dataclass(frozen=True)
class CheckpointView:
    """A kept checkpoint."""

    tree_size: int
    root: bytes
    created_at: datetime
    origin: str
    key_id: str
    note: str

    @property
    def root_b64(self) -> str:
        """The root hash as in the note."""
        return base64.b64encode(self.root).decode()


def _view(row: RowMapping) -> CheckpointView:
    return CheckpointView(
        int(row["tree_size"]),
        bytes(row["root"]),
        row["created_at"],
        row["origin"],
        row["key_id"],
        row["note"],
    )


def check_reader(principal: Principal) -> None:
    """Auditors, monitors and administrators read the log's checkpoints and proofs."""
    if not principal.has(*READ_ROLES):
        raise Forbidden(
            "Reading the audit log's checkpoints and proofs needs the auditor, monitor or "
            "admin role."
        )


def make(store: Store, signer: note.Signer, now: datetime | None = None) -> CheckpointView:
    """Sequence what is committed, then sign a checkpoint of the whole tree, unless the
    latest checkpoint already covers it (then that one is returned)."""
    sequence(store)
    now = now or datetime.now(UTC)
    with store.begin(write=True) as conn:
        append_pending(conn)  # under the log's lock: what committed since
        size = q.tree_size(conn)
        latest = q.latest_checkpoint(conn)
        if latest is not None and int(latest["tree_size"]) >= size:
            return _view(latest)
        root = edge(conn, size).root()
        stamp = int(now.timestamp())
        body = Checkpoint(signer.name, size, root, (f"time {stamp}",)).body()
        signed = note.sign(body, signer).encode()
        created = datetime.fromtimestamp(stamp, UTC)
        key_id = f"{signer.verifier.id:08x}"
        q.insert_checkpoint(
            conn,
            tree_size=size,
            root=root,
            created_at=created,
            origin=signer.name,
            key_id=key_id,
            note=signed,
        )
    return CheckpointView(size, root, created, signer.name, key_id, signed)


def due(store: Store, every_seconds: float, now: datetime | None = None) -> bool:
    """Whether the log grew since the latest checkpoint, made at least ``every_seconds`` ago."""
    now = now or datetime.now(UTC)
    with store.begin(write=False) as conn:
        latest = q.latest_checkpoint(conn)
        size = q.tree_size(conn)
    if latest is None:
        return True
    if size <= int(latest["tree_size"]):
        return False
    made: datetime = latest["created_at"]
    return (now - made).total_seconds() >= every_seconds


def latest(store: Store, principal: Principal | None) -> CheckpointView:
    """The newest checkpoint (``principal`` None: the public pages)."""
    if principal is not None:
        check_reader(principal)
    with store.begin(write=False) as conn:
        row = q.latest_checkpoint(conn)
    if row is None:
        raise NotFound("The audit log has no checkpoint yet; one is made within a minute.")
    return _view(row)


def listing(
    store: Store, principal: Principal | None, before: int | None, limit: int
) -> list[CheckpointView]:
    """Checkpoints, largest tree first (``before``: only smaller trees)."""
    if principal is not None:
        check_reader(principal)
    with store.begin(write=False) as conn:
        return [_view(r) for r in q.checkpoints(conn, before, limit)]


def add_cosignatures(
    store: Store, principal: Principal, size: int, text: str, witnesses: Collection[str]
) -> CheckpointView:
    """Add the cosignatures of configured witnesses found in ``text`` (the checkpoint's note
    as a witness returned it) to the kept checkpoint of that size (administrators)."""
    if not principal.is_admin:
        raise Forbidden("Adding a witness cosignature needs the admin role.")
    if not witnesses:
        raise Conflict(
            "No witness is configured (POWERFLOW_AUDIT_WITNESS_KEYS), so no cosignature can be "
            "checked."
        )
    try:
        given = note.parse(text)
        verifiers = [note.parse_verifier(k) for k in witnesses]
    except note.NoteError as exc:
        raise InvalidInput(f"The cosigned checkpoint cannot be read: {exc}.") from exc
    with store.begin(write=True) as conn:
        row = q.checkpoint_at(conn, size)
        if row is None:
            raise NotFound(f"No checkpoint of tree size {size} is kept.")
        kept = note.parse(row["note"])
        if given.text != kept.text:
            raise InvalidInput(
                f"The note's text is not the checkpoint of tree size {size}: a witness signs "
                "the checkpoint's text unchanged."
            )
        merged = kept
        added = 0
        for v in verifiers:
            lines = [s for s in given.signatures if (s.name, s.id) == (v.name, v.id)]
            if not lines:
                continue
            if not all(v.verify(given.text.encode(), s.sig) for s in lines):
                raise InvalidInput(f"The cosignature of witness {v.name} does not verify.")
            merged = merged.with_signature(lines[-1])
            added += 1
        if not added:
            raise InvalidInput(
                "The note carries no cosignature of a configured witness "
                f"({', '.join(v.name for v in verifiers)})."
            )
        q.set_note(conn, size, row["note"], merged.encode())
        parse_body(merged.text)
        return CheckpointView(
            size,
            bytes(row["root"]),
            row["created_at"],
            row["origin"],
            row["key_id"],
            merged.encode(),
        )
