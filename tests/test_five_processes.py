"""The five processes of domain.md section 2 (issue 10, item 5) over HTTP, on SQLite and
PostgreSQL.

Every file in processes/ is deployed as shipped. Each process walks its normal path (the "Full
run" of processes/README.md) as its role holders would, one user per role; then meets at least
two irregularities that powerflow blocks (403 ``rule_violated`` naming the rule, the instance
unchanged) or flags (a ``warn`` violation with a yellow alert, or a time limit passing on the
injectable clock with the alert loop run by hand), and the supervision case that follows: a
monitor opens it on the violation or the alert, demands a correction of the responsible role,
the role holder answers, and the monitor closes it with an accountability outcome.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from lxml import etree

from conftest import ROOT, Api, make_settings
from powerflow import bootstrap
from powerflow.clock import ManualClock
from powerflow.services.power.alert_loop import raise_due_alerts
from powerflow.services.power.profiles import forget_cached
from test_example_processes import COMMENT, PATHS, do_step

MONDAY = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 2 March 2026, 09:00 in Shanghai
FILES = sorted((ROOT / "processes").glob("*.bpmn"))
FULL = {p.process: p for p in PATHS if "Full run" in p.title}
FIVE = {
    "P1": "collective_decision",
    "P2": "cadre_appointment",
    "P3": "fund_disbursement",
    "P4-A": "complaint_handling",
    "P4-B": "accusation_handling",
    "P5": "open_tender_procurement",
}
CASE_EVENTS = ["case.opened", "case.correction_requested", "case.corrected", "case.closed"]


class World:
    """Every shipped process deployed, a controlled clock, one user per role, a monitor."""

    def __init__(self, api: Api) -> None:
        forget_cached()
        self.api = api
        self.c = api.client
        self.clock = ManualClock(MONDAY)
        api.store.clock = self.clock
        designer = api.user("designer")
        for path in FILES:
            deployed = api.deploy(path, headers=designer)
            assert deployed.status_code == 201, deployed.text
            assert deployed.json()["definitions"][0]["warnings"] == []
        self.tag = uuid.uuid4().hex[:6]
        self.people: dict[str, dict[str, str]] = {}
        self.starter = api.user("clerk", f"starter-{self.tag}")
        self.monitor = api.user("monitor", f"monitor-{self.tag}")

    def name(self, role: str) -> str:
        return f"{role}-{self.tag}"

    def person(self, role: str) -> dict[str, str]:
        """The holder of ``role`` (and the system role clerk), made on first use."""
        if role not in self.people:
            self.people[role] = self.api.user(f"clerk,{role}", self.name(role))
        return self.people[role]

    def start(self, key: str, **overrides: Any) -> dict[str, Any]:
        variables = {**FULL[key].variables, **overrides}
        response = self.c.post(
            "/v1/instances",
            headers=self.starter,
            json={"definition_key": key, "variables": variables},
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def data(self, key: str, element_id: str) -> dict[str, Any]:
        """The data the full run submits at ``element_id``."""
        [found] = [s.data for s in FULL[key].steps if s.element_id == element_id][:1]
        return dict(found)

    def walk(
        self,
        key: str,
        until: str | None = None,
        instance: dict[str, Any] | None = None,
        path: str = "Full run",
    ) -> dict[str, Any]:
        """Follow a README path (the full run unless ``path`` names another by its title's
        start) as its role holders; stop with ``until`` ready (not done)."""
        chosen = FULL[key] if path == "Full run" else _path(key, path)
        instance = instance or self.start(key, **chosen.variables)
        for step in chosen.steps:
            ready = [t["element_id"] for t in instance["tasks"]]
            if ready == [until]:
                return instance
            if step.element_id not in ready:
                continue  # an earlier walk already did this step
            self.clock.advance(timedelta(days=step.wait_days))
            instance = do_step(self.api, instance, step, self.person)
        assert until is None, f"{until} never became ready"
        return instance

    def act(
        self,
        instance: dict[str, Any],
        element_id: str,
        who: dict[str, str],
        comment: str | None = COMMENT,
        **data: Any,
    ) -> httpx.Response:
        """Complete the task with ``data`` and a reasoned comment (any completion may carry
        one; a high-risk link with ``requireComment`` needs it): the raw response."""
        [task_id] = [t["id"] for t in instance["tasks"] if t["element_id"] == element_id]
        body = {"data": data} | ({"comment": comment} if comment else {})
        return self.c.post(f"/v1/tasks/{task_id}/complete", headers=who, json=body)

    def do(self, instance: dict[str, Any], element_id: str, role: str, **data: Any) -> Any:
        response = self.act(instance, element_id, self.person(role), **data)
        assert response.status_code == 200, f"{element_id}: {response.text}"
        return response.json()

    def state(self, instance: dict[str, Any]) -> dict[str, Any]:
        body = self.c.get(f"/v1/instances/{instance['id']}", headers=self.api.admin).json()
        return {"status": body["status"], "data": body["data"], "tasks": body["tasks"]}

    def blocked(self, instance: dict[str, Any], response: httpx.Response, rule_id: str) -> None:
        """The act was refused by ``rule_id`` with its sentence, and nothing moved."""
        assert response.status_code == 403, response.text
        problem = response.json()
        assert (problem["code"], problem["rule_id"]) == ("rule_violated", rule_id)
        assert rule_id in {v["rule_id"] for v in problem["violations"]}
        assert problem["message"] and problem["detail"].startswith(problem["message"])
        assert [t["element_id"] for t in self.state(instance)["tasks"]] == [
            t["element_id"] for t in instance["tasks"]
        ]

    def violations(self, instance: dict[str, Any]) -> list[dict[str, Any]]:
        got = self.c.get(
            "/v1/violations", headers=self.monitor, params={"instance_id": instance["id"]}
        )
        assert got.status_code == 200, got.text
        return list(got.json()["items"])

    def alerts(self, instance: dict[str, Any]) -> list[dict[str, Any]]:
        got = self.c.get("/v1/alerts", headers=self.monitor, params={"instance_id": instance["id"]})
        assert got.status_code == 200, got.text
        return list(got.json()["items"])

    def events(self, instance: dict[str, Any]) -> list[str]:
        got = self.c.get(
            f"/v1/instances/{instance['id']}/events",
            headers=self.api.admin,
            params={"limit": 1000},
        )
        assert got.status_code == 200, got.text
        return [e["type"] for e in got.json()["items"]]

    def supervise(
        self, instance: dict[str, Any], role: str, outcome: str, **subject: Any
    ) -> dict[str, Any]:
        """A monitor opens a case on ``subject`` (violation_id or alert_id), demands a
        correction of ``role``, its holder answers, the monitor closes the case with
        ``outcome`` naming the role holder; the closed case."""
        opened = self.c.post(
            "/v1/cases",
            headers=self.monitor,
            json={
                "title": "Irregularity found by the power layer",
                "reason": "The rule's violation or alert needs an explanation and a correction.",
                "responsible_role": role,
                **subject,
            },
        )
        assert opened.status_code == 201, opened.text
        case = opened.json()
        assert case["instance_id"] == instance["id"] and case["state"] == "open"
        demanded = self.c.post(
            f"/v1/cases/{case['id']}/corrections",
            headers=self.monitor,
            json={"demand": "Explain what happened and put it right.", "to_role": role},
        )
        assert demanded.status_code == 201, demanded.text
        [correction] = demanded.json()["corrections"]
        mine = self.c.get("/v1/corrections?state=open", headers=self.person(role)).json()
        assert [x["id"] for x in mine["items"]] == [correction["id"]]
        replied = self.c.post(
            f"/v1/cases/{case['id']}/corrections/{correction['id']}/reply",
            headers=self.person(role),
            json={"text": "Explained in writing; the procedure is followed from now on."},
        )
        assert replied.status_code == 200, replied.text
        assert replied.json()["state"] == "answered"
        closed = self.c.post(
            f"/v1/cases/{case['id']}/close",
            headers=self.monitor,
            json={
                "outcome": outcome,
                "people": [self.name(role)],
                "summary": "Closed after the correction.",
            },
        )
        assert closed.status_code == 200, closed.text
        body = dict(closed.json())
        assert (body["state"], body["outcome"], body["people"]) == (
            "closed",
            outcome,
            [self.name(role)],
        )
        assert [e["type"] for e in body["timeline"]] == CASE_EVENTS
        chain = self.events(instance)
        assert [t for t in chain if t.startswith("case.")][-4:] == CASE_EVENTS
        record = self.c.get(f"/v1/people/{self.name(role)}/record", headers=self.monitor)
        assert record.status_code == 200, record.text
        assert record.json()["counts"]["outcomes"] >= 1
        return body


@pytest.fixture
def w(api: Api) -> World:
    return World(api)


def _violation(w: World, instance: dict[str, Any], rule_id: str) -> dict[str, Any]:
    found = [v for v in w.violations(instance) if v["rule_id"] == rule_id]
    assert found, f"no violation of {rule_id}: {w.violations(instance)}"
    return found[0]


# ----------------------------------------------------------------------------- the five files


def test_every_shipped_process_has_lanes_diagram_and_power_metadata() -> None:
    """Each file: one pool around one executable process, lanes with a role, a shape for
    every lane and flow node and an edge for every flow, a power item, legal basis, limits,
    risk points and rules; its pf: elements valid against the published schema."""
    ns = {
        "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
        "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
        "pf": "urn:powerflow:bpmn:1.0",
    }
    schema = etree.XMLSchema(etree.parse(str(ROOT / "api" / "powerflow-bpmn-extensions.xsd")))
    assert {p.stem for p in FILES} >= set(FIVE.values())
    for path in FILES:
        doc = etree.parse(str(path))
        [process] = doc.findall("bpmn:process", ns)
        assert len(doc.findall("bpmn:collaboration/bpmn:participant", ns)) == 1
        lanes = process.findall("bpmn:laneSet/bpmn:lane", ns)
        assert len(lanes) >= 3, path.name
        assert all(lane.find(".//pf:responsibleRole", ns) is not None for lane in lanes)
        for tag in ("powerItem", "legalBasis", "timeLimit", "risk", "rule"):
            assert process.findall(f".//pf:{tag}", ns), (path.name, tag)
        nodes = [
            el.get("id")
            for el in process
            if el.get("id")
            and not el.tag.endswith(("sequenceFlow", "laneSet"))
            and not el.tag.endswith(("documentation", "extensionElements"))
        ]
        flows = [el.get("id") for el in process.findall("bpmn:sequenceFlow", ns)]
        shapes = {s.get("bpmnElement") for s in doc.iterfind(".//bpmndi:BPMNShape", ns)}
        edges = {e.get("bpmnElement") for e in doc.iterfind(".//bpmndi:BPMNEdge", ns)}
        assert set(nodes) | {lane.get("id") for lane in lanes} <= shapes, path.name
        assert set(flows) <= edges, path.name
        _assert_drawing_is_sane(doc, ns, {lane.get("id") for lane in lanes}, path.name)
        for element in doc.iter("{urn:powerflow:bpmn:1.0}*"):
            if element.getparent().tag.startswith("{urn:powerflow"):
                continue  # validated with its parent
            assert schema.validate(element), (path.name, element.tag, schema.error_log)


def test_the_service_deploys_all_six_files_p1_before_p3_which_calls_it(
    api: Api, db_url: str
) -> None:
    """The example bootstrap deploys the files in name order: collective_decision before
    fund_disbursement, whose collective tier calls it (a call to nothing is refused)."""
    deployed = bootstrap.deploy_examples(api.store, make_settings(db_url))
    assert sorted(d.split()[0] for d in deployed) == sorted(p.stem for p in FILES)
    assert sorted(FIVE.values()) == sorted(p.stem for p in FILES)


def _assert_drawing_is_sane(doc: Any, ns: dict[str, str], lanes: set[str], name: str) -> None:
    """No two flow-node shapes overlap (a boundary event sits on its host's border, as BPMN
    draws it), and every shape and waypoint lies inside the pool."""
    hosts = {
        (b.get("id"), b.get("attachedToRef")) for b in doc.iterfind(".//bpmn:boundaryEvent", ns)
    }
    dc = "{http://www.omg.org/spec/DD/20100524/DC}Bounds"
    pool = None
    boxes: list[tuple[str, float, float, float, float]] = []
    for shape in doc.iterfind(".//bpmndi:BPMNShape", ns):
        bounds = shape.find(dc)
        x, y, wd, ht = (float(bounds.get(k)) for k in ("x", "y", "width", "height"))
        element = shape.get("bpmnElement")
        if element.startswith("Participant_"):
            pool = (x, y, x + wd, y + ht)
        elif element not in lanes:
            boxes.append((element, x, y, x + wd, y + ht))
    assert pool is not None, name
    for element, x1, y1, x2, y2 in boxes:
        assert pool[0] <= x1 and x2 <= pool[2] and pool[1] <= y1 and y2 <= pool[3], (name, element)
    for i, (a, ax1, ay1, ax2, ay2) in enumerate(boxes):
        for b, bx1, by1, bx2, by2 in boxes[i + 1 :]:
            if (a, b) in hosts or (b, a) in hosts:
                assert ax1 < bx2 and bx1 < ax2 and ay1 < by2 and by1 < ay2, (name, a, b)
                continue
            assert ax2 <= bx1 or bx2 <= ax1 or ay2 <= by1 or by2 <= ay1, (name, a, b)
    for point in doc.iter("{http://www.omg.org/spec/DD/20100524/DI}waypoint"):
        px, py = float(point.get("x")), float(point.get("y"))
        assert pool[0] <= px <= pool[2] and pool[1] <= py <= pool[3], (name, px, py)


@pytest.mark.parametrize("key", list(FIVE.values()), ids=list(FIVE))
def test_normal_path_as_the_role_holders(w: World, key: str) -> None:
    instance = w.walk(key)
    assert instance["status"] == "completed" and instance["tasks"] == []
    assert w.violations(instance) == []
    got = w.c.get(
        f"/v1/instances/{instance['id']}/events", headers=w.api.admin, params={"limit": 1000}
    ).json()["items"]
    [ended] = [e for e in got if e["type"] == "instance.completed"]
    assert ended["element_id"] == FULL[key].end_event
    assert {e["type"] for e in got[got.index(ended) + 1 :]} <= {"notice.closed"}
    done = [e for e in got if e["type"] == "task.completed" and e["actor"] != "system"]
    assert [(e["element_id"], e["actor"]) for e in done] == [
        (s.element_id, w.name(s.roles[0])) for s in FULL[key].steps
    ]


# ------------------------------------------------------------------ P1 collective decision


def test_p1_quorum_and_principal_last_are_enforced_then_supervised(w: World) -> None:
    key = FIVE["P1"]
    instance = w.walk(key, until="meeting")
    meeting = w.data(key, "meeting")
    team = w.person("leadership-team")
    # R14: four of nine members cannot approve
    w.blocked(
        instance,
        w.act(
            instance,
            "meeting",
            team,
            **{**meeting, "members_present": 4, "opinions": meeting["opinions"][-4:]},
        ),
        "P1-R14",
    )
    # R16: the principal speaks first instead of last
    opinions = list(meeting["opinions"])
    reordered = [opinions[-1], *opinions[:-1]]
    w.blocked(
        instance, w.act(instance, "meeting", team, **{**meeting, "opinions": reordered}), "P1-R16"
    )
    r14 = _violation(w, instance, "P1-R14")
    r16 = _violation(w, instance, "P1-R16")
    assert (r14["effect"], r14["actor"], r16["actor"]) == (
        "block",
        w.name("leadership-team"),
        w.name("leadership-team"),
    )
    w.supervise(instance, "leadership-team", "criticism_education", violation_id=r16["id"])
    # the lawful meeting then goes on
    after = w.walk(key, instance=instance)
    assert after["status"] == "completed"


# ------------------------------------------------------------------ P2 cadre appointment


def test_p2_quorum_and_notice_period_then_supervised(w: World) -> None:
    key = FIVE["P2"]
    instance = w.walk(key, until="committee_decision")
    decision = w.data(key, "committee_decision")
    committee = w.person("party-committee")
    # R14: five of nine members is less than two thirds
    w.blocked(
        instance,
        w.act(
            instance,
            "committee_decision",
            committee,
            **{**decision, "members_present": 5, "opinions": decision["opinions"][-5:]},
        ),
        "P2-R14",
    )
    w.supervise(
        instance,
        "party-committee",
        "written_self_examination",
        violation_id=_violation(w, instance, "P2-R14")["id"],
    )
    instance = w.do(instance, "committee_decision", "party-committee", **decision)

    # the notice is published when its task opens: name, current post and proposed post only
    [notice] = w.c.get("/public/notices").json()
    assert notice["fields"] == {
        "candidate_name": "Liu Yang",
        "candidate_current_post": "Deputy Director of the District Civil Affairs Bureau",
        "post_title": "Director of the District Civil Affairs Bureau",
    }
    assert notice["process_key"] == key and notice["accepts_objections"] is True
    ends_at = datetime.fromisoformat(notice["ends_at"])
    # five working days from Monday 2 March: the end of Monday 9 March, Shanghai time
    assert ends_at == datetime(2026, 3, 9, 16, tzinfo=UTC)
    instance = w.do(
        instance, "publish_notice", "organisation-department", **w.data(key, "publish_notice")
    )
    assert [t["element_id"] for t in instance["tasks"]] == ["review_notice"]

    # R17: the reports cannot be verified (nor the appointment go on) before the notice ends
    review = w.data(key, "review_notice")
    discipline = w.person("discipline-commission")
    w.clock.set(ends_at - timedelta(seconds=1))
    w.blocked(instance, w.act(instance, "review_notice", discipline, **review), "R17")
    violation = _violation(w, instance, "R17")
    assert violation["effect"] == "block" and violation["actor"] == w.name("discipline-commission")

    # an objection from the public reaches the case and opens its verification
    objected = w.c.post(
        f"/public/notices/{notice['id']}/objections",
        json={"text": "The candidate did not declare a second flat.", "name": "Zhou"},
    )
    assert objected.status_code == 201, objected.text
    assert objected.json()["delivered"] is True
    instance = w.state(instance) | {"id": instance["id"]}
    assert sorted(t["element_id"] for t in instance["tasks"]) == [
        "review_notice",
        "verify_objection",
    ]
    assert "notice.objection_received" in w.events(instance)
    # a second objection opens a verification of its own: the non-interrupting boundary event
    # stays armed while review_notice is open (docs/bpmn-support.md)
    second = w.c.post(
        f"/public/notices/{notice['id']}/objections",
        json={"text": "He chaired the tender his brother won."},
    )
    assert second.status_code == 201, second.text
    assert second.json()["delivered"] is True
    instance = w.state(instance) | {"id": instance["id"]}
    assert sorted(t["element_id"] for t in instance["tasks"]) == [
        "review_notice",
        "verify_objection",
        "verify_objection",
    ]
    caught = [
        e["payload"]["payload"]["notice_objection"]
        for e in w.c.get(
            f"/v1/instances/{instance['id']}/events?limit=500", headers=w.api.admin
        ).json()["items"]
        if e["type"] == "message.received"
    ]
    assert [(c["objection_id"], c["text"]) for c in caught] == [
        (objected.json()["id"], "The candidate did not declare a second flat."),
        (second.json()["id"], "He chaired the tender his brother won."),
    ]
    assert w.events(instance).count("message.received") == 2  # one per objection
    # verifying an objection is a high-risk link: a reasoned comment is required
    findings = {"objection_founded": False, "objection_findings": "The flat was declared in 2024."}
    verifications = [t for t in instance["tasks"] if t["element_id"] == "verify_objection"]
    bare = w.c.post(
        f"/v1/tasks/{verifications[0]['id']}/complete", headers=discipline, json={"data": findings}
    )
    assert bare.status_code == 422 and "reasoned comment" in bare.json()["detail"], bare.text
    read = []
    for task in verifications:
        # each verification reads its own objection
        text = w.c.get(f"/v1/tasks/{task['id']}", headers=discipline).json()["data"][
            "notice_objection"
        ]["text"]
        read.append(text)
        checked = w.c.post(
            f"/v1/tasks/{task['id']}/complete",
            headers=discipline,
            json={"data": findings, "comment": f"Checked: {text}"},
        )
        assert checked.status_code == 200, checked.text
    assert sorted(read) == sorted(c["text"] for c in caught)
    instance = checked.json()
    assert [t["element_id"] for t in instance["tasks"]] == ["review_notice"]

    w.supervise(
        instance, "discipline-commission", "criticism_education", violation_id=violation["id"]
    )
    # after the period the verification goes on, and the appointment after it
    w.clock.set(ends_at + timedelta(seconds=1))
    instance = w.do(
        instance, "review_notice", "discipline-commission", **{**review, "reports_received": 1}
    )
    assert [t["element_id"] for t in instance["tasks"]] == ["appointment_talk"]
    assert "notice.closed" in w.events(instance)
    assert w.c.get("/public/notices").json() == []
    after = w.walk(key, instance=instance)
    assert after["status"] == "completed"


def test_p2_appointment_without_the_four_musts_is_refused(w: World) -> None:
    key = FIVE["P2"]
    instance = w.walk(key, until="four_musts")
    instance = w.do(
        instance,
        "four_musts",
        "organisation-department",
        **{**w.data(key, "four_musts"), "reports_investigated": False},
    )
    instance = w.walk(key, until="committee_decision", instance=instance)
    w.blocked(
        instance,
        w.act(
            instance,
            "committee_decision",
            w.person("party-committee"),
            **w.data(key, "committee_decision"),
        ),
        "P2-R08-FOUR-MUSTS",
    )
    deferred = {
        **w.data(key, "committee_decision"),
        "decision": "defer",
        "decision_reasons": "Wait for the investigation of the reports.",
    }
    ended = w.do(instance, "committee_decision", "party-committee", **deferred)
    assert ended["status"] == "completed"


# ------------------------------------------------------------------ P3 fund disbursement


def test_p3_requester_reviewing_and_split_payments_then_supervised(w: World) -> None:
    key = FIVE["P3"]
    # R11: whoever made the request may not review it
    both = w.api.user("clerk,handler,department-head", f"both-{w.tag}")
    instance = w.start(key)
    submitted = w.act(instance, "submit_request", both, **w.data(key, "submit_request"))
    assert submitted.status_code == 200, submitted.text
    instance = submitted.json()
    w.blocked(
        instance,
        w.act(instance, "review_dept_head", both, **w.data(key, "review_dept_head")),
        "P3-R11-REVIEW",
    )
    assert _violation(w, instance, "P3-R11-REVIEW")["actor"] == f"both-{w.tag}"
    # R13: a second payment of 120,000 to the same payee reaches 200,000 this year
    first = w.walk(key, until="deputy_approval")
    assert w.violations(first) == []
    second = w.walk(key, until="deputy_approval")  # the finance review went through ...
    recorded = _violation(w, second, "P3-R13")  # ... with a warning and a yellow alert
    assert (recorded["effect"], recorded["actor"]) == ("warn", w.name("finance-reviewer"))
    [alert] = [a for a in w.alerts(second) if a.get("rule_id") == "P3-R13"]
    assert (alert["level"], alert["state"]) == ("yellow", "open")
    w.supervise(second, "finance-reviewer", "written_self_examination", alert_id=alert["id"])


def test_p3_collective_tier_calls_p1_whose_rules_guard_the_meeting(w: World) -> None:
    key = FIVE["P3"]
    instance = w.walk(key, until="submit_topic", path="D.")
    # the call activity runs P1's first task inside the payment, with P1's lane role
    [topic] = instance["tasks"]
    assert topic["roles"] == ["sponsor-department"]
    instance = w.walk(key, until="meeting", instance=instance, path="D.")
    meeting = next(s.data for s in _path(key, "D.").steps if s.element_id == "meeting")
    few = {**meeting, "members_present": 4, "opinions": meeting["opinions"][-4:]}
    w.blocked(instance, w.act(instance, "meeting", w.person("leadership-team"), **few), "P1-R14")
    done = w.walk(key, instance=instance, path="D.")
    assert done["status"] == "completed"
    chain = w.c.get(
        f"/v1/instances/{done['id']}/events", headers=w.api.admin, params={"limit": 1000}
    ).json()["items"]
    assert chain[-1]["element_id"] == "end_paid"
    # a draft found unlawful never reaches the meeting: the payment is rejected
    other = w.walk(key, until="legality_review", path="D.")
    unlawful = next(
        s.data
        for s in _path("collective_decision", "F.").steps
        if s.element_id == "legality_review"
    )
    ended = w.do(other, "legality_review", "legal-reviewer", **unlawful)
    assert ended["status"] == "completed"
    chain = w.c.get(
        f"/v1/instances/{ended['id']}/events", headers=w.api.admin, params={"limit": 1000}
    ).json()["items"]
    assert chain[-1]["element_id"] == "end_rejected_collective"


def _path(key: str, title: str) -> Any:
    [found] = [p for p in PATHS if p.process == key and p.title.startswith(title)]
    return found


# ------------------------------------------------------------------ P4 complaints (A and B)


def test_p4a_reasons_and_overdue_acceptance_then_supervised(w: World) -> None:
    key = FIVE["P4-A"]
    instance = w.walk(key, until="decide_acceptance")
    body = w.person("handling-body")
    w.blocked(
        instance,
        w.act(
            instance, "decide_acceptance", body, accepted=False, acceptance_notice_no="BSL-2026-009"
        ),
        "P4A-R05-ACCEPTANCE",
    )
    # the acceptance decision is due 15 days after the task opened: the alert loop flags it
    w.clock.set(MONDAY + timedelta(days=16))
    assert raise_due_alerts(w.api.store) >= 1
    overdue = [
        a for a in w.alerts(instance) if a["source"] == "time_limit" and a["state"] == "open"
    ]
    assert overdue, w.alerts(instance)
    w.supervise(instance, "handling-body", "criticism_education", alert_id=overdue[0]["id"])
    done = w.walk(key, instance=instance)
    assert done["status"] == "completed"


def test_p4b_closing_without_collective_study_and_self_approval_then_supervised(w: World) -> None:
    key = FIVE["P4-B"]
    instance = w.walk(key, until="screening")
    sup = w.person("supervision-department")
    closing = {"disposal": "close", "disposal_reason": "Nothing new."}
    w.blocked(instance, w.act(instance, "screening", sup, **closing), "P4B-R15")
    # R11: the person who proposed the disposal may not approve it
    both = w.api.user("clerk,supervision-department,organ-leadership", f"both-{w.tag}")
    proposed = w.act(instance, "screening", both, **w.data(key, "screening"))
    assert proposed.status_code == 200, proposed.text
    instance = proposed.json()
    w.blocked(
        instance,
        w.act(instance, "approve_disposal", both, **w.data(key, "approve_disposal")),
        "P4B-R11",
    )
    violation = _violation(w, instance, "P4B-R11")
    assert violation["actor"] == f"both-{w.tag}"
    w.supervise(instance, "organ-leadership", "circular", violation_id=violation["id"])
    done = w.walk(key, instance=instance)
    assert done["status"] == "completed"


def test_p4b_acceptance_notice_overdue_raises_an_alert(w: World) -> None:
    key = FIVE["P4-B"]
    instance = w.walk(key, until="notify_acceptance")
    [task] = instance["tasks"]
    assert task["due_at"] is not None
    w.clock.set(
        datetime.fromisoformat(task["due_at"].replace("Z", "+00:00")) + timedelta(seconds=1)
    )
    raise_due_alerts(w.api.store)
    levels = {a["level"] for a in w.alerts(instance) if a["source"] == "time_limit"}
    assert levels & {"yellow", "red"}, w.alerts(instance)


# ------------------------------------------------------------------ P5 open tender


def test_p5_experts_ranking_acceptance_and_supplement_then_supervised(w: World) -> None:
    key = FIVE["P5"]
    instance = w.walk(key, until="draw_experts")
    agency = w.person("procurement-agency")
    designated = {**w.data(key, "draw_experts"), "expert_source": "designated"}
    w.blocked(instance, w.act(instance, "draw_experts", agency, **designated), "P5-R23")
    w.supervise(
        instance,
        "procurement-agency",
        "written_self_examination",
        violation_id=_violation(w, instance, "P5-R23")["id"],
    )
    instance = w.walk(key, until="confirm_winner", instance=instance)
    office = w.person("procurement-office")
    skipped = {"winning_supplier": "Lianchuang Systems", "award_amount": 2280000}
    w.blocked(instance, w.act(instance, "confirm_winner", office, **skipped), "P5-R08-RANKING")
    instance = w.walk(key, until="acceptance", instance=instance)
    # R11: whoever started the purchase may not accept it
    buyer = w.api.user("clerk,acceptance-team", f"buyer-{w.tag}")
    accepted = {**w.data(key, "acceptance"), "needs_supplement": True}
    mine = w.c.post(
        "/v1/instances",
        headers=buyer,
        json={"definition_key": key, "variables": FULL[key].variables},
    )
    assert mine.status_code == 201, mine.text
    own = w.walk(key, until="acceptance", instance=mine.json())
    w.blocked(own, w.act(own, "acceptance", buyer, **accepted), "P5-R11-ACCEPTANCE")
    # R24: a supplementary purchase above 10 % goes through with a warning and an alert
    instance = w.do(instance, "acceptance", "acceptance-team", **accepted)
    instance = w.do(
        instance,
        "supplementary_purchase",
        "procurement-office",
        supplementary_amount=300000,
        supplementary_reason="Fifty more computers.",
    )
    assert [t["element_id"] for t in instance["tasks"]] == ["archive"]
    recorded = _violation(w, instance, "P5-R24")
    assert recorded["effect"] == "warn"
    [alert] = [a for a in w.alerts(instance) if a.get("rule_id") == "P5-R24"]
    assert alert["level"] == "yellow"
    w.supervise(instance, "procurement-office", "circular", alert_id=alert["id"])
    assert (
        w.do(instance, "archive", "procurement-office", **w.data(key, "archive"))["status"]
        == "completed"
    )


def test_p5_bid_period_and_contract_changed_after_award_are_refused(w: World) -> None:
    key = FIVE["P5"]
    instance = w.walk(key, until="announce_tender")
    short = {"announcement_date": "2026-03-05", "bid_deadline": "2026-03-16"}
    w.blocked(
        instance,
        w.act(instance, "announce_tender", w.person("procurement-agency"), **short),
        "P5-R09-BID-PERIOD",
    )
    instance = w.walk(key, until="sign_contract", instance=instance)
    changed = {**w.data(key, "sign_contract"), "contract_supplier": "Lianchuang Systems"}
    w.blocked(
        instance,
        w.act(instance, "sign_contract", w.person("procurement-office"), **changed),
        "P5-R22",
    )
    more = {**w.data(key, "sign_contract"), "contract_amount": 2390000}
    w.blocked(
        instance, w.act(instance, "sign_contract", w.person("procurement-office"), **more), "P5-R22"
    )
    assert {v["rule_id"] for v in w.violations(instance)} == {"P5-R09-BID-PERIOD", "P5-R22"}


# ------------------------------------------------- risk requirements of the high-risk links


@pytest.mark.parametrize(
    ("key", "element_id"),
    [
        (FIVE["P1"], "meeting"),
        (FIVE["P3"], "verify_payment"),
        (FIVE["P4-B"], "approve_disposal"),
        (FIVE["P5"], "acceptance"),
    ],
    ids=["P1-meeting", "P3-verify_payment", "P4B-approve_disposal", "P5-acceptance"],
)
def test_a_high_risk_link_is_refused_without_a_reasoned_comment(
    w: World, key: str, element_id: str
) -> None:
    instance = w.walk(key, until=element_id)
    [step] = [s for s in FULL[key].steps if s.element_id == element_id]
    who = w.person(step.roles[0])
    for comment in (None, "   "):
        bare = w.act(instance, element_id, who, comment=comment, **step.data)
        assert bare.status_code == 422, bare.text
        assert "high-risk link" in bare.json()["detail"]
        assert "reasoned comment" in bare.json()["detail"]
    assert w.state(instance)["tasks"] == [
        {**t, "state": "ready"} for t in w.state(instance)["tasks"]
    ]  # nothing moved
    assert [t["element_id"] for t in w.state(instance)["tasks"]] == [element_id]
    after = w.walk(key, instance=instance)  # with the comment the walk goes on
    assert after["status"] == "completed"
    [done] = [
        e
        for e in w.c.get(
            f"/v1/instances/{instance['id']}/events", headers=w.api.admin, params={"limit": 1000}
        ).json()["items"]
        if e["type"] == "task.completed" and e["element_id"] == element_id
    ]
    assert done["payload"]["comment"] == COMMENT


@pytest.mark.parametrize(
    ("key", "element_id", "signer"),
    [
        (FIVE["P3"], "verify_payment", "finance-head"),
        (FIVE["P5"], "confirm_winner", "purchaser-head"),
    ],
    ids=["P3-verify_payment", "P5-confirm_winner"],
)
def test_a_countersigned_link_waits_for_the_second_person_who_may_refuse(
    w: World, key: str, element_id: str, signer: str
) -> None:
    instance = w.walk(key, until=element_id)
    [step] = [s for s in FULL[key].steps if s.element_id == element_id]
    [task_id] = [t["id"] for t in instance["tasks"] if t["element_id"] == element_id]
    first = w.do(instance, element_id, step.roles[0], **step.data)
    assert [(t["id"], t["state"]) for t in first["tasks"]] == [(task_id, "awaiting_countersign")]
    inbox = w.c.get("/v1/tasks?state=awaiting_countersign", headers=w.person(signer)).json()
    assert [t["id"] for t in inbox["items"]] == [task_id]

    def decide(who: dict[str, str], decision: str, comment: str | None = None) -> httpx.Response:
        return w.c.post(
            f"/v1/tasks/{task_id}/countersign",
            headers=who,
            json={"decision": decision, "comment": comment},
        )

    # the submitter cannot countersign their own completion, nor can another role
    assert decide(w.person(step.roles[0]), "approve").status_code == 403
    # someone without the role: refused (404 when they are not involved in the case at all)
    assert decide(w.person("principal"), "approve").status_code in (403, 404)
    refused = decide(w.person(signer), "refuse", "The supporting documents are not attached.")
    assert refused.status_code == 200, refused.text
    assert [(t["id"], t["state"]) for t in refused.json()["tasks"]] == [(task_id, "ready")]
    [why] = w.c.get(f"/v1/tasks/{task_id}/countersigns", headers=w.person(step.roles[0])).json()
    assert (why["state"], why["decision_comment"]) == (
        "refused",
        "The supporting documents are not attached.",
    )
    assert "task.countersign_refused" in w.events(instance)
    # submitted again, approved, and the process goes on to the end
    w.do(instance, element_id, step.roles[0], **step.data)
    approved = decide(w.person(signer), "approve")
    assert approved.status_code == 200, approved.text
    assert element_id not in [t["element_id"] for t in approved.json()["tasks"]]
    after = w.walk(key, instance=approved.json())
    assert after["status"] == "completed" and w.violations(after) == []
