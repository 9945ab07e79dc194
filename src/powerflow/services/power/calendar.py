"""The business calendar: which days are working days, and deadlines counted in them.

China's public holidays and its make-up working days (调休: a Saturday or Sunday worked in
exchange for a longer holiday) come from the maintained ``holidays`` package; an administrator
corrects or completes a year through the API (the ``calendar_days`` table), and those edits win.
Days start and end at local midnight in the configured time zone (``settings.time_zone``).

Working-time semantics (what ``add`` and ``working_time_between`` count):
- a working day is a Monday-Friday that is not a holiday, or a weekend day that is a make-up
  working day (an administrator's edit of the day overrides both);
- ``P<n>D`` in working time ends at 24:00 local of the n-th working day after the start day (the
  start day itself is not counted, wherever in it the start falls); ``P<n>W`` counts 7n working
  days; months and years, and parts of a day written as days (``P0.5D``), are refused;
- hours, minutes and seconds elapse only during working days (all 24 hours of one);
- a negative duration walks back through working time only (``-P1D`` from 24:00 on a Friday is
  24:00 on the Thursday), which is how "one working day before the deadline" is found.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar
from zoneinfo import ZoneInfo

import holidays
import isodate
from sqlalchemy import Connection

from powerflow.db import calendar_days as days_table

if TYPE_CHECKING:
    from powerflow.db.engine import Store

T = TypeVar("T")

DEFAULT_TIME_ZONE = "Asia/Shanghai"
# A working-time walk longer than this is refused rather than looped through (about 27 years).
MAX_WALK_DAYS = 10_000
# How often a worker looks for another worker's calendar edits (one cheap statement).
RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Override:
    """An administrator's edit of one day: it is a holiday or a working day, and why."""

    working: bool
    name: str


@lru_cache(maxsize=64)
def library_year(year: int) -> tuple[Mapping[date, str], Mapping[date, str]]:
    """China's holidays and make-up working days of one year, from the ``holidays`` package.

    Returns (holidays by date, make-up working days by date), each with its English name. The
    package lists a make-up day only through the holiday it pays for ("Day off (substituted
    from 01/26/2025)") and in ``weekend_workdays``.
    """
    cn = holidays.country_holidays("CN", years=year)
    off = {day: str(name) for day, name in cn.items() if day.year == year}
    made_up: dict[date, str] = {}
    for day in sorted(d for d in cn.weekend_workdays if d.year == year):
        made_up[day] = "Make-up working day"
    for day, name in off.items():
        for worked in list(made_up):
            if f"substituted from {worked:%m/%d/%Y}" in name:
                made_up[worked] = f"Make-up working day (for {day.isoformat()})"
    return off, made_up


class BusinessCalendar:
    """Working days in one time zone: library holidays and make-up days plus edits."""

    def __init__(
        self,
        tz: ZoneInfo | str = DEFAULT_TIME_ZONE,
        overrides: Mapping[date, Override] | None = None,
    ) -> None:
        self.tz = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        self.overrides: dict[date, Override] = dict(overrides or {})

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day (edits, then make-up days, holidays, weekends)."""
        edit = self.overrides.get(day)
        if edit is not None:
            return edit.working
        off, made_up = library_year(day.year)
        if day in made_up:
            return True
        return day.weekday() < 5 and day not in off

    def add(self, start: datetime, duration: str, *, working: bool) -> datetime:
        """The moment ``duration`` (ISO 8601) after ``start``, in calendar or working time.

        Calendar time adds the duration as it is (months and years through ``isodate``). In
        working time days count whole working days and smaller units elapse only on working
        days (see the module docstring). The result is aware UTC.
        """
        _require_aware(start)
        try:
            return self._add(start, duration, working=working)
        except OverflowError as exc:  # beyond year 9999, or a number too large for a timedelta
            raise ValueError(f"{duration!r} is too long to add to {start.isoformat()}") from exc

    def _add(self, start: datetime, duration: str, *, working: bool) -> datetime:
        if not working:
            moved: datetime = start.astimezone(self.tz) + isodate.parse_duration(duration)
            return moved.astimezone(UTC)
        negative, whole_days, rest = _split_working(duration)
        if negative:
            return self._walk_back(start, timedelta(days=whole_days) + rest)
        at = start
        if whole_days:
            at = self._end_of_nth_working_day(start, whole_days)
        return self._walk_forward(at, rest) if rest else at.astimezone(UTC)

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Time from ``a`` to ``b`` that falls on working days (negative if ``b`` is earlier)."""
        _require_aware(a)
        _require_aware(b)
        if b < a:
            return -self.working_time_between(b, a)
        total = timedelta(0)
        cursor = a
        for _ in range(MAX_WALK_DAYS + 1):
            if cursor >= b:
                return total
            day, day_end = self._day_of(cursor)
            segment_end = min(day_end, b)
            if self.is_working_day(day):
                total += segment_end - cursor
            cursor = segment_end
        raise ValueError("the span is too long to count in working time")

    # -- walking through days ---------------------------------------------------------------

    def _day_of(self, at: datetime) -> tuple[date, datetime]:
        """The local date ``at`` falls in and the instant that day ends (next local midnight)."""
        local = at.astimezone(self.tz)
        day = local.date()
        return day, self._midnight(day + timedelta(days=1))

    def _midnight(self, day: date) -> datetime:
        return datetime.combine(day, dtime(0), tzinfo=self.tz).astimezone(UTC)

    def _end_of_nth_working_day(self, start: datetime, n: int) -> datetime:
        day = start.astimezone(self.tz).date()
        counted = 0
        for _ in range(n + MAX_WALK_DAYS):
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
                if counted == n:
                    return self._midnight(day + timedelta(days=1))
        raise ValueError("the duration is too long to count in working days")

    def _walk_forward(self, start: datetime, amount: timedelta) -> datetime:
        cursor, remaining = start.astimezone(UTC), amount
        for _ in range(MAX_WALK_DAYS):
            day, day_end = self._day_of(cursor)
            if self.is_working_day(day):
                available = day_end - cursor
                if remaining <= available:
                    return cursor + remaining
                remaining -= available
            cursor = day_end
        raise ValueError("the duration is too long to count in working time")

    def _walk_back(self, start: datetime, amount: timedelta) -> datetime:
        cursor, remaining = start.astimezone(UTC), amount
        for _ in range(MAX_WALK_DAYS):
            # The day that ends at or runs through ``cursor``: an instant at local midnight
            # belongs, walking back, to the day before it.
            day = (cursor - timedelta(microseconds=1)).astimezone(self.tz).date()
            day_start = self._midnight(day)
            if self.is_working_day(day):
                available = cursor - day_start
                if remaining <= available:
                    return cursor - remaining
                remaining -= available
            cursor = day_start
        raise ValueError("the duration is too long to count in working time")


def _split_working(duration: str) -> tuple[bool, int, timedelta]:
    """(negative, whole days, time part) of an ISO duration counted in working time.

    The date part and the time part are read apart: ``PT24H`` is 24 working hours, not a
    working day (``isodate`` alone would fold it into one day).
    """
    text = duration.strip()
    negative = text.startswith("-")
    date_part, _, time_part = text.lstrip("+-").partition("T")
    days = isodate.parse_duration(date_part) if date_part not in ("P", "") else timedelta(0)
    rest = isodate.parse_duration(f"PT{time_part}") if time_part else timedelta(0)
    if isinstance(days, isodate.Duration) or not date_part.startswith("P"):
        if not date_part.startswith("P"):
            raise ValueError(f"{duration!r} is not an ISO 8601 duration")
        raise ValueError(
            f"{duration!r}: a working-time limit is counted in days, hours, minutes and "
            "seconds, not months or years"
        )
    if days < timedelta(0) or rest < timedelta(0):
        raise ValueError(f"{duration!r}: put the minus sign before the P")
    if days.seconds or days.microseconds:
        raise ValueError(f"{duration!r}: working days are whole; write a part of a day in hours")
    return negative, days.days, rest


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError("the business calendar needs aware datetimes")


# -- one calendar per store, refreshed after an edit in any worker -----------------------------


@dataclass
class _Cached:
    calendar: BusinessCalendar
    version: tuple[int, int]
    checked_at: float


_cache: weakref.WeakKeyDictionary[Store, _Cached] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def calendar_for(store: Store, conn: Connection | None = None) -> BusinessCalendar:
    """The store's business calendar (zone ``store.time_zone``), with the administrator's edits.

    Cached per store; the edits' version (one cheap statement) is read at most once per
    ``RECHECK_SECONDS``, so an edit made by another worker takes effect within that time, and
    one made through this process at once (``forget``). Pass ``conn`` to read the version in
    the caller's transaction.
    """
    now = time.monotonic()
    cached = _cache.get(store)
    if cached is not None and now - cached.checked_at < RECHECK_SECONDS:
        return cached.calendar
    version = _read(store, conn, days_table.version)
    if cached is not None and cached.version == version:
        cached.checked_at = now
        return cached.calendar
    edits = _read(store, conn, days_table.active_edits)
    calendar = BusinessCalendar(
        store.time_zone,
        {day: Override(kind == "workday", name) for day, kind, name in edits},
    )
    with _cache_lock:
        _cache[store] = _Cached(calendar, version, now)
    return calendar


def forget(store: Store) -> None:
    """Drop the store's cached calendar (after an edit, so this process sees it at once)."""
    with _cache_lock:
        _cache.pop(store, None)


def _read(store: Store, conn: Connection | None, query: Callable[[Connection], T]) -> T:
    if conn is not None:
        return query(conn)
    with store.begin(write=False) as own:
        return query(own)
