"""The business calendar: China's holidays and make-up days, working-time deadlines, edits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from powerflow.db import calendar_days
from powerflow.db.engine import Store
from powerflow.db.migrate import upgrade
from powerflow.services.power import calendar as cal
from powerflow.services.power.calendar import BusinessCalendar, Override, calendar_for

SH = ZoneInfo("Asia/Shanghai")
CAL = BusinessCalendar("Asia/Shanghai")


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=SH)


# -- the State Council's notices (国务院办公厅关于2025年/2026年部分节假日安排的通知) -------------

WORKING = [
    date(2024, 2, 4),  # Sunday, make-up for the Spring Festival 2024
    date(2024, 2, 18),  # Sunday, make-up for the Spring Festival 2024
    date(2024, 9, 29),  # Sunday, make-up for National Day 2024
    date(2024, 10, 12),  # Saturday, make-up for National Day 2024
    date(2025, 1, 26),  # Sunday, make-up for the Spring Festival
    date(2025, 2, 8),  # Saturday, make-up for the Spring Festival
    date(2025, 4, 27),  # Sunday, make-up for Labour Day
    date(2025, 9, 28),  # Sunday, make-up for National Day
    date(2025, 10, 11),  # Saturday, make-up for National Day
    date(2025, 10, 9),  # Thursday after the National Day holiday
    date(2025, 1, 27),  # Monday before the Spring Festival holiday
    date(2026, 1, 4),  # Sunday, make-up for New Year
    date(2026, 2, 14),  # Saturday, make-up for the Spring Festival
    date(2026, 2, 28),  # Saturday, make-up for the Spring Festival
    date(2026, 5, 9),  # Saturday, make-up for Labour Day
    date(2026, 9, 20),  # Sunday, make-up for National Day
    date(2026, 10, 10),  # Saturday, make-up for National Day
    date(2026, 12, 7),  # an ordinary Monday
]
NOT_WORKING = [
    *(date(2024, 2, d) for d in range(10, 18)),  # Spring Festival 2024: 10-17 February
    *(date(2024, 10, d) for d in range(1, 8)),  # National Day 2024: 1-7 October
    *(date(2025, 10, d) for d in range(1, 9)),  # National Day + Mid-Autumn, 1-8 October 2025
    *(date(2025, 1, 28) + timedelta(days=i) for i in range(8)),  # Spring Festival 2025
    date(2025, 1, 1),
    date(2025, 4, 4),
    *(date(2025, 5, d) for d in range(1, 6)),
    date(2025, 6, 2),  # Dragon Boat Festival, Monday off
    *(date(2026, 1, d) for d in (1, 2, 3)),
    *(date(2026, 2, d) for d in range(15, 24)),  # Spring Festival 2026: 15-23 February
    *(date(2026, 4, d) for d in (4, 5, 6)),
    *(date(2026, 5, d) for d in range(1, 6)),
    date(2026, 6, 19),
    date(2026, 9, 25),
    *(date(2026, 10, d) for d in range(1, 8)),
    date(2025, 10, 12),  # an ordinary Sunday
    date(2026, 12, 6),  # an ordinary Sunday
]


@pytest.mark.parametrize("day", WORKING, ids=str)
def test_working_days_of_the_notices(day: date) -> None:
    assert CAL.is_working_day(day)


@pytest.mark.parametrize("day", NOT_WORKING, ids=str)
def test_holidays_and_weekends_of_the_notices(day: date) -> None:
    assert not CAL.is_working_day(day)


def test_the_library_names_make_up_days_after_the_holiday_they_pay_for() -> None:
    off, made_up = cal.library_year(2025)
    assert made_up[date(2025, 1, 26)] == "Make-up working day (for 2025-02-03)"
    assert off[date(2025, 10, 1)] == "National Day"


# -- working-time arithmetic ------------------------------------------------------------------


def test_days_end_at_midnight_of_the_nth_working_day_after_the_start_day() -> None:
    # Started on Monday 8 December 2026 at 10:00: 3 working days end at 24:00 on Thursday.
    assert CAL.add(local(2026, 12, 7, 10), "P3D", working=True) == local(2026, 12, 11)
    # Started on a Saturday: Monday is the first working day.
    assert CAL.add(local(2026, 12, 5, 23, 59), "P1D", working=True) == local(2026, 12, 8)


def test_working_days_jump_the_national_day_holiday_and_count_make_up_days() -> None:
    # Friday 26 September 2025 + 1 working day: Sunday 28 September is a make-up working day.
    assert CAL.add(local(2025, 9, 26, 9), "P1D", working=True) == local(2025, 9, 29)
    # Tuesday 30 September + 1 working day: 1-8 October are off, the 9th is the first.
    assert CAL.add(local(2025, 9, 30, 9), "P1D", working=True) == local(2025, 10, 10)
    # ...and Saturday 11 October counts: 30 Sep + 3 working days = 9, 10, 11 October.
    assert CAL.add(local(2025, 9, 30, 9), "P3D", working=True) == local(2025, 10, 12)


def test_hours_elapse_only_on_working_days() -> None:
    # Friday 17:00 + 8 working hours: 7 on Friday, then 1 on Monday.
    assert CAL.add(local(2026, 12, 11, 17), "PT8H", working=True) == local(2026, 12, 14, 1)
    # Started on a Sunday: the hours start at 00:00 on Monday.
    assert CAL.add(local(2026, 12, 13, 15), "PT90M", working=True) == local(2026, 12, 14, 1, 30)
    # Seconds, for tests and demos.
    start = local(2026, 12, 8, 10)
    assert CAL.add(start, "PT3S", working=True) == start + timedelta(seconds=3)


def test_days_and_hours_together() -> None:
    # End of Tuesday, then 2 hours into Wednesday.
    assert CAL.add(local(2026, 12, 7, 10), "P1DT2H", working=True) == local(2026, 12, 9, 2)


def test_negative_durations_walk_back_through_working_time() -> None:
    deadline = local(2026, 12, 12)  # 24:00 on Friday 11 December
    assert CAL.add(deadline, "-P1D", working=True) == local(2026, 12, 11)
    # From 24:00 on Monday, one working day back is 00:00 on Monday (where the walk stops).
    assert CAL.add(local(2026, 12, 15), "-P1D", working=True) == local(2026, 12, 14)
    # From 15:00 on Monday: 15 hours of Monday, the weekend skipped, 9 hours of Friday.
    assert CAL.add(local(2026, 12, 14, 15), "-P1D", working=True) == local(2026, 12, 11, 15)
    # Across the 2025 National Day holiday: 12:00 on 9 October back 1 day is 12:00 on 30 Sep.
    assert CAL.add(local(2025, 10, 9, 12), "-P1D", working=True) == local(2025, 9, 30, 12)


def test_calendar_time_adds_the_duration_as_it_is() -> None:
    start = local(2025, 9, 30, 9)
    assert CAL.add(start, "P1D", working=False) == local(2025, 10, 1, 9)
    assert CAL.add(start, "P1M", working=False) == local(2025, 10, 30, 9)
    assert CAL.add(start, "-PT1H", working=False) == local(2025, 9, 30, 8)
    assert CAL.add(start, "P1D", working=False).tzinfo == UTC


def test_months_are_refused_in_working_time_and_naive_times_everywhere() -> None:
    with pytest.raises(ValueError, match="not months or years"):
        CAL.add(local(2025, 1, 1), "P1M", working=True)
    with pytest.raises(ValueError, match="aware"):
        CAL.add(datetime(2025, 1, 1), "P1D", working=True)


def test_working_time_between_skips_holidays() -> None:
    # Tuesday 30 September 12:00 to Friday 10 October 12:00: 12 h + 24 h (9th) + 12 h.
    a, b = local(2025, 9, 30, 12), local(2025, 10, 10, 12)
    assert CAL.working_time_between(a, b) == timedelta(hours=48)
    assert CAL.working_time_between(b, a) == -timedelta(hours=48)
    assert CAL.working_time_between(a, a) == timedelta(0)


def test_overrides_win_over_the_library() -> None:
    edited = BusinessCalendar(
        "Asia/Shanghai",
        {
            date(2025, 10, 8): Override(True, "Office open"),
            date(2026, 12, 7): Override(False, "Local holiday"),
        },
    )
    assert edited.is_working_day(date(2025, 10, 8))
    assert not edited.is_working_day(date(2026, 12, 7))
    assert CAL.is_working_day(date(2026, 12, 7))


def test_the_time_zone_decides_where_days_end() -> None:
    utc_cal = BusinessCalendar("UTC")
    start = datetime(2026, 12, 7, 20, tzinfo=UTC)  # Monday 20:00 UTC = Tuesday 04:00 Shanghai
    assert utc_cal.add(start, "P1D", working=True) == datetime(2026, 12, 9, tzinfo=UTC)
    assert CAL.add(start, "P1D", working=True) == local(2026, 12, 10)


# -- properties -------------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2024, 1, 1),
    max_value=datetime(2026, 12, 31),
    timezones=st.just(UTC),
)
small = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20))


@settings(max_examples=150, deadline=None)
@given(instants, st.integers(min_value=1, max_value=40))
def test_n_working_days_end_at_a_midnight_after_exactly_n_working_days(
    start: datetime, n: int
) -> None:
    end = CAL.add(start, f"P{n}D", working=True)
    local_end = end.astimezone(SH)
    assert (local_end.hour, local_end.minute, local_end.second) == (0, 0, 0)
    last_day = local_end.date() - timedelta(days=1)
    assert CAL.is_working_day(last_day)
    first = start.astimezone(SH).date() + timedelta(days=1)
    counted = sum(
        CAL.is_working_day(first + timedelta(days=i)) for i in range((last_day - first).days + 1)
    )
    assert counted == n


@settings(max_examples=150, deadline=None)
@given(instants, small)
def test_adding_working_time_adds_exactly_that_much_working_time(
    start: datetime, amount: timedelta
) -> None:
    hours = amount - timedelta(days=amount.days) + timedelta(hours=24 * amount.days)
    seconds = int(hours.total_seconds())
    end = CAL.add(start, f"PT{seconds}S", working=True)
    assert end >= start
    assert CAL.working_time_between(start, end) == timedelta(seconds=seconds)


@settings(max_examples=150, deadline=None)
@given(instants, st.integers(min_value=1, max_value=400_000))
def test_walking_back_undoes_walking_forward_in_working_time(start: datetime, seconds: int) -> None:
    back = CAL.add(start, f"-PT{seconds}S", working=True)
    assert back <= start
    assert CAL.working_time_between(back, start) == timedelta(seconds=seconds)
    forward = CAL.add(back, f"PT{seconds}S", working=True)
    # Forward lands on the earliest instant with that much working time: start itself, or the
    # end of the non-working stretch start lies in.
    assert CAL.working_time_between(forward, start) == timedelta(0)
    assert forward <= start


@settings(max_examples=100, deadline=None)
@given(instants, instants)
def test_working_time_is_additive(a: datetime, b: datetime) -> None:
    a, b = min(a, b), max(a, b)
    middle = a + (b - a) / 2
    total = CAL.working_time_between(a, b)
    assert total == CAL.working_time_between(a, middle) + CAL.working_time_between(middle, b)
    assert timedelta(0) <= total <= b - a


# -- the store's calendar follows the administrator's edits -----------------------------------


def test_calendar_for_sees_edits_of_another_worker(db_url: str, monkeypatch) -> None:
    first, second = Store(db_url), Store(db_url)
    upgrade(first.engine)
    try:
        day = date(2026, 12, 7)
        assert calendar_for(first).is_working_day(day)
        assert calendar_for(second).is_working_day(day)
        at = datetime(2026, 12, 1, tzinfo=UTC)
        with first.begin(write=True) as conn:
            calendar_days.put(conn, day, "holiday", "Local holiday", "admin", at)
        cal.forget(first)
        assert not calendar_for(first).is_working_day(day)
        # The other worker keeps its calendar until the recheck interval has passed...
        assert calendar_for(second).is_working_day(day)
        monkeypatch.setattr(cal, "RECHECK_SECONDS", 0.0)
        assert not calendar_for(second).is_working_day(day)
        # ...and a withdrawal or a second edit at the same instant is seen too.
        with first.begin(write=True) as conn:
            assert calendar_days.remove(conn, day, "admin", at)
        assert calendar_for(second).is_working_day(day)
        with first.begin(write=True) as conn:
            calendar_days.put(conn, day, "holiday", "Again", "admin", at)
        assert not calendar_for(second).is_working_day(day)
        assert calendar_for(second).tz == ZoneInfo("Asia/Shanghai")
    finally:
        first.dispose()
        second.dispose()
