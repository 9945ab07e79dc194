"""/v1/calendar and /v1/powers: the business calendar and the organisation's power list."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Response

from powerflow.api.deps import PrincipalDep, StoreDep, call, json_response
from powerflow.api.errors import documented
from powerflow.api.power_schemas import (
    CalendarDayRead,
    CalendarDayWrite,
    CalendarYearRead,
    PowerRead,
)
from powerflow.services.power import calendar_edits, powers
from powerflow.services.power.calendar_edits import FIRST_YEAR, LAST_YEAR

router = APIRouter(tags=["power"])


def _only(
    *codes: int, not_found: str = "-", invalid: str | None = None
) -> dict[int | str, dict[str, Any]]:
    """The documented problem responses a read route can give (no 403: anyone signed in)."""
    every = documented(not_found=not_found, invalid=invalid)
    return {code: spec for code, spec in every.items() if code in codes}


CALENDAR_ERRORS = _only(401, 422, invalid="Year outside the calendar")
WRITE_ERRORS = documented(
    not_found="The day has no administrator's edit",
    forbidden="Caller is not an administrator",
    invalid="Invalid day, kind or name",
)
Year = Annotated[
    int | None,
    Query(ge=FIRST_YEAR, le=LAST_YEAR, description="The year (default: this year)"),
]
Day = Annotated[dt.date, Path(description="The date, such as 2026-10-08")]
Code = Annotated[str, Path(min_length=1, max_length=255, description="The power item code")]


@router.get(
    "/v1/calendar",
    response_model=CalendarYearRead,
    responses=CALENDAR_ERRORS,
    summary="A year of the business calendar",
)
async def get_calendar(store: StoreDep, principal: PrincipalDep, year: Year = None) -> Response:
    """The year's holidays on weekdays and working weekend days (China's make-up working
    days), from the holiday library and administrators' edits, each marked with its source.
    Every other Monday to Friday is a working day, every other weekend day is not."""
    if year is None:
        year = store.now().astimezone(ZoneInfo(store.time_zone)).year
    view = await call(store, calendar_edits.year_view, store, principal, year)
    return json_response(CalendarYearRead.model_validate(view))


@router.put(
    "/v1/calendar/days/{day}",
    response_model=CalendarDayRead,
    responses={201: {"model": CalendarDayRead, "description": "Edit created"}, **WRITE_ERRORS},
    summary="Make a day a holiday or a working day",
)
async def put_calendar_day(
    day: Day, body: CalendarDayWrite, store: StoreDep, principal: PrincipalDep
) -> Response:
    """Administrators correct the calendar one day at a time: the edit wins over the holiday
    library for that date, in every worker within a second. 201 for a new edit, 200 when it
    replaces one."""
    edited, created = await call(
        store, calendar_edits.put_day, store, principal, day, body.kind, body.name
    )
    return json_response(CalendarDayRead.model_validate(edited), 201 if created else 200)


@router.delete(
    "/v1/calendar/days/{day}",
    status_code=204,
    response_class=Response,
    responses=WRITE_ERRORS,
    summary="Withdraw an edit of a day",
)
async def delete_calendar_day(day: Day, store: StoreDep, principal: PrincipalDep) -> Response:
    """The holiday library's word holds again for that date (the edit is kept as history)."""
    await call(store, calendar_edits.delete_day, store, principal, day)
    return Response(status_code=204)


@router.get(
    "/v1/powers",
    response_model=list[PowerRead],
    responses=_only(401),
    summary="The power list",
)
async def list_powers(store: StoreDep, principal: PrincipalDep) -> Response:
    """Every power item (pf:powerItem) the latest deployed version of each process exercises,
    by code, with those processes and their activities: roles, time limits and risks."""
    items = await call(store, powers.power_list, store, principal)
    body = b"[" + b",".join(PowerRead.model_validate(i).model_dump_json().encode() for i in items)
    return Response(body + b"]", media_type="application/json")


@router.get(
    "/v1/powers/{code}",
    response_model=PowerRead,
    responses=_only(401, 404, not_found="No deployed process exercises this power item"),
    summary="One power item",
)
async def get_power(code: Code, store: StoreDep, principal: PrincipalDep) -> Response:
    """One item of the power list with the processes that exercise it."""
    item = await call(store, powers.power_item, store, principal, code)
    return json_response(PowerRead.model_validate(item))
