"""Statistics: counts, durations, overdue rates, alerts and violations per process, element, role
and person and day, kept as additive counters that a background aggregator maintains.

The aggregator reads the event table in id order (ids are visible in commit order, see
``queries.insert_events``) from its cursor, turns each event of a registered type into counter
increments (``HANDLERS``), and in one transaction moves its cursor by compare-and-set and adds
the increments (``stat_queries.add_counts``). A second worker that read the same events finds
the cursor moved and rolls back: every event is counted once. Reads sum the counters of the days
asked for, so their cost follows the number of days, elements and histogram buckets, not the
number of instances. They lag the events by at most the loop interval (``as_of_event_id``).

Durations are wall-clock and kept as histograms with log-spaced buckets: bucket 0 holds
durations under one second, bucket ``b >= 1`` those in ``[2**((b-1)/4), 2**(b/4))`` seconds. A
percentile is the geometric middle of the bucket holding its rank (nearest rank), so it is
within ``2**(1/8) - 1`` (9.05 %) of the exact value of a duration in that bucket (under one
second: reported as 0). The mean is exact (a sum of milliseconds is kept beside the buckets).

Adding an event type is one entry in ``HANDLERS`` (as ``case.closed`` counts supervision cases by
outcome); a rebuild (``powerflow stats rebuild``) recounts every event with the current handlers.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from powerflow.db import stat_queries
from powerflow.db.engine import Store
from powerflow.db.stat_queries import CountKey
from powerflow.services.auth import Principal
from powerflow.services.errors import Forbidden, InvalidInput, NotFound
from powerflow.services.events import MACHINE_ACTORS

log = logging.getLogger("powerflow.statistics")

CURSOR = "statistics"
BUCKETS_PER_DOUBLING = 4
MAX_BUCKET = 4 * 31  # 2**31 s, about 68 years: anything longer shares the last bucket
RELATIVE_ERROR = 2 ** (1 / (2 * BUCKETS_PER_DOUBLING)) - 1
READ_ROLES = frozenset({"monitor", "auditor", "admin"})
# Per-process figures name no person: designers read them to improve their diagrams.
PROCESS_READ_ROLES = READ_ROLES | {"designer"}
MAX_DAYS = 3660


# ------------------------------------------------------------------ histogram


def bucket_of(seconds: float) -> int:
    """The histogram bucket of a duration."""
    if seconds < 1:
        return 0
    return min(MAX_BUCKET, 1 + math.floor(BUCKETS_PER_DOUBLING * math.log2(seconds)))


def bucket_bounds(bucket: int) -> tuple[float, float]:
    """[low, high) seconds of a bucket."""
    if bucket <= 0:
        return 0.0, 1.0
    return (
        2 ** ((bucket - 1) / BUCKETS_PER_DOUBLING),
        2 ** (bucket / BUCKETS_PER_DOUBLING),
    )


def bucket_value(bucket: int) -> float:
    """What a percentile falling in the bucket reports: its geometric middle (0 under 1 s)."""
    if bucket <= 0:
        return 0.0
    low, high = bucket_bounds(bucket)
    return math.sqrt(low * high)


def percentile(histogram: dict[int, int], p: float) -> float | None:
    """The p-th percentile (0 < p <= 1, nearest rank) of a histogram; None when empty."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(p * total))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_value(bucket)
    raise AssertionError("unreachable: the ranks add up to the total")


# ------------------------------------------------------------------ the aggregator

# An increment: (element_id, role, person, metric, label, n); the aggregator adds the process
# key and the day of the event.
Increment = tuple[str, str, str, str, str, int]


@dataclass
class Batch:
    """What the handlers of one batch of events may look up, fetched once for the batch."""

    # task id -> (created_at, due_at, roles, assignee, ended_at) of its row: when it became
    # ready, when it was due, who could take it and who held it, when it closed
    tasks: dict[str, Any] = field(default_factory=dict)
    # (task id, ended_at) -> the same, of a row a moved token replaced (the task reopened)
    closed: dict[tuple[str, datetime], Any] = field(default_factory=dict)

    def task(self, ev: Any) -> Any:
        """The row the closing event ``ev`` closed: the task's row, or the one it had before
        a moved token opened it again under the same id (None: no row, an automatic step)."""
        row = self.tasks.get(ev.task_id or "")
        if row is not None and row.ended_at == ev.occurred_at:
            return row
        return self.closed.get((ev.task_id or "", ev.occurred_at), row)

    instances: dict[str, Any] = field(default_factory=dict)
    alerts: dict[int, tuple[list[str], list[str]]] = field(default_factory=dict)


def _person(actor: str) -> str:
    return "" if actor in MACHINE_ACTORS else actor


def _timed(seconds: float, late: bool) -> list[tuple[str, str, int]]:
    """(metric, label, n) of one completion with a duration."""
    out = [
        ("completed", "", 1),
        ("duration", str(bucket_of(seconds)), 1),
        ("duration_ms", "", round(seconds * 1000)),
        ("timed", "", 1),
    ]
    if late:
        out.append(("overdue", "", 1))
    return out


def _instance_started(ev: Any, batch: Batch) -> list[Increment]:
    person = _person(ev.actor)
    out: list[Increment] = [("", "", "", "started", "", 1)]
    if person:
        out.append(("", "", person, "started", "", 1))
    return out


def _instance_completed(ev: Any, batch: Batch) -> list[Increment]:
    row = batch.instances.get(ev.instance_id)
    if row is None:  # the instance row is gone: count it without a duration
        return [("", "", "", "completed", "", 1)]
    due = row.promised_due_at or row.statutory_due_at
    seconds = max(0.0, (ev.occurred_at - row.created_at).total_seconds())
    late = due is not None and ev.occurred_at > due
    return [("", "", "", m, lab, n) for m, lab, n in _timed(seconds, late)]


def _instance_cancelled(ev: Any, batch: Batch) -> list[Increment]:
    return [("", "", "", "cancelled", "", 1)]


def _instance_failed(ev: Any, batch: Batch) -> list[Increment]:
    return [("", "", "", "failed", "", 1)]


def _task_ready(ev: Any, batch: Batch) -> list[Increment]:
    element = ev.element_id or ""
    out: list[Increment] = [(element, "", "", "started", "", 1)]
    for role in sorted(set((ev.payload or {}).get("roles") or [])):
        out.append((element, str(role), "", "started", "", 1))
    return out


def _task_completed(ev: Any, batch: Batch) -> list[Increment]:
    element = ev.element_id or ""
    task = batch.task(ev)
    if task is None:  # an automatic step (script, service task): no waiting time to measure
        return [(element, "", "", "completed", "", 1)]
    seconds = max(0.0, (ev.occurred_at - task.created_at).total_seconds())
    late = task.due_at is not None and ev.occurred_at > task.due_at
    figures = _timed(seconds, late)
    who: list[tuple[str, str, str]] = [(element, "", "")]
    who += [(element, str(role), "") for role in sorted(set(task.roles or []))]
    if _person(ev.actor):  # a person's rows are not split by element: fewer rows to sum
        who.append(("", "", ev.actor))
    out = [(e, role, person, m, lab, n) for e, role, person in who for m, lab, n in figures]
    return out + _released(task)


def _released(task: Any) -> list[Increment]:
    """A closed task is no longer held by whoever had claimed it (its row's assignee)."""
    holder = _person(task.assignee or "")
    return [("", "", holder, "released", "", 1)] if holder else []


def _task_cancelled(ev: Any, batch: Batch) -> list[Increment]:
    """A task closed without completion: cancelled at its element and for the roles it was
    ready for, and released by whoever held it."""
    task = batch.task(ev)
    if task is None:  # its row is gone: it cannot be matched with its ready count
        return []
    element = ev.element_id or ""
    out: list[Increment] = [(element, "", "", "cancelled", "", 1)]
    out += [(element, str(role), "", "cancelled", "", 1) for role in sorted(set(task.roles or []))]
    return out + _released(task)


def _instance_migrated(ev: Any, batch: Batch) -> list[Increment]:
    """Open tasks the migration kept but offered to other roles: each stops running for the
    roles it no longer has and runs for its new ones (``moved_out``, ``moved_in``: counters
    behind a role's running figure; its ready, completed and cancelled figures stay where the
    task's events put them)."""
    out: list[Increment] = []
    for change in (ev.payload or {}).get("roles_changed") or []:
        element = str(change.get("element_id") or "")
        before, after = set(change.get("from_roles") or []), set(change.get("to_roles") or [])
        out += [(element, str(r), "", "moved_out", "", 1) for r in sorted(before - after)]
        out += [(element, str(r), "", "moved_in", "", 1) for r in sorted(after - before)]
    return out


def _task_claimed(ev: Any, batch: Batch) -> list[Increment]:
    person = _person(ev.actor)
    return [("", "", person, "claimed", "", 1)] if person else []


def _task_unclaimed(ev: Any, batch: Batch) -> list[Increment]:
    person = _person(str((ev.payload or {}).get("previous_assignee") or ""))
    return [("", "", person, "released", "", 1)] if person else []


def _alert_raised(ev: Any, batch: Batch) -> list[Increment]:
    element = ev.element_id or ""
    level = str((ev.payload or {}).get("level") or "")
    out: list[Increment] = [("", "", "", "alert", level, 1)]
    if element:
        out.append((element, "", "", "alert", level, 1))
    roles, persons = batch.alerts.get(int((ev.payload or {}).get("alert_id") or 0), ([], []))
    out += [(element, str(r), "", "alert", level, 1) for r in sorted(set(roles))]
    out += [("", "", str(p), "alert", level, 1) for p in sorted(set(persons)) if p]
    return out


def _violation(ev: Any, batch: Batch) -> list[Increment]:
    element = ev.element_id or ""
    rule = str((ev.payload or {}).get("rule_id") or "")
    out: list[Increment] = [("", "", "", "violation", rule, 1)]
    if element:
        out.append((element, "", "", "violation", rule, 1))
    if _person(ev.actor):
        out.append(("", "", ev.actor, "violation", rule, 1))
    return out


def _case_closed(ev: Any, batch: Batch) -> list[Increment]:
    """A supervision case closed: counted by outcome, per process (the event names no person:
    the people an outcome concerns stay in the case, docs/supervision.md)."""
    outcome = str((ev.payload or {}).get("outcome") or "")
    return [("", "", "", "case", outcome, 1)]


# The event types the statistics count, and how. One entry adds a type (and a rebuild recounts
# the past with it).
HANDLERS: dict[str, Callable[[Any, Batch], list[Increment]]] = {
    "instance.started": _instance_started,
    "instance.completed": _instance_completed,
    "instance.cancelled": _instance_cancelled,
    "instance.failed": _instance_failed,
    "instance.migrated": _instance_migrated,
    "task.ready": _task_ready,
    "task.completed": _task_completed,
    "task.cancelled": _task_cancelled,
    "task.claimed": _task_claimed,
    "task.unclaimed": _task_unclaimed,
    "alert.raised": _alert_raised,
    "violation.recorded": _violation,
    "violation.blocked": _violation,
    "case.closed": _case_closed,
}


CLOSING = ("task.completed", "task.cancelled")  # their handlers read the task's row


def _lookups(conn: Any, events: list[Any]) -> Batch:
    batch = Batch()
    closing = [e for e in events if e.type in CLOSING and e.task_id]
    batch.tasks = stat_queries.task_facts(conn, (e.task_id for e in closing))
    # a row that did not close at the event: the task reopened since (a moved token)
    reopened = [
        e.task_id
        for e in closing
        if e.task_id in batch.tasks and batch.tasks[e.task_id].ended_at != e.occurred_at
    ]
    batch.closed = stat_queries.closed_task_rows(conn, reopened)
    ended = [e.instance_id for e in events if e.type == "instance.completed"]
    batch.instances = stat_queries.instance_times(conn, ended)
    alert_ids = [
        int((e.payload or {}).get("alert_id") or 0) for e in events if e.type == "alert.raised"
    ]
    batch.alerts = stat_queries.alert_people(conn, alert_ids)
    return batch


def count_events(events: list[Any], batch: Batch, zone: ZoneInfo) -> dict[CountKey, int]:
    """The counter increments of these events: per day, and the same summed per month."""
    daily: Counter[CountKey] = Counter()
    days: dict[datetime, date] = {}  # one time-zone conversion per UTC minute
    for ev in events:
        handler = HANDLERS.get(ev.type)
        if handler is None:
            continue
        minute = ev.occurred_at.replace(second=0, microsecond=0)
        day = days.get(minute)
        if day is None:
            day = days[minute] = ev.occurred_at.astimezone(zone).date()
        key = ev.definition_key
        for element, role, person, metric, label, n in handler(ev, batch):
            daily[(key, element, role, person, "d", day, metric, label)] += n
    counts: Counter[CountKey] = Counter(daily)
    for (key, element, role, person, _, day, metric, label), n in daily.items():
        counts[(key, element, role, person, "m", day.replace(day=1), metric, label)] += n
    return dict(counts)


class _Lost(Exception):
    """Another worker moved the cursor first: roll back, read on from where it is now."""


def aggregate(store: Store, *, batch_size: int = 2000, limit: int | None = 200_000) -> int:
    """Count the events recorded since the cursor, reading ``batch_size`` to a transaction and
    at most about ``limit`` per call (None: until caught up); return how many events were
    counted (those of a type in ``HANDLERS``). Safe to run in several workers at once: a batch
    another worker counted first is rolled back, never counted twice."""
    return count_new_events(store, batch_size=batch_size, limit=limit)[0]


def count_new_events(
    store: Store, *, batch_size: int = 2000, limit: int | None = 200_000
) -> tuple[int, bool]:
    """``aggregate``, also saying whether the pass stopped at ``limit`` with events left to
    read (the worker then comes back at once; otherwise it waits its interval, however busy
    the service: a pass costs a few statements, so passes every few milliseconds under load
    would cost more than the events they count)."""
    zone = ZoneInfo(store.time_zone)
    read = total = 0
    while limit is None or read < limit:
        with store.begin(write=False) as conn:
            seen = stat_queries.read_cursor(conn, CURSOR)
        if seen is None:
            with store.begin(write=True) as conn:
                stat_queries.create_cursor(conn, CURSOR, store.now())
            continue
        with store.begin(write=False) as conn:
            upto = stat_queries.newest_event_id(conn)
            if upto <= seen:
                break
            events = stat_queries.events_between(conn, seen, upto, batch_size)
            counted = [e for e in events if e.type in HANDLERS]
            counts = count_events(counted, _lookups(conn, counted), zone)
        # a full batch ends at its last event; a short one read everything up to ``upto``
        to = events[-1].id if len(events) == batch_size else upto
        try:
            with store.begin(write=True) as conn:
                if not stat_queries.move_cursor(conn, CURSOR, seen, to, store.now()):
                    raise _Lost
                stat_queries.add_counts(conn, counts)
        except _Lost:
            log.info("statistics: another worker counted events %s..%s first", seen + 1, to)
            continue
        read += len(events)
        total += len(counted)
        if len(events) < batch_size:
            return total, False
    return total, limit is not None and read >= limit


def rebuild(store: Store, *, batch_size: int = 5000) -> int:
    """Forget every counter and count the whole event table again; the events counted."""
    with store.begin(write=True) as conn:
        stat_queries.reset(conn, CURSOR, store.now())
    return aggregate(store, batch_size=batch_size, limit=None)


def behind(store: Store) -> bool:
    """Whether events were recorded after the last one counted."""
    with store.begin(write=False) as conn:
        seen = stat_queries.read_cursor(conn, CURSOR) or 0
        return stat_queries.newest_event_id(conn) > seen


# ------------------------------------------------------------------ reads


@dataclass(frozen=True)
class Durations:
    """Durations of completed instances or tasks, in seconds (percentiles within
    ``RELATIVE_ERROR``, the mean exact)."""

    count: int
    mean_seconds: float | None
    p50_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True)
class Figures:
    """The figures of one process, element, role or person over the range."""

    started: int
    completed: int
    cancelled: int
    failed: int
    running: int | None
    durations: Durations
    overdue: int
    overdue_rate: float | None
    alerts: dict[str, int]
    violations: dict[str, int]
    cases: dict[str, int]
    extra: dict[str, dict[str, int]]


@dataclass(frozen=True)
class Range:
    """The days asked for (in the business time zone, both included) and how fresh the counts
    are."""

    first: date | None
    last: date
    as_of_event_id: int
    as_of: datetime | None


@dataclass(frozen=True)
class Named:
    """Figures of one named thing (a process, an element, a role, a person)."""

    name: str
    figures: Figures


@dataclass(frozen=True)
class Listing:
    """Figures per process, role or person over a range."""

    range: Range
    items: list[Named]


@dataclass(frozen=True)
class ProcessStats:
    """A process's figures and its elements' (for a heat map on the diagram)."""

    definition_key: str
    range: Range
    process: Figures
    elements: list[Named]


KNOWN = {"started", "completed", "cancelled", "failed", "overdue", "timed", "duration"}
# Counters behind a person's or a role's running figure, not figures of their own.
HIDDEN = {"claimed", "released", "moved_in", "moved_out"}


def _figures(rows: list[tuple[str, str, int]], running: int | None = None) -> Figures:
    plain: Counter[str] = Counter()
    histogram: Counter[int] = Counter()
    alerts: Counter[str] = Counter()
    violations: Counter[str] = Counter()
    cases: Counter[str] = Counter()
    extra: dict[str, Counter[str]] = {}
    total_ms = 0
    for metric, label, n in rows:
        if metric == "duration":
            histogram[int(label)] += n
        elif metric == "duration_ms":
            total_ms += n
        elif metric == "alert":
            alerts[label] += n
        elif metric == "violation":
            violations[label] += n
        elif metric == "case":
            cases[label] += n
        elif metric in KNOWN:
            plain[metric] += n
        elif metric in HIDDEN:
            continue
        else:  # a metric a later handler adds (e.g. cases by outcome)
            extra.setdefault(metric, Counter())[label] += n
    timed = plain["timed"]
    durations = Durations(
        count=timed,
        mean_seconds=round(total_ms / timed / 1000, 3) if timed else None,
        p50_seconds=percentile(dict(histogram), 0.5),
        p90_seconds=percentile(dict(histogram), 0.9),
    )
    completed = plain["completed"]
    return Figures(
        started=plain["started"],
        completed=completed,
        cancelled=plain["cancelled"],
        failed=plain["failed"],
        running=running,
        durations=durations,
        overdue=plain["overdue"],
        overdue_rate=round(plain["overdue"] / completed, 4) if completed else None,
        alerts=dict(sorted(alerts.items())),
        violations=dict(sorted(violations.items())),
        cases=dict(sorted(cases.items())),
        extra={k: dict(sorted(v.items())) for k, v in sorted(extra.items())},
    )


def check_roles(principal: Principal, roles: frozenset[str], what: str) -> None:
    """Refuse (403) a principal holding none of ``roles`` the reading of ``what``."""
    if not principal.roles & roles:
        raise Forbidden(f"Reading {what} needs one of the roles {', '.join(sorted(roles))}.")


def _range(store: Store, conn: Any, first: date | None, last: date | None) -> Range:
    last = last or store.now().astimezone(ZoneInfo(store.time_zone)).date()
    if first is not None and first > last:
        raise InvalidInput(f"The range starts ({first}) after it ends ({last}).")
    if first is not None and (last - first).days >= MAX_DAYS:
        raise InvalidInput(f"A range covers at most {MAX_DAYS} days; ask for a shorter one.")
    row = stat_queries.cursor_row(conn, CURSOR)
    return Range(
        first=first,
        last=last,
        as_of_event_id=int(row.last_event_id) if row else 0,
        as_of=row.updated_at if row else None,
    )


def _grouped(rows: Iterable[tuple[Any, ...]]) -> dict[str, list[tuple[str, str, int]]]:
    """(name, metric, label, n) rows by name."""
    out: dict[str, list[tuple[str, str, int]]] = {}
    for name, metric, label, n in rows:
        out.setdefault(name, []).append((metric, label, int(n)))
    return out


def _running(conn: Any, last: date, definition_key: str | None) -> dict[str, int]:
    """Instances started by the end of the range and not completed or cancelled by then."""
    rows = stat_queries.sums(
        conn,
        group=["definition_key"],
        definition_key=definition_key,
        role="",
        person="",
        element_id="",
        last=last,
        metrics=["started", "completed", "cancelled"],
    )
    out: Counter[str] = Counter()
    for key, metric, _label, n in rows:
        out[key] += int(n) if metric == "started" else -int(n)
    return dict(out)


def _open_tasks(
    conn: Any, last: date, definition_key: str | None, column: str
) -> dict[str, int | None]:
    """Per element or per role (``column``): the tasks made ready by the end of the range and
    not completed or cancelled by then, whenever they became ready. ``timed`` counts the
    completions of tasks that had been ready (an automatic step has no duration and never was
    ready); a role also gains (``moved_in``) and loses (``moved_out``) the open tasks a
    migration offered to other roles. An element or role that never had a task ready by then
    has None."""
    rows = stat_queries.sums(
        conn,
        group=[column],
        definition_key=definition_key,
        role=None if column == "role" else "",
        person="",
        element_id=None,
        last=last,
        metrics=["started", "moved_in", "timed", "cancelled", "moved_out"],
    )
    opened: Counter[str] = Counter()
    closed: Counter[str] = Counter()
    for name, metric, _label, n in rows:
        if name:  # element '': the process as a whole (instances, see _running)
            (opened if metric in ("started", "moved_in") else closed)[name] += int(n)
    return {k: opened[k] - closed[k] if opened[k] else None for k in opened | closed}


def _held(conn: Any, last: date, definition_key: str | None) -> dict[str, int]:
    """Per person: the tasks they had claimed by the end of the range and still held then
    (not released, completed or cancelled by then)."""
    rows = stat_queries.sums(
        conn,
        group=["person"],
        definition_key=definition_key,
        role="",
        person=None,
        element_id="",
        last=last,
        metrics=["claimed", "released"],
    )
    out: Counter[str] = Counter()
    for name, metric, _label, n in rows:
        out[name] += int(n) if metric == "claimed" else -int(n)
    return dict(out)


def processes(
    store: Store, principal: Principal, *, first: date | None = None, last: date | None = None
) -> Listing:
    """Each process's figures over the range."""
    check_roles(principal, PROCESS_READ_ROLES, "process statistics")
    with store.begin(write=False) as conn:
        span = _range(store, conn, first, last)
        rows = stat_queries.sums(
            conn,
            group=["definition_key"],
            role="",
            person="",
            element_id="",
            first=span.first,
            last=span.last,
        )
        running = _running(conn, span.last, None)
    grouped = _grouped(rows)
    keys = sorted(set(grouped) | set(running))
    return Listing(
        span,
        [Named(k, _figures(grouped.get(k, []), running.get(k, 0))) for k in keys],
    )


def process(
    store: Store,
    principal: Principal,
    definition_key: str,
    *,
    first: date | None = None,
    last: date | None = None,
) -> ProcessStats:
    """One process's figures and each of its elements' over the range (elements with no
    event in the range are listed too while tasks of theirs are open at its end)."""
    check_roles(principal, PROCESS_READ_ROLES, "process statistics")
    with store.begin(write=False) as conn:
        if not stat_queries.process_exists(conn, definition_key):
            raise NotFound(f"No process is deployed under the key {definition_key!r}.")
        span = _range(store, conn, first, last)
        rows = stat_queries.sums(
            conn,
            group=["element_id"],
            definition_key=definition_key,
            role="",
            person="",
            element_id=None,
            first=span.first,
            last=span.last,
        )
        running = _running(conn, span.last, definition_key).get(definition_key, 0)
        tasks = _open_tasks(conn, span.last, definition_key, "element_id")
    grouped = _grouped(rows)
    process_rows = grouped.pop("", [])
    names = sorted(set(grouped) | {e for e, n in tasks.items() if n})
    return ProcessStats(
        definition_key=definition_key,
        range=span,
        process=_figures(process_rows, running),
        elements=[Named(e, _figures(grouped.get(e, []), tasks.get(e))) for e in names],
    )


def _by(
    store: Store,
    principal: Principal,
    column: str,
    *,
    definition_key: str | None,
    first: date | None,
    last: date | None,
) -> Listing:
    check_roles(principal, READ_ROLES, f"statistics per {column}")
    with store.begin(write=False) as conn:
        span = _range(store, conn, first, last)
        rows = stat_queries.sums(
            conn,
            group=[column],
            definition_key=definition_key,
            role=None if column == "role" else "",
            person=None if column == "person" else "",
            element_id=None,
            first=span.first,
            last=span.last,
        )
        running: dict[str, int | None] = (
            dict(_held(conn, span.last, definition_key))
            if column == "person"
            else _open_tasks(conn, span.last, definition_key, column)
        )
    grouped = _grouped(rows)
    names = sorted(set(grouped) | {k for k, n in running.items() if n})
    default = 0 if column == "person" else None  # a person who claimed nothing holds nothing
    return Listing(
        span, [Named(k, _figures(grouped.get(k, []), running.get(k, default))) for k in names]
    )


def roles(
    store: Store,
    principal: Principal,
    *,
    definition_key: str | None = None,
    first: date | None = None,
    last: date | None = None,
) -> Listing:
    """Each role's figures over the range: the tasks it was a candidate for (``running``: those
    still open at the end of the range), and the alerts that concern it."""
    return _by(store, principal, "role", definition_key=definition_key, first=first, last=last)


def people(
    store: Store,
    principal: Principal,
    *,
    definition_key: str | None = None,
    first: date | None = None,
    last: date | None = None,
) -> Listing:
    """Each person's figures over the range: instances started, tasks completed, alerts that
    concern them, violations they committed; ``running``: the tasks they claimed and still held
    at the end of the range."""
    return _by(store, principal, "person", definition_key=definition_key, first=first, last=last)
