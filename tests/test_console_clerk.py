"""The web console's clerk pages in a real headless Chromium against a real `powerflow serve`
(issue 11, second slice): signing in with an API token, the inbox of the tasks the person's roles
allow with claim and unclaim, a task page with its form rendered from the API's `form`, checked in
the browser with the API's sentences and showing the API's own refusals at the fields, the risk
point before completion, a high-risk link's required comment, countersign and refusal by a second
person, the case's trail and chart; a clerk without the role sees neither the task nor the case;
keyboard-only completion. axe-core runs on every page; screenshots go to test-artifacts/console/.

The helpers (Chromium, axe-core, the watched page) are test_console.py's; without Chromium the
tests skip (and fail under POWERFLOW_REQUIRE_BROWSER=1) as those do."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from conftest import ADMIN_TOKEN, DATA, start_server, stop_server
from test_console import ARTIFACTS, LAPTOP, TABLET, Watched, browser  # noqa: F401 (the browser fixture)

pytestmark = pytest.mark.e2e

PEOPLE = {
    "lin": ["clerk", "grant-handler"],
    "wang": ["clerk", "grant-approver"],
    "zhao": ["clerk", "finance-head"],
    "zhou": ["clerk"],  # holds no role of the process
}


class Office:
    """A server with console_grant deployed and its people; each test starts its own cases."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(base_url=url, timeout=30)
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        self.tokens: dict[str, str] = {}
        for name, roles in PEOPLE.items():
            got = self.client.post("/v1/users", headers=admin, json={"name": name, "roles": roles})
            assert got.status_code == 201, got.text
            self.tokens[name] = got.json()["token"]
        deployed = self.client.post(
            "/v1/definitions",
            headers=admin,
            files={"file": ("console_grant.bpmn", (DATA / "console_grant.bpmn").read_bytes())},
        )
        assert deployed.status_code == 201, deployed.text

    def as_(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    def start(self, business_key: str) -> dict[str, Any]:
        got = self.client.post(
            "/v1/instances",
            headers=self.as_("lin"),
            json={
                "definition_key": "console_grant",
                "business_key": business_key,
                "variables": {"applicant": "Applicant Li"},
            },
        )
        assert got.status_code == 201, got.text
        body: dict[str, Any] = got.json()
        return body

    def get_task(self, name: str, task_id: str) -> dict[str, Any]:
        got = self.client.get(f"/v1/tasks/{task_id}", headers=self.as_(name))
        assert got.status_code == 200, got.text
        body: dict[str, Any] = got.json()
        return body

    def prepared(self, business_key: str) -> tuple[dict[str, Any], str]:
        """A case whose first task lin has done: (the instance, the approval task's id)."""
        instance = self.start(business_key)
        (prepare,) = instance["tasks"]
        done = self.client.post(
            f"/v1/tasks/{prepare['id']}/complete",
            headers=self.as_("lin"),
            json={"data": {"amount": 300, "purpose": "Desks", "category": "equipment"}},
        )
        assert done.status_code == 200, done.text
        (approve,) = [t for t in done.json()["tasks"] if t["element_id"] == "approve"]
        return done.json(), str(approve["id"])


@contextmanager
def console_server(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[str]:
    """A real ``powerflow serve`` on a fresh SQLite file without the example processes, its
    console built; yields its URL."""
    db = tmp_path_factory.mktemp(name) / "powerflow.db"
    server = start_server(f"sqlite:///{db}", POWERFLOW_DEPLOY_EXAMPLES="false")
    try:
        built = httpx.get(f"{server.url}/console/", timeout=10)
        assert built.status_code == 200, f"the console is not built: {built.text}"
        yield server.url
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def office(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:  # noqa: F811
    with console_server(tmp_path_factory, "console-clerk") as url:
        o = Office(url)
        try:
            yield o
        finally:
            o.client.close()


class Clerk(Watched):
    """A watched page whose expected refusals (status, path part) are not counted as problems."""

    def __init__(self, browser: Any, base: str, viewport: dict[str, int]) -> None:  # noqa: F811
        super().__init__(browser, base, viewport)
        self.expected: list[tuple[int, str]] = []
        self.requests: list[tuple[str, str, str | None]] = []
        self.page.on("request", lambda r: self.requests.append((r.method, r.url, r.post_data)))

    def _response(self, response: Any) -> None:
        if any(response.status == s and part in response.url for s, part in self.expected):
            self.bodies.append((response.url, ""))
            return
        super()._response(response)

    def shot(self, name: str, top: int = 0, height: int | None = None) -> None:
        """A screenshot of the whole page, or of `height` pixels from `top` (for docs/img)."""
        if height is None:
            super().shot(name)
            return
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        width = self.page.viewport_size["width"]
        clip = {"x": 0, "y": top, "width": width, "height": height}
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True, clip=clip)

    def sign_in(self, token: str) -> None:
        self.goto("/console/#/login")
        self.page.get_by_label("Your API token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.get_by_role("heading", name="Inbox", level=1).wait_for()
        self.page.wait_for_selector("main:not([aria-busy])")

    def open_task(self, task_id: str) -> None:
        self.goto(f"/console/#/tasks/{task_id}")
        self.page.wait_for_selector("main:not([aria-busy]) h1")

    def field_error(self, field: str) -> str:
        return str(self.page.locator(f"#field-{field}-error").inner_text())

    def posts(self, part: str) -> list[dict[str, Any]]:
        return [json.loads(b or "{}") for m, u, b in self.requests if m == "POST" and part in u]

    def tab_to(self, selector: str, limit: int = 60) -> None:
        """Press Tab until the element matching `selector` has the focus (keyboard only)."""
        for _ in range(limit):
            self.page.keyboard.press("Tab")
            if self.page.evaluate(
                "(s) => document.activeElement && document.activeElement.matches(s)", selector
            ):
                return
        raise AssertionError(f"Tab never reached {selector}")


@contextmanager
def watched_pages(chromium: Any, url: str) -> Iterator[Callable[..., Clerk]]:
    """A factory of watched pages, one browser context (one sessionStorage) each; at the end
    they are closed and none may have seen a problem (a page error, a failed request)."""
    pages: list[Clerk] = []

    def _new(viewport: dict[str, int] = LAPTOP) -> Clerk:
        page = Clerk(chromium, url, viewport)
        pages.append(page)
        return page

    try:
        yield _new
    finally:
        for page in pages:
            page.close()
    for page in pages:
        assert not page.problems, page.problems


@pytest.fixture
def person(browser: Any, office: Office) -> Iterator[Any]:  # noqa: F811
    """A factory of watched pages (``watched_pages``) on the office's server."""
    with watched_pages(browser, office.url) as new:
        yield new


def test_a_clerk_signs_in_completes_a_task_from_the_inbox_and_it_moves_to_another_role(
    office: Office, person: Any
) -> None:
    instance = office.start("G-1")
    (prepare,) = instance["tasks"]
    lin = person()
    lin.expected = [(401, "/v1/me"), (403, "/complete"), (422, "/complete")]

    # the inbox needs a sign-in; a wrong token gets the API's sentence
    lin.goto("/console/#/inbox")
    lin.page.get_by_role("link", name="Sign in with your API token").click()
    lin.page.get_by_role("heading", name="Sign in", level=1).wait_for()
    lin.axe("sign in")
    lin.page.get_by_label("Your API token").fill("pf_not-a-token")
    lin.page.get_by_role("button", name="Sign in").click()
    refused = lin.page.get_by_role("alert")
    refused.wait_for()
    direct = office.client.get("/v1/me", headers={"Authorization": "Bearer pf_not-a-token"})
    assert refused.inner_text() == direct.json()["detail"]
    lin.shot("clerk-1-sign-in-refused")

    lin.page.get_by_label("Your API token").fill(office.tokens["lin"])
    lin.page.get_by_role("button", name="Sign in").click()
    lin.page.get_by_role("heading", name="Inbox", level=1).wait_for()
    assert lin.page.url.endswith("#/inbox")
    account = lin.page.get_by_role("navigation", name="Your work")
    assert "lin" in account.inner_text() and "grant-handler" in account.inner_text()
    assert (
        lin.page.evaluate("() => sessionStorage.getItem('powerflow.token')") == office.tokens["lin"]
    )
    assert lin.page.evaluate("() => document.cookie") == ""

    # the inbox row: due date, alert column, claim
    row = lin.page.locator(f"tr[data-task='{prepare['id']}']")
    assert row.get_by_role("link", name="Prepare the grant").count() == 1
    assert row.locator("time").count() == 2  # ready since, due
    assert "null" not in lin.text() and "undefined" not in lin.text()
    assert row.locator("td").nth(0).inner_text() == "G-1"  # the case's business key
    assert row.locator("td").nth(5).locator("time").get_attribute("datetime") == prepare["due_at"]
    row.get_by_role("button", name="Claim Prepare the grant").click()
    lin.page.get_by_role("status").filter(has_text="You claimed").wait_for()
    row.get_by_role("button", name="Unclaim Prepare the grant").wait_for()
    assert office.get_task("lin", prepare["id"])["assignee"] == "lin"
    assert "You" in row.inner_text()
    lin.shot("clerk-2-inbox")
    lin.axe("inbox")

    # the task page: facts, the risk point, the form from the API's `form`
    row.get_by_role("link", name="Prepare the grant").click()
    lin.page.get_by_role("heading", name="Prepare the grant", level=1).wait_for()
    risk = lin.page.get_by_role("region", name="Risk point of this step")
    assert "Medium" in risk.inner_text()
    assert "The amount does not match the application" in risk.inner_text()
    assert "Check the amount against the application" in risk.inner_text()
    assert "G-1" in lin.text()
    assert lin.page.get_by_label("Amount (CNY) (required)").count() == 1
    assert lin.page.get_by_label("Category (required)").locator("option").all_inner_texts() == [
        "Choose…",
        "Equipment",
        "Training",
    ]
    assert lin.page.get_by_label("Pay by").get_attribute("type") == "date"
    assert lin.page.get_by_role("group", name="Urgent?").get_by_label("Yes").count() == 1
    lin.page.wait_for_selector(".djs-element.pf-current[data-element-id='prepare']")
    trail = lin.page.locator("table.trail tbody tr")
    assert trail.first.inner_text().split("\t")[2] == "Instance started"
    assert any("Task claimed" in t for t in trail.all_inner_texts())
    lin.axe("task page")

    # the browser checks as the API does, in the API's words, and sends nothing
    lin.page.get_by_label("Amount (CNY) (required)").fill("12.5")
    lin.page.get_by_label("Category (required)").select_option("equipment")
    lin.page.get_by_role("button", name="Complete the task").click()
    lin.page.get_by_role("alert").filter(has_text="The form has 2 problems").wait_for()
    assert lin.field_error("amount") == "'Amount (CNY)' (amount) must be a whole number."
    assert lin.field_error("purpose") == "'Purpose' (purpose) is required."
    assert lin.page.get_by_label("Amount (CNY) (required)").get_attribute("aria-invalid") == "true"
    assert lin.page.evaluate("() => document.activeElement.id") == "field-amount"
    assert lin.posts("/complete") == []
    lin.shot("clerk-3-form-problems", height=1640)
    lin.axe("task page with problems")

    # a rule of the model refuses it anyway (403): its sentence at the field it names
    lin.page.get_by_label("Amount (CNY) (required)").fill("0")
    lin.page.get_by_role("button", name="Complete the task").click()
    assert lin.field_error("amount") == "'Amount (CNY)' (amount) must be at least 1."
    lin.page.get_by_label("Amount (CNY) (required)").fill("1200")
    lin.page.get_by_label("Purpose (required)").fill("New chairs for the hall")
    lin.page.get_by_role("group", name="Urgent?").get_by_label("Yes").check()
    lin.page.get_by_role("button", name="Complete the task").click()
    lin.page.locator("#field-note-error").filter(has_text="urgent").wait_for()
    assert lin.field_error("note") == "An urgent grant says why in the note."
    assert "(rule CG-URGENT)" in lin.page.get_by_role("alert").inner_text()

    # the API's 422 sentences at their fields (a page out of date with the model: the test
    # changes the request on its way, the API's answer is the real one)
    def stale(route: Any) -> None:
        body = json.loads(route.request.post_data)
        body["data"]["category"] = "furniture"
        route.continue_(post_data=json.dumps(body))

    note = lin.page.get_by_label("Note")
    assert note.evaluate("e => e.tagName") == "TEXTAREA"  # a field of type textarea
    note.fill("The hall opens next week.")
    lin.page.route("**/complete", stale)
    lin.page.get_by_role("button", name="Complete the task").click()
    lin.page.locator("#field-category-error").filter(has_text="must be one of").wait_for()
    lin.page.unroute("**/complete")
    assert lin.field_error("category") == (
        "'Category' (category) must be one of: equipment, training."
    )
    assert "The API refused the completion" in lin.page.get_by_role("alert").inner_text()
    assert lin.field_error("note") == ""  # the earlier refusal is cleared
    lin.shot("clerk-4-api-refused")

    lin.page.get_by_role("button", name="Complete the task").click()
    lin.page.get_by_role("heading", name="Inbox", level=1).wait_for()
    moved = lin.page.get_by_role("status").filter(has_text="You completed")
    assert "The case moves on to: Approve the grant (grant-approver)" in moved.inner_text()
    completed = office.get_task("lin", prepare["id"])
    assert completed["state"] == "completed"
    data = office.client.get(f"/v1/instances/{instance['id']}", headers=office.as_("lin"))
    assert data.json()["data"]["amount"] == 1200 and data.json()["data"]["urgent"] is True
    assert data.json()["data"]["category"] == "equipment"
    (approve,) = [
        t
        for t in office.client.get(
            "/v1/tasks", headers=office.as_("lin"), params={"instance_id": instance["id"]}
        ).json()["items"]
        if t["element_id"] == "approve"
    ]
    # the next task is in the approver's inbox and not in this clerk's
    assert lin.page.locator(f"tr[data-task='{approve['id']}']").count() == 0
    assert lin.page.locator(f"tr[data-task='{prepare['id']}']").count() == 0
    wang = person()
    wang.sign_in(office.tokens["wang"])
    wang.page.locator(f"tr[data-task='{approve['id']}']").wait_for()
    assert "Approve the grant" in wang.page.locator(f"tr[data-task='{approve['id']}']").inner_text()


def test_a_high_risk_task_needs_its_comment_and_a_second_person_countersigns(
    office: Office, person: Any
) -> None:
    instance, approve_id = office.prepared("G-2")
    wang = person()
    wang.sign_in(office.tokens["wang"])
    wang.page.locator(f"tr[data-task='{approve_id}'] a").click()
    wang.page.get_by_role("heading", name="Approve the grant", level=1).wait_for()
    risk = wang.page.get_by_role("region", name="Risk point of this step").inner_text()
    assert "High" in risk and "The grant is approved by one person alone" in risk
    assert "The head of finance countersigns the approval" in risk
    assert "A reasoned comment is required" in risk and "finance-head" in risk
    wang.page.get_by_role("group", name="Approve the grant? (required)").get_by_label("Yes").check()
    wang.page.get_by_role("button", name="Complete the task").click()
    wang.page.locator("#comment-error").filter(has_text="reasoned comment").wait_for()
    assert wang.page.evaluate("() => document.activeElement.id") == "comment"
    assert wang.posts("/complete") == []
    wang.shot("clerk-5-high-risk-needs-comment")
    wang.axe("high-risk task")
    wang.page.get_by_label("Reasoned comment (required)").fill(
        "Checked the invoice and the budget."
    )
    wang.page.get_by_role("button", name="Complete the task").click()
    wang.page.get_by_role("heading", name="Inbox", level=1).wait_for()
    waiting = wang.page.get_by_role("status").filter(has_text="countersignature").inner_text()
    assert "finance-head" in waiting
    assert office.get_task("wang", approve_id)["state"] == "awaiting_countersign"
    wang.open_task(approve_id)
    assert "You submitted it, so a second person decides." in wang.text()
    assert wang.page.get_by_role("button", name="Countersign").count() == 0

    zhao = person()
    # the countersigner holds no role of the case's tasks, but decides on it: he sees the case
    zhao.sign_in(office.tokens["zhao"])
    row = zhao.page.locator(f"tr[data-task='{approve_id}']")
    assert "Awaiting countersignature" in row.inner_text()
    row.get_by_role("link").click()
    section = zhao.page.get_by_role("region", name="Countersignature")
    section.wait_for()
    assert "Checked the invoice and the budget." in section.inner_text()
    assert "wang completed this task" in section.inner_text()
    assert "The case is not shown to you" not in zhao.text()
    trail = " ".join(zhao.page.locator("table.trail tbody tr").all_inner_texts())
    assert "Instance started" in trail, trail
    assert "null" not in zhao.text() and "undefined" not in zhao.text()
    zhao.page.get_by_role("button", name="Refuse").click()  # without a comment: said, not sent
    assert "A refusal needs a comment" in zhao.page.get_by_role("alert").inner_text()
    assert zhao.posts("/countersign") == []
    zhao.shot("clerk-6-countersign")
    zhao.axe("countersign")
    zhao.page.get_by_label("Your comment (required to refuse)").fill("The invoice is missing.")
    zhao.page.get_by_role("button", name="Refuse").click()
    zhao.page.get_by_role("status").filter(has_text="You refused").wait_for()
    assert office.get_task("zhao", approve_id)["state"] == "ready"

    # wang does it again (the API), zhao countersigns from the page
    again = office.client.post(
        f"/v1/tasks/{approve_id}/complete",
        headers=office.as_("wang"),
        json={"data": {"approved": True}, "comment": "Invoice attached now."},
    )
    assert again.status_code == 200, again.text
    zhao.open_task(approve_id)
    zhao.page.get_by_role("button", name="Countersign").click()
    zhao.page.get_by_role("status").filter(has_text="You countersigned").wait_for()
    done = office.get_task("zhao", approve_id)
    assert done["state"] == "completed" and done["completed_by"] == "wang"
    (pay,) = office.client.get(
        "/v1/tasks",
        headers=office.as_("lin"),
        params={"instance_id": instance["id"], "state": "ready"},
    ).json()["items"]
    assert pay["element_id"] == "pay"

    # paying has a limit of one second: in lin's inbox it turns overdue, with its alert colour
    lin = person()
    lin.sign_in(office.tokens["lin"])
    row = lin.page.locator(f"tr[data-task='{pay['id']}']")
    for _ in range(50):
        if "Yellow alert" in row.inner_text():
            break
        lin.page.wait_for_timeout(200)
        lin.page.reload()
        lin.page.get_by_role("heading", name="Inbox", level=1).wait_for()
    alert = row.locator("td").nth(6)
    assert alert.inner_text().split() == ["Yellow", "alert", "Overdue"]
    assert "row-overdue" in str(row.get_attribute("class"))
    assert alert.locator(".alert-yellow").evaluate("e => getComputedStyle(e).backgroundColor") == (
        "rgb(255, 224, 102)"
    )
    lin.shot("clerk-7-inbox-overdue")
    lin.axe("inbox with alerts")

    # the trail as lin may see it, and the chart: done and open steps marked
    lin.open_task(pay["id"])
    trail = " ".join(lin.page.locator("table.trail tbody tr").all_inner_texts())
    for words in (
        "Task countersign refused",
        "Task countersigned",
        "The invoice is missing.",
        "countersigned by zhao",
        "Yellow alert: ",
    ):
        assert words in trail
    lin.page.wait_for_selector(".djs-element.pf-done[data-element-id='approve']")
    lin.page.wait_for_selector(".djs-element.pf-overdue[data-element-id='pay']")
    lin.page.wait_for_selector(".overlay[data-element='approve']")
    lin.shot("clerk-8-trail-and-chart")
    top = lin.page.evaluate("() => document.getElementById('trail-heading').offsetTop - 20")
    lin.shot("clerk-8-trail-and-chart-cropped", top=top, height=1300)
    lin.axe("task page with trail")


def test_a_clerk_without_the_role_sees_neither_the_task_nor_the_case(
    office: Office, person: Any
) -> None:
    instance, approve_id = office.prepared("G-SECRET-3")
    zhou = person()
    zhou.expected = [(404, "/v1/tasks/")]
    zhou.sign_in(office.tokens["zhou"])
    assert zhou.page.locator("table.inbox").count() == 0
    assert "role" in zhou.page.locator("main").inner_text()  # the API's hint
    zhou.axe("empty inbox")
    zhou.open_task(approve_id)
    alert = zhou.page.get_by_role("alert").inner_text()
    direct = office.client.get(f"/v1/tasks/{approve_id}", headers=office.as_("zhou"))
    assert direct.status_code == 404
    assert alert == direct.json()["detail"]
    zhou.shot("clerk-9-not-visible")
    zhou.axe("task not visible")
    for text in [zhou.text(), *(body for _, body in zhou.bodies)]:
        assert "G-SECRET-3" not in text and instance["id"] not in text
        assert "Desks" not in text and "Applicant Li" not in text

    # a replaced token signs the tab out (the API remembers a token for up to 5 s)
    zhou.expected += [(401, "/v1/")]
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert office.client.post("/v1/users/zhou/token", headers=admin).status_code == 200
    for _ in range(40):
        zhou.page.reload()
        zhou.page.wait_for_selector("main:not([aria-busy]) h1")
        if zhou.page.get_by_role("link", name="Sign in with your API token").count():
            break
        zhou.page.wait_for_timeout(250)
    assert zhou.page.get_by_role("navigation", name="Your work").inner_text().strip() == "Sign in"
    assert zhou.page.evaluate("() => sessionStorage.getItem('powerflow.token')") is None


def test_keyboard_only_completion_on_a_tablet_and_sign_out(office: Office, person: Any) -> None:
    instance = office.start("G-4")
    (prepare,) = instance["tasks"]
    lin = person(TABLET)
    lin.goto("/console/#/login")
    lin.tab_to("#token")
    lin.page.keyboard.type(office.tokens["lin"])
    lin.page.keyboard.press("Enter")
    lin.page.get_by_role("heading", name="Inbox", level=1).wait_for()
    lin.page.wait_for_selector("main:not([aria-busy])")
    lin.tab_to(f"tr[data-task='{prepare['id']}'] a")
    lin.page.keyboard.press("Enter")
    lin.page.get_by_role("heading", name="Prepare the grant", level=1).wait_for()
    lin.page.wait_for_selector("main:not([aria-busy])")
    assert lin.page.evaluate("() => document.activeElement.tagName") == "H1"
    lin.page.wait_for_selector(".djs-container svg")
    wide = lin.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the task page scrolls sideways at 768 px by {wide} px"
    lin.shot("clerk-10-tablet-task")
    lin.axe("task page at 768x1024")
    lin.tab_to("#field-amount")
    lin.page.keyboard.type("800")
    lin.tab_to("#field-purpose")
    lin.page.keyboard.type("Training course")
    lin.tab_to("#field-category")
    lin.page.keyboard.press("ArrowDown")
    lin.page.keyboard.press("ArrowDown")
    assert lin.page.evaluate("() => document.activeElement.value") == "training"
    lin.tab_to("input[name='urgent'][value='true']")
    lin.page.keyboard.press("ArrowRight")  # radio group: to "No"
    assert lin.page.evaluate("() => document.activeElement.value") == "false"
    outline = lin.page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    lin.tab_to("button[type='submit']")
    lin.page.keyboard.press("Enter")
    lin.page.get_by_role("status").filter(has_text="You completed").wait_for()
    data = office.client.get(f"/v1/instances/{instance['id']}", headers=office.as_("lin"))
    data = data.json()["data"]
    assert (data["amount"], data["category"], data["urgent"]) == (800, "training", False)
    wide = lin.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0, f"the inbox scrolls sideways at 768 px by {wide} px"
    lin.shot("clerk-11-tablet-inbox")
    lin.axe("inbox at 768x1024")
    lin.tab_to("nav.account button")
    lin.page.keyboard.press("Enter")
    lin.page.get_by_role("heading", name="Sign in", level=1).wait_for()
    assert lin.page.evaluate("() => sessionStorage.getItem('powerflow.token')") is None
    assert lin.page.get_by_role("navigation", name="Your work").inner_text().strip() == "Sign in"
    lin.goto("/console/#/inbox")
    assert lin.page.get_by_role("link", name="Sign in with your API token").count() == 1


PARITY = [  # (field, what the person types, the value the API would receive; None: left out)
    ("amount", "abc", "abc"),
    ("amount", "12.5", "12.5"),
    ("amount", "0", 0),
    ("amount", "-3", -3),
    ("amount", "50001", 50001),
    ("amount", "50000", 50000),
    ("amount", "", None),
    ("purpose", "", None),
    ("purpose", "x" * 201, "x" * 201),
    ("purpose", "x" * 200, "x" * 200),
    ("purpose", "汉字", "汉字"),
    ("category", "", None),
]


def test_the_browser_says_what_the_api_would_say(office: Office, person: Any) -> None:
    """The page's checks against services/forms.py's on the same input: the same sentence, or
    none, for each field (the category stays empty, so nothing is ever sent)."""
    from powerflow.services.forms import _form_problems

    instance = office.start("G-5")
    (prepare,) = instance["tasks"]
    form = office.get_task("lin", prepare["id"])["form"]
    lin = person()
    lin.sign_in(office.tokens["lin"])
    lin.open_task(prepare["id"])
    controls = {"amount": "Amount (CNY) (required)", "purpose": "Purpose (required)"}
    for field, typed, sent in PARITY:
        if field in controls:
            lin.page.get_by_label(controls[field]).fill(typed)
        lin.page.get_by_role("button", name="Complete the task").click()
        lin.page.get_by_role("alert").filter(has_text="The form has").wait_for()
        label = next(f["label"] for f in form if f["id"] == field)
        api = [
            p
            for p in _form_problems(form, {} if sent is None else {field: sent}, {})
            if p.startswith(f"'{label}' ({field})")
        ]
        assert lin.field_error(field) == " ".join(api), (field, typed)
    assert lin.posts("/complete") == []
