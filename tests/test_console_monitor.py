"""The web console's monitor pages in a real headless Chromium against a real `powerflow serve`
(issue 11, third slice): the dashboard of open alerts, running instances, recent violations and
open supervision cases, updated live from the event stream (read with fetch, the token in the
Authorization header); a task turning overdue raises a red alert that shows up without a
reload, and the monitor acknowledges it; a clerk gets no dashboard link and the API's refusal.
axe-core runs on every page; screenshots go to test-artifacts/console/.

The helpers (Chromium, axe-core, the watched page) are test_console.py's and
test_console_clerk.py's; without Chromium the tests skip as those do."""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import ADMIN_TOKEN, DATA
from test_console import LAPTOP, TABLET, browser  # noqa: F401 (the browser fixture)
from test_console_clerk import Clerk, console_server, watched_pages

pytestmark = pytest.mark.e2e

PEOPLE = {
    "qian": ["monitor"],
    "lin": ["clerk", "licence-clerk", "grant-handler"],
    "zhou": ["clerk"],
}
RED_AT_THE_LIMIT = {
    "description": "red as soon as a step is late (console tests)",
    "thresholds": [{"level": "red", "limit": "step", "offset": "PT0S"}],
    "rule_levels": {"warn": "yellow", "block": "yellow"},
}
WAIT_MS = 25_000  # the step limit is 8 s; the alert loop and the stream poll every second


class Office:
    """A server with console_watch (an 8-second step limit, alert profile console-red) and
    console_grant deployed, a monitor and two clerks."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(base_url=url, timeout=30)
        self.admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        self.tokens: dict[str, str] = {}
        for name, roles in PEOPLE.items():
            got = self.client.post(
                "/v1/users", headers=self.admin, json={"name": name, "roles": roles}
            )
            assert got.status_code == 201, got.text
            self.tokens[name] = got.json()["token"]
        profile = self.client.put(
            "/v1/alert-profiles/console-red", headers=self.admin, json=RED_AT_THE_LIMIT
        )
        assert profile.status_code == 201, profile.text
        for name in ("console_watch.bpmn", "console_grant.bpmn"):
            deployed = self.client.post(
                "/v1/definitions",
                headers=self.admin,
                files={"file": (name, (DATA / name).read_bytes())},
            )
            assert deployed.status_code == 201, deployed.text

    def as_(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def inspecting(self, business_key: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """A console_watch case at its inspection (due 8 s from now): (instance, task)."""
        got = self.client.post(
            "/v1/instances",
            headers=self.as_("lin"),
            json={"definition_key": "console_watch", "business_key": business_key},
        )
        assert got.status_code == 201, got.text
        (register,) = got.json()["tasks"]
        done = self.client.post(
            f"/v1/tasks/{register['id']}/complete", headers=self.as_("lin"), json={"data": {}}
        )
        assert done.status_code == 200, done.text
        (inspect,) = done.json()["tasks"]
        assert inspect["element_id"] == "inspect" and inspect["due_at"]
        return done.json(), inspect

    def blocked_completion(self, business_key: str) -> dict[str, Any]:
        """A console_grant case whose first completion a rule blocks (a violation)."""
        got = self.client.post(
            "/v1/instances",
            headers=self.as_("lin"),
            json={"definition_key": "console_grant", "business_key": business_key},
        )
        assert got.status_code == 201, got.text
        (prepare,) = got.json()["tasks"]
        refused = self.client.post(
            f"/v1/tasks/{prepare['id']}/complete",
            headers=self.as_("lin"),
            json={
                "data": {"amount": 10, "purpose": "Chairs", "category": "equipment", "urgent": True}
            },
        )
        assert refused.status_code == 403, refused.text
        body: dict[str, Any] = got.json()
        return body

    def alerts(self, instance_id: str) -> list[dict[str, Any]]:
        got = self.client.get(
            "/v1/alerts", headers=self.as_("qian"), params={"instance_id": instance_id}
        )
        assert got.status_code == 200, got.text
        items: list[dict[str, Any]] = got.json()["items"]
        return items


@pytest.fixture(scope="module")
def office(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:  # noqa: F811
    with console_server(tmp_path_factory, "console-monitor") as url:
        o = Office(url)
        try:
            yield o
        finally:
            o.client.close()


@pytest.fixture
def person(browser: Any, office: Office) -> Iterator[Any]:  # noqa: F811
    """A factory of watched pages (``watched_pages``) on the office's server."""
    with watched_pages(browser, office.url) as new:
        yield new


def _mark_loaded(page: Clerk) -> None:
    """A flag a reload would wipe: the page must update without one."""
    page.page.evaluate("() => { window.pfNotReloaded = true; }")


def _not_reloaded(page: Clerk) -> bool:
    return bool(page.page.evaluate("() => window.pfNotReloaded === true"))


def test_a_monitor_sees_an_overdue_task_turn_red_live_and_acknowledges_the_alert(
    office: Office, person: Any
) -> None:
    office.blocked_completion("G-VIOLATION-1")
    instance, inspect = office.inspecting("W-1")
    other, _ = office.inspecting("W-2")
    qian = person()
    qian.expected = [(409, "/acknowledge")]
    qian.sign_in(office.tokens["qian"])
    account = qian.page.get_by_role("navigation", name="Your work")
    account.get_by_role("link", name="Dashboard").click()
    qian.page.get_by_role("heading", name="Dashboard", level=1).wait_for()
    qian.page.wait_for_selector(".live-state[data-state='live']")
    _mark_loaded(qian)

    # before the limit: the case runs, no alert on it yet
    row = qian.page.locator(f"table.running tr[data-instance='{instance['id']}']")
    assert row.get_by_role("link", name="W-1").count() == 1
    assert "Inspect the premises" in row.inner_text()
    assert "row-red" not in str(row.get_attribute("class"))
    assert office.alerts(instance["id"]) == []
    alerts = qian.page.locator("table.alerts tr[data-alert]")
    assert alerts.filter(has_text="W-1").count() == 0
    assert alerts.filter(has_text="G-VIOLATION-1").count() == 1  # the blocked rule's alert
    violations = qian.page.locator("table.violations tbody tr")
    assert violations.count() == 1 and "CG-URGENT" in violations.inner_text()
    qian.axe("dashboard")

    # a violation and a case appear while the page is open
    office.blocked_completion("G-VIOLATION-2")
    opened = office.client.post(
        "/v1/cases",
        headers=office.as_("qian"),
        json={"instance_id": other["id"], "title": "Inspections put off", "reason": "Two late."},
    )
    assert opened.status_code == 201, opened.text
    qian.page.locator(f"table.cases tr[data-case='{opened.json()['id']}']").wait_for()
    qian.page.wait_for_function(
        "() => document.querySelectorAll('table.violations tbody tr').length === 2"
    )

    # the limit passes: a red alert, the case's row turns red, without a reload
    red = qian.page.locator("table.alerts tr.row-red").filter(has_text="W-1")
    red.wait_for(timeout=WAIT_MS)
    row.and_(qian.page.locator(".row-red")).wait_for(timeout=WAIT_MS)
    assert _not_reloaded(qian)
    (alert,) = office.alerts(instance["id"])
    assert alert["level"] == "red" and alert["task_id"] == inspect["id"]
    cells = red.locator("th, td").all_inner_texts()
    assert cells[0] == "Red alert"
    assert cells[1] == alert["message"]
    assert cells[2] == "Inspect the premises"
    assert cells[3] == "W-1"
    assert red.get_attribute("data-alert") == str(alert["id"])
    assert red.locator("time").nth(0).get_attribute("datetime") == alert["deadline_at"]
    colour = red.locator(".alert-red").evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(179, 38, 30)"
    qian.page.locator("table.alerts tr.row-red").filter(has_text="W-2").wait_for(timeout=WAIT_MS)
    qian.shot("monitor-1-dashboard-red")
    qian.axe("dashboard with red alerts")

    # acknowledge it, with a comment
    red.get_by_role("button", name=f"Acknowledge alert {alert['id']}").click()
    form = qian.page.get_by_role("form", name="Acknowledge an alert")
    assert alert["message"] in form.inner_text()
    assert qian.page.evaluate("() => document.activeElement.id") == "ack-comment"
    qian.page.get_by_label("What was done or will be done (optional)").fill(
        "Phoned the inspector; the visit is tomorrow."
    )
    qian.shot("monitor-2-acknowledge")
    qian.axe("acknowledge form")
    form.get_by_role("button", name="Acknowledge the alert").click()
    qian.page.get_by_role("status").filter(has_text="You acknowledged alert").wait_for()
    qian.page.locator(f"tr[data-alert='{alert['id']}']").wait_for(state="detached")
    (acked,) = office.alerts(instance["id"])
    assert acked["state"] == "acknowledged" and acked["acknowledged_by"] == "qian"
    assert acked["acknowledge_comment"] == "Phoned the inspector; the visit is tomorrow."

    # someone else acknowledges W-2's alert first: the API's sentence, on the page
    (second,) = office.alerts(other["id"])
    qian.page.get_by_role("button", name=f"Acknowledge alert {second['id']}").click()
    first = office.client.post(
        f"/v1/alerts/{second['id']}/acknowledge", headers=office.admin, json={}
    )
    assert first.status_code == 200, first.text
    form.get_by_role("button", name="Acknowledge the alert").click()
    refused = qian.page.get_by_role("alert").filter(has_text="alert")
    refused.wait_for()
    again = office.client.post(
        f"/v1/alerts/{second['id']}/acknowledge", headers=office.admin, json={}
    )
    assert again.status_code == 409
    assert refused.inner_text() == again.json()["detail"]
    assert _not_reloaded(qian)
    qian.shot("monitor-3-acknowledge-refused")
    qian.axe("dashboard after acknowledging")
    assert qian.page.evaluate("() => document.cookie") == ""
    streams = [u for m, u, _ in qian.requests if "/v1/events/stream" in u]
    assert streams and all("token" not in u and "pf_" not in u for u in streams)


def test_a_clerk_has_no_dashboard_and_gets_the_apis_refusal(office: Office, person: Any) -> None:
    zhou = person()
    zhou.expected = [(403, "/v1/events/latest")]
    zhou.sign_in(office.tokens["zhou"])
    account = zhou.page.get_by_role("navigation", name="Your work")
    assert account.get_by_role("link", name="Dashboard").count() == 0
    zhou.goto("/console/#/monitor")
    alert = zhou.page.get_by_role("alert")
    direct = office.client.get("/v1/events/latest", headers=office.as_("zhou"))
    assert direct.status_code == 403
    assert alert.inner_text() == direct.json()["detail"]
    assert zhou.page.locator("table").count() == 0
    zhou.shot("monitor-4-clerk-refused")
    zhou.axe("dashboard refused")


def test_the_monitors_pages_on_a_tablet(office: Office, person: Any) -> None:
    instance, _ = office.inspecting("W-TABLET")
    qian = person(TABLET)
    qian.sign_in(office.tokens["qian"])
    for name, path, ready in (
        ("dashboard", "#/monitor", ".live-state[data-state='live']"),
        ("instance", f"#/instances/{instance['id']}", ".djs-container svg"),
        ("cases", "#/cases?state=all", "h1"),
        ("statistics", "#/stats", "h1"),
        ("process-statistics", "#/stats/console_watch", ".djs-container svg"),
    ):
        qian.goto(f"/console/{path}")
        qian.page.wait_for_selector(ready)
        wide = qian.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 0, f"the {name} page scrolls sideways at 768 px by {wide} px"
        assert "null" not in qian.text() and "undefined" not in qian.text()
        qian.shot(f"monitor-5-tablet-{name}")
        qian.axe(f"{name} at 768x1024")


def test_an_instance_page_marks_the_overdue_step_live_verifies_the_trail_and_opens_a_case(
    office: Office, person: Any
) -> None:
    instance, inspect = office.inspecting("W-3")
    qian = person()
    qian.expected = [(422, "/v1/cases")]
    qian.sign_in(office.tokens["qian"])
    qian.goto("/console/#/monitor")
    qian.page.locator(f"tr[data-instance='{instance['id']}']").get_by_role("link").click()
    qian.page.get_by_role("heading", name="Case W-3", level=1).wait_for()
    qian.page.wait_for_selector(".live-state[data-state='live']")
    _mark_loaded(qian)
    qian.page.wait_for_selector(".djs-element.pf-done[data-element-id='register']")
    qian.page.wait_for_selector(".djs-element.pf-current[data-element-id='inspect']")
    assert "console_watch (version 1)" in qian.text()
    verified = qian.page.locator("p.verified").inner_text()
    audit = office.client.get(f"/v1/instances/{instance['id']}/audit", headers=office.as_("qian"))
    assert audit.json()["verified"] is True
    assert f"each of its {len(audit.json()['events'])} recorded steps" in verified
    assert qian.page.locator("table.trail tbody tr").count() == len(audit.json()["events"])
    qian.axe("instance page")

    # the limit passes: the step turns red on the chart and the alert joins the trail, live
    qian.page.wait_for_selector(
        ".djs-element.pf-overdue[data-element-id='inspect']", timeout=WAIT_MS
    )
    qian.page.locator("table.trail tr[data-type='alert.raised']").wait_for(timeout=WAIT_MS)
    qian.page.locator(f"tr[data-task='{inspect['id']}'].row-red").wait_for()
    assert "Red alert" in qian.page.locator("dl.facts").inner_text()
    stroke = qian.page.locator(
        ".djs-element.pf-overdue[data-element-id='inspect'] .djs-visual > :first-child"
    ).evaluate("e => getComputedStyle(e).stroke")
    assert stroke == "rgb(179, 38, 30)"
    qian.shot("monitor-6-instance-overdue")
    # lin completes the inspection: the chart moves on, still without a reload
    done = office.client.post(
        f"/v1/tasks/{inspect['id']}/complete", headers=office.as_("lin"), json={"data": {}}
    )
    assert done.status_code == 200, done.text
    qian.page.wait_for_selector(".djs-element.pf-current[data-element-id='decide']")
    qian.page.wait_for_selector(".djs-element.pf-done[data-element-id='inspect']")
    assert _not_reloaded(qian)
    events = office.client.get(
        f"/v1/instances/{instance['id']}/events?limit=1000", headers=office.as_("qian")
    ).json()["items"]
    rows = qian.page.locator("table.trail tbody tr")
    assert rows.count() == len(events)  # each once, none missed
    assert [r.split("\t")[0] for r in rows.all_inner_texts()] == [str(e["seq"]) for e in events]
    qian.page.get_by_role("button", name="Verify the trail again").click()
    qian.page.locator("p.verified").filter(has_text=f"each of its {len(events)}").wait_for()
    qian.shot("monitor-7-instance-moved-on")
    qian.axe("instance page after the live updates")

    # open a supervision case: the page's check, the API's sentence, then the case page
    form = qian.page.get_by_role("form", name="Open a supervision case")
    form.get_by_role("button", name="Open the case").click()
    assert "Write a title and why the case is opened" in qian.page.get_by_role("alert").inner_text()
    assert qian.posts("/v1/cases") == []
    qian.page.get_by_label("Title (required)").fill("Inspection late")
    qian.page.get_by_label("Why the case is opened (required)").fill("Past its 8-second limit.")
    qian.page.get_by_label("Responsible role (optional)").fill("licence clerk")  # a space
    form.get_by_role("button", name="Open the case").click()
    refused = qian.page.get_by_role("alert").filter(has_text="responsible_role")
    refused.wait_for()
    qian.shot("monitor-8-open-case-refused")
    qian.page.get_by_label("Responsible role (optional)").fill("licence-clerk")
    form.get_by_role("button", name="Open the case").click()
    qian.page.get_by_role("heading", name="Inspection late", level=1).wait_for()
    (case,) = office.client.get(
        "/v1/cases", headers=office.as_("qian"), params={"instance_id": instance["id"]}
    ).json()["items"]
    assert case["title"] == "Inspection late" and case["responsible_role"] == "licence-clerk"
    assert qian.page.url.endswith(f"#/cases/{case['id']}")


def test_a_monitor_works_a_case_from_finding_to_closing(office: Office, person: Any) -> None:
    from powerflow.services.supervision.cases import OUTCOMES

    instance, _ = office.inspecting("W-4")
    opened = office.client.post(
        "/v1/cases",
        headers=office.as_("qian"),
        json={"instance_id": instance["id"], "title": "Register checked late", "reason": "Late."},
    )
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["id"]
    qian = person()
    qian.expected = [(422, f"/v1/cases/{case_id}/close")]
    qian.sign_in(office.tokens["qian"])
    qian.goto("/console/#/monitor")
    qian.page.get_by_role("link", name="All supervision cases").click()
    qian.page.get_by_role("heading", name="Supervision cases", level=1).wait_for()
    qian.page.get_by_role("link", name="Register checked late").click()
    qian.page.get_by_role("heading", name="Register checked late", level=1).wait_for()
    assert "Open" in qian.page.locator("dl.facts").inner_text()
    # the outcomes offered are the API's, in its words
    options = qian.page.get_by_label("Outcome (required)").locator("option")
    assert options.evaluate_all("os => os.map(o => o.value)")[1:] == list(OUTCOMES)
    assert options.all_inner_texts()[1:] == list(OUTCOMES.values())
    qian.axe("case page")

    # a finding resting on a step of the trail
    events = office.client.get(
        f"/v1/instances/{instance['id']}/events", headers=office.as_("qian")
    ).json()["items"]
    completed = next(e for e in events if e["type"] == "task.completed")
    qian.page.get_by_label("Finding (required)").fill("The register step took two days.")
    qian.page.get_by_label("Evidence (optional)").select_option(str(completed["id"]))
    qian.page.get_by_role("button", name="Record the finding").click()
    qian.page.get_by_role("status").filter(has_text="The finding is recorded.").wait_for()
    assert "The register step took two days." in qian.page.locator("ol.findings").inner_text()

    # a correction demanded of a role
    qian.page.get_by_label("What must be corrected (required)").fill("Register within a day.")
    qian.page.get_by_label("Role or person's user name (required)").fill("licence-clerk")
    qian.page.get_by_role("button", name="Demand the correction").click()
    qian.page.get_by_role("status").filter(has_text="The correction is demanded.").wait_for()
    assert "role licence-clerk" in qian.page.locator("tr[data-correction]").inner_text()

    # suspend, then resume the instance
    qian.page.get_by_role("button", name="Suspend the instance").click()
    assert qian.page.get_by_role("alert").inner_text() == "Write the reason."
    qian.page.get_by_label("Reason (required)").fill("Until the register is checked.")
    qian.page.get_by_role("button", name="Suspend the instance").click()
    qian.page.get_by_role("status").filter(has_text="The instance is suspended.").wait_for()
    status = office.client.get(f"/v1/instances/{instance['id']}", headers=office.as_("qian"))
    assert status.json()["status"] == "suspended"
    qian.page.get_by_label("Reason (required)").fill("Checked.")
    qian.page.get_by_role("button", name="Resume the instance").click()
    qian.page.get_by_role("status").filter(has_text="The instance is resumed.").wait_for()
    timeline = qian.page.locator("table.trail tbody tr").all_inner_texts()
    for words in (
        "Case opened",
        "Case finding recorded",
        "Case correction requested",
        "Instance suspended",
        "Instance resumed",
    ):
        assert any(words in row for row in timeline), (words, timeline)
    qian.shot("monitor-9-case")
    qian.axe("case page with its timeline")

    # close: the page's check, the API's sentence (an outcome naming nobody), then closed
    qian.page.get_by_role("button", name="Close the case").click()
    assert qian.page.get_by_role("alert").inner_text() == "Choose the outcome."
    qian.page.get_by_label("Outcome (required)").select_option("criticism_education")
    qian.page.get_by_label("Summary (required)").fill("Talked to the clerk.")
    qian.page.get_by_role("button", name="Close the case").click()
    refused = qian.page.get_by_role("alert")
    refused.filter(has_text="concerns people").wait_for()
    direct = office.client.post(
        f"/v1/cases/{case_id}/close",
        headers=office.as_("qian"),
        json={"outcome": "criticism_education", "summary": "x"},
    )
    assert direct.status_code == 422 and refused.inner_text() == direct.json()["detail"]
    qian.page.get_by_label("People it concerns").fill("lin")
    qian.page.get_by_role("button", name="Close the case").click()
    qian.page.get_by_role("status").filter(has_text="The case is closed.").wait_for()
    closed = office.client.get(f"/v1/cases/{case_id}", headers=office.as_("qian")).json()
    assert closed["state"] == "closed" and closed["outcome"] == "criticism_education"
    assert closed["people"] == ["lin"]
    assert qian.page.get_by_role("button", name="Close the case").count() == 0
    assert OUTCOMES["criticism_education"] in qian.page.locator("dl.facts").inner_text()
    qian.shot("monitor-10-case-closed")
    qian.axe("closed case")


def _band(value: float, bands: list[float]) -> int:
    return sum(1 for t in bands if value >= t)


def test_statistics_per_process_and_a_heat_map_per_step(office: Office, person: Any) -> None:
    office.inspecting("W-5")  # at least one completed task (register), whatever ran before
    monitor = office.as_("qian")
    stats: dict[str, Any] = {}
    for _ in range(50):  # the aggregator counts new events every 2 s
        stats = office.client.get("/v1/stats/processes/console_watch", headers=monitor).json()
        newest = office.client.get("/v1/events/latest", headers=monitor).json()["id"]
        if stats["range"]["as_of_event_id"] >= newest:
            break
        time.sleep(0.25)
    figures = {e["name"]: e["figures"] for e in stats["elements"]}
    assert figures["register"]["completed"] >= 1

    qian = person()
    qian.sign_in(office.tokens["qian"])
    qian.goto("/console/#/monitor")
    qian.page.get_by_role("link", name="Statistics").click()
    qian.page.get_by_role("heading", name="Statistics", level=1).wait_for()
    row = qian.page.locator("table.figures tr[data-process='console_watch']")
    listing = office.client.get("/v1/stats/processes", headers=monitor).json()
    (watch,) = [p for p in listing["items"] if p["name"] == "console_watch"]
    assert row.locator("td").nth(0).inner_text() == str(watch["figures"]["started"])
    assert row.locator(".bar").evaluate("e => e.getBoundingClientRect().width") > 0
    qian.axe("statistics")
    row.get_by_role("link", name="console_watch").click()
    qian.page.get_by_role("heading", name="Licence check (console monitor tests)").wait_for()
    qian.page.wait_for_selector(".heat-overlay[data-element='register']")

    # the table says what the API says, step by step
    for element, f in figures.items():
        cells = qian.page.locator(f"table.figures tr[data-element='{element}'] td")
        assert cells.nth(0).inner_text() == str(f["started"])
        assert cells.nth(1).inner_text() == str(f["completed"])
        rate = f["overdue_rate"]
        assert cells.nth(5).inner_text() == ("—" if rate is None else f"{round(rate * 100)} %")
    assert "Register the application (register)" in qian.page.locator("table.figures").inner_text()

    # coloured by p90 duration, then by overdue rate: the band the figures put each step in
    p90s = [f["durations"]["p90_seconds"] for f in figures.values()]
    top = max(v for v in p90s if v is not None)
    for element, f in figures.items():
        value = f["durations"]["p90_seconds"]
        overlay = qian.page.locator(f".heat-overlay[data-element='{element}']")
        if value is None:
            assert overlay.count() == 0
            continue
        expected = _band(value, [0.25 * top, 0.5 * top, 0.75 * top])
        assert overlay.get_attribute("data-band") == str(expected), element
    qian.page.get_by_label("Colour the steps by").select_option("overdue")
    legend = qian.page.get_by_role("list", name="Colours of the heat map").inner_text()
    assert "25 % or more" in legend and "none overdue" in legend
    for element, f in figures.items():
        rate = f["overdue_rate"]
        overlay = qian.page.locator(f".heat-overlay[data-element='{element}']")
        if rate is None:
            assert overlay.count() == 0
            continue
        assert overlay.get_attribute("data-band") == str(_band(rate, [0.0001, 0.1, 0.25]))
        assert overlay.inner_text() == f"{round(rate * 100)} % overdue"
    qian.page.get_by_label("Colour the steps by").select_option("violations")
    counts = {e: sum(f["violations"].values()) for e, f in figures.items()}
    most = max(counts.values())
    bands = [1, math.ceil(max(2, most * 0.5)), math.ceil(max(3, most * 0.75))]
    for element, count in counts.items():
        overlay = qian.page.locator(f".heat-overlay[data-element='{element}']")
        assert overlay.get_attribute("data-band") == str(_band(count, bands))
        assert overlay.inner_text() == f"{count} violation{'' if count == 1 else 's'}"
    qian.page.get_by_label("Colour the steps by").select_option("overdue")
    if figures.get("inspect", {}).get("overdue_rate"):  # the instance test's late inspection
        assert qian.page.locator(".heat-overlay[data-element='inspect'] .heat-3").count() == 1
    qian.shot("monitor-11-heat-map")
    qian.axe("heat map")


class Proxy:
    """A TCP relay in front of the server whose connections the test can cut (a network drop)
    and whose new connections it can refuse for a while (the network still down)."""

    def __init__(self, target: str) -> None:
        host, port = target.removeprefix("http://").split(":")
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.down = False
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        """Drop every open connection and refuse new ones until `restore`."""
        self.down = True
        with self.lock:
            for s in self.open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.open.clear()

    def restore(self) -> None:
        self.down = False

    def close(self) -> None:
        self.cut()
        self.listener.close()


def test_a_dropped_stream_reconnects_with_last_event_id_and_misses_nothing(
    office: Office,
    browser: Any,  # noqa: F811
) -> None:
    started = office.client.post(
        "/v1/instances",
        headers=office.as_("lin"),
        json={"definition_key": "console_watch", "business_key": "W-DROP"},
    )
    assert started.status_code == 201, started.text
    instance = started.json()
    (register,) = instance["tasks"]
    proxy = Proxy(office.url)
    qian = Clerk(browser, proxy.url, LAPTOP)
    opened: list[dict[str, str]] = []
    qian.page.on("request", lambda r: opened.append(r.headers) if "/stream" in r.url else None)
    try:
        qian.sign_in(office.tokens["qian"])
        qian.goto(f"/console/#/instances/{instance['id']}")
        qian.page.wait_for_selector(".live-state[data-state='live']")
        qian.page.wait_for_selector(".djs-element.pf-current[data-element-id='register']")
        _mark_loaded(qian)
        before = office.client.get(
            f"/v1/instances/{instance['id']}/events", headers=office.as_("qian")
        ).json()["items"]

        proxy.cut()  # the network drops; meanwhile the clerk completes the first task
        qian.page.wait_for_selector(".live-state[data-state='reconnecting']")
        done = office.client.post(
            f"/v1/tasks/{register['id']}/complete", headers=office.as_("lin"), json={"data": {}}
        )
        assert done.status_code == 200, done.text
        qian.shot("monitor-12-reconnecting")
        proxy.restore()
        qian.page.wait_for_selector(".live-state[data-state='live']", timeout=WAIT_MS)
        qian.page.wait_for_selector(".djs-element.pf-current[data-element-id='inspect']")
        assert _not_reloaded(qian)
        assert opened[-1]["last-event-id"] == str(before[-1]["id"])
        assert opened[-1]["authorization"] == f"Bearer {office.tokens['qian']}"
        events = office.client.get(
            f"/v1/instances/{instance['id']}/events", headers=office.as_("qian")
        ).json()["items"]
        assert len(events) > len(before)
        rows = qian.page.locator("table.trail tbody tr")
        rows.nth(len(events) - 1).wait_for()
        assert [r.split("\t")[0] for r in rows.all_inner_texts()] == [
            str(e["seq"]) for e in events
        ]  # each step once, none missed
    finally:
        qian.close()
        proxy.close()
    assert not qian.problems, qian.problems
