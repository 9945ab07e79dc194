"""The console's polish before issue 11 is done, in a real headless Chromium against a real
`powerflow serve` (the monitor tests' office: console_watch and console_grant, a monitor and
two clerks): statistics over a period kept in the address, the roles' and people's tables and a
person's record; a supervision case opened from an alert row and from a violation row of the
dashboard; business keys in the tables people identify cases by; the case page following the
instance's event stream. axe-core on every page; screenshots in test-artifacts/console/."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from test_console import LAPTOP, TABLET, browser  # noqa: F401 (the browser fixture)
from test_console_clerk import Clerk
from test_console_monitor import Office, office, person  # noqa: F401 (the fixtures)

pytestmark = pytest.mark.e2e


def _counted(o: Office) -> None:
    """Wait until the statistics have counted every event (the aggregator polls)."""
    monitor = o.as_("qian")
    for _ in range(80):
        newest = o.client.get("/v1/events/latest", headers=monitor).json()["id"]
        stats = o.client.get("/v1/stats/processes", headers=monitor).json()
        if stats["range"]["as_of_event_id"] >= newest:
            return
        time.sleep(0.25)
    raise AssertionError("the statistics never caught up")


def _stats_calls(page: Clerk, part: str) -> list[dict[str, list[str]]]:
    """The query of each GET the page made to a stats endpoint path ending in `part`."""
    found = []
    for method, url, _ in page.requests:
        split = urlsplit(url)
        if method == "GET" and split.path.endswith(part):
            found.append(parse_qs(split.query))
    return found


def _show(page: Clerk, part: str, act: Any) -> None:
    """Do `act` and wait until the page has read `part` (a stats path) and drawn it."""
    with page.page.expect_response(lambda r: urlsplit(r.url).path.endswith(part)):
        act()
    page.page.wait_for_selector("main:not([aria-busy])")


def _ready(page: Clerk, heading: str) -> None:
    page.page.get_by_role("heading", name=heading, level=1).wait_for()
    page.page.wait_for_selector("main:not([aria-busy])")


def test_statistics_over_a_period_by_role_and_person_and_a_persons_record(
    office: Office,  # noqa: F811
    person: Any,  # noqa: F811
) -> None:
    office.inspecting("P-1")
    office.blocked_completion("P-G1")  # lin breaks the urgent-without-note rule
    _counted(office)
    monitor = office.as_("qian")
    qian = person()
    qian.expected = [(422, "/v1/stats/processes")]
    qian.sign_in(office.tokens["qian"])
    qian.goto("/console/#/stats")
    _ready(qian, "Statistics")
    assert qian.page.get_by_label("Everything").is_checked()
    assert qian.page.get_by_label("From (first day counted)").is_hidden()
    qian.axe("statistics with the period picker")

    # this month: the address keeps it, the API is asked from the first of the month
    show = qian.page.get_by_role("button", name="Show the period")
    qian.page.get_by_label("This month").check()
    _show(qian, "/v1/stats/processes", show.click)
    assert qian.page.url.endswith("/console/#/stats?period=month")
    first = qian.page.evaluate(
        "() => { const d = new Date(); return `${d.getFullYear()}-"
        "${String(d.getMonth() + 1).padStart(2, '0')}-01`; }"
    )
    assert _stats_calls(qian, "/v1/stats/processes")[-1] == {"from": [first]}
    listing = office.client.get(
        "/v1/stats/processes", headers=monitor, params={"from": first}
    ).json()
    (watch,) = [p for p in listing["items"] if p["name"] == "console_watch"]
    row = qian.page.locator("table.figures tr[data-process='console_watch']")
    assert row.locator("td").nth(0).inner_text() == str(watch["figures"]["started"])
    assert qian.page.get_by_label("This month").is_checked()
    # this quarter and this year: from the first day of each
    qian.page.get_by_label("This quarter").check()
    _show(qian, "/v1/stats/processes", show.click)
    assert qian.page.url.endswith("/console/#/stats?period=quarter")
    quarter = qian.page.evaluate(
        "() => { const d = new Date(); const m = d.getMonth() - d.getMonth() % 3;"
        " return `${d.getFullYear()}-${String(m + 1).padStart(2, '0')}-01`; }"
    )
    assert _stats_calls(qian, "/v1/stats/processes")[-1] == {"from": [quarter]}
    qian.page.get_by_label("This year").check()
    _show(qian, "/v1/stats/processes", show.click)
    assert qian.page.url.endswith("/console/#/stats?period=year")
    year = first[:4] + "-01-01"
    assert _stats_calls(qian, "/v1/stats/processes")[-1] == {"from": [year]}
    # the process page keeps the period (its link carries it)
    link = qian.page.locator("tr[data-process='console_watch']").get_by_role("link")
    _show(qian, "/v1/stats/processes/console_watch", link.click)
    assert qian.page.url.endswith("/#/stats/console_watch?period=year")
    assert _stats_calls(qian, "/v1/stats/processes/console_watch")[-1] == {"from": [year]}
    assert qian.page.get_by_label("This year").is_checked()
    qian.page.get_by_role("link", name="Statistics", exact=True).click()
    qian.page.wait_for_url("**/#/stats?period=year")
    _ready(qian, "Statistics")
    qian.shot("polish-0-stats-year")
    qian.page.wait_for_url("**/#/stats?period=year")
    _ready(qian, "Statistics")

    # a custom period: the page checks the days before asking
    qian.page.get_by_label("From a day to a day").check()
    qian.page.get_by_label("From (first day counted)").fill("2020-02-10")
    qian.page.get_by_label("To (last day counted, included)").fill("2020-02-01")
    calls = len(qian.requests)
    show.click()
    said = qian.page.get_by_role("alert")
    assert said.inner_text() == "The last day comes before the first day: choose a later last day."
    assert qian.page.evaluate("() => document.activeElement.id") == "period-to"
    assert not [u for _, u, _ in qian.requests[calls:] if "/v1/stats" in u]
    qian.page.get_by_label("To (last day counted, included)").fill("2020-02-29")
    _show(qian, "/v1/stats/processes", show.click)
    assert qian.page.url.endswith("/console/#/stats?period=custom&from=2020-02-10&to=2020-02-29")
    assert _stats_calls(qian, "/v1/stats/processes")[-1] == {
        "from": ["2020-02-10"],
        "to": ["2020-02-29"],
    }
    old = office.client.get(
        "/v1/stats/processes", headers=monitor, params={"from": "2020-02-10", "to": "2020-02-29"}
    ).json()
    lead = qian.page.locator("#stats-range").inner_text()
    assert "10 Feb 2020 to 29 Feb 2020" in lead
    if old["items"]:
        for item in old["items"]:
            cells = qian.page.locator(f"tr[data-process='{item['name']}'] td")
            assert cells.nth(0).inner_text() == str(item["figures"]["started"])
    else:  # nothing ran then
        assert "Nothing is counted in this period." in qian.text()
    qian.shot("polish-1-stats-custom-period")
    qian.axe("statistics over a custom period")

    # a shared address opens on its period
    shared = person()
    shared.sign_in(office.tokens["qian"])
    _show(
        shared,
        "/v1/stats/processes/console_watch",
        lambda: shared.goto(
            "/console/#/stats/console_watch?period=custom&from=2020-02-10&to=2020-02-29"
        ),
    )
    assert _stats_calls(shared, "/v1/stats/processes/console_watch")[-1] == {
        "from": ["2020-02-10"],
        "to": ["2020-02-29"],
    }
    assert shared.page.get_by_label("From a day to a day").is_checked()
    assert shared.page.get_by_label("From (first day counted)").input_value() == "2020-02-10"
    assert shared.page.get_by_label("To (last day counted, included)").input_value() == "2020-02-29"
    assert "10 Feb 2020 to 29 Feb 2020" in shared.page.locator("#stats-range").inner_text()
    shared.axe("a process's statistics over a shared period")

    # a range the API refuses: its sentence, the picker still there to change it
    qian.goto("/console/#/stats?period=custom&from=1990-01-01&to=2026-01-01")
    refused = qian.page.get_by_role("alert")
    refused.wait_for()
    direct = office.client.get(
        "/v1/stats/processes", headers=monitor, params={"from": "1990-01-01", "to": "2026-01-01"}
    )
    assert direct.status_code == 422 and refused.inner_text() == direct.json()["detail"]
    assert qian.page.get_by_role("button", name="Show the period").is_visible()

    # by role, then by person, over this month
    _show(qian, "/v1/stats/processes", lambda: qian.goto("/console/#/stats?period=month"))
    nav = qian.page.get_by_role("navigation", name="Statistics")
    _show(qian, "/v1/stats/roles", nav.get_by_role("link", name="By role").click)
    assert qian.page.url.endswith("/#/stats/roles?period=month")
    _ready(qian, "Statistics by role")
    roles = office.client.get("/v1/stats/roles", headers=monitor, params={"from": first}).json()
    assert roles["items"]
    for item in roles["items"]:
        cells = qian.page.locator(f"table.roles tr[data-name='{item['name']}'] td")
        assert cells.nth(0).inner_text() == str(item["figures"]["started"])
        assert cells.nth(1).inner_text() == str(item["figures"]["completed"])
    qian.axe("statistics by role")
    _show(qian, "/v1/stats/people", nav.get_by_role("link", name="By person").click)
    assert qian.page.url.endswith("/#/stats/people?period=month")
    _ready(qian, "Statistics by person")
    people = office.client.get("/v1/stats/people", headers=monitor, params={"from": first}).json()
    (lin,) = [p for p in people["items"] if p["name"] == "lin"]
    cells = qian.page.locator("table.people tr[data-name='lin'] td")
    assert cells.nth(0).inner_text() == str(lin["figures"]["started"])
    assert cells.nth(8).inner_text() == ", ".join(
        f"{k}: {v}" for k, v in lin["figures"]["violations"].items()
    )
    qian.shot("polish-2-stats-people")
    qian.axe("statistics by person")

    # lin's record, over the same period
    lin_link = qian.page.locator("table.people tr[data-name='lin']").get_by_role("link")
    _show(qian, "/v1/people/lin/record", lin_link.click)
    assert qian.page.url.endswith("/#/people/lin?period=month")
    _ready(qian, "Record of lin")
    since = qian.page.evaluate(
        "() => { const d = new Date(); return new Date(d.getFullYear(), d.getMonth(), 1)"
        ".toISOString(); }"
    )
    record = office.client.get(
        "/v1/people/lin/record", headers=monitor, params={"since": since}
    ).json()
    assert record["violations"]
    shown = qian.page.locator("table.record-violations tbody tr")
    assert shown.count() == len(record["violations"])
    first_row = qian.page.locator(f"tr[data-violation='{record['violations'][0]['id']}']")
    assert record["violations"][0]["business_key"] in first_row.inner_text()
    assert first_row.get_by_role("link", name=record["violations"][0]["business_key"]).count() == 1
    assert "CG-URGENT" in qian.page.locator("dl.facts").inner_text()
    qian.shot("polish-3-person-record")
    qian.axe("a person's record")

    # on a tablet the new pages do not scroll sideways
    tablet = person(TABLET)
    tablet.sign_in(office.tokens["qian"])
    for path in (
        "#/stats?period=year",
        "#/stats/roles?period=year",
        "#/stats/people",
        "#/people/lin?period=year",
    ):
        tablet.goto(f"/console/{path}")
        tablet.page.wait_for_selector("main:not([aria-busy]) h1")
        wide = tablet.page.evaluate("() => document.documentElement.scrollWidth - innerWidth")
        assert wide <= 0, f"{path} scrolls sideways at 768 px by {wide} px"
        assert "undefined" not in tablet.text() and "null" not in tablet.text()
        tablet.axe(f"{path} at 768x1024")


def test_cases_open_from_an_alert_row_and_a_violation_row_with_business_keys(
    office: Office,  # noqa: F811
    person: Any,  # noqa: F811
) -> None:
    blocked = office.blocked_completion("P-V1")
    alerts = office.alerts(blocked["id"])
    (alert,) = alerts  # the blocked rule's alert
    violations = office.client.get(
        "/v1/violations", headers=office.as_("qian"), params={"instance_id": blocked["id"]}
    ).json()["items"]
    (violation,) = violations
    qian = person()
    qian.sign_in(office.tokens["qian"])
    qian.goto("/console/#/monitor")
    qian.page.wait_for_selector(".live-state[data-state='live']")
    row = qian.page.locator(f"table.alerts tr[data-alert='{alert['id']}']")
    assert row.locator("td").nth(2).inner_text() == "P-V1"  # the business key, from the alert
    vrow = qian.page.locator(f"table.violations tr[data-violation='{violation['id']}']")
    assert vrow.locator("td").nth(3).inner_text() == "P-V1"

    # from the alert row: the instance page's form, about this alert
    row.get_by_role("button", name=f"Open a case on alert {alert['id']}").click()
    form = qian.page.get_by_role("form", name="Open a supervision case")
    assert f"The case concerns alert {alert['id']}" in qian.page.locator("#case-about").inner_text()
    assert "P-V1" in qian.page.locator("#case-about").inner_text()
    assert qian.page.evaluate("() => document.activeElement.id") == "case-title"
    qian.axe("dashboard with the case form")
    form.get_by_role("button", name="Open the case").click()
    assert "Write a title and why the case is opened" in form.get_by_role("alert").inner_text()
    assert qian.posts("/v1/cases") == []
    title = qian.page.get_by_label("Title (required)")
    assert title.get_attribute("aria-invalid") == "true"
    title.fill("Typed")  # typing in a marked field unmarks it
    assert title.get_attribute("aria-invalid") is None
    # cancel gives the focus back to the row's button; opened again, the form starts afresh
    form.get_by_role("button", name="Cancel").click()
    assert qian.page.evaluate("() => document.activeElement.dataset.focus") == (
        f"case-alert-{alert['id']}"
    )
    row.get_by_role("button", name=f"Open a case on alert {alert['id']}").click()
    assert title.input_value() == "" and form.get_by_role("alert").count() == 0
    title.fill("Urgent grant without a note")
    qian.page.get_by_label("Why the case is opened (required)").fill("The rule blocked it.")
    qian.shot("polish-4-case-from-alert")
    form.get_by_role("button", name="Open the case").click()
    _ready(qian, "Urgent grant without a note")
    (sent,) = qian.posts("/v1/cases")
    assert sent["alert_id"] == alert["id"] and "instance_id" not in sent
    case_id = int(qian.page.url.rsplit("/", 1)[1])
    case = office.client.get(f"/v1/cases/{case_id}", headers=office.as_("qian")).json()
    assert (case["subject"], case["alert_id"], case["business_key"]) == (
        "alert",
        alert["id"],
        "P-V1",
    )
    assert f"an alert: alert {alert['id']}" in qian.page.locator("dl.facts").inner_text()

    # from the violation row
    qian.goto("/console/#/monitor")
    qian.page.wait_for_selector(".live-state[data-state='live']")
    qian.page.get_by_role("button", name=f"Open a case on violation {violation['id']}").click()
    about = qian.page.locator("#case-about").inner_text()
    assert f"violation {violation['id']} of rule CG-URGENT by lin" in about
    qian.page.get_by_label("Title (required)").fill("Rule broken by lin")
    qian.page.get_by_label("Why the case is opened (required)").fill("Urgent without a note.")
    qian.page.get_by_label("Responsible role (optional)").fill("grant-handler")
    qian.page.get_by_role("button", name="Open the case").click()
    _ready(qian, "Rule broken by lin")
    sent = qian.posts("/v1/cases")[-1]
    assert sent["violation_id"] == violation["id"] and "alert_id" not in sent
    assert sent["responsible_role"] == "grant-handler"

    # the cases list and the dashboard's cases name the business key
    qian.goto("/console/#/cases")
    _ready(qian, "Supervision cases")
    mine = office.client.get(
        "/v1/cases", headers=office.as_("qian"), params={"instance_id": blocked["id"]}
    ).json()["items"]
    assert len(mine) == 2
    for c in mine:
        listed = qian.page.locator(f"tr[data-case='{c['id']}'] td").nth(0)
        assert listed.inner_text() == "P-V1"
    qian.axe("cases with business keys")
    qian.goto("/console/#/monitor")
    qian.page.wait_for_selector(".live-state[data-state='live']")
    for c in mine:
        assert (
            qian.page.locator(f"table.cases tr[data-case='{c['id']}'] td").nth(0).inner_text()
            == "P-V1"
        )


def test_the_case_page_follows_the_instances_stream(
    office: Office,  # noqa: F811
    person: Any,  # noqa: F811
) -> None:
    instance, _ = office.inspecting("P-LIVE")
    admin = office.admin
    opened = office.client.post(
        "/v1/cases",
        headers=office.as_("qian"),
        json={"instance_id": instance["id"], "title": "Followed live", "reason": "Watch it."},
    )
    assert opened.status_code == 201, opened.text
    case_id = opened.json()["id"]
    qian = person()
    qian.sign_in(office.tokens["qian"])
    qian.goto(f"/console/#/cases/{case_id}")
    _ready(qian, "Followed live")
    qian.page.wait_for_selector(".live-state[data-state='live']")
    qian.page.evaluate("() => { window.pfNotReloaded = true; }")
    assert "P-LIVE" in qian.page.locator("dl.facts").inner_text()
    # a half-typed finding must survive the live updates
    qian.page.get_by_label("Finding (required)").fill("Typing while others act")

    # someone else records a finding, demands a correction, suspends: each shows up
    found = office.client.post(
        f"/v1/cases/{case_id}/findings", headers=admin, json={"text": "Seen by the admin."}
    )
    assert found.status_code == 201, found.text
    qian.page.locator("ol.findings li").filter(has_text="Seen by the admin.").wait_for()
    asked = office.client.post(
        f"/v1/cases/{case_id}/corrections",
        headers=admin,
        json={"demand": "Inspect today.", "to_role": "licence-clerk"},
    )
    assert asked.status_code == 201, asked.text
    qian.page.locator("tr[data-correction]").filter(has_text="Inspect today.").wait_for()
    assert qian.page.get_by_label("Finding (required)").input_value() == "Typing while others act"
    suspended = office.client.post(
        f"/v1/cases/{case_id}/suspend", headers=admin, json={"reason": "Hold on."}
    )
    assert suspended.status_code == 200, suspended.text
    qian.page.get_by_role("button", name="Resume the instance").wait_for()
    qian.page.locator("table.trail tbody tr").filter(has_text="Instance suspended").wait_for()

    # closed elsewhere: the outcome and the people appear, the forms go, no reload
    closed = office.client.post(
        f"/v1/cases/{case_id}/close",
        headers=admin,
        json={"outcome": "criticism_education", "people": ["lin"], "summary": "Talked."},
    )
    assert closed.status_code == 200, closed.text
    qian.page.locator("dl.facts").filter(has_text="Closed").filter(has_text="Talked.").wait_for()
    assert qian.page.get_by_role("button", name="Close the case").count() == 0
    assert qian.page.evaluate("() => window.pfNotReloaded === true")
    events = office.client.get(f"/v1/cases/{case_id}", headers=office.as_("qian")).json()[
        "timeline"
    ]
    assert qian.page.locator("table.trail tbody tr").count() == len(events)
    qian.shot("polish-5-case-live-closed")
    qian.axe("a case closed live")
    # the people it concerns link to their record
    qian.page.locator("dl.facts").get_by_role("link", name="lin").click()
    _ready(qian, "Record of lin")
    assert qian.page.locator(f"tr[data-case='{case_id}']").count() == 1


def test_anomalies_compare_a_period_with_the_days_before(
    office: Office,  # noqa: F811
    person: Any,  # noqa: F811
) -> None:
    """#/stats/anomalies draws GET /v1/stats/anomalies: everything the office did today is new
    against the 30 days before, so with a minimum of 1 every counted indicator is listed."""
    office.inspecting("P-A1")
    _counted(office)
    monitor = office.as_("qian")
    qian = person()
    qian.sign_in(office.tokens["qian"])
    qian.goto("/console/#/stats")
    _ready(qian, "Statistics")
    link = qian.page.get_by_role("link", name="Anomalies")
    _show(qian, "/v1/stats/anomalies", link.click)
    _ready(qian, "Anomalies")
    assert _stats_calls(qian, "/v1/stats/anomalies")[-1] == {
        "by": ["process"],
        "baseline": ["previous"],
        "threshold": ["0.3"],
        "minimum": ["10"],
    }
    qian.page.get_by_label("Smallest count compared").fill("1")
    qian.page.get_by_label("Compare", exact=True).select_option("person")
    _show(qian, "/v1/stats/anomalies", qian.page.get_by_role("button", name="Compare").click)
    assert "by=person" in qian.page.url and "minimum=1" in qian.page.url
    expected = office.client.get(
        "/v1/stats/anomalies",
        headers=monitor,
        params={"by": "person", "minimum": 1, "threshold": 0.3, "baseline": "previous"},
    ).json()
    assert expected["findings"], expected
    rows = qian.page.locator("table.anomalies tbody tr")
    assert rows.count() == len(expected["findings"])
    for i, finding in enumerate(expected["findings"]):
        row = rows.nth(i)
        assert row.get_attribute("data-name") == finding["name"]
        assert row.get_attribute("data-indicator") == finding["indicator"]
        if finding["change"] is None:
            assert row.locator("td").nth(3).inner_text() == "new (none before)"
    # a person's name leads to their record
    first = expected["findings"][0]["name"]
    assert rows.nth(0).get_by_role("link").get_attribute("href") == f"#/people/{first}"
    assert "against" in qian.page.locator("#anomaly-range").inner_text()
    qian.axe("anomalies")
    qian.shot("polish-anomalies-people")
