"""The web console's designer pages in a real headless Chromium against a real `powerflow serve`
(issue 11, item 2): a designer uploads a broken model and sees each problem listed and marked on
the chart drawn from the file itself (also inside a zip bundle; a file that is not XML gets the
sentence only), uploads a valid model and a second version, and compares them with the changed
elements marked on the charts and listed; a clerk without the designer role sees no designer
link and gets the API's 403 sentence. axe-core runs on every page; screenshots go to
test-artifacts/console/.

The helpers (Chromium, axe-core, the watched page) are test_console.py's and
test_console_clerk.py's; without Chromium the tests skip (and fail under
POWERFLOW_REQUIRE_BROWSER=1) as those do."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from conftest import ADMIN_TOKEN, DATA
from test_console import LAPTOP, TABLET, browser  # noqa: F401 (the browser fixture)
from test_console_clerk import Clerk, console_server, watched_pages

pytestmark = pytest.mark.e2e

V1 = (DATA / "designer_permit.bpmn").read_bytes()
V2 = (DATA / "designer_permit_v2.bpmn").read_bytes()
# two problems the compiler reports at their elements: a risk level at 'inspect', a time limit
# at 'decide'
NAME = "Street stall permit (designer tests)"
BROKEN = V1.replace(b'level="medium"', b'level="severe"').replace(
    b'duration="P2D"', b'duration="two days"'
)


class Studio:
    """A server with a designer and a clerk; nothing deployed until the tests upload."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(base_url=url, timeout=30)
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        self.tokens: dict[str, str] = {}
        for name, roles in {"wu": ["designer"], "zhou": ["clerk"]}.items():
            got = self.client.post("/v1/users", headers=admin, json={"name": name, "roles": roles})
            assert got.status_code == 201, got.text
            self.tokens[name] = got.json()["token"]

    def upload(self, name: str, files: list[tuple[str, bytes]]) -> httpx.Response:
        """The API's own answer to the same upload (a refused one stores nothing)."""
        return self.client.post(
            "/v1/definitions",
            headers={"Authorization": f"Bearer {self.tokens[name]}"},
            files=[("file", (n, data)) for n, data in files],
        )


@pytest.fixture(scope="module")
def studio(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:  # noqa: F811
    with console_server(tmp_path_factory, "console-designer") as url:
        s = Studio(url)
        try:
            yield s
        finally:
            s.client.close()


@pytest.fixture
def person(browser: Any, studio: Studio) -> Iterator[Any]:  # noqa: F811
    """A factory of watched pages (``watched_pages``) on the studio's server."""
    with watched_pages(browser, studio.url) as new:
        yield new


def _choose(page: Clerk, files: list[tuple[str, bytes, str]]) -> None:
    page.page.get_by_label("BPMN or DMN files, or a zip of them").set_input_files(
        [{"name": n, "mimeType": t, "buffer": data} for n, data, t in files]
    )
    page.page.get_by_role("button", name="Upload and deploy").click()


def _shape_box(page: Clerk, element_id: str, chart: str = "") -> dict[str, float]:
    box = page.page.locator(
        f'{chart} g.djs-element[data-element-id="{element_id}"] > .djs-visual'
    ).first
    found = box.bounding_box()
    assert found, f"{element_id} is not drawn"
    return dict(found)


def _region_shot(page: Clerk, name: str, first: str, last: str) -> None:
    """A screenshot from the top of `first` to the bottom of `last` (for docs/img)."""
    top, bottom = page.page.evaluate(
        """([a, b]) => [document.querySelector(a).getBoundingClientRect().top + scrollY,
                       document.querySelector(b).getBoundingClientRect().bottom + scrollY]""",
        [first, last],
    )
    page.shot(name, top=max(0, int(top) - 16), height=int(bottom - top) + 32)


def _marked_problem(page: Clerk, element_id: str, number: int) -> None:
    """The problem's badge hangs below its element's shape, which is marked red."""
    scope = ".problem-chart"
    badge = page.page.locator(f'{scope} .djs-overlays[data-container-id="{element_id}"] .badge')
    badge.first.wait_for()
    assert badge.all_inner_texts() == [f"Problem {number}"]
    shape = page.page.locator(f'{scope} g.djs-element[data-element-id="{element_id}"]')
    assert "pf-error" in (shape.get_attribute("class") or "")
    at, below = _shape_box(page, element_id, scope), badge.first.bounding_box()
    assert below is not None
    assert abs(below["x"] - at["x"]) < 12, (below, at)
    assert -2 <= below["y"] - (at["y"] + at["height"]) < 12, (below, at)


def test_a_designer_uploads_and_sees_the_problems_on_the_chart(studio: Studio, person: Any) -> None:
    wu = person()
    wu.expected = [(422, "/v1/definitions")]
    wu.sign_in(studio.tokens["wu"])
    wu.page.get_by_role("link", name="Designer").click()
    wu.page.get_by_role("heading", name="Designer", level=1).wait_for()
    wu.page.wait_for_selector("main:not([aria-busy])")
    assert wu.page.get_by_text("Nothing is deployed yet.").is_visible()
    wu.axe("designer, empty")

    # nothing chosen: a sentence, nothing sent
    wu.page.get_by_role("button", name="Upload and deploy").click()
    assert wu.page.get_by_role("alert").inner_text() == "Choose a file to upload first."
    assert not wu.posts("/v1/definitions")

    direct = studio.upload("wu", [("permit.bpmn", BROKEN)])
    assert direct.status_code == 422
    problems = direct.json()["problems"]
    assert [(p["element_id"], p["severity"]) for p in problems] == [
        ("inspect", "error"),
        ("decide", "error"),
    ]
    _choose(wu, [("permit.bpmn", BROKEN, "application/octet-stream")])
    alert = wu.page.get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text() == direct.json()["detail"]
    wu.page.locator(".problem-chart .djs-container").wait_for()
    items = wu.page.locator("ol.problems > li")
    assert items.count() == 2
    for number, problem in enumerate(problems, start=1):
        item = wu.page.locator(f"#problem-{number}")
        text = item.inner_text()
        assert text.startswith(f"Problem {number} {problem['message']}"), text
        assert f"line {problem['line']}" in text and f"element {problem['element_id']}" in text
        _marked_problem(wu, problem["element_id"], number)
    assert wu.page.get_by_role("heading", name="2 problems").is_visible()
    # the list links to the chart: the element is brought into view and outlined
    wu.page.locator("#problem-2").get_by_role("button", name="Show on the chart").click()
    decide = wu.page.locator('.problem-chart g.djs-element[data-element-id="decide"]')
    assert "pf-focus" in (decide.get_attribute("class") or "")
    wu.axe("designer, problems")
    wu.shot("designer-1-problems")
    _region_shot(wu, "designer-1-problems-chart", "#upload-heading", ".problem-chart")

    # the same file in a zip bundle: the chart is drawn from the zip's entry
    bundle = io.BytesIO()
    with zipfile.ZipFile(bundle, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("models/permit.bpmn", BROKEN)
    zipped = studio.upload("wu", [("bundle.zip", bundle.getvalue())])
    assert zipped.status_code == 422
    assert {p["file"] for p in zipped.json()["problems"]} == {"models/permit.bpmn"}
    _choose(wu, [("bundle.zip", bundle.getvalue(), "application/zip")])
    wu.page.get_by_role("heading", name="Where the problems are in models/permit.bpmn").wait_for()
    _marked_problem(wu, "inspect", 1)
    _marked_problem(wu, "decide", 2)

    # a file that is not XML at all: the API's sentence and the list, no chart
    junk = b"this is not a model"
    direct = studio.upload("wu", [("notes.bpmn", junk)])
    assert direct.status_code == 422
    _choose(wu, [("notes.bpmn", junk, "application/octet-stream")])
    wu.page.get_by_role("heading", name="1 problem").wait_for()
    assert wu.page.get_by_role("alert").inner_text() == direct.json()["detail"]
    assert wu.page.locator(".problem-chart").count() == 0
    assert (
        wu.page.locator("#problem-1")
        .inner_text()
        .startswith(f"Problem 1 {direct.json()['problems'][0]['message']}")
    )
    wu.axe("designer, not XML")

    # on a tablet the problems and the chart fit the width
    tablet = person(TABLET)
    tablet.expected = [(422, "/v1/definitions")]
    tablet.sign_in(studio.tokens["wu"])
    tablet.goto("/console/#/designer")
    _choose(tablet, [("permit.bpmn", BROKEN, "application/octet-stream")])
    tablet.page.locator(".problem-chart .djs-container").wait_for()
    _marked_problem(tablet, "inspect", 1)
    assert tablet.page.evaluate("() => document.documentElement.scrollWidth") <= 768
    tablet.axe("designer, problems, tablet")
    # nothing was deployed by any of these
    listed = studio.client.get(
        "/v1/definitions", headers={"Authorization": f"Bearer {studio.tokens['wu']}"}
    )
    assert listed.json()["items"] == []


def test_a_designer_deploys_two_versions_and_compares_them(studio: Studio, person: Any) -> None:
    wu = person()
    wu.sign_in(studio.tokens["wu"])
    wu.goto("/console/#/designer")
    _choose(wu, [("designer_permit.bpmn", V1, "application/octet-stream")])
    wu.page.get_by_role("heading", name=f"{NAME}, version 1").wait_for()
    wu.page.wait_for_selector("main:not([aria-busy])")
    assert wu.page.url.endswith("#/designer/designer_permit/1")
    assert wu.page.get_by_role("status").first.inner_text() == "Deployed designer_permit v1."
    wu.page.locator('#diagram .djs-overlays[data-container-id="decide"] .badge').first.wait_for()
    assert (
        "High risk"
        in wu.page.locator('#diagram .djs-overlays[data-container-id="decide"]').inner_text()
    )
    assert wu.page.locator("table.risk-map tbody tr").count() == 3
    assert "This is the only version" in wu.text()
    wu.axe("designer, version 1")

    wu.page.locator("#account").get_by_role("link", name="Designer").click()
    wu.page.get_by_role("heading", name="Designer", level=1).wait_for()
    _choose(wu, [("designer_permit.bpmn", V2, "application/octet-stream")])
    wu.page.get_by_role("heading", name=f"{NAME}, version 2").wait_for()
    wu.page.wait_for_selector("main:not([aria-busy])")
    wu.page.get_by_label("Compare with").select_option("1")
    wu.page.get_by_role("button", name="Compare").click()
    wu.page.get_by_role("heading", name="Changes").wait_for()
    wu.page.wait_for_selector("main:not([aria-busy])")
    assert wu.page.url.endswith("#/designer/designer_permit/2?compare=1")
    wu.page.locator('#diagram-other g.djs-element[data-element-id="inspect"]').wait_for()

    rows = {
        row.get_attribute("data-element"): row.inner_text()
        for row in wu.page.locator("table.changes tbody tr").all()
    }
    assert set(rows) == {"inspect", "notify", "f4", "f5"}, rows
    assert "Changed" in rows["inspect"]
    assert "pf:timeLimit duration: “P3D” → “P5D”" in rows["inspect"]
    assert "Added" in rows["notify"] and "Added" in rows["f5"]
    assert "targetRef: “end” → “notify”" in rows["f4"]

    def marks(chart: str, element_id: str) -> str:
        shape = wu.page.locator(f'{chart} g.djs-element[data-element-id="{element_id}"]')
        return str(shape.get_attribute("class") or "")

    def note(chart: str, element_id: str) -> str:
        overlays = f'{chart} .djs-overlays[data-container-id="{element_id}"] .overlay.below'
        return str(wu.page.locator(overlays).inner_text())

    assert "pf-added" in marks("#diagram", "notify") and note("#diagram", "notify") == "Added"
    assert "pf-changed" in marks("#diagram", "inspect") and note("#diagram", "inspect") == "Changed"
    assert "pf-changed" in marks("#diagram-other", "inspect")
    assert wu.page.locator('#diagram-other g[data-element-id="notify"]').count() == 0
    stroke = wu.page.evaluate(
        """() => getComputedStyle(document.querySelector(
            '#diagram g[data-element-id="f5"] .djs-visual > path')).stroke"""
    )
    assert stroke == "rgb(29, 107, 47)"  # an added flow is drawn green (--ok)
    for unchanged in ("check", "decide"):
        assert "pf-" not in marks("#diagram", unchanged)
    assert wu.page.get_by_text("Added Changed Removed").is_visible()  # the legend
    wu.axe("designer, compare")
    wu.shot("designer-2-compare")
    _region_shot(wu, "designer-2-compare-chart", "#compare-heading", "table.changes")

    # the list shows both versions; on a tablet nothing scrolls sideways
    tablet = person(TABLET)
    tablet.sign_in(studio.tokens["wu"])
    tablet.goto("/console/#/designer")
    row = tablet.page.locator('table.definitions tr[data-key="designer_permit"]')
    assert row.get_by_role("link", name="version 1").count() == 1
    assert row.get_by_role("link", name="version 2").count() == 1
    assert tablet.page.evaluate("() => document.documentElement.scrollWidth") <= 768
    tablet.axe("designer list, tablet")
    tablet.shot("designer-3-list-tablet")
    tablet.goto("/console/#/designer/designer_permit/2?compare=1")
    tablet.page.get_by_role("heading", name="Changes").wait_for()
    assert tablet.page.evaluate("() => document.documentElement.scrollWidth") <= 768
    # an address naming a version that does not exist to compare with gets a sentence
    tablet.goto("/console/#/designer/designer_permit/2?compare=7")
    assert tablet.page.get_by_role("alert").inner_text() == (
        "designer_permit has no version 7 to compare with."
    )


def test_a_clerk_has_no_designer_link_and_gets_the_apis_refusal(
    studio: Studio, person: Any
) -> None:
    zhou = person()
    zhou.expected = [(403, "/v1/definitions")]
    zhou.sign_in(studio.tokens["zhou"])
    assert zhou.page.locator("#account").get_by_role("link", name="Designer").count() == 0
    zhou.goto("/console/#/designer")
    direct = studio.upload("zhou", [("designer_permit.bpmn", V1)])
    assert direct.status_code == 403
    _choose(zhou, [("designer_permit.bpmn", V1, "application/octet-stream")])
    alert = zhou.page.get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text() == direct.json()["detail"]
    assert "'designer' role" in alert.inner_text()
    assert zhou.page.locator("ol.problems").count() == 0
    zhou.axe("designer, refused")


JAVA_TASK = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="D" targetNamespace="urn:tests">
  <bpmn:process id="designer_payout" name="Pay out (designer tests)" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="transfer" name="Transfer money" camunda:class="org.example.Transfer">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="transfer"/>
    <bpmn:sequenceFlow id="f2" sourceRef="transfer" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_model_stored_for_viewing_shows_its_warnings_on_the_chart(
    studio: Studio, person: Any
) -> None:
    wu = person()
    wu.sign_in(studio.tokens["wu"])
    wu.goto("/console/#/designer")
    _choose(wu, [("payout.bpmn", JAVA_TASK, "application/octet-stream")])
    wu.page.get_by_role("heading", name="Pay out (designer tests), version 1").wait_for()
    wu.page.wait_for_selector("main:not([aria-busy])")
    shown = studio.client.get(
        "/v1/definitions/designer_payout",
        headers={"Authorization": f"Bearer {studio.tokens['wu']}"},
    ).json()[0]
    assert shown["executable"] is False
    (warning,) = shown["warnings"]
    assert warning["element_id"] == "transfer"
    reason = " ".join(shown["not_executable_reason"].split())
    assert f"Viewing only: {reason}" in " ".join(wu.text().split())
    assert " ".join(wu.page.locator("ol.problems li").inner_text().split()) == " ".join(
        f"Warning 1 {warning['message']} (element transfer)".split()
    )
    # no drawing in the file: laid out in the browser, the warning marked at its element
    assert wu.page.get_by_text("This model carries no drawing").is_visible()
    note = wu.page.locator('#diagram .djs-overlays[data-container-id="transfer"] .overlay.below')
    note.wait_for()
    assert note.inner_text() == "Warning"
    shape = wu.page.locator('#diagram g.djs-element[data-element-id="transfer"]')
    assert "pf-warning" in (shape.get_attribute("class") or "")
    wu.axe("designer, warnings")


def test_the_upload_offers_the_apis_purposes_in_words(studio: Studio, person: Any) -> None:
    """POST /v1/definitions?purpose=: deploy (the default), run (all or nothing) or view."""
    wu = person()
    wu.expected = [(422, "/v1/definitions")]
    wu.sign_in(studio.tokens["wu"])
    wu.goto("/console/#/designer")
    group = wu.page.get_by_role("group", name="What the upload is for")
    assert wu.page.get_by_label("Deploy", exact=True).is_checked()
    words = group.inner_text()
    for said in ("stored for viewing only", "nothing is stored", "Nothing can be started"):
        assert said in words, words
    _region_shot(
        wu,
        "designer-8-upload-purposes",
        "section[aria-labelledby=upload-heading]",
        "section[aria-labelledby=upload-heading]",
    )
    # deploy to run, or not at all: the Java service task refuses the whole upload
    java = JAVA_TASK.replace(b"designer_payout", b"designer_payout_run")
    wu.page.get_by_label("Deploy to run, or not at all").check()
    _choose(wu, [("payout-run.bpmn", java, "application/octet-stream")])
    refused = wu.page.locator(".upload-result [role=alert]")
    refused.wait_for()
    (sent,) = [u for m, u, _ in wu.requests if m == "POST" and "/v1/definitions" in u]
    assert sent.endswith("/v1/definitions?purpose=run")
    direct = studio.client.post(
        "/v1/definitions",
        params={"purpose": "run"},
        headers={"Authorization": f"Bearer {studio.tokens['wu']}"},
        files={"file": ("payout-run.bpmn", java)},
    )
    assert direct.status_code == 422
    assert refused.inner_text().split() == direct.json()["detail"].split()
    assert wu.page.locator("ol.problems li").count() >= 1
    listed = studio.client.get(
        "/v1/definitions/designer_payout_run",
        headers={"Authorization": f"Bearer {studio.tokens['wu']}"},
    )
    assert listed.status_code == 404  # nothing stored
    wu.axe("designer, upload refused for running")
    # store for viewing only: a model that could run is kept, not startable
    viewed = V1.replace(b'"designer_permit"', b'"designer_permit_view"')
    wu.page.get_by_label("Store for viewing only").check()
    wu.page.get_by_label("BPMN or DMN files, or a zip of them").set_input_files(
        [{"name": "permit.bpmn", "mimeType": "application/octet-stream", "buffer": viewed}]
    )
    wu.page.get_by_role("button", name="Upload for viewing").click()
    wu.page.get_by_role("heading", name=f"{NAME}, version 1").wait_for()
    posts = [u for m, u, _ in wu.requests if m == "POST" and "/v1/definitions" in u]
    assert posts[-1].endswith("/v1/definitions?purpose=view")
    (stored,) = studio.client.get(
        "/v1/definitions/designer_permit_view",
        headers={"Authorization": f"Bearer {studio.tokens['wu']}"},
    ).json()
    assert stored["executable"] is False
    assert "Viewing only" in wu.text()
    wu.shot("designer-9-stored-for-viewing")
