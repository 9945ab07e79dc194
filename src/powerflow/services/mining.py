"""The event log for process-mining tools (XES, OCEL 2.0): who may export, which events a
selection holds, and reading them in batches from one snapshot (docs/audit.md, "Export for
process mining").

The selection is checked before anything is written (bad filters are refused with a sentence);
the export itself is a generator of byte chunks that reads a batch of instances, then their
events a batch at a time, and writes each as read: memory stays bounded whatever the size.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import RowMapping

from powerflow.db import mining_queries as q
from powerflow.db.engine import Store
from powerflow.mining import mapping, ocel, xes
from powerflow.mining.records import MiningEvent
from powerflow.services.auth import Principal
from powerflow.services.errors import Forbidden, InvalidInput, NotFound
from powerflow.services.events import MACHINE_ACTORS
from powerflow.services.visibility import SEE_ALL_ROLES

MAX_INSTANCE_IDS = 1000
BATCH = 1000


@dataclass(frozen=True)
class Selection:
    """What an export holds: instances of a process (or the given ones) and the events of
    them that occurred in [since, until)."""

    definition_key: str | None = None
    version: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    instance_ids: tuple[str, ...] = ()
    definition_ids: tuple[int, ...] | None = None
    """The deployed versions the key (and version) name; None: every process."""

    def describe(self) -> str:
        """A short name for the log and its file."""
        what = self.definition_key or "all-processes"
        if self.version is not None:
            what += f"-v{self.version}"
        return what if not self.instance_ids else f"{what}-{len(self.instance_ids)}-instances"


def check_exporter(principal: Principal) -> None:
    """Forbidden unless the caller may export the event log (monitor, auditor, admin)."""
    if not principal.has(*SEE_ALL_ROLES):
        raise Forbidden(
            "Exporting the event log needs the monitor, auditor or admin role; the events of an "
            "instance you are involved in are at /v1/instances/{id}/events."
        )


def select(
    store: Store,
    *,
    definition_key: str | None = None,
    version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    instance_ids: Sequence[str] = (),
) -> Selection:
    """Check the filters and resolve them; InvalidInput or NotFound with a sentence."""
    if version is not None and not definition_key:
        raise InvalidInput("A version selects a version of a process: give definition_key too.")
    if since is not None and until is not None and since > until:
        raise InvalidInput(
            f"'from' ({since.isoformat()}) is later than 'to' ({until.isoformat()})."
        )
    if len(instance_ids) > MAX_INSTANCE_IDS:
        raise InvalidInput(f"At most {MAX_INSTANCE_IDS} instance ids can be selected at once.")
    ids = tuple(dict.fromkeys(_instance_id(i) for i in instance_ids))
    definitions: tuple[int, ...] | None = None
    with store.begin(write=False) as conn:
        if definition_key:
            definitions = tuple(q.definition_ids(conn, definition_key, version))
            if not definitions:
                which = f"version {version} of " if version is not None else ""
                raise NotFound(f"No {which}process '{definition_key}' is deployed.")
        if ids:
            unknown = [i for i in ids if i not in q.existing_instances(conn, ids)]
            if unknown:
                raise NotFound(f"Instance {unknown[0]} does not exist.")
    return Selection(definition_key, version, since, until, ids, definitions)


def _instance_id(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise InvalidInput(f"'{text}' is not an instance id (a UUID).") from None


def events(
    store: Store, selection: Selection, types: Sequence[str], *, batch: int = BATCH
) -> Iterator[MiningEvent]:
    """The selected events of these types, instance by instance (in instance id order), each
    instance's in recorded order; read from one snapshot, ``batch`` rows at a time."""
    with store.snapshot() as conn:
        after_instance: str | None = None
        while True:
            heads = q.instance_batch(
                conn,
                after=after_instance,
                limit=batch,
                definitions=selection.definition_ids,
                ids=selection.instance_ids or None,
            )
            if not heads:
                return
            by_id = {h["id"]: h for h in heads}
            remaining = list(by_id)
            after_event: tuple[str, int] | None = None
            while True:
                rows = q.event_batch(
                    conn,
                    instances=remaining,
                    types=types,
                    since=selection.since,
                    until=selection.until,
                    after=after_event,
                    limit=batch,
                )
                for row in rows:
                    yield _record(row, by_id[row["instance_id"]])
                if len(rows) < batch:
                    break
                last = rows[-1]["instance_id"]
                after_event = (last, int(rows[-1]["seq"]))
                # the instances before the last one read are done: asking for them again
                # would make the database walk their events once more
                remaining = remaining[remaining.index(last) :]
            if len(heads) < batch:
                return
            after_instance = heads[-1]["id"]


def _record(row: RowMapping, head: RowMapping) -> MiningEvent:
    actor = str(row["actor"])
    case_id = row["case_id"]
    return MiningEvent(
        event_id=int(row["id"]),
        instance_id=str(row["instance_id"]),
        seq=int(row["seq"]),
        type=str(row["type"]),
        occurred_at=row["occurred_at"],
        element_id=row["element_id"],
        element_name=row["element_name"],
        task_id=row["task_id"],
        actor=actor,
        person=None if actor in MACHINE_ACTORS else actor,
        role=row["role"] or row["countersign_role"],
        reason=row["reason"] if row["type"] == "task.cancelled" else None,
        case_id=None if case_id is None else str(case_id),
        case_subject=row["subject"] if row["type"] == "case.opened" else None,
        case_outcome=row["outcome"] if row["type"] == "case.closed" else None,
        business_key=head["business_key"],
        definition_key=str(head["definition_key"]),
        definition_version=int(head["definition_version"]),
    )


def xes_log(
    store: Store, selection: Selection, *, batch: int = BATCH, chunk_bytes: int = 64 * 1024
) -> Iterator[bytes]:
    """The selection as an XES document, in chunks."""
    name = f"powerflow event log: {selection.describe()}"
    records = events(store, selection, mapping.XES_TYPES, batch=batch)
    return xes.write_xes(records, log_name=name, chunk_bytes=chunk_bytes)


def ocel_log(
    store: Store, selection: Selection, *, batch: int = BATCH, chunk_bytes: int = 64 * 1024
) -> Iterator[bytes]:
    """The selection as an OCEL 2.0 JSON document, in chunks."""
    records = events(store, selection, mapping.OCEL_TYPES, batch=batch)
    return ocel.write_ocel(records, chunk_bytes=chunk_bytes)
