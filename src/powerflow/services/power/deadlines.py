"""Due dates of tasks and cases, clock pauses, and when the alert loop must next look.

Everything here runs inside the transaction that records a step (``services/steps.py``): a new
task gets its ``due_at`` from its element's step limit, a new instance its promised and
statutory due dates, and both their ``next_alert_at`` (the first threshold of the process's
alert profile). A task of a ``pf:clockPause`` element stops the case clock while it is open; when
the last one closes, the case's due dates move later by the time paused. Closing a task or ending
the instance resolves its open alerts.

The hot path stays free: a process that declares no limit and no pause has an empty ``Plan``
(cached per definition) and nothing here runs; alerts are only looked up when the closed task or
the instance carries an alert level.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import isodate
from sqlalchemy import Connection

from powerflow.db import queries
from powerflow.db.alert_queries import CLOCK_RUNS
from powerflow.db.engine import Store
from powerflow.db.queries import InstanceRow, TaskRow
from powerflow.engine import StepEvent
from powerflow.services.errors import Conflict
from powerflow.services.power.alerts import resolve_superseded
from powerflow.services.power.calendar import BusinessCalendar, calendar_for
from powerflow.services.power.profiles import Profile, Threshold, profile_for
from powerflow.services.views import DefinitionView

CASE_LIMITS = ("promised", "statutory")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """What a definition declares about time; empty for most processes (then nothing runs)."""

    case_limits: dict[str, dict[str, Any]]
    step_limits: dict[str, dict[str, Any]]
    pausing: dict[str, str | None]  # element id -> reason
    profile: str | None

    @property
    def empty(self) -> bool:
        """Whether the process declares no limit and no pause."""
        return not (self.case_limits or self.step_limits or self.pausing)


def _case_limits(meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    limits = meta.get("time_limits") or {}
    found = {k: limits[k] for k in CASE_LIMITS if limits.get(k)}
    legacy = meta.get("time_limit")  # a definition read before several limits per process
    if legacy and legacy.get("kind") in CASE_LIMITS and legacy["kind"] not in found:
        found[legacy["kind"]] = legacy
    return found


def step_limit(meta: dict[str, Any]) -> dict[str, Any] | None:
    """An element's own step limit (a limit on an activity is always a step limit)."""
    limits = meta.get("time_limits") or {}
    found = limits.get("step") or meta.get("time_limit")
    return dict(found) if found else None


def plan_of(store: Store, definition: DefinitionView) -> Plan:
    """The definition's plan, cached with the definition (definitions never change)."""
    key = ("deadline-plan", definition.id)
    hit = store.immutable_cache.get(key)
    if isinstance(hit, Plan):
        return hit
    process = definition.catalog.get("process", {})
    steps: dict[str, dict[str, Any]] = {}
    pausing: dict[str, str | None] = {}
    for element_id, element in definition.catalog.get("elements", {}).items():
        meta = element.get("metadata", {})
        limit = step_limit(meta)
        if limit:
            steps[element_id] = limit
        if meta.get("clock_pause") is not None:
            pausing[element_id] = meta["clock_pause"].get("reason")
    plan = Plan(_case_limits(process), steps, pausing, process.get("alert_profile"))
    store.immutable_cache[key] = plan
    return plan


def working(limit: dict[str, Any]) -> bool:
    """Whether a limit counts working days."""
    return limit.get("calendar") == "working"


def due_from(calendar: BusinessCalendar, start: datetime, limit: dict[str, Any]) -> datetime:
    """When a limit that starts at ``start`` is due.

    A limit deployed before durations were bounded may not compute: that is a Conflict naming
    the limit (a new version of the process must shorten it), never a 500.
    """
    try:
        return calendar.add(start, limit["duration"], working=working(limit))
    except ValueError as exc:
        raise Conflict(
            f"The {limit.get('kind', 'step')} time limit '{limit['duration']}' of this process "
            f"cannot be counted ({exc}); deploy a version with a shorter limit."
        ) from None


def shift(calendar: BusinessCalendar, at: datetime, duration: str, *, working: bool) -> datetime:
    """A deadline moved by ``duration``. Working days after a deadline at 24:00 count from the
    day that ends then (24:00 on Wednesday plus one working day is 24:00 on Thursday)."""
    if working and not duration.startswith("-"):
        local = at.astimezone(calendar.tz)
        if local.timetz().replace(tzinfo=None) == time(0):
            parsed = isodate.parse_duration(duration)
            if isinstance(parsed, timedelta) and not parsed.seconds and not parsed.microseconds:
                return calendar.add(at - timedelta(microseconds=1), duration, working=True)
    return calendar.add(at, duration, working=working)


def threshold_times(
    calendar: BusinessCalendar,
    due: datetime,
    limit_kind: str,
    limit: dict[str, Any],
    profile: Profile,
) -> list[tuple[Threshold, datetime]]:
    """When each threshold of the profile that watches this limit is crossed, earliest first."""
    times = []
    for t in profile.for_limit(limit_kind):
        try:
            at = due if t.at_deadline else shift(calendar, due, t.offset, working=working(limit))
        except ValueError:
            # An offset saved before offsets were checked (months on a working limit, a huge
            # one): the threshold cannot be placed, so it is skipped rather than failing the act.
            log.warning("alert profile %s: offset %s cannot be placed", profile.name, t.offset)
            continue
        if t.before and working(limit):
            at = _after_last_working_day(calendar, at)
        times.append((t, at))
    return sorted(times, key=lambda pair: pair[1])


def _after_last_working_day(calendar: BusinessCalendar, at: datetime) -> datetime:
    """A warning due at the start of a working day that follows days off comes at the end of
    the last working day instead (Friday 24:00, not Sunday 24:00): in working time it is the
    same moment, and it reaches people while they are at work."""
    local = at.astimezone(calendar.tz)
    if local.timetz().replace(tzinfo=None) != time(0):
        return at
    day = local.date()
    for _ in range(30):  # a holiday week at most, in practice
        before = day - timedelta(days=1)
        if calendar.is_working_day(before):
            break
        day = before
    return datetime.combine(day, time(0), calendar.tz).astimezone(at.tzinfo)


def first_after(
    times: Iterable[tuple[Threshold, datetime]], after: datetime | None
) -> datetime | None:
    """The earliest threshold time strictly after ``after`` (all of them when None)."""
    return min((at for _, at in times if after is None or at > after), default=None)


def case_times(
    calendar: BusinessCalendar, plan: Plan, instance: InstanceRow, profile: Profile
) -> list[tuple[str, Threshold, datetime, datetime]]:
    """(limit, threshold, time, due) of every case threshold of the instance, earliest first."""
    out: list[tuple[str, Threshold, datetime, datetime]] = []
    for kind in CASE_LIMITS:
        due = instance.promised_due_at if kind == "promised" else instance.statutory_due_at
        limit = plan.case_limits.get(kind)
        if due is None or limit is None:
            continue
        out.extend(
            (kind, t, at, due) for t, at in threshold_times(calendar, due, kind, limit, profile)
        )
    return sorted(out, key=lambda row: row[2])


def task_times(
    calendar: BusinessCalendar, plan: Plan, task: TaskRow, profile: Profile
) -> list[tuple[Threshold, datetime]]:
    """The step thresholds of a task, earliest first (none without a due date)."""
    limit = plan.step_limits.get(task.element_id)
    if task.due_at is None or limit is None:
        return []
    return threshold_times(calendar, task.due_at, "step", limit, profile)


class StepTimes:
    """Applies a step to the due dates, pauses and alerts of one instance (in its transaction)."""

    def __init__(
        self, store: Store, conn: Connection, definition: DefinitionView, plan: Plan | None = None
    ) -> None:
        self.store = store
        self.conn = conn
        self.plan = plan or plan_of(store, definition)
        self._calendar: BusinessCalendar | None = None
        self._profile: Profile | None = None

    @property
    def calendar(self) -> BusinessCalendar:
        """The business calendar, loaded on first use."""
        if self._calendar is None:
            self._calendar = calendar_for(self.store, self.conn)
        return self._calendar

    @property
    def profile(self) -> Profile:
        """The process's alert profile, loaded on first use."""
        if self._profile is None:
            self._profile = profile_for(self.conn, self.plan.profile)
        return self._profile

    def start_case(self, instance: InstanceRow, at: datetime) -> None:
        """Set a new instance's promised and statutory due dates and its first alert time."""
        for kind, limit in self.plan.case_limits.items():
            setattr(instance, f"{kind}_due_at", due_from(self.calendar, at, limit))
        self.reschedule_case(instance, after=None)

    def reschedule_case(self, instance: InstanceRow, *, after: datetime | None) -> None:
        """The instance's next alert time: its first case threshold after ``after``."""
        if instance.clock_paused_at is not None or instance.status not in CLOCK_RUNS:
            instance.next_alert_at = None
            return
        times = case_times(self.calendar, self.plan, instance, self.profile)
        instance.next_alert_at = min(
            (at for _, _, at, _ in times if after is None or at > after), default=None
        )

    def new_task(self, task: TaskRow, at: datetime) -> None:
        """Set a new task's due date and first alert time from its element's step limit."""
        limit = self.plan.step_limits.get(task.element_id)
        if limit is None:
            return
        task.due_at = due_from(self.calendar, at, limit)
        task.next_alert_at = first_after(
            task_times(self.calendar, self.plan, task, self.profile), None
        )

    def pauses(
        self, instance: InstanceRow, new_tasks: list[TaskRow], at: datetime
    ) -> list[StepEvent]:
        """Stop or restart the case clock as tasks of pausing elements open and close.

        Called after the step's closed tasks are written and before its new ones are: while the
        clock is paused, one statement finds whether a pausing task is still open.
        """
        if not self.plan.pausing or not self.plan.case_limits or instance.status != "running":
            return []
        opened = [t for t in new_tasks if t.element_id in self.plan.pausing]
        if instance.clock_paused_at is None:
            if not opened:
                return []
            task = opened[0]
            instance.clock_paused_at = at
            instance.next_alert_at = None
            payload = {"reason": self.plan.pausing[task.element_id], "task_id": task.id}
            return [StepEvent("clock.paused", task.element_id, task.name, task.id, payload)]
        if opened:
            return []
        still_open = queries.open_tasks(self.conn, instance.id)
        if any(t.element_id in self.plan.pausing for t in still_open):
            return []
        return self.resume(instance, at)

    def resume(self, instance: InstanceRow, at: datetime) -> list[StepEvent]:
        """Restart a paused case clock: its due dates move later by the time paused, and the
        alerts raised against the old ones resolve (``clock_resumed``), as after an extension;
        ``clock.resumed`` and those ``alert.resolved`` events."""
        since = instance.clock_paused_at
        assert since is not None
        instance.clock_paused_at = None
        moved: dict[str, str] = {}
        superseded: list[str] = []
        for kind, limit in self.plan.case_limits.items():
            due = getattr(instance, f"{kind}_due_at")
            if due is None:
                continue
            paused = self.calendar.working_time_between(since, at) if working(limit) else at - since
            new_due = add_elapsed(self.calendar, due, paused, working=working(limit))
            setattr(instance, f"{kind}_due_at", new_due)
            moved[f"{kind}_due_at"] = new_due.isoformat()
            if new_due != due:
                superseded.append(kind)
        resolved = resolve_superseded(self.conn, instance, superseded, None, at, "clock_resumed")
        # New deadlines are new crossings: every threshold of them is due again, those already
        # past at once (as after an extension; the old alerts were resolved just above).
        self.reschedule_case(instance, after=None)
        payload = {
            "paused_since": since.isoformat(),
            "paused_seconds": int((at - since).total_seconds()),
            **moved,
        }
        return [StepEvent("clock.resumed", payload=payload), *resolved]


def add_elapsed(
    calendar: BusinessCalendar, due: datetime, elapsed: timedelta, *, working: bool
) -> datetime:
    """``due`` moved later by an elapsed time (working time only counts on working days)."""
    seconds = int(elapsed.total_seconds())
    if seconds <= 0:
        return due
    if not working:
        return due + timedelta(seconds=seconds)
    return calendar.add(due, f"PT{seconds}S", working=True)


def step_times(
    store: Store | None, conn: Connection, definition: DefinitionView
) -> StepTimes | None:
    """The deadline bookkeeping of a step, or None for a process without limits or pauses."""
    if store is None:
        return None
    plan = plan_of(store, definition)
    return None if plan.empty else StepTimes(store, conn, definition, plan)
