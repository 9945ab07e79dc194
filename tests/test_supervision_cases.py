"""Supervision cases (督办) over HTTP, on SQLite and PostgreSQL: open on an instance, an alert
or a violation; findings; a correction the addressed clerk sees and answers; suspend and resume
from the case; close with an accountability outcome; the case's events on the instance's chain;
who sees a case; a person's record; bad inputs."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import Api
from powerflow.db import queries
from powerflow.services.events import event_rows
from powerflow.services.power.alerts import AlertSpec, open_alert
from powerflow.services.supervision import record
from rules_support import complete, deploy_xml, events, process_xml, start, types

KEY = "p_supervised"
RULE = (
    '<pf:rule id="R-REASON" kind="reason-required" effect="warn" variable="decision" '
    'values="rejected" reason="reason" legalBasis="Rulebook art. 7">'
    "A rejection needs a reason.</pf:rule>"
)
CASE_EVENTS = (
    "case.opened",
    "case.finding_recorded",
    "case.correction_requested",
    "case.corrected",
    "case.closed",
)


class World:
    """The process deployed, its people, and an instance waiting at Review."""

    def __init__(self, api: Api, tmp_path: Path) -> None:
        self.api = api
        self.c = api.client
        deployed = deploy_xml(api, tmp_path, process_xml(KEY, review=RULE))
        assert deployed.status_code == 201, deployed.text
        tag = uuid.uuid4().hex[:6]
        self.names = {
            "starter": f"starter-{tag}",
            "preparer": f"prep-{tag}",
            "reviewer": f"rev-{tag}",
            "outsider": f"out-{tag}",
        }
        self.starter = api.user("clerk", self.names["starter"])
        self.preparer = api.user("clerk,preparer", self.names["preparer"])
        self.reviewer = api.user("clerk,reviewer", self.names["reviewer"])
        self.outsider = api.user("clerk,reviewer2", self.names["outsider"])
        self.monitor = api.user("monitor")
        self.auditor = api.user("auditor")

    def at_review(self) -> tuple[str, str]:
        """A new instance whose Prepare is done: (instance id, Review task id)."""
        instance = start(self.api, self.starter, KEY)
        done = complete(self.api, self.preparer, instance["tasks"][0]["id"])
        assert done.status_code == 200, done.text
        return instance["id"], done.json()["tasks"][0]["id"]

    def open(self, **body: Any) -> Any:
        body = {"title": "Review is late", "reason": "The review passed its limit.", **body}
        return self.c.post("/v1/cases", headers=self.monitor, json=body)

    def alert_on(self, instance_id: str, task_id: str) -> int:
        """A yellow alert on the task, raised as the alert loop raises one."""
        store = self.api.store
        spec = AlertSpec(
            level="yellow",
            source="time_limit",
            reason="step_limit_passed",
            message="Task 'Review' passed its time limit.",
            dedupe_key=f"test:{task_id}",
            task_id=task_id,
            element_id="review",
            roles=["reviewer"],
        )
        now = store.now()
        with store.begin(write=True) as conn:
            instance = queries.load_instance(conn, instance_id, lock=True)
            assert instance is not None
            event = open_alert(conn, instance, spec, at=now)
            assert event is not None
            rows = event_rows(instance, [event], actor="system", at=now, conn=conn)
            assert queries.save_instance(conn, instance)
            queries.insert_events(conn, rows)
        return int(event.payload["alert_id"])  # type: ignore[arg-type]


def _digest(content: dict[str, Any]) -> str:
    """sha256 over the canonical JSON (sorted keys, compact) of a case's texts."""
    return hashlib.sha256(
        json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()


@pytest.fixture
def w(api: Api, tmp_path: Path) -> World:
    return World(api, tmp_path)


def test_full_path_open_finding_correction_reply_suspend_resume_close(w: World) -> None:
    c = w.c
    instance_id, review_id = w.at_review()
    alert_id = w.alert_on(instance_id, review_id)
    assert c.post(f"/v1/tasks/{review_id}/claim", headers=w.reviewer).status_code == 200

    # a monitor opens the case on the alert: the case concerns the alert's instance
    opened = w.open(alert_id=alert_id, responsible_role="reviewer")
    assert opened.status_code == 201, opened.text
    case = opened.json()
    case_id = case["id"]
    assert (case["instance_id"], case["subject"], case["alert_id"]) == (
        instance_id,
        "alert",
        alert_id,
    )
    assert case["state"] == "open" and case["timeline"][0]["type"] == "case.opened"

    # a finding citing the completion of Prepare as evidence
    [prepared] = [e for e in events(w.api, instance_id) if e["type"] == "task.completed"]
    found = c.post(
        f"/v1/cases/{case_id}/findings",
        headers=w.monitor,
        json={"text": "Prepared on time; the review sat idle.", "evidence": [prepared["id"]]},
    )
    assert found.status_code == 201, found.text
    assert found.json()["findings"][0]["evidence"] == [prepared["id"]]

    # a correction demanded of the reviewers
    demanded = c.post(
        f"/v1/cases/{case_id}/corrections",
        headers=w.monitor,
        json={"demand": "Finish the review and explain the delay.", "to_role": "reviewer"},
    )
    assert demanded.status_code == 201, demanded.text
    [correction] = demanded.json()["corrections"]
    assert correction["state"] == "open" and correction["case_title"] == "Review is late"

    # the reviewer sees the demand on the instance and among their own, and the case itself
    on_instance = c.get(f"/v1/instances/{instance_id}/corrections", headers=w.reviewer)
    assert [x["id"] for x in on_instance.json()["items"]] == [correction["id"]]
    mine = c.get("/v1/corrections?state=open", headers=w.reviewer)
    assert [x["id"] for x in mine.json()["items"]] == [correction["id"]]
    seen = c.get(f"/v1/cases/{case_id}", headers=w.reviewer)
    assert seen.status_code == 200, seen.text
    # ... but not the supervisors' share: findings, timeline
    assert seen.json()["findings"] == [] and seen.json()["timeline"] == []
    listed = c.get("/v1/cases", headers=w.reviewer).json()["items"]
    assert [x["id"] for x in listed] == [case_id]

    # a monitor is not the addressee; the reviewer replies, once
    url = f"/v1/cases/{case_id}/corrections/{correction['id']}/reply"
    assert c.post(url, headers=w.monitor, json={"text": "x"}).status_code == 403
    replied = c.post(url, headers=w.reviewer, json={"text": "Reviewed; the file was missing."})
    assert replied.status_code == 200, replied.text
    assert (replied.json()["state"], replied.json()["replied_by"]) == (
        "answered",
        w.names["reviewer"],
    )
    again = c.post(url, headers=w.reviewer, json={"text": "again"})
    assert again.status_code == 409 and "already been answered" in again.json()["detail"]
    assert c.get("/v1/corrections?state=open", headers=w.reviewer).json()["items"] == []

    # suspend and resume from the case: the instance's own events, carrying the case id
    suspended = c.post(
        f"/v1/cases/{case_id}/suspend", headers=w.monitor, json={"reason": "Pending review"}
    )
    assert suspended.status_code == 200, suspended.text
    got = c.get(f"/v1/instances/{instance_id}", headers=w.monitor).json()
    assert got["status"] == "suspended"
    blocked = c.post(
        f"/v1/tasks/{review_id}/complete", headers=w.reviewer, json={"data": {"decision": "ok"}}
    )
    assert blocked.status_code == 409
    resumed = c.post(f"/v1/cases/{case_id}/resume", headers=w.monitor, json={"reason": "Done"})
    assert resumed.status_code == 200, resumed.text
    assert c.get(f"/v1/instances/{instance_id}", headers=w.monitor).json()["status"] == "running"

    # close with an outcome naming the preparer
    closed = c.post(
        f"/v1/cases/{case_id}/close",
        headers=w.monitor,
        json={
            "outcome": "written_self_examination",
            "people": [w.names["reviewer"]],
            "summary": "The reviewer writes a self-examination.",
        },
    )
    assert closed.status_code == 200, closed.text
    body = closed.json()
    assert (body["state"], body["outcome"], body["people"]) == (
        "closed",
        "written_self_examination",
        [w.names["reviewer"]],
    )
    assert [e["type"] for e in body["timeline"]] == [
        "case.opened",
        "case.finding_recorded",
        "case.correction_requested",
        "case.corrected",
        "instance.suspended",
        "instance.resumed",
        "case.closed",
    ]

    # every change is an event on the instance's chain, which still verifies
    chain = events(w.api, instance_id)
    by_type = {e["type"]: e for e in chain}
    assert set(CASE_EVENTS) <= set(by_type)
    assert all(by_type[t]["payload"]["case_id"] == case_id for t in CASE_EVENTS)
    assert by_type["instance.suspended"]["payload"] == {
        "reason": "Pending review",
        "case_id": case_id,
    }
    assert by_type["case.corrected"]["actor"] == w.names["reviewer"]
    assert by_type["case.closed"]["payload"]["outcome"] == "written_self_examination"
    assert "summary" not in by_type["case.closed"]["payload"]  # texts stay in the case
    # ... and the chain carries their digests
    finding_text = "Prepared on time; the review sat idle."
    assert by_type["case.finding_recorded"]["payload"]["digest"] == _digest({"text": finding_text})
    reply_text = "Reviewed; the file was missing."
    assert by_type["case.corrected"]["payload"]["digest"] == _digest({"reply": reply_text})
    assert by_type["case.closed"]["payload"]["digest"] == _digest(
        {"people": [w.names["reviewer"]], "summary": "The reviewer writes a self-examination."}
    )
    audit = c.get(f"/v1/instances/{instance_id}/audit", headers=w.auditor)
    assert audit.status_code == 200 and audit.json()["verified"] is True, audit.text
    # the global feed carries them too (what the stream and webhooks read)
    feed = c.get(f"/v1/events?instance_id={instance_id}&limit=500", headers=w.monitor).json()
    assert {"case.opened", "case.closed"} <= {e["type"] for e in feed["items"]}

    # the addressee sees the closed case, without the people named or the summary
    theirs = c.get(f"/v1/cases/{case_id}", headers=w.reviewer).json()
    assert (theirs["state"], theirs["outcome"]) == ("closed", "written_self_examination")
    assert (theirs["people"], theirs["summary"]) == ([], None)

    # a closed case does not change
    for path, payload in (
        ("findings", {"text": "late"}),
        ("corrections", {"demand": "more", "to_role": "reviewer"}),
        ("suspend", {"reason": "x"}),
        ("resume", {"reason": "x"}),
        ("close", {"outcome": "no_fault", "summary": "x"}),
    ):
        refused = c.post(f"/v1/cases/{case_id}/{path}", headers=w.monitor, json=payload)
        assert refused.status_code == 409, (path, refused.text)
        assert "is closed" in refused.json()["detail"]

    # the person's record shows the outcome and the alert on the task they held
    record = c.get(f"/v1/people/{w.names['reviewer']}/record", headers=w.auditor)
    assert record.status_code == 200, record.text
    rec = record.json()
    assert rec["counts"] == {"alerts": 1, "violations": 0, "outcomes": 1}
    assert rec["outcomes_by_kind"] == {"written_self_examination": 1}
    assert rec["alerts_by_level"] == {"yellow": 1}
    assert rec["outcomes"][0]["id"] == case_id and rec["alerts"][0]["id"] == alert_id
    # nothing for the preparer, whom the outcome does not name
    other = c.get(f"/v1/people/{w.names['preparer']}/record", headers=w.monitor).json()
    assert other["counts"] == {"alerts": 0, "violations": 0, "outcomes": 0}
    # a time range before the case leaves the outcome out
    until = (w.api.store.now() - timedelta(days=1)).isoformat()
    earlier = c.get(
        f"/v1/people/{w.names['reviewer']}/record", headers=w.monitor, params={"until": until}
    ).json()
    assert earlier["counts"]["outcomes"] == 0

    # the list's filters
    def ids(**params: Any) -> list[int]:
        got = c.get("/v1/cases", headers=w.monitor, params=params)
        assert got.status_code == 200, got.text
        return [x["id"] for x in got.json()["items"]]

    assert case_id in ids(state="closed")
    assert case_id not in ids(state="open")
    assert ids(instance_id=instance_id) == [case_id]
    assert case_id in ids(person=w.names["reviewer"], outcome="written_self_examination")
    assert case_id not in ids(person=w.names["preparer"])
    assert case_id not in ids(outcome="circular")
    assert case_id in ids(opened_by=c.get("/v1/me", headers=w.monitor).json()["name"])
    assert case_id not in ids(until=until)


def test_a_case_on_a_violation_and_the_violators_record(
    w: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = w.c
    instance_id, review_id = w.at_review()
    done = complete(w.api, w.reviewer, review_id, decision="rejected", reason=" ")
    assert done.status_code == 200, done.text  # effect warn: recorded, the act went ahead
    [violation] = c.get(f"/v1/violations?instance_id={instance_id}", headers=w.monitor).json()[
        "items"
    ]
    opened = w.open(violation_id=violation["id"])
    assert opened.status_code == 201, opened.text
    case = opened.json()
    assert (case["instance_id"], case["subject"]) == (instance_id, "violation")
    # the instance ended: a case may still follow it, but there is nothing to suspend
    refused = c.post(f"/v1/cases/{case['id']}/suspend", headers=w.monitor, json={"reason": "x"})
    assert refused.status_code == 409 and "only a running one" in refused.json()["detail"]
    closed = c.post(
        f"/v1/cases/{case['id']}/close",
        headers=w.monitor,
        json={"outcome": "circular", "people": [w.names["reviewer"]], "summary": "Circulated."},
    )
    assert closed.status_code == 200, closed.text
    rec = c.get(f"/v1/people/{w.names['reviewer']}/record", headers=w.monitor).json()
    assert rec["violations_by_rule"] == {"R-REASON": 1}
    assert rec["violations"][0]["id"] == violation["id"]
    assert rec["outcomes_by_kind"] == {"circular": 1}
    assert "case.closed" in types(w.api, instance_id)

    # the items are capped, newest first; the counts cover the whole range
    second = w.open(instance_id=instance_id).json()["id"]
    closed = c.post(
        f"/v1/cases/{second}/close",
        headers=w.monitor,
        json={"outcome": "org_handling", "people": [w.names["reviewer"]], "summary": "Moved."},
    )
    assert closed.status_code == 200, closed.text
    monkeypatch.setattr(record, "RECORD_LIMIT", 1)
    rec = c.get(f"/v1/people/{w.names['reviewer']}/record", headers=w.monitor).json()
    assert rec["counts"]["outcomes"] == 2 and [o["id"] for o in rec["outcomes"]] == [second]
    assert rec["outcomes_by_kind"] == {"circular": 1, "org_handling": 1}
    # a name nobody bears has an empty record, like a person with nothing recorded
    nobody = c.get("/v1/people/no-such-person/record", headers=w.monitor)
    assert nobody.status_code == 200
    assert nobody.json()["counts"] == {"alerts": 0, "violations": 0, "outcomes": 0}


def test_who_may_open_see_and_act(w: World) -> None:
    c = w.c
    instance_id, _ = w.at_review()
    body = {"instance_id": instance_id, "title": "t", "reason": "r"}
    for clerk in (w.starter, w.reviewer):
        refused = c.post("/v1/cases", headers=clerk, json=body)
        assert refused.status_code == 403 and "monitor" in refused.json()["detail"]
    assert c.post("/v1/cases", headers=w.auditor, json=body).status_code == 403
    assert c.post("/v1/cases", json=body).status_code == 401
    case_id = w.open(instance_id=instance_id).json()["id"]
    demanded = c.post(
        f"/v1/cases/{case_id}/corrections",
        headers=w.monitor,
        json={"demand": "Explain.", "to_person": w.names["reviewer"]},
    )
    assert demanded.status_code == 201, demanded.text
    [correction] = demanded.json()["corrections"]

    unknown = c.get("/v1/cases/999999", headers=w.outsider)
    for who in (w.outsider, w.starter, w.preparer):
        # involved (starter, preparer) or not (outsider): not addressed, so no such case
        hidden = c.get(f"/v1/cases/{case_id}", headers=who)
        assert hidden.status_code == 404
        assert hidden.json()["detail"] == unknown.json()["detail"].replace("999999", str(case_id))
        assert c.get("/v1/cases", headers=who).json()["items"] == []
        reply = c.post(
            f"/v1/cases/{case_id}/corrections/{correction['id']}/reply",
            headers=who,
            json={"text": "x"},
        )
        assert reply.status_code == 404
    # a person named in a correction but not involved in the instance sees nothing of it
    named = c.post(
        f"/v1/cases/{case_id}/corrections",
        headers=w.monitor,
        json={"demand": "Explain too.", "to_person": w.names["outsider"]},
    )
    assert named.status_code == 201, named.text
    assert c.get(f"/v1/cases/{case_id}", headers=w.outsider).status_code == 404
    assert c.get("/v1/corrections", headers=w.outsider).json()["items"] == []
    assert c.get("/v1/cases", headers=w.outsider).json()["items"] == []
    # the reviewer sees only the correction addressed to them
    theirs = c.get(f"/v1/cases/{case_id}", headers=w.reviewer).json()["corrections"]
    assert [x["id"] for x in theirs] == [correction["id"]]
    # the starter sees the instance but not the demand addressed to someone else
    assert (
        c.get(f"/v1/instances/{instance_id}/corrections", headers=w.starter).json()["items"] == []
    )
    assert c.get(f"/v1/instances/{instance_id}/corrections", headers=w.outsider).status_code == (
        404
    )
    # supervisors see every correction; the addressee acts only on what is addressed to them
    every = c.get(f"/v1/instances/{instance_id}/corrections", headers=w.auditor).json()
    assert [x["id"] for x in every["items"]] == [
        named.json()["corrections"][1]["id"],
        correction["id"],
    ]
    assert c.get(f"/v1/cases/{case_id}", headers=w.auditor).status_code == 200
    for path, payload in (
        ("findings", {"text": "x"}),
        ("corrections", {"demand": "x", "to_role": "reviewer"}),
        ("suspend", {"reason": "x"}),
        ("close", {"outcome": "no_fault", "summary": "x"}),
    ):
        for who in (w.reviewer, w.auditor):
            got = c.post(f"/v1/cases/{case_id}/{path}", headers=who, json=payload)
            assert got.status_code == 403, (path, got.text)
        assert c.post(
            f"/v1/cases/{case_id}/{path}", headers=w.starter, json=payload
        ).status_code == (404)
    # the record is for supervisors
    assert c.get(f"/v1/people/{w.names['reviewer']}/record", headers=w.reviewer).status_code == (
        403
    )


def test_bad_inputs_answer_4xx_with_a_sentence(w: World) -> None:
    c = w.c
    instance_id, _ = w.at_review()
    other_id, _ = w.at_review()

    def problem(response: Any, status: int, words: str) -> None:
        assert response.status_code == status, response.text
        assert words in response.json()["detail"], response.json()

    problem(w.open(), 422, "exactly one subject")
    problem(w.open(instance_id=instance_id, alert_id=1), 422, "exactly one subject")
    problem(w.open(instance_id=str(uuid.uuid4())), 404, "does not exist")
    problem(w.open(alert_id=2_000_000_000), 404, "Alert 2000000000 does not exist")
    problem(w.open(violation_id=77), 404, "Violation 77 does not exist")
    past = (w.api.store.now() - timedelta(hours=1)).isoformat()
    problem(w.open(instance_id=instance_id, due_at=past), 422, "future")
    assert w.open(instance_id=instance_id, title="").status_code == 422
    case_id = w.open(instance_id=instance_id).json()["id"]
    url = f"/v1/cases/{case_id}"
    problem(c.get("/v1/cases/424242", headers=w.monitor), 404, "Supervision case 424242")
    assert c.get("/v1/cases/0", headers=w.monitor).status_code == 422
    both = {"demand": "x", "to_role": "reviewer", "to_person": "someone"}
    problem(c.post(f"{url}/corrections", headers=w.monitor, json=both), 422, "exactly one")
    problem(c.post(f"{url}/corrections", headers=w.monitor, json={"demand": "x"}), 422, "one")
    [foreign] = [e["id"] for e in events(w.api, other_id)][:1]
    problem(
        c.post(f"{url}/findings", headers=w.monitor, json={"text": "x", "evidence": [foreign]}),
        422,
        f"Evidence must be events of instance {instance_id}",
    )
    problem(
        c.post(f"{url}/corrections/9999/reply", headers=w.monitor, json={"text": "x"}),
        404,
        "Correction 9999 does not exist",
    )
    bad_outcome = {"outcome": "shot_at_dawn", "summary": "x"}
    assert c.post(f"{url}/close", headers=w.monitor, json=bad_outcome).status_code == 422
    nobody = {"outcome": "circular", "summary": "x"}
    problem(c.post(f"{url}/close", headers=w.monitor, json=nobody), 422, "name at least one")
    problem(c.post(f"{url}/resume", headers=w.monitor, json={"reason": "x"}), 409, "not suspended")
    assert c.get("/v1/cases?state=lost", headers=w.monitor).status_code == 422
    assert c.get("/v1/cases?since=2026-01-01", headers=w.monitor).status_code == 422
    assert c.get("/v1/corrections?state=lost", headers=w.reviewer).status_code == 422
    problem(
        c.get(
            "/v1/people/x/record",
            headers=w.monitor,
            params={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        ),
        422,
        "until must be later",
    )
    assert c.get("/v1/people/bad name!/record", headers=w.monitor).status_code == 422
    # a case closed without fault names nobody and is still recorded
    fine = c.post(f"{url}/close", headers=w.monitor, json={"outcome": "no_fault", "summary": "ok"})
    assert fine.status_code == 200 and fine.json()["people"] == []


def test_tasks_alerts_and_cases_carry_their_instances_business_key(w: World) -> None:
    """The reads people identify cases by name the instance's business key (one join each)."""
    c = w.c
    started = c.post(
        "/v1/instances",
        headers=w.starter,
        json={"definition_key": KEY, "business_key": "BK-2026-0042"},
    )
    assert started.status_code == 201, started.text
    instance = started.json()
    assert instance["tasks"][0]["business_key"] == "BK-2026-0042"
    done = complete(w.api, w.preparer, instance["tasks"][0]["id"])
    assert done.status_code == 200, done.text
    (review,) = done.json()["tasks"]
    assert review["business_key"] == "BK-2026-0042"
    alert_id = w.alert_on(instance["id"], review["id"])
    opened = w.open(alert_id=alert_id)
    assert opened.status_code == 201, opened.text
    assert opened.json()["business_key"] == "BK-2026-0042"
    keyless, keyless_task = w.at_review()  # no business key: null, not missing

    inbox = c.get("/v1/tasks", headers=w.reviewer, params={"state": "ready"}).json()["items"]
    keys = {t["instance_id"]: t["business_key"] for t in inbox}
    assert keys[instance["id"]] == "BK-2026-0042" and keys[keyless] is None
    one = c.get(f"/v1/tasks/{review['id']}", headers=w.reviewer).json()
    assert one["business_key"] == "BK-2026-0042"
    claimed = c.post(f"/v1/tasks/{review['id']}/claim", headers=w.reviewer)
    assert claimed.status_code == 200 and claimed.json()["business_key"] == "BK-2026-0042"
    assert c.get(f"/v1/tasks/{keyless_task}", headers=w.reviewer).json()["business_key"] is None

    alerts = c.get("/v1/alerts", headers=w.monitor, params={"instance_id": instance["id"]})
    assert [a["business_key"] for a in alerts.json()["items"]] == ["BK-2026-0042"]
    alert = c.get(f"/v1/alerts/{alert_id}", headers=w.reviewer)  # a participant sees it too
    assert alert.status_code == 200 and alert.json()["business_key"] == "BK-2026-0042"
    acked = c.post(f"/v1/alerts/{alert_id}/acknowledge", headers=w.monitor, json={})
    assert acked.status_code == 200 and acked.json()["business_key"] == "BK-2026-0042"

    cases = c.get("/v1/cases", headers=w.monitor, params={"instance_id": instance["id"]})
    assert [k["business_key"] for k in cases.json()["items"]] == ["BK-2026-0042"]
    case = c.get(f"/v1/cases/{opened.json()['id']}", headers=w.monitor).json()
    assert case["business_key"] == "BK-2026-0042"

    warned = complete(w.api, w.reviewer, review["id"], decision="rejected", reason=" ")
    assert warned.status_code == 200, warned.text
    found = c.get("/v1/violations", headers=w.monitor, params={"instance_id": instance["id"]})
    assert [v["business_key"] for v in found.json()["items"]] == ["BK-2026-0042"]
    record = c.get(f"/v1/people/{w.names['reviewer']}/record", headers=w.monitor).json()
    assert [v["business_key"] for v in record["violations"]] == ["BK-2026-0042"]
    assert record["alerts"]  # on the task they claimed: the deadline's and the rule's
    assert {a["business_key"] for a in record["alerts"]} == {"BK-2026-0042"}
