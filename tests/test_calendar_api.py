"""The business calendar through the API: a year's special days, administrators' edits."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from conftest import Api
from powerflow.clock import ManualClock
from powerflow.services.power.calendar import calendar_for


def by_date(body: dict) -> dict[str, dict]:
    return {d["date"]: d for d in body["days"]}


def test_a_year_lists_holidays_on_weekdays_and_make_up_working_days(api: Api) -> None:
    got = api.client.get("/v1/calendar?year=2025", headers=api.user("clerk"))
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["year"] == 2025 and body["time_zone"] == "Asia/Shanghai"
    days = by_date(body)
    assert days["2025-01-26"]["kind"] == "workday"
    assert days["2025-01-26"]["weekday"] == "Sunday"
    assert days["2025-01-26"]["source"] == "library"
    assert days["2025-10-01"] == {
        "date": "2025-10-01",
        "weekday": "Wednesday",
        "kind": "holiday",
        "working": False,
        "name": "National Day",
        "source": "library",
        "changed_by": None,
        "changed_at": None,
        "library": None,
    }
    for day in ("2025-09-28", "2025-10-11", "2025-02-08"):
        assert days[day]["working"] is True
    # Only what differs from the Monday-Friday week: the holiday's Saturday is not listed.
    assert "2025-10-04" not in days
    assert list(days) == sorted(days)


def test_the_year_defaults_to_this_year_in_the_calendar_zone(api: Api) -> None:
    # 31 December 2026 17:00 UTC is already 1 January 2027 in Shanghai.
    api.store.clock = ManualClock(datetime(2026, 12, 31, 17, tzinfo=UTC))
    got = api.client.get("/v1/calendar", headers=api.user("clerk"))
    assert got.json()["year"] == 2027


def test_an_administrator_corrects_a_day_and_every_deadline_follows(api: Api) -> None:
    api.store.clock = ManualClock(datetime(2026, 12, 1, 2, tzinfo=UTC))
    shanghai = ZoneInfo("Asia/Shanghai")
    start = datetime(2026, 12, 4, 10, tzinfo=shanghai)  # a Friday
    assert calendar_for(api.store).add(start, "P1D", working=True) == datetime(
        2026, 12, 8, tzinfo=shanghai
    )
    put = api.client.put(
        "/v1/calendar/days/2026-12-07",
        headers=api.admin,
        json={"kind": "holiday", "name": "  Local   holiday "},
    )
    assert put.status_code == 201, put.text
    assert put.json()["source"] == "administrator"
    assert put.json()["name"] == "Local holiday"
    assert put.json()["changed_by"] == "admin"
    assert put.json()["changed_at"] == "2026-12-01T02:00:00Z"
    # Monday is now off: one working day after Friday ends on Tuesday.
    assert calendar_for(api.store).add(start, "P1D", working=True) == datetime(
        2026, 12, 9, tzinfo=shanghai
    )
    # A make-up working Saturday, then replacing the Monday's edit (200).
    saturday = api.client.put(
        "/v1/calendar/days/2026-12-05",
        headers=api.admin,
        json={"kind": "workday", "name": "Make-up working day"},
    )
    assert saturday.status_code == 201
    again = api.client.put(
        "/v1/calendar/days/2026-12-07",
        headers=api.admin,
        json={"kind": "holiday", "name": "Founding day"},
    )
    assert again.status_code == 200
    assert calendar_for(api.store).add(start, "P1D", working=True) == datetime(
        2026, 12, 6, tzinfo=shanghai
    )
    days = by_date(api.client.get("/v1/calendar?year=2026", headers=api.admin).json())
    assert days["2026-12-07"]["name"] == "Founding day"
    assert days["2026-12-05"]["working"] is True
    # Withdrawing the edits: the library holds again.
    for day in ("2026-12-05", "2026-12-07"):
        gone = api.client.delete(f"/v1/calendar/days/{day}", headers=api.admin)
        assert gone.status_code == 204, gone.text
    assert calendar_for(api.store).add(start, "P1D", working=True) == datetime(
        2026, 12, 8, tzinfo=shanghai
    )
    days = by_date(api.client.get("/v1/calendar?year=2026", headers=api.admin).json())
    assert "2026-12-07" not in days and "2026-12-05" not in days


def test_an_edit_over_a_library_day_shows_what_the_library_says(api: Api) -> None:
    put = api.client.put(
        "/v1/calendar/days/2025-10-08",
        headers=api.admin,
        json={"kind": "workday", "name": "Office open"},
    )
    assert put.status_code == 201
    assert put.json()["library"] == {
        "kind": "holiday",
        "name": "Day off (substituted from 10/11/2025)",
    }
    day = by_date(api.client.get("/v1/calendar?year=2025", headers=api.admin).json())["2025-10-08"]
    assert (day["source"], day["working"], day["library"]["kind"]) == (
        "administrator",
        True,
        "holiday",
    )
    assert calendar_for(api.store).is_working_day(date(2025, 10, 8))


def test_only_administrators_edit_and_errors_are_sentences(api: Api) -> None:
    clerk = api.user("clerk,monitor")
    body = {"kind": "holiday", "name": "x"}
    refused = api.client.put("/v1/calendar/days/2026-12-07", headers=clerk, json=body)
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert "'admin' role" in refused.json()["detail"]
    assert api.client.delete("/v1/calendar/days/2026-12-07", headers=clerk).status_code == 403
    assert api.client.put("/v1/calendar/days/2026-12-07", json=body).status_code == 401
    missing = api.client.delete("/v1/calendar/days/2026-12-07", headers=api.admin)
    assert missing.status_code == 404
    assert "2026-12-07 has no administrator's edit" in missing.json()["detail"]
    for bad_body in ({"kind": "weekend", "name": "x"}, {"kind": "holiday", "name": ""}):
        got = api.client.put("/v1/calendar/days/2026-12-07", headers=api.admin, json=bad_body)
        assert got.status_code == 422
    blank = api.client.put(
        "/v1/calendar/days/2026-12-07", headers=api.admin, json={"kind": "holiday", "name": "  "}
    )
    assert blank.status_code == 422 and "Give the day a name" in blank.json()["detail"]
    for path in ("/v1/calendar/days/2026-13-01", "/v1/calendar/days/1850-01-01"):
        got = api.client.put(path, headers=api.admin, json=body)
        assert got.status_code == 422, (path, got.text)
    assert api.client.get("/v1/calendar?year=1999", headers=clerk).status_code == 422
    assert api.client.get("/v1/calendar?year=2026").status_code == 401
