"""The web console's public pages in a real headless Chromium against a real `powerflow serve`
(issue 11): the power list, a disclosed process with its flow chart and overlays, progress by
business key, notices and an objection posted from the page. Every page's DOM text and every
network response must hold no undisclosed value, field or person (as tests/test_public.py checks
of the API); axe-core finds no serious or critical violation on any page; screenshots are kept
under test-artifacts/console/.

Debian's Chromium (/usr/bin/chromium) is driven by Playwright; `.ci/run` installs it and sets
POWERFLOW_REQUIRE_BROWSER=1, so there the tests fail instead of skipping without it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ADMIN_TOKEN, DATA, ROOT, Server, start_server, stop_server
from flows import complete, task
from test_public import PEOPLE, SENTINELS

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = ROOT / "console" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "console"
LAPTOP = {"width": 1280, "height": 800}
TABLET = {"width": 768, "height": 1024}
UNDISCLOSED_FIELDS = tuple(SENTINELS)  # internal_score, decision_note, secret_start


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return (
            "Debian's Chromium is not installed at /usr/bin/chromium "
            "(apt-get install -y --no-install-recommends chromium)"
        )
    if not AXE.exists():
        return "console/node_modules/axe-core is missing (npm ci in console/)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _browser_missing()
    if missing:
        if os.environ.get("POWERFLOW_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required (POWERFLOW_REQUIRE_BROWSER=1) but {missing}")
        pytest.skip(f"browser tests skipped: {missing}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


class Site:
    """A server with public_appointment (disclosed) and secret_appointment deployed, a case
    APP-3 at its notice, and SEC-1 (undisclosed) at its own."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.url = server.url
        self.client = httpx.Client(base_url=server.url, timeout=30)
        self.admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        self.instance_ids: list[str] = []
        self.task_ids: list[str] = []

    def user(self, name: str, roles: list[str]) -> dict[str, str]:
        got = self.client.post("/v1/users", headers=self.admin, json={"name": name, "roles": roles})
        assert got.status_code == 201, got.text
        return {"Authorization": f"Bearer {got.json()['token']}"}

    def prepare(self) -> None:
        designer = self.user("designer_wu", ["designer"])
        for path in (
            DATA / "public_appointment.bpmn",
            DATA / "secret_appointment.bpmn",
            ROOT / "processes" / "open_tender_procurement.bpmn",  # an example, drawn (BPMN DI)
        ):
            name = path.name
            got = self.client.post(
                "/v1/definitions", headers=designer, files={"file": (name, path.read_bytes())}
            )
            assert got.status_code == 201, got.text
        people = {name: self.user(name, ["clerk"]) for name in PEOPLE}
        for key, business_key in (("public_appointment", "APP-3"), ("secret_appointment", "SEC-1")):
            started = self.client.post(
                "/v1/instances",
                headers=people["starter_li"],
                json={
                    "definition_key": key,
                    "business_key": business_key,
                    "variables": {"secret_start": SENTINELS["secret_start"]},
                },
            )
            assert started.status_code == 201, started.text
            instance = started.json()
            self.task_ids.append(task(instance, "nominate")["id"])
            instance = complete(
                self,  # type: ignore[arg-type]
                people["nominator_zhao"],
                instance,
                "nominate",
                candidate="Wang Fang",
                post="Head of the finance office",
                internal_score=SENTINELS["internal_score"],
            )
            self.task_ids.append(task(instance, "post_notice")["id"])
            instance = complete(self, people["poster_qian"], instance, "post_notice")  # type: ignore[arg-type]
            self.task_ids += [t["id"] for t in instance["tasks"]]
            self.instance_ids.append(instance["id"])

    def notice_id(self, key: str) -> int:
        listed = self.client.get("/public/notices").json()
        (found,) = [n["id"] for n in listed if n["process_key"] == key]
        return int(found)


@pytest.fixture(scope="module")
def site(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The server (started only once a browser is there to drive it)."""
    db = tmp_path_factory.mktemp("console") / "powerflow.db"
    server = start_server(
        f"sqlite:///{db}",
        POWERFLOW_DEPLOY_EXAMPLES="false",
        POWERFLOW_NOTICE_MAX_OBJECTIONS="1",  # the page's second objection gets the 409
    )
    try:
        built = httpx.get(f"{server.url}/console/", timeout=10)
        assert built.status_code == 200, f"the console is not built: {built.text}"
        s = Site(server)
        try:
            s.prepare()
            yield s
        finally:
            s.client.close()
    finally:
        stop_server(server)


class Watched:
    """A page whose responses, CSP reports and outside requests are recorded."""

    def __init__(self, browser: Any, base: str, viewport: dict[str, int]) -> None:
        self.context = browser.new_context(viewport=viewport, service_workers="block")
        # axe-core as an init script: the page's CSP forbids inline scripts (docs/console.md)
        self.context.add_init_script(path=str(AXE))
        self.page = self.context.new_page()
        self.base = base
        self.bodies: list[tuple[str, str]] = []
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("request", self._request)
        self.page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.text.startswith("Failed to load resource"):
            return  # judged by its response below (the API's 404 and 409 are expected)
        if message.type == "error" or "Content Security Policy" in message.text:
            self.problems.append(f"console {message.type}: {message.text}")

    def _request(self, request: Any) -> None:
        url = request.url
        if not (url.startswith(self.base) or url.startswith("data:")):
            self.problems.append(f"request outside the server: {url}")

    def _response(self, response: Any) -> None:
        try:
            body = response.body().decode("utf-8", errors="replace")
        except Exception:  # a redirect has no body
            body = ""
        self.bodies.append((response.url, body))
        if response.status >= 500 or (response.status >= 400 and "/public/" not in response.url):
            self.problems.append(f"{response.status} from {response.url}")

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)
        self.page.wait_for_selector("main:not([aria-busy])")

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def axe(self, name: str) -> None:
        """axe-core on the page as it is: no serious or critical violation."""
        violations = self.page.evaluate(
            """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3)
                    .map(n => n.target.join(' ')).join('; ')}`)"""
        )
        assert violations == [], f"{name}: {violations}"

    def text(self) -> str:
        return str(self.page.evaluate("() => document.documentElement.innerText"))

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Watched]:
    watched = Watched(browser, site.url, LAPTOP)
    try:
        yield watched
    finally:
        watched.close()
    assert not watched.problems, watched.problems


def _assert_nothing_undisclosed(site: Site, page: Watched, dom_texts: list[str]) -> None:
    """No sentinel value, person, instance or task id anywhere; no undisclosed field name in
    the page or in an API answer (the BPMN file itself is public whole: docs/public.md)."""
    everything = [*dom_texts, *(body for _, body in page.bodies)]
    assert len(page.bodies) >= 5
    for text in everything:
        for value in SENTINELS.values():
            assert value not in text
        for person in (*PEOPLE, "designer_wu"):
            assert person not in text
        for identifier in (*site.instance_ids, *site.task_ids):
            assert identifier not in text
        for secret in ("SEC-APPOINT", "Secret appointment", "SEC-1"):
            assert secret not in text
    answers = [*dom_texts, *(b for url, b in page.bodies if not url.endswith("/diagram"))]
    for text in answers:
        for field in UNDISCLOSED_FIELDS:
            assert field not in text


def test_the_public_finds_a_power_its_chart_and_a_disclosed_case_and_nothing_else(
    site: Site, page: Watched
) -> None:
    texts = []
    page.goto("/")  # redirected to /console/
    assert page.page.url == f"{site.url}/console/"
    page.page.get_by_role("heading", name="Power list", level=1).wait_for()
    power = page.page.get_by_role("article", name=re.compile("PUB-APPOINT"))
    assert "Regulation on the selection and appointment of cadres, art. 47" in power.inner_text()
    assert "Promised: 30 working days" in power.inner_text()
    texts.append(page.text())
    page.shot("1-power-list")
    page.axe("power list")

    # the process page: chart with overlays at the elements, the steps table
    power.get_by_role("link", name="Appointment with a public notice").click()
    page.page.get_by_role("heading", name="Appointment with a public notice", level=1).wait_for()
    page.page.wait_for_selector(".djs-container svg .djs-element[data-element-id='appoint']")
    overlay = page.page.locator(".djs-overlay .overlay[data-element='appoint']")
    overlay.wait_for()
    assert overlay.inner_text().split("\n") == ["Limit 3 working days", "High risk"]
    notice_overlay = page.page.locator(".overlay[data-element='post_notice']").inner_text()
    assert notice_overlay == "Notice 5 working days"
    row = page.page.locator("table.steps tr[data-element='appoint']").inner_text()
    assert "3 working days" in row and "Appoint only after the notice period" in row
    assert page.page.locator(".overlay[data-element='nominate']").count() == 0  # no limit there
    texts.append(page.text())
    page.shot("2-process")
    page.axe("process page")

    # progress by business key, with the keyboard
    page.page.get_by_role("link", name="Look up a case of this process").click()
    page.page.get_by_role("heading", name="Case progress", level=1).wait_for()
    assert page.page.get_by_label("Process").input_value() == "public_appointment"
    page.page.get_by_label("Business key").fill("APP-3")
    page.page.get_by_label("Business key").press("Enter")
    result = page.page.get_by_role("region", name="Case APP-3")
    result.wait_for()
    done = page.page.locator("table.done tbody tr").all_inner_texts()
    assert [line.split("\t")[0] for line in done] == [
        "Nominate the candidate",
        "Post the pre-appointment notice",
    ]
    assert all(re.search(r"\d{4}", line) for line in done)  # each with its time
    current = page.page.locator("table.current tbody tr").all_inner_texts()
    (appoint,) = [line for line in current if line.startswith("Decide the appointment")]
    assert "Within its time limit" in appoint
    assert "In progress" in result.inner_text()
    assert "Head of the finance office" in result.inner_text()  # the disclosed field `post`
    page.page.wait_for_selector(".djs-element.pf-current[data-element-id='appoint']")
    page.page.wait_for_selector(".djs-element.pf-done[data-element-id='nominate']")
    texts.append(page.text())
    page.shot("3-progress")
    page.axe("progress page")

    # an unknown case: the API's sentence, no stack, no secret case
    page.goto("/console/#/progress/public_appointment/SEC-1")
    alert = page.page.get_by_role("alert")
    assert "business key" in alert.inner_text() or "No case" in alert.inner_text()
    page.goto("/console/#/progress/secret_appointment/SEC-1")
    texts.append(page.text())
    assert page.page.get_by_role("alert").count() == 1
    page.axe("progress not found")

    # the open notices: only the disclosed process's
    page.page.get_by_role("link", name="Public notices").click()
    page.page.get_by_role("heading", name="Public notices", level=1).wait_for()
    cards = page.page.locator("ul.cards article")
    assert cards.count() == 1
    assert "Wang Fang" in cards.inner_text()
    texts.append(page.text())
    page.shot("4-notices")
    page.axe("notices")

    _assert_nothing_undisclosed(site, page, texts)


def test_an_objection_posted_from_the_page_reaches_the_case_and_the_409_is_shown(
    site: Site, page: Watched
) -> None:
    notice_id = site.notice_id("public_appointment")
    page.goto(f"/console/#/notices/{notice_id}")
    page.page.get_by_role("heading", name=re.compile("notice|Notice|公示|Post")).first.wait_for()
    assert "Wang Fang" in page.text()
    page.axe("notice page")

    send = page.page.get_by_role("button", name="Send the objection")
    send.click()  # empty: the page says so, nothing is sent
    assert "Write your objection" in page.page.get_by_role("alert").inner_text()

    page.page.get_by_label("Your objection (required)").fill("The candidate never served there.")
    page.page.get_by_label("Your name (optional)").fill("Objector Zhou")
    page.page.get_by_label("How to reach you (optional)").fill("zhou-contact@example.org")
    send.click()
    receipt = page.page.get_by_role("status").filter(has_text="Your objection was received")
    receipt.wait_for()
    assert "passed to the case" in receipt.inner_text()
    page.shot("5-objection-received")

    supervised = site.client.get(f"/v1/notices/{notice_id}/objections", headers=site.admin)
    assert supervised.status_code == 200, supervised.text
    (objection,) = supervised.json()
    assert objection["text"] == "The candidate never served there."
    assert objection["name"] == "Objector Zhou"
    assert objection["contact"] == "zhou-contact@example.org"
    assert objection["delivered"] is True
    progress = site.client.get("/public/progress/public_appointment/APP-3").json()
    assert "review_objection" in [s["element_id"] for s in progress["current_steps"]]

    # POWERFLOW_NOTICE_MAX_OBJECTIONS=1: the API refuses the next with 409 and a sentence
    page.page.get_by_label("Your objection (required)").fill("A second objection.")
    send.click()
    refused = page.page.get_by_role("alert")
    refused.wait_for()
    direct = site.client.post(f"/public/notices/{notice_id}/objections", json={"text": "x"})
    assert direct.status_code == 409
    assert refused.inner_text() == direct.json()["detail"]
    page.shot("6-objection-refused")
    page.axe("notice page with a refusal")
    receipts = [body for url, body in page.bodies if url.endswith("/objections")]
    assert len(receipts) == 2  # the receipt and the refusal: neither names the objector
    assert all("zhou-contact" not in r and "Objector Zhou" not in r for r in receipts)
    assert (
        len(site.client.get(f"/v1/notices/{notice_id}/objections", headers=site.admin).json()) == 1
    )


def test_the_pages_work_on_a_tablet_with_the_keyboard_and_the_headers_are_strict(
    browser: Any, site: Site
) -> None:
    watched = Watched(browser, site.url, TABLET)
    try:
        for name, path in (
            ("power-list", "/console/"),
            ("process", "/console/#/processes/public_appointment"),
            ("progress", "/console/#/progress/public_appointment/APP-3"),
            ("example-process", "/console/#/processes/open_tender_procurement"),
        ):
            watched.goto(path)
            if name != "power-list":
                watched.page.wait_for_selector(".djs-container svg")
            if name == "example-process":  # its own drawing, an overlay on each limited step
                assert "laid out automatically" not in watched.text()
                watched.page.wait_for_selector(".overlay[data-element='confirm_winner']")
                assert watched.page.locator(".djs-overlay .overlay").count() >= 10
            wide = watched.page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            assert wide <= 0, f"{name} scrolls sideways at 768 px by {wide} px"
            watched.shot(f"tablet-{name}")
            watched.axe(f"{name} at 768x1024")
        # keyboard: the first Tab reaches the skip link, which moves focus to the content
        watched.goto("/console/")
        watched.page.keyboard.press("Tab")
        focused = watched.page.evaluate("() => document.activeElement.textContent")
        assert focused == "Skip to content"
        watched.page.keyboard.press("Enter")
        assert watched.page.evaluate("() => document.activeElement.id") == "main"
        watched.page.keyboard.press("Tab")
        tag = watched.page.evaluate("() => document.activeElement.tagName")
        assert tag == "A"  # the first link in the content
        outline = watched.page.evaluate(
            "() => getComputedStyle(document.activeElement).outlineStyle"
        )
        assert outline != "none"  # focus is visible
        assert not watched.problems, watched.problems
    finally:
        watched.close()

    index = httpx.get(f"{site.url}/console/")
    csp = index.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    assert index.headers["cache-control"] == "no-cache"
    assert "<script>" not in index.text and not re.search(r"\son\w+\s*=", index.text)
    for asset in re.findall(r'(/console/assets/[^"]+)', index.text):
        got = httpx.get(f"{site.url}{asset}")
        assert got.status_code == 200
        assert got.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_the_page_shows_the_rate_limits_sentence_and_wait(browser: Any, tmp_path: Path) -> None:
    """Past the per-address limit the API answers 429 with a sentence and Retry-After: the page
    shows both (docs/public.md, "Rate limits")."""
    server = start_server(
        f"sqlite:///{tmp_path / 'limited.db'}",
        POWERFLOW_DEPLOY_EXAMPLES="false",
        POWERFLOW_PUBLIC_BURST="2",
        POWERFLOW_PUBLIC_RATE_PER_MINUTE="1",
    )
    watched = Watched(browser, server.url, LAPTOP)
    try:
        watched.goto("/console/#/notices")
        assert watched.page.get_by_role("heading", name="Public notices").count() == 1
        watched.page.get_by_role("link", name=re.compile("ended in the last 90 days")).click()
        watched.page.get_by_role("heading", name="Ended public notices").wait_for()
        # the burst (2) is spent: the next public request is refused
        watched.page.get_by_role("link", name="Show the open notices").click()
        alert = watched.page.get_by_role("alert").inner_text()
        assert "Too many requests" in alert
        assert re.search(r"\b\d+ s(econds)?\b", alert), alert  # the wait, from Retry-After
        watched.shot("7-rate-limited")
        watched.axe("rate limited")
    finally:
        watched.close()
        stop_server(server)
    assert not watched.problems, watched.problems
