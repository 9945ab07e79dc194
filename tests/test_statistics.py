"""Statistics: real instances over HTTP on a controlled clock, the aggregator run by hand,
exact counts and durations, idempotence, two aggregators at once, and the routes' rules."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import DATA, Api
from flows import complete, deliver, read, ready, start, task
from powerflow.clock import ManualClock
from powerflow.db.engine import Store
from powerflow.services.power.alert_loop import raise_due_alerts
from powerflow.services.power.profiles import forget_cached
from powerflow.services.supervision import statistics
from powerflow.services.supervision.statistics import (
    RELATIVE_ERROR,
    aggregate,
    bucket_of,
    percentile,
    rebuild,
)
from rebind import rebind
from rules_support import deploy_xml, process_xml

MONDAY = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, the business time zone
HOUR = timedelta(hours=1)


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _get(api: Api, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
    got = api.client.get(path, headers=headers or api.admin, params=params)
    assert got.status_code == 200, got.text
    return got.json()


def _close(value: float | None, exact: float) -> bool:
    return value is not None and abs(value - exact) <= RELATIVE_ERROR * exact


class Permits:
    """deadlines.bpmn ('permit': accept by clerk, supplement by clerk, decide by reviewer
    within 4 hours) driven on a manual clock."""

    def __init__(self, api: Api) -> None:
        forget_cached()
        self.api = api
        self.clock = ManualClock(MONDAY)
        api.store.clock = self.clock
        deployed = api.deploy("deadlines.bpmn")
        assert deployed.status_code == 201, deployed.text
        self.alice = api.user("clerk", "alice")
        self.bob = api.user("reviewer", "bob")

    def walk(self, accept: timedelta, supplement: timedelta, decide: timedelta) -> dict[str, Any]:
        """One instance from start to end, each task taking the given time; returns it."""
        instance = start(self.api, self.alice, "permit")
        self.clock.advance(accept)
        instance = complete(self.api, self.alice, instance, "accept")
        self.clock.advance(supplement)
        instance = complete(self.api, self.alice, instance, "supplement")
        (decision,) = [t for t in instance["tasks"] if t["element_id"] == "decide"]
        claimed = self.api.client.post(f"/v1/tasks/{decision['id']}/claim", headers=self.bob)
        assert claimed.status_code == 200, claimed.text
        self.clock.advance(decide)
        raise_due_alerts(self.api.store)
        instance = complete(self.api, self.bob, instance, "decide")
        assert instance["status"] == "completed"
        return instance


def _alerts_by_level(api: Api) -> dict[str, int]:
    items = _get(api, "/v1/alerts", limit=500)["items"]
    return dict(Counter(a["level"] for a in items))


def test_counts_durations_overdue_and_alerts_are_exact(api: Api) -> None:
    permits = Permits(api)
    # A: 1 h + 2 h + 30 min (decide within its 4 hours)
    a = permits.walk(HOUR, 2 * HOUR, timedelta(minutes=30))
    # B: 2 h + 1 h + 5 h: decide is overdue (limit PT4H)
    b = permits.walk(2 * HOUR, HOUR, 5 * HOUR)
    # C: cancelled while at accept; D: left running at supplement
    c = start(api, permits.alice, "permit")
    cancelled = api.client.post(f"/v1/instances/{c['id']}/cancel", headers=api.admin, json={})
    assert cancelled.status_code == 200, cancelled.text
    d = start(api, permits.alice, "permit")
    permits.clock.advance(HOUR)
    complete(api, permits.alice, d, "accept")

    # nothing counted until the aggregator runs
    before = _get(api, "/v1/stats/processes/permit")
    assert before["process"]["started"] == 0 and before["range"]["as_of_event_id"] == 0
    assert aggregate(api.store) > 0
    assert aggregate(api.store) == 0  # a second pass finds nothing new

    got = _get(api, "/v1/stats/processes/permit")
    assert got["range"]["as_of_event_id"] > 0 and got["range"]["to"] == "2026-03-02"
    assert got["range"]["from"] is None
    proc = got["process"]
    assert (proc["started"], proc["completed"], proc["cancelled"], proc["failed"]) == (4, 2, 1, 0)
    assert proc["running"] == 1
    durations = [
        _parse(i["ended_at"]) - _parse(i["created_at"]) for i in (read(api, a), read(api, b))
    ]
    assert sorted(durations) == [3.5 * HOUR, 8 * HOUR]
    assert proc["durations"]["count"] == 2
    assert proc["durations"]["mean_seconds"] == (3.5 + 8) * 3600 / 2
    assert _close(proc["durations"]["p50_seconds"], 3.5 * 3600)
    assert _close(proc["durations"]["p90_seconds"], 8 * 3600)
    alerts = _alerts_by_level(api)
    assert alerts, "the overdue decision raised alerts"
    assert proc["alerts"] == alerts
    assert proc["violations"] == {}

    elements = {e["name"]: e["figures"] for e in got["elements"]}
    accept = elements["accept"]
    assert (accept["started"], accept["completed"]) == (4, 3)
    assert accept["durations"]["count"] == 3
    assert accept["durations"]["mean_seconds"] == (1 + 2 + 1) * 3600 / 3
    assert _close(accept["durations"]["p50_seconds"], 3600)
    assert _close(accept["durations"]["p90_seconds"], 7200)
    # ready 4, completed 3, C's cancelled with its instance: none open at the end
    assert (accept["cancelled"], accept["running"]) == (1, 0)
    assert elements["supplement"]["running"] == 1  # D waits there
    decide = elements["decide"]
    assert (decide["started"], decide["completed"], decide["overdue"]) == (2, 2, 1)
    assert decide["overdue_rate"] == 0.5
    assert decide["durations"]["mean_seconds"] == (0.5 + 5) * 3600 / 2
    decide_alerts = Counter(
        x["level"]
        for x in _get(api, "/v1/alerts", limit=500)["items"]
        if x["element_id"] == "decide"
    )
    assert decide["alerts"] == dict(decide_alerts)
    assert elements["supplement"]["completed"] == 2

    # per role: the tasks each role was a candidate for
    roles = {r["name"]: r["figures"] for r in _get(api, "/v1/stats/roles")["items"]}
    assert (roles["clerk"]["started"], roles["clerk"]["completed"]) == (4 + 2 + 1, 3 + 2)
    assert (roles["clerk"]["cancelled"], roles["clerk"]["running"]) == (1, 1)
    assert (roles["reviewer"]["completed"], roles["reviewer"]["overdue"]) == (2, 1)
    assert roles["reviewer"]["running"] == 0
    # per person: instances started, tasks completed
    people = {p["name"]: p["figures"] for p in _get(api, "/v1/stats/people")["items"]}
    assert (people["alice"]["started"], people["alice"]["completed"]) == (4, 5)
    assert (people["bob"]["started"], people["bob"]["completed"]) == (0, 2)
    assert people["bob"]["durations"]["mean_seconds"] == (0.5 + 5) * 3600 / 2
    assert "system" not in people and "timer" not in people
    assert people["bob"]["running"] == 0  # claimed two decisions, completed both
    # alerts count for the roles and persons each alert names
    raised = _get(api, "/v1/alerts", limit=500)["items"]
    for role in ("clerk", "reviewer"):
        expected = Counter(x["level"] for x in raised if role in x["roles"])
        assert roles[role]["alerts"] == dict(expected), role
    assert any(x["roles"] for x in raised)
    assert people["bob"]["alerts"], "the alerts of bob's overdue decision name him"
    for name, figures in people.items():
        assert figures["alerts"] == dict(
            Counter(x["level"] for x in raised if name in x["persons"])
        )

    # the list of processes agrees with the one process
    listed = {p["name"]: p["figures"] for p in _get(api, "/v1/stats/processes")["items"]}
    assert listed["permit"] == proc

    # a range without those days: nothing happened in it, but D is still running at its end
    later = _get(api, "/v1/stats/processes/permit", **{"from": "2026-03-03", "to": "2026-03-04"})
    assert later["process"]["started"] == 0 and later["process"]["running"] == 1
    # only the element with a task still open then is listed: D's supplement
    [waiting] = later["elements"]
    assert waiting["name"] == "supplement"
    assert (waiting["figures"]["started"], waiting["figures"]["running"]) == (0, 1)
    # a range that ends before the first instance: nothing was running then
    earlier = _get(api, "/v1/stats/processes/permit", to="2026-03-01")
    assert earlier["process"]["running"] == 0

    # a rebuild from the event table gives the same figures
    assert rebuild(api.store) > 0
    again = _get(api, "/v1/stats/processes/permit")
    assert again["process"] == proc and again["elements"] == got["elements"]
    assert {r["name"]: r["figures"] for r in _get(api, "/v1/stats/roles")["items"]} == roles
    assert {p["name"]: p["figures"] for p in _get(api, "/v1/stats/people")["items"]} == people


def test_days_are_counted_in_the_business_time_zone(api: Api) -> None:
    permits = Permits(api)
    # Monday 23:30 in Shanghai (15:30 UTC): still Monday
    permits.clock.set(datetime(2026, 3, 2, 15, 30, tzinfo=UTC))
    start(api, permits.alice, "permit")
    # Tuesday 00:30 in Shanghai (16:30 UTC on Monday)
    permits.clock.set(datetime(2026, 3, 2, 16, 30, tzinfo=UTC))
    start(api, permits.alice, "permit")
    aggregate(api.store)
    monday = _get(api, "/v1/stats/processes/permit", **{"from": "2026-03-02", "to": "2026-03-02"})
    tuesday = _get(api, "/v1/stats/processes/permit", **{"from": "2026-03-03", "to": "2026-03-03"})
    assert (monday["process"]["started"], tuesday["process"]["started"]) == (1, 1)
    assert tuesday["range"]["to"] == "2026-03-03"


def test_counting_in_several_passes_counts_each_event_once(api: Api) -> None:
    permits = Permits(api)
    permits.walk(HOUR, HOUR, HOUR)
    assert aggregate(api.store, batch_size=3) > 0  # many small batches
    permits.walk(HOUR, HOUR, HOUR)
    aggregate(api.store, batch_size=3)
    aggregate(api.store)
    proc = _get(api, "/v1/stats/processes/permit")["process"]
    assert (proc["started"], proc["completed"]) == (2, 2)
    elements = {
        e["name"]: e["figures"] for e in _get(api, "/v1/stats/processes/permit")["elements"]
    }
    assert elements["accept"]["completed"] == 2


def test_two_aggregators_at_once_count_each_event_once(api: Api) -> None:
    permits = Permits(api)
    for _ in range(4):
        permits.walk(HOUR, HOUR, HOUR)
    stores = [Store(str(api.store.url.render_as_string(hide_password=False))) for _ in range(2)]
    for store in stores:
        store.clock = permits.clock
    barrier = threading.Barrier(2)
    reads: list[int] = []
    failures: list[BaseException] = []

    def run(store: Store) -> None:
        try:
            barrier.wait()
            reads.append(aggregate(store, batch_size=5))
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for store in stores:
        store.dispose()
    assert not failures, failures
    got = _get(api, "/v1/stats/processes/permit")
    assert (got["process"]["started"], got["process"]["completed"]) == (4, 4)
    elements = {e["name"]: e["figures"] for e in got["elements"]}
    assert elements["accept"]["durations"]["count"] == 4
    assert sum(reads) == sum(len(_events_of(api, i)) for i in _instances(api))


def _instances(api: Api) -> list[str]:
    return [i["id"] for i in _get(api, "/v1/instances", limit=100)["items"]]


def _events_of(api: Api, instance_id: str) -> list[dict[str, Any]]:
    items = _get(api, f"/v1/instances/{instance_id}/events", limit=500)["items"]
    return [e for e in items if e["type"] in statistics.HANDLERS]


def test_violations_by_rule_per_process_element_and_person(api: Api, tmp_path: Path) -> None:
    rule = (
        '<pf:rule id="R-sod" kind="separation-of-duties" effect="record" '
        'tasks="prepare,review" legalBasis="Rulebook art. 7">One person did both.</pf:rule>'
    )
    deployed = deploy_xml(api, tmp_path, process_xml("sod", review=rule))
    assert deployed.status_code == 201, deployed.text
    maker = api.user("clerk,preparer,reviewer", "maker")
    instance = start(api, maker, "sod")
    instance = complete(api, maker, instance, "prepare")
    instance = complete(api, maker, instance, "review")
    assert instance["status"] == "completed"
    aggregate(api.store)
    got = _get(api, "/v1/stats/processes/sod")
    assert got["process"]["violations"] == {"R-sod": 1}
    elements = {e["name"]: e["figures"] for e in got["elements"]}
    assert elements["review"]["violations"] == {"R-sod": 1}
    assert elements["prepare"]["violations"] == {}
    people = {
        p["name"]: p["figures"]
        for p in _get(api, "/v1/stats/people", definition_key="sod")["items"]
    }
    assert people["maker"]["violations"] == {"R-sod": 1}
    assert people["maker"]["completed"] == 2


def test_who_may_read_and_bad_input(api: Api) -> None:
    Permits(api)
    clerk, designer = api.user("clerk"), api.user("designer")
    for role in ("monitor", "auditor"):
        _get(api, "/v1/stats/people", api.user(role))
    assert api.client.get("/v1/stats/processes", headers=clerk).status_code == 403
    assert api.client.get("/v1/stats/processes/permit", headers=clerk).status_code == 403
    # designers read per-process figures (no person named in them), not roles or people
    _get(api, "/v1/stats/processes/permit", designer)
    _get(api, "/v1/stats/processes", designer)
    for path in ("/v1/stats/roles", "/v1/stats/people"):
        refused = api.client.get(path, headers=designer)
        assert refused.status_code == 403 and "monitor" in refused.json()["detail"]
    assert api.client.get("/v1/stats/processes").status_code == 401
    missing = api.client.get("/v1/stats/processes/nope", headers=api.admin)
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    backwards = api.client.get(
        "/v1/stats/processes", headers=api.admin, params={"from": "2026-03-05", "to": "2026-03-01"}
    )
    assert backwards.status_code == 422 and "after it ends" in backwards.json()["detail"]
    too_long = api.client.get(
        "/v1/stats/roles", headers=api.admin, params={"from": "2000-01-01", "to": "2026-03-01"}
    )
    assert too_long.status_code == 422 and "3660" in too_long.json()["detail"]
    for bad in ("yesterday", "2026-02-30", "2026-13-01"):
        got = api.client.get("/v1/stats/people", headers=api.admin, params={"from": bad})
        assert got.status_code == 422, (bad, got.text)


@pytest.mark.parametrize(
    "seconds", [1, 1.5, 59, 60, 3600, 3601, 86_400, 7 * 86_400, 30 * 86_400, 365 * 86_400]
)
def test_a_percentile_is_within_the_stated_error(seconds: float) -> None:
    histogram = {bucket_of(seconds): 1}
    for p in (0.5, 0.9):
        assert _close(percentile(histogram, p), seconds)
    assert percentile({bucket_of(0.4): 3}, 0.5) == 0
    assert percentile({}, 0.5) is None


def test_percentiles_take_the_nearest_rank() -> None:
    # 10 durations: 9 of about a minute, 1 of about a day
    histogram = {bucket_of(60): 9, bucket_of(86_400): 1}
    assert _close(percentile(histogram, 0.5), 60)
    assert _close(percentile(histogram, 0.9), 60)
    assert _close(percentile(histogram, 0.95), 86_400)


def test_an_automatic_step_counts_as_completed_without_a_duration(api: Api) -> None:
    assert api.deploy("gateway.bpmn").status_code == 201
    erin = api.user("clerk,employee", "erin")
    instance = start(api, erin, "expense", currency="CNY")
    complete(api, erin, instance, "submit", amount=5000, reason="laptop")
    aggregate(api.store)
    elements = {
        e["name"]: e["figures"] for e in _get(api, "/v1/stats/processes/expense")["elements"]
    }
    assert elements["classify"]["completed"] == 1
    assert elements["classify"]["durations"]["count"] == 0
    assert elements["classify"]["durations"]["p50_seconds"] is None
    assert elements["classify"]["running"] is None  # it never waited for a person
    assert elements["submit"]["running"] == 0
    assert elements["submit"]["durations"]["count"] == 1


def test_a_new_event_type_is_one_entry_in_the_table(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # as "case.closed" will count cases by outcome: here, suspensions by reason
    monkeypatch.setitem(
        statistics.HANDLERS,
        "instance.suspended",
        lambda ev, batch: [("", "", "", "suspended", ev.payload.get("reason") or "", 1)],
    )
    permits = Permits(api)
    instance = start(api, permits.alice, "permit")
    monitor = api.user("monitor")
    suspended = api.client.post(
        f"/v1/instances/{instance['id']}/suspend", headers=monitor, json={"reason": "inquiry"}
    )
    assert suspended.status_code == 200, suspended.text
    aggregate(api.store)
    proc = _get(api, "/v1/stats/processes/permit")["process"]
    assert proc["extra"] == {"suspended": {"inquiry": 1}}
    assert proc["started"] == 1 and proc["running"] == 1


def test_supervision_cases_are_counted_by_outcome(api: Api) -> None:
    permits = Permits(api)
    monitor = api.user("monitor")
    outcomes = ["no_fault", "criticism_education", "criticism_education"]
    for outcome in outcomes:
        instance = start(api, permits.alice, "permit")
        opened = api.client.post(
            "/v1/cases",
            headers=monitor,
            json={"instance_id": instance["id"], "title": "Late", "reason": "Why late?"},
        )
        assert opened.status_code == 201, opened.text
        people = [] if outcome == "no_fault" else ["alice"]
        closed = api.client.post(
            f"/v1/cases/{opened.json()['id']}/close",
            headers=monitor,
            json={"outcome": outcome, "people": people, "summary": "Done."},
        )
        assert closed.status_code == 200, closed.text
    aggregate(api.store)
    proc = _get(api, "/v1/stats/processes/permit")["process"]
    assert proc["cases"] == {"criticism_education": 2, "no_fault": 1}
    assert proc["extra"] == {}
    (listed,) = _get(api, "/v1/stats/processes")["items"]
    assert listed["figures"]["cases"] == proc["cases"]


def test_a_range_reads_whole_months_and_its_ragged_ends_by_day() -> None:
    from datetime import date

    from powerflow.db.stat_queries import periods

    d = date
    assert periods(d(2026, 3, 2), d(2026, 3, 2)) == [("d", d(2026, 3, 2), d(2026, 3, 2))]
    # monthly rows carry the month's first day: (lowest, highest) bound those days
    assert periods(d(2026, 3, 1), d(2026, 3, 31)) == [("m", d(2026, 3, 1), d(2026, 3, 31))]
    assert periods(d(2026, 1, 15), d(2026, 4, 10)) == [
        ("m", d(2026, 2, 1), d(2026, 3, 31)),
        ("d", d(2026, 1, 15), d(2026, 1, 31)),
        ("d", d(2026, 4, 1), d(2026, 4, 10)),
    ]
    assert periods(d(2026, 1, 15), d(2026, 2, 10)) == [("d", d(2026, 1, 15), d(2026, 2, 10))]
    assert periods(None, d(2026, 2, 28)) == [("m", date.min, d(2026, 2, 28))]
    assert periods(None, d(2026, 3, 2)) == [
        ("m", date.min, d(2026, 2, 28)),
        ("d", d(2026, 3, 1), d(2026, 3, 2)),
    ]
    assert periods(d(2026, 3, 5), d(2026, 3, 4)) == []
    assert periods(None, date.max)[0] == ("m", date.min, d(9999, 11, 30))


def test_figures_over_months_equal_the_sum_of_their_days(api: Api) -> None:
    permits = Permits(api)
    for day in (datetime(2026, 3, 30, 2, tzinfo=UTC), datetime(2026, 4, 1, 2, tzinfo=UTC)):
        permits.clock.set(day)
        permits.walk(HOUR, HOUR, HOUR)
    permits.clock.set(datetime(2026, 5, 3, 2, tzinfo=UTC))
    permits.walk(HOUR, HOUR, HOUR)
    aggregate(api.store)

    def started(first: str, last: str) -> int:
        got = _get(api, "/v1/stats/processes/permit", **{"from": first, "to": last})
        return int(got["process"]["completed"])

    assert started("2026-03-01", "2026-05-31") == 3  # three whole months
    assert started("2026-03-30", "2026-05-03") == 3  # ragged ends and April whole
    assert started("2026-03-31", "2026-05-02") == 1  # April only, through its days
    assert started("2026-04-01", "2026-04-30") == 1
    assert started("2026-03-15", "2026-04-15") == 2
    assert started("2026-01-01", "2026-03-29") == 0


def test_the_cli_rebuilds_the_statistics(api: Api) -> None:
    import subprocess
    import sys

    permits = Permits(api)
    permits.walk(HOUR, HOUR, HOUR)
    url = api.store.url.render_as_string(hide_password=False)
    command = [sys.executable, "-W", "ignore", "-m", "powerflow", "stats", "rebuild"]
    done = subprocess.run(
        [*command, "--database-url", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    counted = len(_events_of(api, _instances(api)[0]))
    assert f"statistics rebuilt: {counted} events counted" in done.stdout
    proc = _get(api, "/v1/stats/processes/permit")["process"]
    assert (proc["started"], proc["completed"]) == (1, 1)


def test_the_worker_counts_new_events_on_its_own(api: Api) -> None:
    import time

    from powerflow.workers import StatisticsWorker

    permits = Permits(api)
    permits.walk(HOUR, HOUR, HOUR)
    worker = StatisticsWorker(api.store, interval=0.05)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got = _get(api, "/v1/stats/processes/permit")["process"]
            if got["completed"]:
                break
            time.sleep(0.05)
        assert (got["started"], got["completed"]) == (1, 1)
        assert not statistics.behind(api.store)
    finally:
        worker.stop()


def test_the_worker_waits_its_interval_while_events_keep_arriving(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under steady load there is always a newer event than the last pass counted; the worker
    must still wait its interval between passes (it used to come back every 10 ms, which cost
    a busy service 20 to 60 % more CPU per instance), and catch up at once only when a pass
    stopped at its limit."""
    import time

    from powerflow.workers import StatisticsWorker

    passes: list[bool] = []
    real = statistics.count_new_events

    def counting(store: Store, **kwargs: Any) -> tuple[int, bool]:
        result = real(store, **kwargs)
        passes.append(result[1])
        return result

    monkeypatch.setattr(statistics, "count_new_events", counting)
    permits = Permits(api)
    worker = StatisticsWorker(api.store, interval=0.5)
    worker.start()
    try:
        started = time.monotonic()
        while time.monotonic() - started < 1.6:  # events arrive all the time
            start(api, permits.alice, "permit")
    finally:
        worker.stop()
    # one pass at start, then one per half second (plus the final one on stop): never dozens
    assert 2 <= len(passes) <= 6, len(passes)
    assert not any(passes)  # no pass stopped at its limit
    # a pass that stops at its limit says so
    for _ in range(3):
        start(api, permits.alice, "permit")
    assert statistics.count_new_events(api.store, batch_size=2, limit=2)[1] is True


DAY = timedelta(days=1)


def _named(api: Api, path: str, **params: Any) -> dict[str, dict[str, Any]]:
    return {i["name"]: i["figures"] for i in _get(api, path, **params)["items"]}


def _elements(api: Api, key: str, **params: Any) -> dict[str, dict[str, Any]]:
    got = _get(api, f"/v1/stats/processes/{key}", **params)
    return {e["name"]: e["figures"] for e in got["elements"]}


def _post(api: Api, path: str, headers: dict[str, str], body: Any = None) -> Any:
    done = api.client.post(path, headers=headers, json=body)
    assert done.status_code == 200, done.text
    return done.json()


def _cancelled_events(api: Api, instance: dict[str, Any]) -> list[dict[str, Any]]:
    items = _get(api, f"/v1/instances/{instance['id']}/events", limit=500)["items"]
    return [e for e in items if e["type"] == "task.cancelled"]


def test_running_tasks_go_up_and_down_per_element_role_and_person(api: Api) -> None:
    """Tasks made ready count as running at their element and roles until completed or
    cancelled; a person's are the tasks they claimed and still hold. A range that ends on an
    earlier day keeps that day's figure."""
    permits = Permits(api)
    alice, carol = permits.alice, api.user("clerk", "carol")
    # Monday: three permits wait at 'accept'; alice claims two, carol one
    first, second, third = (start(api, alice, "permit") for _ in range(3))
    for who, instance in ((alice, first), (alice, second), (carol, third)):
        _post(api, f"/v1/tasks/{task(instance, 'accept')['id']}/claim", who)
    aggregate(api.store)
    assert _elements(api, "permit")["accept"]["running"] == 3
    assert _named(api, "/v1/stats/roles")["clerk"]["running"] == 3
    people = _named(api, "/v1/stats/people")
    assert (people["alice"]["running"], people["carol"]["running"]) == (2, 1)

    # Tuesday: alice completes the first, the second is cancelled, carol lets hers go
    permits.clock.advance(DAY)
    complete(api, alice, first, "accept")
    _post(api, f"/v1/instances/{second['id']}/cancel", api.admin, {"reason": "withdrawn"})
    _post(api, f"/v1/tasks/{task(third, 'accept')['id']}/unclaim", carol)
    aggregate(api.store)

    [cancelled] = _cancelled_events(api, second)
    assert cancelled["element_id"] == "accept"
    assert cancelled["task_id"] == task(second, "accept")["id"]
    assert cancelled["payload"] == {"reason": "instance_cancelled"}
    assert cancelled["actor"] == "admin"
    types = [e["type"] for e in _get(api, f"/v1/instances/{second['id']}/events")["items"]]
    assert types[-2:] == ["task.cancelled", "instance.cancelled"]  # the end comes last
    assert _cancelled_events(api, first) == [] and _cancelled_events(api, third) == []

    def figures(**params: Any) -> tuple[Any, ...]:
        elements = _elements(api, "permit", **params)
        roles = _named(api, "/v1/stats/roles", **params)
        people = _named(api, "/v1/stats/people", **params)
        process = _get(api, "/v1/stats/processes/permit", **params)["process"]
        return elements, roles, people, process

    elements, roles, people, process = figures()
    accept = elements["accept"]
    assert (accept["started"], accept["completed"], accept["cancelled"]) == (3, 1, 1)
    assert accept["running"] == 1  # the third
    assert elements["supplement"]["running"] == 1  # the first moved on
    assert (roles["clerk"]["running"], roles["clerk"]["cancelled"]) == (2, 1)
    assert (people["alice"]["running"], people["carol"]["running"]) == (0, 0)
    assert (process["cancelled"], process["running"]) == (1, 2)  # instances, not tasks

    # a range ending on Monday keeps Monday's figures
    monday = figures(to="2026-03-02")
    elements_then, roles_then, people_then, _ = monday
    assert (elements_then["accept"]["running"], elements_then["accept"]["cancelled"]) == (3, 0)
    assert "supplement" not in elements_then
    assert roles_then["clerk"]["running"] == 3
    assert (people_then["alice"]["running"], people_then["carol"]["running"]) == (2, 1)
    # Tuesday alone: nothing became ready, one completed, one cancelled, one still open
    tuesday = _elements(api, "permit", **{"from": "2026-03-03", "to": "2026-03-03"})["accept"]
    assert (tuesday["started"], tuesday["completed"], tuesday["cancelled"]) == (0, 1, 1)
    assert tuesday["running"] == 1

    # the rebuild counts the same from the event table
    assert rebuild(api.store) > 0
    assert figures() == (elements, roles, people, process)
    assert figures(to="2026-03-02") == monday


def test_an_interrupting_boundary_message_cancels_the_task(api: Api) -> None:
    assert api.deploy("boundary_message.bpmn").status_code == 201
    cleo = api.user("clerk", "cleo")
    instance = start(api, cleo, "examine_application")
    examine = task(instance, "examine")["id"]
    _post(api, f"/v1/tasks/{examine}/claim", cleo)
    # a non-interrupting message leaves the task open
    instance = deliver(api, cleo, instance, "applicant_query", question="when?")
    assert ready(instance) == ["answer_query", "examine"]
    aggregate(api.store)
    elements = _elements(api, "examine_application")
    assert (elements["examine"]["running"], elements["answer_query"]["running"]) == (1, 1)
    assert _named(api, "/v1/stats/people")["cleo"]["running"] == 1

    instance = deliver(api, cleo, instance, "application_withdrawn")
    assert "examine" not in ready(instance) and "archive" in ready(instance)
    [cancelled] = _cancelled_events(api, instance)
    assert (cancelled["element_id"], cancelled["task_id"]) == ("examine", examine)
    assert cancelled["payload"] == {"reason": "interrupted"}
    assert api.client.get(f"/v1/tasks/{examine}", headers=api.admin).json()["state"] == (
        "cancelled"
    )
    aggregate(api.store)
    elements = _elements(api, "examine_application")
    examined = elements["examine"]
    assert (examined["started"], examined["completed"], examined["cancelled"]) == (1, 0, 1)
    assert examined["running"] == 0 and examined["durations"]["count"] == 0
    assert elements["archive"]["running"] == 1
    roles = _named(api, "/v1/stats/roles")
    assert roles["clerk"]["cancelled"] == 1
    assert roles["clerk"]["running"] == len(ready(instance))
    assert _named(api, "/v1/stats/people")["cleo"]["running"] == 0  # the task she held closed


def test_an_interrupting_boundary_timer_cancels_the_task(api: Api) -> None:
    import time

    from powerflow.workers import fire_due_timers

    assert api.deploy("boundary_message.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "examine_with_deadline", deadline="PT0.2S")
    examine = task(instance, "examine_in_time")["id"]
    deadline = time.monotonic() + 10
    while ready(instance) == ["examine_in_time"] and time.monotonic() < deadline:
        time.sleep(0.1)
        fire_due_timers(api.store)
        instance = read(api, instance)
    assert ready(instance) == ["escalate"]
    [cancelled] = _cancelled_events(api, instance)
    assert (cancelled["element_id"], cancelled["task_id"]) == ("examine_in_time", examine)
    assert cancelled["payload"] == {"reason": "interrupted"}
    assert cancelled["actor"] == "timer"
    aggregate(api.store)
    elements = _elements(api, "examine_with_deadline")
    assert (elements["examine_in_time"]["cancelled"], elements["examine_in_time"]["running"]) == (
        1,
        0,
    )
    assert elements["escalate"]["running"] == 1


def test_a_parked_instance_keeps_its_tasks_running_until_it_is_cancelled(api: Api) -> None:
    """A failed step parks the instance without closing its open tasks (they still count as
    running); cancelling it closes them, even when its saved state cannot be loaded."""
    import json

    from powerflow.db.models import Instance

    permits = Permits(api)
    instance = start(api, permits.alice, "permit")
    with api.store.write() as session:  # a hand edit gone wrong: the state cannot be loaded
        row = session.get(Instance, instance["id"])
        assert row is not None
        state = json.loads(row.state)
        state["spec"] = "0" * 64 + ":elsewhere"
        row.state = json.dumps(state)
    rebind(api.store.engine, instance["id"])  # as a migration would: not an edit
    path = f"/v1/instances/{instance['id']}/cancel"
    parked = api.client.post(path, headers=api.admin, json={"reason": "first try"})
    assert parked.status_code == 409, parked.text
    aggregate(api.store)
    process = _get(api, "/v1/stats/processes/permit")
    assert (process["process"]["failed"], process["process"]["running"]) == (1, 1)
    assert _elements(api, "permit")["accept"]["running"] == 1
    assert _cancelled_events(api, instance) == []

    _post(api, path, api.admin, {"reason": "cannot be repaired"})
    [cancelled] = _cancelled_events(api, instance)
    assert (cancelled["element_id"], cancelled["task_id"]) == (
        "accept",
        task(instance, "accept")["id"],
    )
    assert cancelled["payload"] == {"reason": "instance_cancelled"}
    aggregate(api.store)
    accept = _elements(api, "permit")["accept"]
    assert (accept["cancelled"], accept["running"]) == (1, 0)
    assert _named(api, "/v1/stats/roles")["clerk"]["running"] == 0


def test_moving_the_token_back_cancels_the_task_it_replaces(api: Api) -> None:
    assert api.deploy("fragile.bpmn").status_code == 201
    clara = api.user("clerk", "clara")
    instance = start(api, clara, "fragile", divisor=5)
    instance = complete(api, clara, instance, "first", note="done")
    check = task(instance, "check")["id"]
    moved = _post(
        api,
        f"/v1/instances/{instance['id']}/move",
        api.admin,
        {"from_element": "check", "to_element": "first", "reason": "Redo the figures."},
    )
    assert ready(moved) == ["first"]
    [cancelled] = _cancelled_events(api, instance)
    assert (cancelled["element_id"], cancelled["task_id"]) == ("check", check)
    assert cancelled["payload"] == {"reason": "token_moved"}
    aggregate(api.store)
    elements = _elements(api, "fragile")
    first = elements["first"]  # ready twice (the move reopened it), completed once
    assert (first["started"], first["completed"], first["running"]) == (2, 1, 1)
    assert (elements["check"]["cancelled"], elements["check"]["running"]) == (1, 0)


def test_a_terminate_end_event_cancels_the_other_branch(api: Api) -> None:
    assert api.deploy("loops.bpmn").status_code == 201
    clerk = api.user("clerk", "cai")
    instance = start(api, clerk, "first_answer_wins")
    letter = task(instance, "answer_by_letter")["id"]
    instance = complete(api, clerk, instance, "answer_by_phone")
    assert instance["status"] == "completed"
    [cancelled] = _cancelled_events(api, instance)
    assert (cancelled["element_id"], cancelled["task_id"]) == ("answer_by_letter", letter)
    assert cancelled["payload"] == {"reason": "instance_completed"}
    types = [e["type"] for e in _get(api, f"/v1/instances/{instance['id']}/events")["items"]]
    assert types[-2:] == ["task.cancelled", "instance.completed"]
    aggregate(api.store)
    elements = _elements(api, "first_answer_wins")
    assert (elements["answer_by_letter"]["cancelled"], elements["answer_by_letter"]["running"]) == (
        1,
        0,
    )
    assert (elements["answer_by_phone"]["completed"], elements["answer_by_phone"]["running"]) == (
        1,
        0,
    )


def test_a_completion_is_counted_with_the_task_row_it_closed_after_a_move(api: Api) -> None:
    """Defect: moving the token back to a completed task reopens it under the same id with a
    new task row; a completion counted after the move read the new row (ready since the move,
    due later, held by nobody), so its duration was 0, it was not overdue and its claimer kept
    holding it. It is counted with the row it closed, also by a rebuild."""
    clock = ManualClock(MONDAY)
    api.store.clock = clock
    assert api.deploy("fragile.bpmn").status_code == 201
    clara = api.user("clerk", "clara")
    instance = start(api, clara, "fragile", divisor=5)
    _post(api, f"/v1/tasks/{task(instance, 'first')['id']}/claim", clara)
    clock.advance(3 * DAY)  # 'first' is due within two days: late
    instance = complete(api, clara, instance, "first", note="done")
    clock.advance(HOUR)
    moved = _post(
        api,
        f"/v1/instances/{instance['id']}/move",
        api.admin,
        {"from_element": "check", "to_element": "first", "reason": "Redo the figures."},
    )
    assert ready(moved) == ["first"]
    aggregate(api.store)  # after the move: the task's row is the reopened one

    def first() -> dict[str, Any]:
        return dict(_elements(api, "fragile")["first"])

    figures = first()
    assert (figures["started"], figures["completed"], figures["running"]) == (2, 1, 1)
    assert figures["durations"]["count"] == 1
    assert figures["durations"]["mean_seconds"] == 3 * DAY.total_seconds()
    assert figures["overdue"] == 1
    assert _named(api, "/v1/stats/people")["clara"]["running"] == 0  # she completed it

    clock.advance(timedelta(minutes=30))  # the reopened task, done in time
    complete(api, clara, moved, "first", note="redone")
    aggregate(api.store)
    figures = first()
    assert (figures["completed"], figures["running"], figures["overdue"]) == (2, 0, 1)
    assert figures["durations"]["mean_seconds"] == (3 * DAY + HOUR / 2).total_seconds() / 2
    people = _named(api, "/v1/stats/people")
    assert rebuild(api.store) > 0
    assert first() == figures
    assert _named(api, "/v1/stats/people") == people


def _fragile_for(role: str, tmp_path: Path) -> Path:
    """fragile.bpmn with its first task offered to ``role``."""
    xml = (DATA / "fragile.bpmn").read_text()
    xml = xml.replace(
        'xmlns:pf="urn:powerflow:bpmn:1.0"',
        'xmlns:pf="urn:powerflow:bpmn:1.0" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"',
    ).replace(
        '<bpmn:userTask id="first" name="Enter the figures">',
        f'<bpmn:userTask id="first" name="Enter the figures" camunda:candidateGroups="{role}">',
    )
    path = tmp_path / f"fragile_{role}.bpmn"
    path.write_text(xml)
    return path


def test_a_migration_moves_a_running_task_to_the_roles_of_its_new_version(
    api: Api, tmp_path: Path
) -> None:
    """Defect: migrating an instance relabels its open task with the new version's roles, but
    the statistics kept it running for the roles it became ready for: the old role's running
    never came down, and the new role's went below zero when the task completed."""
    assert api.deploy(_fragile_for("clerk", tmp_path)).status_code == 201
    clara, rita = api.user("clerk", "clara"), api.user("reviewer", "rita")
    instance = start(api, clara, "fragile", divisor=5)
    aggregate(api.store)
    assert _named(api, "/v1/stats/roles")["clerk"]["running"] == 1
    assert api.deploy(_fragile_for("reviewer", tmp_path)).status_code == 201
    done = _post(
        api,
        f"/v1/instances/{instance['id']}/migrate",
        api.admin,
        {"to_version": 2, "reason": "reviewers enter the figures now"},
    )
    moved = done["instance"]
    assert task(moved, "first")["id"] == task(instance, "first")["id"]  # the same task
    assert task(moved, "first")["roles"] == ["reviewer"]
    aggregate(api.store)
    roles = _named(api, "/v1/stats/roles")
    assert (roles["clerk"]["running"], roles["reviewer"]["running"]) == (0, 1)
    assert (roles["clerk"]["started"], roles["clerk"]["cancelled"]) == (1, 0)  # as it was
    assert _elements(api, "fragile")["first"]["running"] == 1

    complete(api, rita, moved, "first", note="done")
    aggregate(api.store)
    roles = _named(api, "/v1/stats/roles")
    assert (roles["clerk"]["running"], roles["reviewer"]["running"]) == (0, 0)
    assert (roles["clerk"]["completed"], roles["reviewer"]["completed"]) == (0, 1)
    assert rebuild(api.store) > 0
    assert _named(api, "/v1/stats/roles") == roles
