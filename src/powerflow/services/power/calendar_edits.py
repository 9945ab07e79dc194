"""Reading and correcting the business calendar: a year's special days, and administrators' edits.

The holiday library knows China's holidays and make-up working days as the State Council
announces them; an administrator adds what it does not know (a local holiday, a year announced
after the installed library was released) or corrects it, one day at a time. Each edit wins over
the library for its date and takes effect in every worker (``calendar.calendar_for``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from powerflow.db import calendar_days as days_table
from powerflow.db.engine import Store
from powerflow.services.auth import Principal
from powerflow.services.errors import Forbidden, InvalidInput, NotFound
from powerflow.services.power import calendar

FIRST_YEAR, LAST_YEAR = 2000, 2100
KINDS = ("holiday", "workday")


@dataclass(frozen=True)
class LibraryDay:
    """What the holiday library says of a date."""

    kind: str
    name: str


@dataclass(frozen=True)
class SpecialDay:
    """A day that differs from the Monday-Friday week, or that an administrator edited."""

    date: date
    kind: str  # holiday | workday
    working: bool
    name: str
    source: str  # library | administrator
    changed_by: str | None = None
    changed_at: datetime | None = None
    library: LibraryDay | None = None  # the library's own entry, when an edit overrides it

    @property
    def weekday(self) -> str:
        """The English name of the day of the week."""
        return self.date.strftime("%A")


@dataclass(frozen=True)
class CalendarYear:
    """A year's non-working weekdays and working weekend days, and every edit of the year."""

    year: int
    time_zone: str
    days: list[SpecialDay]


def _check_year(year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(
            f"The business calendar covers the years {FIRST_YEAR} to {LAST_YEAR}; "
            f"{year} is outside them."
        )


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise Forbidden("Correcting the business calendar needs the 'admin' role.")


def _library_days(year: int) -> dict[date, LibraryDay]:
    """The library's holidays on weekdays and its make-up working days, of one year."""
    off, made_up = calendar.library_year(year)
    found = {day: LibraryDay("holiday", name) for day, name in off.items() if day.weekday() < 5}
    found.update((day, LibraryDay("workday", name)) for day, name in made_up.items())
    return found


def year_view(store: Store, principal: Principal, year: int) -> CalendarYear:
    """The year's special days from the library and the administrators' edits, by date."""
    _check_year(year)
    library = _library_days(year)
    with store.begin(write=False) as conn:
        edits = days_table.edits_between(conn, date(year, 1, 1), date(year, 12, 31))
    days = {
        day: SpecialDay(day, entry.kind, entry.kind == "workday", entry.name, "library")
        for day, entry in library.items()
    }
    for edit in edits:
        days[edit.day] = SpecialDay(
            edit.day,
            edit.kind,
            edit.kind == "workday",
            edit.name,
            "administrator",
            edit.changed_by,
            edit.changed_at,
            library.get(edit.day),
        )
    return CalendarYear(year, store.time_zone, [days[d] for d in sorted(days)])


def put_day(
    store: Store, principal: Principal, day: date, kind: str, name: str
) -> tuple[SpecialDay, bool]:
    """Make ``day`` a holiday or a working day (admin); True with it if it was not edited."""
    _require_admin(principal)
    _check_year(day.year)
    if kind not in KINDS:
        raise InvalidInput(f"A calendar day is a 'holiday' or a 'workday', not '{kind}'.")
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("Give the day a name, such as 'National Day' or 'Make-up working day'.")
    at = store.now()
    with store.begin(write=True) as conn:
        created = days_table.put(conn, day, kind, name, principal.name, at)
    calendar.forget(store)
    edited = SpecialDay(
        day,
        kind,
        kind == "workday",
        name,
        "administrator",
        principal.name,
        at,
        _library_days(day.year).get(day),
    )
    return edited, created


def delete_day(store: Store, principal: Principal, day: date) -> None:
    """Withdraw the edit of ``day`` (admin): the library's word holds again for that date."""
    _require_admin(principal)
    _check_year(day.year)
    with store.begin(write=True) as conn:
        removed = days_table.remove(conn, day, principal.name, store.now())
    calendar.forget(store)
    if not removed:
        raise NotFound(f"{day.isoformat()} has no administrator's edit to withdraw.")
