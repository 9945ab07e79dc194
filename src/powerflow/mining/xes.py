"""XES (IEEE Std 1849-2016) writer: one trace per instance, one event per recorded event.

The document is valid against the standard's XML Schema (tests/schemas), which has no target
namespace: elements are written in no namespace, and ``xes.version`` is the decimal 1849.2016.
Standard extensions declared: concept, lifecycle (model "standard"), time, org.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache

from powerflow.mining.mapping import activity, transition
from powerflow.mining.records import MiningEvent
from powerflow.mining.text import ChunkBuffer, iso_time, xml_attr

XES_VERSION = "1849.2016"
EXTENSIONS = (
    ("Concept", "concept", "http://www.xes-standard.org/concept.xesext"),
    ("Lifecycle", "lifecycle", "http://www.xes-standard.org/lifecycle.xesext"),
    ("Time", "time", "http://www.xes-standard.org/time.xesext"),
    ("Organizational", "org", "http://www.xes-standard.org/org.xesext"),
)
CLASSIFIERS = (
    ("Activity", "concept:name"),
    ("Activity_Lifecycle", "concept:name lifecycle:transition"),
    ("Resource", "org:resource"),
)
MEDIA_TYPE = "application/xml"


def _attr(kind: str, key: str, value: str) -> str:
    return f'<{kind} key="{key}" value="{xml_attr(value)}"/>'


def _header(log_name: str) -> str:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<log xes.version="{XES_VERSION}" xes.features="">',
        *(f'  <extension name="{n}" prefix="{p}" uri="{u}"/>' for n, p, u in EXTENSIONS),
        # every trace and every event carries these (the standard's "global" attributes; a
        # classifier's keys must be among them)
        '  <global scope="trace">',
        "    " + _attr("string", "concept:name", "UNKNOWN"),
        "    " + _attr("string", "definition_key", "UNKNOWN"),
        "    " + _attr("int", "definition_version", "0"),
        "  </global>",
        '  <global scope="event">',
        "    " + _attr("string", "concept:name", "UNKNOWN"),
        "    " + _attr("string", "lifecycle:transition", "complete"),
        "    " + _attr("date", "time:timestamp", "1970-01-01T00:00:00.000+00:00"),
        "    " + _attr("string", "org:resource", "UNKNOWN"),
        "    " + _attr("string", "event_type", "UNKNOWN"),
        "    " + _attr("int", "event_id", "0"),
        "  </global>",
        *(f'  <classifier name="{n}" keys="{k}"/>' for n, k in CLASSIFIERS),
        "  " + _attr("string", "concept:name", log_name),
        "  " + _attr("string", "lifecycle:model", "standard"),
    ]
    return "\n".join(lines) + "\n"


def _trace_open(event: MiningEvent) -> str:
    parts = [
        "  <trace>",
        "    " + _attr("string", "concept:name", event.instance_id),
        "    " + _attr("string", "definition_key", event.definition_key),
        "    " + _attr("int", "definition_version", str(event.definition_version)),
    ]
    if event.business_key is not None:
        parts.append("    " + _attr("string", "business_key", event.business_key))
    return "\n".join(parts) + "\n"


@lru_cache(maxsize=4096)
def _name(value: str) -> str:
    """An escaped text that recurs (activities, people, roles, element ids, event types)."""
    return xml_attr(value)


def _event(event: MiningEvent) -> str:
    # hot path: a million events are a million calls; times and numbers need no escaping
    parts = [
        "    <event>",
        f'<string key="concept:name" value="{_name(activity(event))}"/>',
        f'<string key="lifecycle:transition" value="{transition(event)}"/>',
        f'<date key="time:timestamp" value="{iso_time(event.occurred_at)}"/>',
        f'<string key="org:resource" value="{_name(event.actor)}"/>',
    ]
    if event.role:
        parts.append(f'<string key="org:role" value="{_name(event.role)}"/>')
    if event.task_id:
        # the concept extension's activity instance: every event of one task shares it
        parts.append(f'<string key="concept:instance" value="{xml_attr(event.task_id)}"/>')
    if event.element_id:
        parts.append(f'<string key="element_id" value="{_name(event.element_id)}"/>')
    parts.append(f'<string key="event_type" value="{_name(event.type)}"/>')
    parts.append(f'<int key="event_id" value="{event.event_id}"/>')
    return "\n      ".join(parts) + "\n    </event>\n"


def write_xes(
    events: Iterable[MiningEvent], *, log_name: str, chunk_bytes: int = 64 * 1024
) -> Iterator[bytes]:
    """The XES document of ``events`` (grouped by instance: each instance's events together,
    in order), as chunks of about ``chunk_bytes``. No events: a valid log without traces."""
    buffer = ChunkBuffer(chunk_bytes)
    buffer.add(_header(log_name))
    current: str | None = None
    for event in events:
        if event.instance_id != current:
            if current is not None:
                buffer.add("  </trace>\n")
            current = event.instance_id
            buffer.add(_trace_open(event))
        buffer.add(_event(event))
        if buffer.full:
            yield buffer.flush()
    if current is not None:
        buffer.add("  </trace>\n")
    buffer.add("</log>\n")
    yield buffer.flush()
