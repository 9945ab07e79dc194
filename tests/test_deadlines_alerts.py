"""Deadlines, clock pauses, the alert loop and the alerts API, on a controlled clock.

Time never passes by sleeping: ``api.store.clock`` is a ManualClock and the alert loop is run by
hand (``raise_due_alerts``), as often as a test wants, at the time it wants.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, select

from conftest import DATA, Api
from flows import complete, events, read, start
from powerflow.clock import ManualClock
from powerflow.db.engine import Store
from powerflow.db.models import Alert
from powerflow.periodic import Backoff
from powerflow.services.power import alert_loop
from powerflow.services.power.alert_loop import raise_due_alerts
from powerflow.services.power.profiles import forget_cached
from powerflow.workers import AlertWorker

MONDAY = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 2 March 2026, 09:00 in Shanghai


def _end_of_local_day(y: int, m: int, d: int) -> str:
    """24:00 in Shanghai of the given day, as the API writes it (UTC)."""
    return (datetime(y, m, d, 16, 0, tzinfo=UTC)).isoformat().replace("+00:00", "Z")


@pytest.fixture
def clock(api: Api) -> ManualClock:
    forget_cached()
    manual = ManualClock(MONDAY)
    api.store.clock = manual
    deployed = api.deploy("deadlines.bpmn")
    assert deployed.status_code == 201, deployed.text
    return manual


def _alerts(api: Api, headers: dict[str, str] | None = None, **params: Any) -> list[dict[str, Any]]:
    got = api.client.get("/v1/alerts", headers=headers or api.admin, params=params)
    assert got.status_code == 200, got.text
    items: list[dict[str, Any]] = got.json()["items"]
    return items


def _kinds(api: Api, instance: dict[str, Any]) -> list[str]:
    return [t for t, _ in events(api, instance)]


def _loop(api: Api) -> int:
    return raise_due_alerts(api.store)


def test_due_dates_of_tasks_and_cases_in_working_days(api: Api, clock: ManualClock) -> None:
    clerk = api.user("clerk")
    instance = start(api, clerk, "permit")
    # P5D working from a Monday: the end of the following Monday (local); P2D: Wednesday.
    assert instance["promised_due_at"] == _end_of_local_day(2026, 3, 9)
    assert instance["statutory_due_at"] == _end_of_local_day(2026, 3, 30)  # P20D working
    assert instance["clock_paused"] is False and instance["alert_level"] is None
    [accept] = instance["tasks"]
    assert accept["due_at"] == _end_of_local_day(2026, 3, 4)
    assert accept["overdue"] is False and accept["alert_level"] is None


def test_a_process_without_limits_has_no_due_dates(api: Api) -> None:
    assert api.deploy("three_tasks.bpmn").status_code == 201
    instance = start(api, api.user("clerk"), "three_tasks")
    assert instance["promised_due_at"] is None and instance["tasks"][0]["due_at"] is None
    with api.store.begin(write=False) as conn:
        row = conn.exec_driver_sql(
            "SELECT next_alert_at FROM instances WHERE id = ?"
            if conn.dialect.name == "sqlite"
            else "SELECT next_alert_at FROM instances WHERE id = %s",
            (instance["id"],),
        ).first()
    assert row is not None and row[0] is None


def test_each_threshold_is_raised_exactly_once(api: Api, clock: ManualClock) -> None:
    clerk = api.user("clerk")
    instance = start(api, clerk, "permit")
    assert _loop(api) == 0  # nothing due on Monday morning
    # Tuesday 24:00 local = one working day before the step's Wednesday deadline: prompt.
    clock.set(datetime(2026, 3, 3, 16, 0, 1, tzinfo=UTC))
    assert _loop(api) == 1
    assert _loop(api) == 0  # the second pass finds nothing new
    clock.set(datetime(2026, 3, 4, 16, 0, 1, tzinfo=UTC))  # the step deadline passes: yellow
    assert _loop(api) == 1 and _loop(api) == 0
    levels = sorted((a["level"], a["reason"]) for a in _alerts(api, instance_id=instance["id"]))
    assert levels == [("prompt", "step_limit_approaching"), ("yellow", "step_limit_passed")]
    # Friday 24:00 local: one working day before the promised Monday: the case's prompt.
    clock.set(datetime(2026, 3, 6, 16, 0, 1, tzinfo=UTC))
    assert _loop(api) == 1
    clock.set(datetime(2026, 3, 9, 16, 0, 1, tzinfo=UTC))
    assert _loop(api) == 1 and _loop(api) == 0
    clock.set(datetime(2026, 3, 30, 15, 59, tzinfo=UTC))
    assert _loop(api) == 0
    clock.set(datetime(2026, 3, 30, 16, 0, tzinfo=UTC))  # the statutory deadline: red
    assert _loop(api) == 1 and _loop(api) == 0
    clock.advance(timedelta(days=60))
    assert _loop(api) == 0  # every threshold has been crossed: nothing is ever raised again
    alerts = _alerts(api, instance_id=instance["id"])
    assert len(alerts) == 5
    case_alerts = [a for a in alerts if a["task_id"] is None]
    assert sorted(a["reason"] for a in case_alerts) == [
        "promised_limit_approaching",
        "promised_limit_passed",
        "statutory_limit_passed",
    ]
    assert _kinds(api, instance).count("alert.raised") == 5
    now = read(api, instance)
    assert now["alert_level"] == "red"
    [task] = now["tasks"]
    assert task["alert_level"] == "yellow" and task["overdue"] is True


def test_a_crossing_while_down_is_raised_at_the_next_start(api: Api, clock: ManualClock) -> None:
    instance = start(api, api.user("clerk"), "permit")
    clock.set(datetime(2026, 3, 20, tzinfo=UTC))  # everything passed while nobody looked
    # A new loop (fresh backoff, fresh store on the same database) over the old rows.
    other = Store(str(api.store.engine.url.render_as_string(hide_password=False)))
    other.clock = clock
    try:
        assert raise_due_alerts(other, backoff=Backoff()) == 4
        assert raise_due_alerts(other, backoff=Backoff()) == 0
    finally:
        other.dispose()
    assert _loop(api) == 0
    assert len(_alerts(api, instance_id=instance["id"])) == 4


def test_two_loops_at_once_raise_each_crossing_once(api: Api, clock: ManualClock) -> None:
    clerk = api.user("clerk")
    started = [start(api, clerk, "permit") for _ in range(6)]
    clock.set(datetime(2026, 3, 20, tzinfo=UTC))
    url = api.store.engine.url.render_as_string(hide_password=False)
    stores = [Store(url) for _ in range(2)]
    counts: list[int] = []
    barrier = threading.Barrier(2)

    def run(store: Store) -> None:
        store.clock = clock
        barrier.wait()
        counts.append(raise_due_alerts(store))

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        for s in stores:
            s.dispose()
    assert sum(counts) == 6 * 4, counts
    with api.store.read() as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 6 * 4
    for instance in started:
        assert _kinds(api, instance).count("alert.raised") == 4


def test_alerts_resolve_when_the_task_completes_and_the_case_ends(
    api: Api, clock: ManualClock
) -> None:
    clerk = api.user("clerk")
    instance = start(api, clerk, "permit")
    clock.set(datetime(2026, 3, 5, tzinfo=UTC))  # step prompt and yellow
    assert _loop(api) == 2
    after = complete(api, clerk, instance, "accept")
    assert after["alert_level"] is None
    resolved = _alerts(api, instance_id=instance["id"], state="resolved")
    assert {a["resolution"] for a in resolved} == {"task_completed"} and len(resolved) == 2
    assert _kinds(api, instance).count("alert.resolved") == 2
    # The case's own alerts resolve when it ends (here: cancelled by its starter).
    complete(api, clerk, after, "supplement")
    clock.set(datetime(2026, 3, 31, tzinfo=UTC))
    assert _loop(api) >= 2
    cancelled = api.client.post(
        f"/v1/instances/{instance['id']}/cancel", headers=clerk, json={"reason": "withdrawn"}
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["alert_level"] is None
    assert not _alerts(api, instance_id=instance["id"], state="open")
    resolutions = {a["resolution"] for a in _alerts(api, instance_id=instance["id"])}
    assert "instance_cancelled" in resolutions


def test_a_pause_stops_the_case_clock_and_moves_its_deadline(api: Api, clock: ManualClock) -> None:
    clerk = api.user("clerk")
    instance = start(api, clerk, "permit")
    promised = instance["promised_due_at"]
    paused = complete(api, clerk, instance, "accept")  # Monday 09:00: supplementation starts
    assert paused["clock_paused"] is True
    assert "clock.paused" in _kinds(api, instance)
    # Paused over the promised deadline: no case alert while the clock stands still.
    # Monday 09:00 to Thursday of the next week 09:00: 8 working days (the weekend not counted).
    clock.set(datetime(2026, 3, 12, 1, 0, tzinfo=UTC))
    assert _loop(api) == 0
    resumed = complete(api, clerk, paused, "supplement")
    assert resumed["clock_paused"] is False
    moved = datetime.fromisoformat(resumed["promised_due_at"])
    before = datetime.fromisoformat(promised)
    # Moved by eight working days: from Monday 9 March 24:00 to Thursday 19 March 24:00.
    assert moved - before == timedelta(days=10)
    assert resumed["promised_due_at"] == _end_of_local_day(2026, 3, 19)
    payloads = [
        e["payload"]
        for e in api.client.get(
            f"/v1/instances/{instance['id']}/events", headers=api.admin, params={"limit": 500}
        ).json()["items"]
        if e["type"] == "clock.resumed"
    ]
    assert payloads and payloads[0]["promised_due_at"] == moved.isoformat()
    _loop(api)  # the 4-hour "decide" task's own prompt, at once; nothing for the case yet

    def case_alerts() -> list[str]:
        return [a["reason"] for a in _alerts(api, instance_id=instance["id"]) if not a["task_id"]]

    assert case_alerts() == []
    clock.set(datetime(2026, 3, 18, 15, 59, tzinfo=UTC))
    _loop(api)
    assert case_alerts() == []
    clock.set(datetime(2026, 3, 18, 16, 0, 1, tzinfo=UTC))  # one working day before: prompt
    _loop(api)
    assert case_alerts() == ["promised_limit_approaching"]


def test_acknowledge_needs_monitor_or_admin_and_an_open_alert(api: Api, clock: ManualClock) -> None:
    clerk = api.user("clerk")
    instance = start(api, clerk, "permit")
    clock.set(datetime(2026, 3, 5, tzinfo=UTC))
    _loop(api)
    [alert, *_] = _alerts(api, instance_id=instance["id"])
    url = f"/v1/alerts/{alert['id']}/acknowledge"
    refused = api.client.post(url, headers=clerk, json={"comment": "seen"})
    assert refused.status_code == 403, refused.text
    monitor = api.user("monitor", "watcher")
    done = api.client.post(url, headers=monitor, json={"comment": "Asked the office to hurry"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["state"] == "acknowledged" and body["acknowledged_by"] == "watcher"
    again = api.client.post(url, headers=monitor, json={})
    assert again.status_code == 409 and "acknowledged" in again.json()["detail"]
    assert "alert.acknowledged" in _kinds(api, instance)
    # Acknowledged alerts still resolve when their task closes.
    complete(api, clerk, read(api, instance), "accept")
    assert api.client.get(f"/v1/alerts/{alert['id']}", headers=monitor).json()["state"] == (
        "resolved"
    )


def test_who_sees_which_alerts(api: Api, clock: ManualClock) -> None:
    starter = api.user("clerk", "starter")
    instance = start(api, starter, "permit")
    clock.set(datetime(2026, 3, 5, tzinfo=UTC))
    _loop(api)
    [alert, *_] = _alerts(api, instance_id=instance["id"])
    stranger = api.user("outsider")
    monitor = api.user("monitor")
    auditor = api.user("auditor")
    for who, sees in ((starter, True), (stranger, False), (monitor, True), (auditor, True)):
        listed = [a["id"] for a in _alerts(api, who, instance_id=instance["id"])]
        assert (alert["id"] in listed) is sees
        one = api.client.get(f"/v1/alerts/{alert['id']}", headers=who)
        assert one.status_code == (200 if sees else 404)
    missing = api.client.get("/v1/alerts/999999", headers=stranger)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "Alert 999999 does not exist."
    hidden = api.client.get(f"/v1/alerts/{alert['id']}", headers=stranger).json()["detail"]
    assert hidden == f"Alert {alert['id']} does not exist."
    # The role filter (a JSON array match, per dialect).
    assert [a["id"] for a in _alerts(api, role="clerk", instance_id=instance["id"])]
    assert not _alerts(api, role="nobody", instance_id=instance["id"])
    assert _alerts(api, level="prompt", state="open", definition_key="permit")
    assert not _alerts(api, since="2030-01-01T00:00:00Z")


def test_task_filters_overdue_and_alert_level(api: Api, clock: ManualClock) -> None:
    clerk = api.user("clerk")
    late = start(api, clerk, "permit")
    clock.set(datetime(2026, 3, 5, tzinfo=UTC))  # the first task's step deadline has passed
    _loop(api)
    fresh = start(api, clerk, "permit")

    def ids(**params: Any) -> set[str]:
        got = api.client.get("/v1/tasks", headers=api.admin, params={"limit": 500, **params})
        assert got.status_code == 200, got.text
        return {t["instance_id"] for t in got.json()["items"]}

    assert ids(overdue="true") == {late["id"]}
    assert ids(overdue="false", state="ready") == {fresh["id"]}
    assert ids(alert_level="yellow") == {late["id"]}
    assert ids(alert_level="red") == set()
    bad = api.client.get("/v1/tasks?alert_level=purple", headers=api.admin)
    assert bad.status_code == 422


def test_alert_profiles_are_seeded_and_edited_by_admins(api: Api, clock: ManualClock) -> None:
    clerk = api.user("clerk")
    got = api.client.get("/v1/alert-profiles", headers=clerk)
    assert got.status_code == 200
    assert {p["name"] for p in got.json()} >= {"two-tier", "deadline-approach", "cards"}
    body = {
        "description": "red as soon as a step is late",
        "thresholds": [{"level": "red", "limit": "step", "offset": "PT0S"}],
        "rule_levels": {"warn": "yellow", "block": "red"},
    }
    assert api.client.put("/v1/alert-profiles/strict", headers=clerk, json=body).status_code == 403
    created = api.client.put("/v1/alert-profiles/strict", headers=api.admin, json=body)
    assert created.status_code == 201, created.text
    body["description"] = "changed"
    assert (
        api.client.put("/v1/alert-profiles/strict", headers=api.admin, json=body).status_code == 200
    )
    one = api.client.get("/v1/alert-profiles/strict", headers=clerk).json()
    assert one["description"] == "changed" and one["thresholds"][0]["level"] == "red"
    wrong = dict(body, thresholds=[{"level": "red", "limit": "step", "offset": "soon"}])
    refused = api.client.put("/v1/alert-profiles/strict", headers=api.admin, json=wrong)
    assert refused.status_code == 422
    assert api.client.get("/v1/alert-profiles/none", headers=clerk).status_code == 404
    # A process using the edited profile: one red alert when the step passes, no prompt.
    xml = (api_data := __import__("conftest").DATA / "deadlines.bpmn").read_text()
    strict = xml.replace('name="two-tier"', 'name="strict"').replace('id="permit"', 'id="strict"')
    path = api_data.parent / "strict.bpmn"
    tmp = path.with_name(f"strict-{id(api)}.bpmn")
    tmp.write_text(strict)
    try:
        assert api.deploy(tmp).status_code == 201
    finally:
        tmp.unlink()
    instance = start(api, clerk, "strict")
    clock.set(datetime(2026, 3, 5, tzinfo=UTC))
    _loop(api)
    levels = [a["level"] for a in _alerts(api, instance_id=instance["id"]) if a["task_id"]]
    assert levels == ["red"]


def test_working_day_limits_skip_a_holiday_and_count_a_make_up_day(api: Api) -> None:
    forget_cached()
    # Tuesday 30 September 2025, 10:00 in Shanghai: the National Day holiday runs 1-8 October
    # and Saturday 11 October is a make-up working day.
    api.store.clock = ManualClock(datetime(2025, 9, 30, 2, 0, tzinfo=UTC))
    assert api.deploy("deadlines.bpmn").status_code == 201
    instance = start(api, api.user("clerk"), "permit")
    assert instance["tasks"][0]["due_at"] == _end_of_local_day(2025, 10, 10)  # Thu 9, Fri 10
    # Five working days: 9, 10, 11 (the make-up Saturday), 13, 14 October.
    assert instance["promised_due_at"] == _end_of_local_day(2025, 10, 14)


def _extend(api: Api, headers: dict[str, str], instance: dict[str, Any], **body: Any) -> Any:
    return api.client.post(
        f"/v1/instances/{instance['id']}/deadline-extensions", headers=headers, json=body
    )


def test_extensions_are_bounded_and_approved_by_the_declared_role(
    api: Api, clock: ManualClock
) -> None:
    starter = api.user("clerk")
    instance = start(api, starter, "permit")
    statutory = datetime.fromisoformat(instance["statutory_due_at"])
    why = {"limit": "statutory", "reason": "expert opinion needed"}
    assert _extend(api, starter, instance, duration="P4D", **why).status_code == 403
    stranger = api.user("outsider")  # no role of the case's tasks, never acted on it
    hidden = _extend(api, stranger, instance, duration="P4D", **why)
    assert hidden.status_code == 404 and "does not exist" in hidden.json()["detail"]
    principal = api.user("principal", "head")
    done = _extend(api, principal, instance, duration="P4D", **why)
    assert done.status_code == 200, done.text
    # Monday 30 March 24:00 plus four working days: Friday 3 April 24:00.
    assert done.json()["statutory_due_at"] == _end_of_local_day(2026, 4, 3)
    assert datetime.fromisoformat(done.json()["statutory_due_at"]) > statutory
    too_long = _extend(api, principal, instance, duration="P7D", **why)
    assert too_long.status_code == 422 and "P10D in total" in too_long.json()["detail"]
    rest = _extend(api, api.admin, instance, duration="P6D", **why)
    assert rest.status_code == 200, rest.text
    assert _extend(api, api.admin, instance, duration="PT1H", **why).status_code == 422
    promised = _extend(api, api.admin, instance, limit="promised", duration="P1D", reason="x")
    assert promised.status_code == 409 and "cannot be extended" in promised.json()["detail"]
    extended = [
        e
        for e in api.client.get(
            f"/v1/instances/{instance['id']}/events", headers=api.admin, params={"limit": 500}
        ).json()["items"]
        if e["type"] == "deadline.extended"
    ]
    assert [(e["actor"], e["payload"]["approver_role"]) for e in extended] == [
        ("head", "principal"),
        (extended[1]["actor"], "admin"),
    ]
    assert extended[0]["payload"]["reason"] == "expert opinion needed"


def test_a_step_extension_resolves_its_alerts_and_restarts_the_thresholds(
    api: Api, clock: ManualClock
) -> None:
    clerk = api.user("clerk")
    instance = start(api, clerk, "permit")
    task_id = instance["tasks"][0]["id"]
    clock.set(datetime(2026, 3, 4, 16, 0, 1, tzinfo=UTC))  # the step deadline passes
    assert _loop(api) == 2  # prompt and yellow
    no_task = _extend(api, api.admin, instance, limit="step", duration="P1D", reason="x")
    assert no_task.status_code == 422
    done = _extend(
        api, api.admin, instance, limit="step", task_id=task_id, duration="P1D", reason="sick"
    )
    assert done.status_code == 200, done.text
    [task] = done.json()["tasks"]
    assert task["due_at"] == _end_of_local_day(2026, 3, 5)
    assert task["alert_level"] is None and task["overdue"] is False
    assert done.json()["alert_level"] is None
    resolved = _alerts(api, instance_id=instance["id"], state="resolved")
    assert {a["resolution"] for a in resolved} == {"deadline_extended"} and len(resolved) == 2
    # The thresholds start over from the new deadline: prompt at once (one day left), then yellow.
    assert _loop(api) == 1
    clock.set(datetime(2026, 3, 5, 16, 0, 1, tzinfo=UTC))
    assert _loop(api) == 1
    open_now = _alerts(api, instance_id=instance["id"], state="open")
    assert sorted(a["level"] for a in open_now) == ["prompt", "yellow"]
    twice = _extend(
        api, api.admin, instance, limit="step", task_id=task_id, duration="P1D", reason="again"
    )
    assert twice.status_code == 422  # extendable="P1D" is used up


def test_one_failing_item_does_not_stop_the_others(
    api: Api, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    clerk = api.user("clerk")
    broken, fine = start(api, clerk, "permit"), start(api, clerk, "permit")
    broken_task = broken["tasks"][0]["id"]
    real = alert_loop.task_times

    def failing(calendar: Any, plan: Any, task: Any, profile: Any) -> Any:
        if task.id == broken_task:
            raise RuntimeError("this task's thresholds cannot be computed")
        return real(calendar, plan, task, profile)

    monkeypatch.setattr(alert_loop, "task_times", failing)
    clock.set(datetime(2026, 3, 5, tzinfo=UTC))
    backoff = Backoff()
    raise_due_alerts(api.store, backoff=backoff)
    assert len([a for a in _alerts(api, instance_id=fine["id"]) if a["task_id"]]) == 2
    assert not [a for a in _alerts(api, instance_id=broken["id"]) if a["task_id"]]
    assert ("task", broken_task) in backoff.waiting()  # retried later, not in a hot loop
    monkeypatch.setattr(alert_loop, "task_times", real)
    raise_due_alerts(api.store)  # a fresh loop (say, after a restart) raises it
    assert len([a for a in _alerts(api, instance_id=broken["id"]) if a["task_id"]]) == 2


def test_the_worker_waits_until_the_next_threshold_or_its_poll(
    api: Api, clock: ManualClock
) -> None:
    start(api, api.user("clerk"), "permit")
    worker = AlertWorker(api.store, interval=1.0)  # not started: one pass by hand
    worker._pass()
    assert worker.interval == 1.0  # the next threshold is a day away: poll as configured
    clock.set(datetime(2026, 3, 3, 16, 0, 0, tzinfo=UTC) - timedelta(seconds=0.25))
    worker._pass()
    assert worker.interval == pytest.approx(0.25)  # the step's prompt is 250 ms away


def test_a_process_without_limits_never_touches_alerts_or_the_calendar(api: Api) -> None:
    assert api.deploy("three_tasks.bpmn").status_code == 201
    clerk = api.user("clerk,clerk-office")
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.lower())

    instance = start(api, clerk, "three_tasks")
    sqlalchemy_event.listen(api.store.engine, "before_cursor_execute", record)
    try:
        instance = complete(api, clerk, instance, instance["tasks"][0]["element_id"])
        start(api, clerk, "three_tasks")
        read(api, instance)  # an ORM read: proves the listener sees statements run through Core
    finally:
        sqlalchemy_event.remove(api.store.engine, "before_cursor_execute", record)
    assert statements
    tables = re.compile(r"\b(from|update|into|join)\s+(alerts|alert_profiles|calendar_days)\b")
    touched = [s for s in statements if tables.search(s)]
    assert not touched, touched


def test_a_suspended_case_raises_nothing_until_it_resumes(api: Api, clock: ManualClock) -> None:
    instance = start(api, api.user("clerk"), "permit")
    monitor = api.user("monitor")
    url = f"/v1/instances/{instance['id']}"
    assert api.client.post(f"{url}/suspend", headers=monitor, json={}).status_code == 200
    clock.set(datetime(2026, 3, 5, tzinfo=UTC))
    assert _loop(api) == 0
    assert api.client.post(f"{url}/resume", headers=monitor, json={}).status_code == 200
    assert _loop(api) == 2  # the step's prompt and yellow, late but once


def test_clock_pause_and_alert_profile_in_the_schema_and_at_upload(api: Api) -> None:
    from lxml import etree

    from conftest import ROOT

    schema = etree.XMLSchema(etree.parse(str(ROOT / "api" / "powerflow-bpmn-extensions.xsd")))
    ns = 'xmlns:pf="urn:powerflow:bpmn:1.0"'
    for good in (
        f'<pf:clockPause {ns} reason="waiting for the applicant"/>',
        f"<pf:clockPause {ns}/>",
        f'<pf:alertProfile {ns} name="cards"/>',
    ):
        assert schema.validate(etree.fromstring(good)), good
    for bad in (f"<pf:alertProfile {ns}/>", f'<pf:clockPause {ns} reason=""/>'):
        assert not schema.validate(etree.fromstring(bad)), bad
    xml = (ROOT / "tests" / "data" / "deadlines.bpmn").read_text()
    misplaced = xml.replace(
        '<pf:alertProfile name="two-tier"/>',
        '<pf:alertProfile name="two-tier"/><pf:clockPause/>',
    ).replace('<pf:clockPause reason="waiting for the applicant (supplementation)"/>', "")
    refused = api.client.post(
        "/v1/definitions",
        headers=api.user("designer"),
        files={"file": ("m.bpmn", misplaced.encode())},
    )
    assert refused.status_code == 422, refused.text
    assert "pf:clockPause belongs on an activity" in refused.text
    deployed = api.deploy("deadlines.bpmn").json()["definitions"][0]
    catalog = api.client.get(f"/v1/definitions/{deployed['key']}", headers=api.admin).json()[0]
    assert catalog["metadata"]["alert_profile"] == "two-tier"


def _upload(api: Api, xml: str) -> Any:
    return api.client.post(
        "/v1/definitions", headers=api.user("designer"), files={"file": ("t.bpmn", xml.encode())}
    )


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ('duration="P99999999D" calendar="working"', "too long"),
        ('duration="P99999999D" calendar="calendar"', "too long"),
        ('duration="P99999999999D"', "too long"),
        ('duration="P5000D" calendar="working"', "too long"),
        ('duration="P0.5D" calendar="working"', "whole days"),
        ('duration="P5D" calendar="working" extendable="P99999999D"', "too long"),
        ('duration="P5D" calendar="working" extendable="P1M"', "months"),
    ],
)
def test_time_limits_that_cannot_be_counted_are_refused_at_upload(
    api: Api, attribute: str, expected: str
) -> None:
    xml = (DATA / "deadlines.bpmn").read_text()
    bad = xml.replace('duration="P2D" calendar="working" extendable="P1D"', attribute)
    assert bad != xml
    refused = _upload(api, bad)
    assert refused.status_code == 422, refused.text
    assert expected in refused.text


def test_a_limit_that_cannot_be_counted_is_a_clear_error_not_a_500() -> None:
    from powerflow.services.errors import Conflict
    from powerflow.services.power.calendar import BusinessCalendar
    from powerflow.services.power.deadlines import due_from

    calendar = BusinessCalendar()
    with pytest.raises(ValueError, match="too long"):
        calendar.add(MONDAY, "P99999999D", working=False)
    with pytest.raises(ValueError, match="whole"):
        calendar.add(MONDAY, "P0.5D", working=True)
    with pytest.raises(Conflict, match="P99999999D"):
        due_from(calendar, MONDAY, {"duration": "P99999999D", "calendar": "calendar"})


@pytest.mark.parametrize(
    ("offset", "expected"),
    [("-P1M", "months"), ("P1Y", "months"), ("-P99999999D", "too long"), ("P0.5D", "whole")],
)
def test_alert_profile_offsets_are_checked_like_working_durations(
    api: Api, clock: ManualClock, offset: str, expected: str
) -> None:
    body = {"thresholds": [{"level": "red", "limit": "step", "offset": offset}]}
    refused = api.client.put("/v1/alert-profiles/bad", headers=api.admin, json=body)
    assert refused.status_code == 422, refused.text
    assert expected in refused.json()["detail"]
    fine = dict(body, thresholds=[{"level": "red", "limit": "step", "offset": "-PT12H"}])
    assert api.client.put("/v1/alert-profiles/bad", headers=api.admin, json=fine).status_code == 201


@pytest.mark.parametrize(
    ("duration", "expected"),
    [("P99999999999D", "too long"), ("P1M", "months"), ("P0.5D", "whole days")],
)
def test_extensions_are_checked_like_the_limits_calendar(
    api: Api, clock: ManualClock, duration: str, expected: str
) -> None:
    instance = start(api, api.user("clerk"), "permit")
    why = {"limit": "statutory", "reason": "expert opinion needed"}
    refused = _extend(api, api.admin, instance, duration=duration, **why)
    assert refused.status_code == 422, refused.text
    assert expected in refused.json()["detail"]
    assert "deadline.extended" not in _kinds(api, instance)


@pytest.mark.parametrize("route", ["/v1/alerts", "/v1/violations"])
def test_since_and_until_need_an_offset_and_a_sane_year(
    api: Api, clock: ManualClock, route: str
) -> None:
    for bad in (
        "2026-01-01",
        "2026-01-01T00:00:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:00:00-14:00",
    ):
        for name in ("since", "until"):
            got = api.client.get(route, headers=api.admin, params={name: bad})
            assert got.status_code == 422, (name, bad, got.text)
            assert got.headers["content-type"].startswith("application/problem+json")
    fine = {"since": "2026-03-01T08:00:00+08:00", "until": "2026-03-10T00:00:00Z"}
    assert api.client.get(route, headers=api.admin, params=fine).status_code == 200


def test_since_filters_alerts_by_the_instant_whatever_the_offset(
    api: Api, clock: ManualClock
) -> None:
    instance = start(api, api.user("clerk"), "permit")
    clock.set(datetime(2026, 3, 5, tzinfo=UTC))
    assert _loop(api) == 2
    # 08:00 in Shanghai on 5 March is 00:00 UTC: the alerts were raised at that instant.
    assert len(_alerts(api, instance_id=instance["id"], since="2026-03-05T08:00:00+08:00")) == 2
    assert not _alerts(api, instance_id=instance["id"], since="2026-03-05T08:00:01+08:00")


def test_the_worker_does_not_poll_fast_for_rows_the_loop_skips(
    api: Api, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from powerflow.services.incidents import fail_instance

    clerk = api.user("clerk")
    suspended, failed, broken = (start(api, clerk, "permit") for _ in range(3))
    monitor = api.user("monitor")
    url = f"/v1/instances/{suspended['id']}/suspend"
    assert api.client.post(url, headers=monitor, json={}).status_code == 200
    assert fail_instance(api.store, failed["id"], actor="test", message="engine error")
    broken_task = broken["tasks"][0]["id"]
    real = alert_loop.task_times

    def failing(calendar: Any, plan: Any, task: Any, profile: Any) -> Any:
        if task.id == broken_task:
            raise RuntimeError("this task's thresholds cannot be computed")
        return real(calendar, plan, task, profile)

    monkeypatch.setattr(alert_loop, "task_times", failing)
    # Every case's step prompt is past; only the broken one is taken, fails and waits.
    clock.set(datetime(2026, 3, 4, 0, 0, tzinfo=UTC))
    worker = AlertWorker(api.store, interval=1.0)  # not started: passes by hand
    worker._pass()
    assert ("task", broken_task) in worker.backoff.waiting()
    worker._pass()
    # Nothing the loop would take is due: wait the poll, not 5 ms (200 passes a second).
    assert worker.interval == 1.0
    assert (
        api.client.post(
            f"/v1/instances/{suspended['id']}/resume", headers=monitor, json={}
        ).status_code
        == 200
    )
    worker._pass()
    assert worker.interval == 1.0  # the resumed case's alerts were raised in that pass
    assert _alerts(api, instance_id=suspended["id"])


def test_rule_alerts_stay_open_when_the_instance_ends(api: Api, tmp_path: Any) -> None:
    import rules_support as rs

    warn = (
        '<pf:rule id="W-END" kind="reason-required" effect="warn" variable="decision" '
        'values="rejected" reason="reason">A rejection needs its reason.</pf:rule>'
    )
    xml = rs.process_xml("p_end", prepare=warn, review=warn.replace("W-END", "W-END-2"))
    assert rs.deploy_xml(api, tmp_path, xml).status_code == 201
    maker = api.user("clerk,preparer", "maker")
    checker = api.user("clerk,reviewer", "checker")
    cancelled = rs.start(api, maker, "p_end")
    done = rs.complete(api, maker, cancelled["tasks"][0]["id"], decision="rejected")
    assert done.status_code == 200, done.text
    assert done.json()["alert_level"] == "yellow"
    # The person warned cancels the case: the rule alert stays for a monitor to see.
    url = f"/v1/instances/{cancelled['id']}/cancel"
    gone = api.client.post(url, headers=maker, json={"reason": "withdrawn"})
    assert gone.status_code == 200, gone.text
    assert gone.json()["alert_level"] == "yellow"
    [alert] = _alerts(api, instance_id=cancelled["id"])
    assert alert["state"] == "open" and alert["source"] == "rule"
    # A case that completes keeps its rule alert too; a monitor acknowledges it.
    finished = rs.start(api, maker, "p_end")
    assert rs.complete(api, maker, finished["tasks"][0]["id"]).status_code == 200
    review = api.client.get(
        f"/v1/tasks?instance_id={finished['id']}&state=ready", headers=api.admin
    ).json()["items"][0]
    last = rs.complete(api, checker, review["id"], decision="rejected")
    assert last.status_code == 200 and last.json()["status"] == "completed", last.text
    [alert] = _alerts(api, instance_id=finished["id"])
    assert alert["state"] == "open" and alert["source"] == "rule"
    acked = api.client.post(
        f"/v1/alerts/{alert['id']}/acknowledge", headers=api.user("monitor"), json={}
    )
    assert acked.status_code == 200, acked.text


def test_a_resumed_clock_resolves_the_alerts_of_the_moved_deadline(
    api: Api, clock: ManualClock
) -> None:
    clerk = api.user("clerk")
    instance = start(api, clerk, "permit")
    # Monday 9 March 10:00 local: the promised prompt (Friday 24:00) and the step's alerts.
    clock.set(datetime(2026, 3, 9, 2, 0, tzinfo=UTC))
    _loop(api)

    def case_alerts(state: str) -> list[dict[str, Any]]:
        found = _alerts(api, instance_id=instance["id"], state=state)
        return [a for a in found if not a["task_id"]]

    [old] = case_alerts("open")
    assert old["reason"] == "promised_limit_approaching"
    paused = complete(api, clerk, instance, "accept")  # the clock stops (supplementation)
    clock.set(datetime(2026, 3, 11, 2, 0, tzinfo=UTC))  # two working days later
    resumed = complete(api, clerk, paused, "supplement")
    assert resumed["promised_due_at"] == _end_of_local_day(2026, 3, 11)
    [gone] = case_alerts("resolved")
    assert gone["id"] == old["id"] and gone["resolution"] == "clock_resumed"
    _loop(api)
    # One prompt, against the new deadline (it is 14 working hours away), not two.
    [new] = case_alerts("open")
    assert new["reason"] == "promised_limit_approaching"
    assert new["deadline_at"] == resumed["promised_due_at"]
