"""Statistical anomalies (R26) over HTTP: real instances on a manual clock in two periods, the
aggregator run by hand, and GET /v1/stats/anomalies comparing them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from conftest import Api
from powerflow.services.supervision.anomalies import baseline_days
from powerflow.services.supervision.statistics import RELATIVE_ERROR, aggregate
from test_statistics import HOUR, Permits

PERIOD = {"from": "2026-03-09", "to": "2026-03-15"}  # baseline (previous): 2 to 8 March


def _walks(api: Api) -> Permits:
    """Baseline week: 5 permits of 3 hours. The week after: 5 of 3 hours and 3 whose decision
    takes 5 hours (overdue: its limit is 4)."""
    permits = Permits(api)
    permits.clock.set(datetime(2026, 3, 2, 1, tzinfo=UTC))
    for _ in range(5):
        permits.walk(HOUR, HOUR, HOUR)
    permits.clock.set(datetime(2026, 3, 10, 1, tzinfo=UTC))
    for _ in range(5):
        permits.walk(HOUR, HOUR, HOUR)
    for _ in range(3):
        permits.walk(HOUR, HOUR, 5 * HOUR)
    aggregate(api.store)
    return permits


def _report(api: Api, headers: dict[str, str] | None = None, **params: Any) -> Any:
    got = api.client.get("/v1/stats/anomalies", headers=headers or api.admin, params=params)
    assert got.status_code == 200, got.text
    return got.json()


def _by_indicator(report: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    return {f["indicator"]: f for f in report["findings"] if f["name"] == name}


def test_a_process_whose_figures_moved_is_reported_per_indicator(api: Api) -> None:
    _walks(api)
    report = _report(api, by="process", minimum=3, **PERIOD)
    assert (report["range"]["from"], report["range"]["to"]) == ("2026-03-09", "2026-03-15")
    assert (report["baseline_range"]["from"], report["baseline_range"]["to"]) == (
        "2026-03-02",
        "2026-03-08",
    )
    found = _by_indicator(report, "permit")
    assert found["started"] == {
        "name": "permit",
        "indicator": "started",
        "baseline": 5,
        "current": 8,
        "change": 0.6,
    }
    assert (found["completed"]["baseline"], found["completed"]["current"]) == (5, 8)
    # every permit ended within its promised time: nothing overdue at the process
    assert "overdue" not in found and "overdue_rate" not in found
    # the slowest tenth took 7 hours instead of 3; the median did not move
    p90 = found["p90_seconds"]
    assert abs(p90["baseline"] - 3 * 3600) <= RELATIVE_ERROR * 3 * 3600
    assert abs(p90["current"] - 7 * 3600) <= RELATIVE_ERROR * 7 * 3600
    assert p90["change"] == round((p90["current"] - p90["baseline"]) / p90["baseline"], 4)
    assert "p50_seconds" not in found and "cancelled" not in found
    # the alerts compared are those the statistics count in each period
    stats = [
        api.client.get("/v1/stats/processes/permit", headers=api.admin, params=span).json()
        for span in ({"from": "2026-03-02", "to": "2026-03-08"}, PERIOD)
    ]
    alerts = [sum(s["process"]["alerts"].values()) for s in stats]
    if max(alerts) >= 3:
        assert [found["alerts"]["baseline"], found["alerts"]["current"]] == alerts
    else:
        assert "alerts" not in found
    # appearances first, then the largest change first
    changes = [f["change"] for f in report["findings"]]
    appeared = [c for c in changes if c is None]
    assert changes[: len(appeared)] == appeared
    ratios = [abs(c) for c in changes if c is not None]
    assert ratios == sorted(ratios, reverse=True)


def test_threshold_and_minimum_leave_small_or_slight_changes_out(api: Api) -> None:
    _walks(api)
    strict = _by_indicator(_report(api, by="process", minimum=3, threshold=1.0, **PERIOD), "permit")
    assert "started" not in strict  # +60 % < 100 %
    assert "p90_seconds" in strict  # +133 %
    # minimum 12: started 5 -> 8 and alerts 5 -> 11 are too few to compare, and neither week
    # completed 12
    assert _report(api, by="process", minimum=12, **PERIOD)["findings"] == []


def test_people_roles_and_one_process_elements_are_compared_like_processes(api: Api) -> None:
    _walks(api)
    elements = _report(api, by="element", definition_key="permit", minimum=3, **PERIOD)
    decide = _by_indicator(elements, "decide")
    # overdue appeared at the decision: 0 -> 3 (no ratio to a zero baseline), 3 of 8
    assert (decide["overdue"]["baseline"], decide["overdue"]["current"]) == (0, 3)
    assert decide["overdue"]["change"] is None
    assert (decide["overdue_rate"]["baseline"], decide["overdue_rate"]["current"]) == (0, 0.375)
    assert decide["overdue_rate"]["change"] is None
    assert "overdue" not in _by_indicator(elements, "accept")
    people = _by_indicator(_report(api, by="person", minimum=3, **PERIOD), "alice")
    assert (people["started"]["baseline"], people["started"]["current"]) == (5, 8)
    roles = _report(api, by="role", minimum=3, definition_key="permit", **PERIOD)
    reviewer = _by_indicator(roles, "reviewer")
    assert (reviewer["completed"]["baseline"], reviewer["completed"]["current"]) == (5, 8)


def test_the_same_days_a_year_earlier_and_the_default_period(api: Api) -> None:
    permits = _walks(api)
    year = _report(api, by="process", minimum=3, baseline="year", **PERIOD)
    assert (year["baseline_range"]["from"], year["baseline_range"]["to"]) == (
        "2025-03-09",
        "2025-03-15",
    )
    found = _by_indicator(year, "permit")
    assert (found["started"]["baseline"], found["started"]["current"]) == (0, 8)
    # default: the 30 days ending today, against the 30 before
    permits.clock.set(datetime(2026, 3, 20, 4, tzinfo=UTC))
    default = _report(api, minimum=3)
    assert (default["range"]["from"], default["range"]["to"]) == ("2026-02-19", "2026-03-20")
    assert (default["baseline_range"]["from"], default["baseline_range"]["to"]) == (
        "2026-01-20",
        "2026-02-18",
    )
    assert _by_indicator(default, "permit")["started"]["current"] == 13


def test_baseline_days() -> None:
    d = date
    assert baseline_days(d(2026, 3, 9), d(2026, 3, 15), "previous") == (
        d(2026, 3, 2),
        d(2026, 3, 8),
    )
    assert baseline_days(d(2024, 2, 29), d(2024, 3, 31), "year") == (d(2023, 2, 28), d(2023, 3, 31))
    assert baseline_days(d(2026, 1, 1), d(2026, 1, 1), "previous") == (
        d(2025, 12, 31),
        d(2025, 12, 31),
    )


def test_who_may_ask_and_bad_input(api: Api) -> None:
    designer = api.user("designer", "dora")
    assert api.client.get("/v1/stats/anomalies", headers=designer).status_code == 200
    refused = api.client.get("/v1/stats/anomalies", headers=designer, params={"by": "person"})
    assert refused.status_code == 403, refused.text
    assert "monitor" in refused.json()["detail"]
    unknown = api.client.get(
        "/v1/stats/anomalies", headers=api.admin, params={"by": "element", "definition_key": "x"}
    )
    assert unknown.status_code == 404 and "No process" in unknown.text, unknown.text
    clerk = api.user("clerk", "carl")
    assert api.client.get("/v1/stats/anomalies", headers=clerk).status_code == 403
    # who may ask is settled before what was asked
    bad = {"threshold": "0.5", "to": "0001-01-10"}
    assert api.client.get("/v1/stats/anomalies", headers=clerk, params=bad).status_code == 403
    for params, words in (
        ({"threshold": "0"}, "threshold"),
        ({"minimum": "0"}, "minimum"),
        ({"by": "unit"}, "by"),
        ({"baseline": "decade"}, "baseline"),
        ({"from": "2026-03-10", "to": "2026-03-01"}, "after it ends"),
        ({"definition_key": "permit"}, "definition_key"),
        ({"by": "element"}, "definition_key"),
        ({"from": "0001-01-05", "to": "0001-01-10"}, "before the year 1"),
        ({"from": "0001-03-01", "to": "0001-03-02", "baseline": "year"}, "before the year 1"),
        ({"to": "0001-01-10"}, "before the year 1"),
    ):
        got = api.client.get("/v1/stats/anomalies", headers=api.admin, params=params)
        assert got.status_code == 422, (params, got.text)
        assert words in got.text, (params, got.text)
