"""OCEL 2.0 JSON writer (ocel-standard.org): events related to instance, task, person and
case objects.

Streamed in one pass over events grouped by instance. Events are written as they come; the
objects they mention are written meanwhile to a spool (memory up to ``spool_bytes``, then a
temporary file) and copied after the events, so neither list is held in memory. Each instance's
tasks and cases belong to it alone, so they are de-duplicated per instance; only the set of
people seen is kept for the whole log (bounded by the number of users). The top-level keys
come in the order objectTypes, events, objects, eventTypes: JSON objects are unordered, and the
event types are known only once every event has been seen.

The published schema (tests/schemas) types every attribute value as a string, so integers are
written as their decimal text; the declared attribute types say how to read them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from powerflow.mining.mapping import STATUS_AFTER, activity, transition
from powerflow.mining.records import MiningEvent
from powerflow.mining.text import ChunkBuffer, iso_time

MEDIA_TYPE = "application/json"
EPOCH = iso_time(datetime(1970, 1, 1, tzinfo=UTC))
"""The time of attribute values that hold from the start (the standard's convention)."""

OBJECT_TYPES: list[dict[str, Any]] = [
    {
        "name": "instance",
        "attributes": [
            {"name": "definition_key", "type": "string"},
            {"name": "definition_version", "type": "integer"},
            {"name": "business_key", "type": "string"},
            {"name": "status", "type": "string"},
        ],
    },
    {
        "name": "task",
        "attributes": [
            {"name": "element_id", "type": "string"},
            {"name": "name", "type": "string"},
        ],
    },
    {"name": "person", "attributes": []},
    {
        "name": "case",
        "attributes": [
            {"name": "subject", "type": "string"},
            {"name": "outcome", "type": "string"},
        ],
    },
]
EVENT_ATTRIBUTE_TYPES = {
    "lifecycle": "string",
    "event_type": "string",
    "seq": "integer",
    "element_id": "string",
    "role": "string",
}


def instance_oid(instance_id: str) -> str:
    """The OCEL object id of an instance (ids are prefixed by type: they share one space)."""
    return f"instance:{instance_id}"


def event_type(event: MiningEvent) -> str:
    """The OCEL event type: the activity, with its lifecycle transition unless "complete"
    (so that a task's offer and its completion are distinct activities)."""
    name, step = activity(event), transition(event)
    return name if step == "complete" else f"{name} ({step})"


class _Objects:
    """The objects of the log as they are met, written to the spool."""

    def __init__(self, spool: IO[bytes]) -> None:
        self.spool = spool
        self.count = 0
        self.people: set[str] = set()
        self._instance: MiningEvent | None = None
        self._statuses: list[tuple[str, str]] = []
        self._tasks: set[str] = set()
        self._cases: dict[str, list[dict[str, str]]] = {}

    def _write(self, obj: dict[str, Any]) -> None:
        self.spool.write((b",\n" if self.count else b"") + orjson.dumps(obj))
        self.count += 1

    def see(self, event: MiningEvent) -> list[dict[str, str]]:
        """Record the objects ``event`` mentions; return its relationships to them."""
        if self._instance is None or event.instance_id != self._instance.instance_id:
            self.end_instance()
            self._instance = event
        oid = instance_oid(event.instance_id)
        relations = [{"objectId": oid, "qualifier": "instance"}]
        when = iso_time(event.occurred_at)
        if event.type in STATUS_AFTER:
            self._statuses.append((STATUS_AFTER[event.type], when))
        if event.task_id:
            task_oid = f"task:{event.task_id}"
            relations.append({"objectId": task_oid, "qualifier": "task"})
            if event.task_id not in self._tasks:
                self._tasks.add(event.task_id)
                attributes = [{"name": "name", "value": activity(event), "time": EPOCH}]
                if event.element_id:
                    attributes.insert(
                        0, {"name": "element_id", "value": event.element_id, "time": EPOCH}
                    )
                self._write(
                    {
                        "id": task_oid,
                        "type": "task",
                        "attributes": attributes,
                        "relationships": [{"objectId": oid, "qualifier": "part of"}],
                    }
                )
        if event.person:
            person_oid = f"person:{event.person}"
            relations.append({"objectId": person_oid, "qualifier": "actor"})
            if event.person not in self.people:
                self.people.add(event.person)
                self._write({"id": person_oid, "type": "person", "attributes": []})
        if event.case_id:
            relations.append({"objectId": f"case:{event.case_id}", "qualifier": "case"})
            values = self._cases.setdefault(event.case_id, [])
            if event.case_subject:
                values.append({"name": "subject", "value": event.case_subject, "time": when})
            if event.case_outcome:
                values.append({"name": "outcome", "value": event.case_outcome, "time": when})
        return relations

    def end_instance(self) -> None:
        """Write the objects of the instance whose events just ended: itself and its cases."""
        head = self._instance
        if head is None:
            return
        oid = instance_oid(head.instance_id)
        attributes = [
            {"name": "definition_key", "value": head.definition_key, "time": EPOCH},
            {"name": "definition_version", "value": str(head.definition_version), "time": EPOCH},
        ]
        if head.business_key is not None:
            attributes.append({"name": "business_key", "value": head.business_key, "time": EPOCH})
        attributes += [{"name": "status", "value": s, "time": t} for s, t in self._statuses]
        self._write({"id": oid, "type": "instance", "attributes": attributes})
        for case_id, values in self._cases.items():
            self._write(
                {
                    "id": f"case:{case_id}",
                    "type": "case",
                    "attributes": values,
                    "relationships": [{"objectId": oid, "qualifier": "concerns"}],
                }
            )
        self._instance = None
        self._statuses = []
        self._tasks = set()
        self._cases = {}


def _event(event: MiningEvent, relationships: list[dict[str, str]]) -> dict[str, Any]:
    attributes = [
        {"name": "lifecycle", "value": transition(event)},
        {"name": "event_type", "value": event.type},
        {"name": "seq", "value": str(event.seq)},
    ]
    if event.element_id:
        attributes.append({"name": "element_id", "value": event.element_id})
    if event.role:
        attributes.append({"name": "role", "value": event.role})
    return {
        "id": str(event.event_id),
        "type": event_type(event),
        "time": iso_time(event.occurred_at),
        "attributes": attributes,
        "relationships": relationships,
    }


def write_ocel(
    events: Iterable[MiningEvent],
    *,
    chunk_bytes: int = 64 * 1024,
    spool_bytes: int = 8 * 1024 * 1024,
) -> Iterator[bytes]:
    """The OCEL 2.0 JSON document of ``events`` (grouped by instance, each instance's events in
    order), as chunks of about ``chunk_bytes``. No events: a valid log with empty lists."""
    buffer = ChunkBuffer(chunk_bytes)
    buffer.add('{"objectTypes":' + orjson.dumps(OBJECT_TYPES).decode() + ',\n"events":[\n')
    types: dict[str, set[str]] = {}
    with tempfile.SpooledTemporaryFile(max_size=spool_bytes, mode="w+b") as spool:
        objects = _Objects(spool)
        first = True
        for event in events:
            record = _event(event, objects.see(event))
            names = types.setdefault(record["type"], set())
            names.update(a["name"] for a in record["attributes"])
            buffer.add(("" if first else ",\n") + orjson.dumps(record).decode())
            first = False
            if buffer.full:
                yield buffer.flush()
        objects.end_instance()
        buffer.add('\n],\n"objects":[\n')
        yield buffer.flush()
        spool.seek(0)
        while block := spool.read(chunk_bytes):
            yield block
    declared = [
        {
            "name": name,
            "attributes": [
                {"name": a, "type": EVENT_ATTRIBUTE_TYPES[a]}
                for a in EVENT_ATTRIBUTE_TYPES
                if a in names
            ],
        }
        for name, names in sorted(types.items())
    ]
    buffer.add('\n],\n"eventTypes":' + orjson.dumps(declared).decode() + "}\n")
    yield buffer.flush()
