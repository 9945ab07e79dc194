"""Timer expressions as designers write them: plain ISO 8601 (``PT2H``, ``R3/PT1H``, a date-time).

SpiffWorkflow evaluates every timer expression as Python (bug T2), so a bare ``PT2H`` is a
NameError at run time. Before a file is given to SpiffWorkflow (at upload *and* each time a
stored file is parsed again) the text of each ``timeDuration``/``timeDate``/``timeCycle`` that
reads as ISO 8601 is replaced by the quoted Python string of the same value; the stored XML is
never changed. Values are checked with SpiffWorkflow's own parse functions, so a value accepted
at upload is one the engine can run.

A date-time without an offset (``2026-12-31T09:00:00``) is read in the configured time zone
(``POWERFLOW_TIME_ZONE``), not in the server's local zone (bug T3): it is rewritten with the
zone's offset on that date.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent

from powerflow.engine.types import Problem
from powerflow.engine.xml import BPMN_NS

KINDS = ("timeDuration", "timeDate", "timeCycle")
_ISO_DURATION = re.compile(r"^P(\d|T\d)", re.IGNORECASE)
_ISO_CYCLE = re.compile(r"^R\d*/", re.IGNORECASE)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_ISO_WEEK = re.compile(r"^\d{4}-?W\d{2}", re.IGNORECASE)
_zone: ZoneInfo = ZoneInfo("UTC")


def configure_time_zone(name: str) -> None:
    """Read date-times without an offset in this IANA zone from now on (POWERFLOW_TIME_ZONE)."""
    global _zone
    _zone = ZoneInfo(name)


def looks_iso(text: str) -> bool:
    """True for a bare ISO 8601 duration, recurring interval, date or week date.

    A Python variable that happens to read as ISO (``PT2H``) is taken as ISO: name variables
    otherwise.
    """
    text = text.strip()
    return bool(
        _ISO_DURATION.match(text)
        or _ISO_CYCLE.match(text)
        or _ISO_DATE.match(text)
        or _ISO_WEEK.match(text)
    )


def _with_zone(part: str) -> str:
    """A date-time component with an offset: naive ones are read in the configured zone."""
    if part.upper().startswith("P") or "W" in part.upper():
        return part
    parsed = datetime.fromisoformat(part)
    if parsed.tzinfo is not None:
        return part
    return parsed.replace(tzinfo=_zone).isoformat()


def normalize(kind: str, text: str) -> str:
    """The ISO value SpiffWorkflow gets for a bare value of a ``kind`` element, checked with
    SpiffWorkflow's parse functions; raises ValueError with a designer's sentence."""
    value = text.strip()
    try:
        if kind == "timeDuration":
            if not value.upper().startswith("P"):
                raise ValueError("a duration starts with P, for example PT2H or P1D")
            TimerEventDefinition.parse_iso_duration(value)
            return value
        if kind == "timeDate":
            if value.upper().startswith("P") or value.upper().startswith("R"):
                raise ValueError("a date needs a date-time, for example 2026-12-31T09:00:00+08:00")
            value = _with_zone(value)
            TimerEventDefinition.parse_time_or_duration(value)
            return value
        if not value.upper().startswith("R"):
            raise ValueError("a cycle starts with R, for example R3/PT1H (R/PT10M: no end)")
        parts = value.split("/")
        value = "/".join([parts[0], *(_with_zone(p) for p in parts[1:])])
        TimerEventDefinition.parse_iso_recurring_interval(value)
        return value
    except ValueError:
        raise
    except Exception as exc:  # SpiffWorkflow raises bare Exception / AttributeError / TypeError
        raise ValueError(str(exc) or type(exc).__name__) from None


def _literal(text: str) -> str | None:
    """The string a quoted Python literal stands for, or None for any other expression."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, str) else None


def _timer_nodes(root: etree._Element) -> list[etree._Element]:
    return [
        node
        for kind in KINDS
        for node in root.iter(f"{{{BPMN_NS}}}{kind}")
        if node.getparent() is not None
        and etree.QName(node.getparent()).localname == "timerEventDefinition"
    ]


def _owner(node: etree._Element) -> etree._Element:
    event = node.getparent().getparent() if node.getparent() is not None else None
    return event if event is not None else node


def problems(tree: etree._ElementTree) -> list[Problem]:
    """Every timer value that is neither valid ISO 8601 nor another Python expression, named by
    its event and line (quoted literals are checked too)."""
    found: list[Problem] = []
    for node in _timer_nodes(tree.getroot()):
        kind = etree.QName(node).localname
        text = node.text or ""
        literal = _literal(text)
        value = literal if literal is not None else text
        if literal is None and not looks_iso(text):
            continue  # a Python expression: evaluated when the timer is reached
        try:
            normalize(kind, value)
        except ValueError as exc:
            event = _owner(node)
            label = event.get("name") or event.get("id")
            found.append(
                Problem(
                    f"The timer of '{label}' has {kind} '{value.strip()}', which is not valid "
                    f"ISO 8601 ({exc}); write for example PT2H (duration), "
                    "2026-12-31T09:00:00+08:00 (date) or R3/PT1H (cycle).",
                    line=node.sourceline,
                    element_id=event.get("id"),
                    process_id=_process_id(event),
                )
            )
    return found


def _process_id(node: etree._Element) -> str | None:
    while node is not None:
        if etree.QName(node).localname == "process":
            return str(node.get("id"))
        node = node.getparent()
    return None


def for_spiff(tree: etree._ElementTree) -> etree._ElementTree:
    """The tree with bare ISO timer values (and naive quoted dates) quoted for SpiffWorkflow.

    Returns ``tree`` itself when nothing changes, else a changed copy; invalid values are left
    as they are (``problems`` reports them at upload).
    """
    changes: list[tuple[int, str]] = []
    nodes = _timer_nodes(tree.getroot())
    for index, node in enumerate(nodes):
        text = node.text or ""
        literal = _literal(text)
        if literal is None and not looks_iso(text):
            continue
        try:
            value = normalize(etree.QName(node).localname, literal or text)
        except ValueError:
            continue
        if literal is not None and value == literal:
            continue
        changes.append((index, repr(value)))
    if not changes:
        return tree
    copy = etree.ElementTree(etree.fromstring(etree.tostring(tree)))
    copied = _timer_nodes(copy.getroot())
    for index, text in changes:
        copied[index].text = text
    return copy


@dataclass(frozen=True)
class StartTimer:
    """A timer start event of a process: what schedules its instances."""

    element_id: str
    kind: str  # "date", "duration" or "cycle"
    value: str  # the ISO value (with an offset for dates)


def start_timers(spec: Any) -> list[StartTimer]:
    """The timer start events at the top of a process spec whose value is a constant."""
    found = []
    for task_spec in spec.task_specs.values():
        if not isinstance(task_spec, StartEvent):
            continue
        definition = getattr(task_spec, "event_definition", None)
        if not isinstance(definition, TimerEventDefinition):
            continue
        value = _literal(definition.expression or "")
        if value is None:
            continue
        kind = (
            "cycle"
            if isinstance(definition, CycleTimerEventDefinition)
            else "duration"
            if isinstance(definition, DurationTimerEventDefinition)
            else "date"
            if isinstance(definition, TimeDateEventDefinition)
            else ""
        )
        if kind:
            found.append(StartTimer(task_spec.bpmn_id, kind, value))
    return found


def non_constant_start_timers(spec: Any) -> list[str]:
    """Timer start events whose value is an expression: no schedule can be made for them."""
    return [
        task_spec.bpmn_id
        for task_spec in spec.task_specs.values()
        if isinstance(task_spec, StartEvent)
        and isinstance(getattr(task_spec, "event_definition", None), TimerEventDefinition)
        and _literal(task_spec.event_definition.expression or "") is None
    ]


@dataclass(frozen=True)
class Schedule:
    """When a start timer fires next and how many firings remain after it (-1: no end)."""

    next_fire_at: datetime | None
    remaining: int
    interval_seconds: float | None


def first_schedule(kind: str, value: str, now: datetime) -> Schedule:
    """The first firing of a start timer deployed at ``now`` (Camunda's reading: a date fires
    once at that date, at once if it has passed; a duration once, that long after deploy; a
    cycle ``R<n>/<interval>`` n times, the first one interval after deploy, or from its start
    date when it names one)."""
    if kind == "date":
        return Schedule(TimerEventDefinition.get_datetime(value), 0, None)
    if kind == "duration":
        parsed = TimerEventDefinition.parse_iso_duration(value)
        delta = TimerEventDefinition.get_timedelta_from_start(parsed, now)
        return Schedule(now + delta, 0, None)
    cycles, start, duration = TimerEventDefinition.parse_iso_recurring_interval(value)
    parts = value.upper().strip("R").split("/")
    if len(parts) == 2 and not _ISO_DATE.match(parts[1]):
        start = now + duration  # the library counts from its own clock: count from ``now``
    if cycles == 0:
        return Schedule(None, 0, None)
    seconds = duration.total_seconds()
    if seconds <= 0:
        raise ValueError("a cycle's interval must be longer than zero")
    return Schedule(start.astimezone(UTC), cycles - 1 if cycles > 0 else -1, seconds)


def next_schedule(fired_at: datetime, remaining: int, interval_seconds: float | None) -> Schedule:
    """The schedule after a firing that was due at ``fired_at``."""
    if remaining == 0 or not interval_seconds:
        return Schedule(None, 0, interval_seconds)
    return Schedule(
        fired_at + timedelta(seconds=interval_seconds),
        remaining - 1 if remaining > 0 else -1,
        interval_seconds,
    )
