"""The shipped example processes carry real rules, limits and alert profiles (issue 8).

Each example is deployed from processes/ as shipped and driven over HTTP on both databases:
an irregularity the model blocks (403 ``rule_violated``, the instance unchanged, one
``violation.blocked`` event), one that raises an alert (a ``warn`` rule, or a limit passing on a
controlled clock with the alert loop run once), and the happy path still completing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from conftest import ROOT, Api
from powerflow.clock import ManualClock
from powerflow.services.power.alert_loop import raise_due_alerts
from powerflow.services.power.profiles import forget_cached

EXAMPLES = ("collective_decision", "fund_disbursement", "complaint_handling")  # P3 calls P1
MONDAY = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 2 March 2026, 09:00 in Shanghai


def _local_midnight_after(y: int, m: int, d: int) -> str:
    """24:00 in Shanghai of the given day, as the API writes it (UTC)."""
    return datetime(y, m, d, 16, 0, tzinfo=UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def clock(api: Api) -> ManualClock:
    """A controlled clock on Monday morning, and the three examples deployed as shipped."""
    forget_cached()
    manual = ManualClock(MONDAY)
    api.store.clock = manual
    designer = api.user("designer")
    for key in EXAMPLES:
        deployed = api.deploy(ROOT / "processes" / f"{key}.bpmn", headers=designer)
        assert deployed.status_code == 201, deployed.text
        assert deployed.json()["definitions"][0]["warnings"] == []
    return manual


class People:
    """One user per role (named after it), made on first use; others on request."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.made: dict[str, dict[str, str]] = {}

    def __getitem__(self, role: str) -> dict[str, str]:
        if role not in self.made:
            self.made[role] = self.api.user(f"clerk,{role}", role)
        return self.made[role]


def _start(api: Api, who: dict[str, str], key: str, **variables: Any) -> dict[str, Any]:
    response = api.client.post(
        "/v1/instances", headers=who, json={"definition_key": key, "variables": variables}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _task(instance: dict[str, Any], element_id: str) -> str:
    [found] = [t["id"] for t in instance["tasks"] if t["element_id"] == element_id]
    return str(found)


def _act(
    api: Api, who: dict[str, str], instance: dict[str, Any], element_id: str, **data: Any
) -> httpx.Response:
    """Complete the ready task at ``element_id`` with a reasoned comment (the high-risk links
    of processes/ require one; any completion may carry one); the raw response."""
    task_id = _task(instance, element_id)
    body = {"data": data, "comment": "Checked against the file."}
    return api.client.post(f"/v1/tasks/{task_id}/complete", headers=who, json=body)


# the high-risk links of processes/ whose completions a second person countersigns
COUNTERSIGNERS = {"verify_payment": "finance-head", "confirm_winner": "purchaser-head"}


def _do(
    api: Api, who: dict[str, str], instance: dict[str, Any], element_id: str, **data: Any
) -> dict[str, Any]:
    """Complete the ready task at ``element_id``, which must succeed; the instance after it."""
    response = _act(api, who, instance, element_id, **data)
    assert response.status_code == 200, f"{element_id}: {response.text}"
    role = COUNTERSIGNERS.get(element_id)
    if role:  # the holder of the countersign role approves
        signers: dict[str, dict[str, str]] = api.__dict__.setdefault("countersigners", {})
        if role not in signers:
            signers[role] = api.user(role, f"{role}-signer")
        response = api.client.post(
            f"/v1/tasks/{_task(instance, element_id)}/countersign",
            headers=signers[role],
            json={"decision": "approve"},
        )
        assert response.status_code == 200, f"{element_id} countersign: {response.text}"
    return dict(response.json())


def _events(api: Api, instance: dict[str, Any]) -> list[dict[str, Any]]:
    got = api.client.get(
        f"/v1/instances/{instance['id']}/events", headers=api.admin, params={"limit": 1000}
    )
    assert got.status_code == 200, got.text
    return list(got.json()["items"])


def _state(api: Api, instance: dict[str, Any]) -> dict[str, Any]:
    body = api.client.get(f"/v1/instances/{instance['id']}", headers=api.admin).json()
    return {
        "status": body["status"],
        "data": body["data"],
        "tasks": [(t["id"], t["element_id"], t["state"], t["assignee"]) for t in body["tasks"]],
    }


def _violations(api: Api, instance: dict[str, Any]) -> list[dict[str, Any]]:
    got = api.client.get(
        "/v1/violations", headers=api.admin, params={"instance_id": instance["id"]}
    )
    assert got.status_code == 200, got.text
    return list(got.json()["items"])


def _alerts(api: Api, instance: dict[str, Any]) -> list[dict[str, Any]]:
    got = api.client.get("/v1/alerts", headers=api.admin, params={"instance_id": instance["id"]})
    assert got.status_code == 200, got.text
    return list(got.json()["items"])


def assert_blocked(
    api: Api,
    instance: dict[str, Any],
    attempt: Callable[[], httpx.Response],
    rule_id: str,
    *,
    alerted: bool = True,
) -> dict[str, Any]:
    """Run ``attempt`` (a callable returning the response): it is refused by ``rule_id`` alone,
    the instance does not move, and exactly one ``violation.blocked`` event is recorded (with
    its alert unless the same person's refusal on the task under the rule is still alerted)."""
    before = _state(api, instance)
    seen = len(_events(api, instance))
    response: httpx.Response = attempt()
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "rule_violated"
    assert problem["rule_id"] == rule_id
    assert [v["rule_id"] for v in problem["violations"]] == [rule_id]
    assert problem["message"] and problem["detail"].startswith(problem["message"])
    assert _state(api, instance) == before
    new = [e["type"] for e in _events(api, instance)[seen:]]
    assert new.count("violation.blocked") == 1
    assert new == ["violation.blocked", "alert.raised"][: 2 if alerted else 1]
    return dict(problem)


# --------------------------------------------------------------------------- fund_disbursement

REQUEST = {
    "amount": 8000,
    "purpose": "Repair of the office heating system",
    "payee": "Qinghe Heating Engineering Co., Ltd.",
    "payee_account": "6222020200112233",
    "budget_line": "2026-30213 Maintenance",
    "invoice_numbers": "04412345,04412346",
}
START = {"applicant_name": "Li Ming", "amount": 8000, "purpose": REQUEST["purpose"]}
APPROVED = {"dept_head_approved": True, "dept_head_opinion": "Needed; agreed."}
FINANCE_OK = {
    "budget_available": True,
    "finance_decision": "approve",
    "finance_opinion": "Checked.",
}
PREPARED = {"payment_voucher_no": "FK-2026-0042", "payment_method": "bank_transfer"}
VERIFIED = {"payment_authorised": True, "checker_opinion": "Voucher matches the request."}
BOOKED = {"ledger_voucher_no": "JZ-2026-0107", "booked_on": "2026-03-02"}


def _to_payment(api: Api, people: People, amount: int = 8000) -> dict[str, Any]:
    """A request of ``amount`` past the department head, the finance review and (from 10,000)
    the deputy: at the cashier below 50,000, at the principal from 50,000."""
    instance = _start(api, people["handler"], "fund_disbursement", **{**START, "amount": amount})
    instance = _do(
        api, people["handler"], instance, "submit_request", **{**REQUEST, "amount": amount}
    )
    instance = _do(api, people["department-head"], instance, "review_dept_head", **APPROVED)
    instance = _do(api, people["finance-reviewer"], instance, "finance_review", **FINANCE_OK)
    if amount >= 10000:
        instance = _do(
            api,
            people["finance-deputy"],
            instance,
            "deputy_approval",
            deputy_approved=True,
            deputy_opinion="Agreed.",
        )
    return instance


def test_fund_disbursement_happy_path_keeps_every_rule(api: Api, clock: ManualClock) -> None:
    people = People(api)
    instance = _to_payment(api, people, amount=120000)  # the principal tier: every approval
    instance = _do(
        api,
        people["principal"],
        instance,
        "principal_approval",
        principal_approved=True,
        principal_opinion="Agreed.",
    )
    instance = _do(api, people["cashier"], instance, "prepare_payment", **PREPARED)
    instance = _do(api, people["payment-checker"], instance, "verify_payment", **VERIFIED)
    instance = _do(api, people["accountant"], instance, "book_payment", **BOOKED)
    assert instance["status"] == "completed"
    assert _violations(api, instance) == []
    assert not [e for e in _events(api, instance) if e["type"].startswith("violation.")]


def test_fund_disbursement_requester_cannot_review_own_request(
    api: Api, clock: ManualClock
) -> None:
    people = People(api)
    both = api.user("clerk,handler,department-head", "lin")  # may hold both posts, not both acts
    instance = _start(api, both, "fund_disbursement", **START)
    instance = _do(api, both, instance, "submit_request", **REQUEST)
    problem = assert_blocked(
        api,
        instance,
        lambda: _act(api, both, instance, "review_dept_head", **APPROVED),
        "P3-R11-REVIEW",
    )
    assert problem["legal_basis"] and "incompatible" in problem["legal_basis"][0]
    [violation] = _violations(api, instance)
    assert (violation["effect"], violation["actor"], violation["act"]) == (
        "block",
        "lin",
        "complete",
    )
    # claiming is refused too; another department head reviews it
    task_id = _task(instance, "review_dept_head")
    claim = lambda: api.client.post(f"/v1/tasks/{task_id}/claim", headers=both)  # noqa: E731
    assert_blocked(api, instance, claim, "P3-R11-REVIEW", alerted=False)  # lin's alert is open
    after = _do(api, people["department-head"], instance, "review_dept_head", **APPROVED)
    assert [t["element_id"] for t in after["tasks"]] == ["finance_review"]


def test_fund_disbursement_maker_checker_and_booking_are_three_people(
    api: Api, clock: ManualClock
) -> None:
    people = People(api)
    instance = _to_payment(api, people)
    maker_checker = api.user("clerk,cashier,payment-checker", "cash")
    instance = _do(api, maker_checker, instance, "prepare_payment", **PREPARED)
    assert_blocked(
        api,
        instance,
        lambda: _act(api, maker_checker, instance, "verify_payment", **VERIFIED),
        "P3-R11-PAYMENT",
    )
    # R25: the checker may not book the payment they verified themselves
    checker_accountant = api.user("clerk,payment-checker,accountant", "check")
    instance = _do(api, checker_accountant, instance, "verify_payment", **VERIFIED)
    problem = assert_blocked(
        api,
        instance,
        lambda: _act(api, checker_accountant, instance, "book_payment", **BOOKED),
        "P3-R25",
    )
    assert problem["violations"][0]["evidence"] == {
        "missing": "verify_payment",
        "only_by_actor": True,
    }
    done = _do(api, people["accountant"], instance, "book_payment", **BOOKED)
    assert done["status"] == "completed"


def test_fund_disbursement_blacklisted_payee_and_missing_reasons(
    api: Api, clock: ManualClock
) -> None:
    people = People(api)
    made = api.client.put(
        "/v1/lists/supplier-blacklist", headers=api.admin, json={"description": "Barred suppliers"}
    )
    assert made.status_code == 201, made.text
    listed = api.client.post(
        "/v1/lists/supplier-blacklist/entries",
        headers=api.admin,
        json={"value": "qinghe heating engineering co., ltd. ", "reason": "False invoices, 2025"},
    )
    assert listed.status_code == 201, listed.text
    instance = _start(api, people["handler"], "fund_disbursement", **START)
    assert_blocked(
        api,
        instance,
        lambda: _act(api, people["handler"], instance, "submit_request", **REQUEST),
        "P3-R18",
    )
    instance = _do(
        api, people["handler"], instance, "submit_request", **{**REQUEST, "payee": "Other Co."}
    )
    # R05: a rejection with a blank opinion is refused; with reasons it ends the request
    assert_blocked(
        api,
        instance,
        lambda: _act(
            api,
            people["department-head"],
            instance,
            "review_dept_head",
            dept_head_approved=False,
            dept_head_opinion="  ",
        ),
        "P3-R05-DEPT-HEAD",
    )
    ended = _do(
        api,
        people["department-head"],
        instance,
        "review_dept_head",
        dept_head_approved=False,
        dept_head_opinion="Not needed this year.",
    )
    assert ended["status"] == "completed"


def test_fund_disbursement_split_payments_raise_a_warning(api: Api, clock: ManualClock) -> None:
    people = People(api)
    first = _to_payment(api, people, amount=120000)
    assert _violations(api, first) == []
    second = _start(api, people["handler"], "fund_disbursement", **{**START, "amount": 90000})
    second = _do(api, people["handler"], second, "submit_request", **{**REQUEST, "amount": 90000})
    second = _do(api, people["department-head"], second, "review_dept_head", **APPROVED)
    seen = len(_events(api, second))
    second = _do(api, people["finance-reviewer"], second, "finance_review", **FINANCE_OK)
    assert [t["element_id"] for t in second["tasks"]] == ["deputy_approval"]  # the act went on
    new = _events(api, second)[seen:]
    assert [e["type"] for e in new][:2] == ["violation.recorded", "alert.raised"]
    assert new[0]["payload"]["rule_id"] == "P3-R13"
    assert new[0]["payload"]["evidence"]["total"] == 210000
    assert new[1]["payload"]["level"] == "yellow"
    [violation] = _violations(api, second)
    assert (violation["rule_id"], violation["effect"]) == ("P3-R13", "warn")
    [alert] = _alerts(api, second)
    # the act closed its task, but a rule's alert stays open for a monitor (only deadline
    # alerts resolve with their task)
    assert (alert["level"], alert["rule_id"], alert["state"]) == ("yellow", "P3-R13", "open")
    assert second["alert_level"] == "yellow"


def test_fund_disbursement_limits_raise_alerts_on_the_two_tier_profile(
    api: Api, clock: ManualClock
) -> None:
    people = People(api)
    instance = _start(api, people["handler"], "fund_disbursement", **START)
    assert instance["promised_due_at"] == _local_midnight_after(2026, 3, 16)  # P10D working
    assert instance["statutory_due_at"] == _local_midnight_after(2026, 3, 30)  # P20D working
    instance = _do(api, people["handler"], instance, "submit_request", **REQUEST)
    [review] = instance["tasks"]
    assert review["due_at"] == _local_midnight_after(2026, 3, 4)  # P2D working step
    clock.set(datetime(2026, 3, 4, 16, 0, 1, tzinfo=UTC))
    assert raise_due_alerts(api.store) >= 1
    raised = {(a["level"], a["reason"]) for a in _alerts(api, instance)}
    assert raised == {("prompt", "step_limit_approaching"), ("yellow", "step_limit_passed")}
    clock.set(datetime(2026, 3, 30, 16, 0, 1, tzinfo=UTC))
    raise_due_alerts(api.store)
    raised = {(a["level"], a["reason"]) for a in _alerts(api, instance)}
    assert ("yellow", "promised_limit_passed") in raised
    assert ("red", "statutory_limit_passed") in raised
    now = api.client.get(f"/v1/instances/{instance['id']}", headers=api.admin).json()
    assert now["alert_level"] == "red"
    # the principal may extend the statutory limit by up to 10 working days
    extend = api.client.post(
        f"/v1/instances/{instance['id']}/deadline-extensions",
        headers=api.user("principal"),
        json={"limit": "statutory", "duration": "P10D", "reason": "Budget adjustment pending"},
    )
    assert extend.status_code == 200, extend.text
    later = datetime.fromisoformat(extend.json()["statutory_due_at"])
    assert later > datetime.fromisoformat(now["statutory_due_at"]) + timedelta(days=13)


# ---------------------------------------------------------------------------- complaint_handling

PETITION = {"petitioner_name": "Zhang Wei", "channel": "letter", "subject": "Compensation"}
REGISTERED = {
    "channel": "letter",
    "received_on": "2026-03-02",
    "petitioner_name": "Zhang Wei",
    "subject": "Compensation for the demolition of a shop front",
    "summary": "The shop front was demolished for road widening; no compensation was paid.",
    "within_competence": True,
    "handling_body": "District Housing Bureau",
    "accused": "Street Office of Heping Road",
}
ACCEPTED = {"accepted": True, "acceptance_notice_no": "SL-2026-118"}


def _registered(api: Api, people: People) -> dict[str, Any]:
    instance = _start(api, people["petition-office"], "complaint_handling", **PETITION)
    return _do(api, people["petition-office"], instance, "register_petition", **REGISTERED)


def test_complaint_handler_related_to_the_accused_must_step_aside(
    api: Api, clock: ManualClock
) -> None:
    people = People(api)
    related = api.user("clerk,handling-body", "han")
    declared = api.client.post(
        "/v1/declarations",
        headers=related,
        json={"counterparty": "street office of heping road", "kind": "employment_3y"},
    )
    assert declared.status_code == 201, declared.text
    instance = _registered(api, people)
    task_id = _task(instance, "decide_acceptance")
    problem = assert_blocked(
        api,
        instance,
        lambda: api.client.post(f"/v1/tasks/{task_id}/claim", headers=related),
        "P4A-R12",
    )
    assert problem["violations"][0]["evidence"]["variable"] == "accused"
    [violation] = _violations(api, instance)
    assert (violation["act"], violation["actor"]) == ("claim", "han")
    # R05: not accepting needs written reasons
    assert_blocked(
        api,
        instance,
        lambda: _act(
            api,
            people["handling-body"],
            instance,
            "decide_acceptance",
            accepted=False,
            acceptance_notice_no="BSL-2026-009",
        ),
        "P4A-R05-ACCEPTANCE",
    )
    ended = _do(
        api,
        people["handling-body"],
        instance,
        "decide_acceptance",
        accepted=False,
        acceptance_notice_no="BSL-2026-009",
        non_acceptance_reason="The matter is already in court proceedings.",
    )
    assert ended["status"] == "completed"


def test_complaint_limits_pause_extend_and_alert(api: Api, clock: ManualClock) -> None:
    people = People(api)
    instance = _registered(api, people)
    statutory = MONDAY + timedelta(days=75)  # P75D in calendar days, from the registration
    assert datetime.fromisoformat(instance["statutory_due_at"]) == statutory
    [decide] = instance["tasks"]
    assert decide["due_at"] is not None
    # the acceptance limit (15 days) passes: yellow the day before, red when it passes
    clock.set(datetime.fromisoformat(decide["due_at"]) + timedelta(seconds=1))
    assert raise_due_alerts(api.store) >= 1
    raised = {(a["level"], a["reason"], a["element_id"]) for a in _alerts(api, instance)}
    assert ("red", "step_limit_passed", "decide_acceptance") in raised
    assert ("yellow", "step_limit_approaching", "decide_acceptance") in raised
    instance = _do(api, people["handling-body"], instance, "decide_acceptance", **ACCEPTED)
    # the head approves a 30-day extension of the case; not one day more
    head = people["handling-body-head"]
    extend = lambda d: api.client.post(  # noqa: E731
        f"/v1/instances/{instance['id']}/deadline-extensions",
        headers=head,
        json={"limit": "statutory", "duration": d, "reason": "Independent valuation needed"},
    )
    done = extend("P30D")
    assert done.status_code == 200, done.text
    assert datetime.fromisoformat(done.json()["statutory_due_at"]) == statutory + timedelta(days=30)
    assert extend("P1D").status_code == 422
    instance = _do(
        api,
        people["handling-body"],
        instance,
        "investigate",
        findings="Demolition confirmed.",
        extension_requested=False,
    )
    # the reply is signed by a head who did not draft it
    drafter_head = api.user("clerk,handling-body,handling-body-head", "hd")
    instance = _do(
        api,
        drafter_head,
        instance,
        "draft_reply",
        handling_result="supported",
        reply_text="Compensation will be paid.",
        review_rights_stated=True,
    )
    signed = {"reply_signed": True, "head_opinion": "Agreed.", "reply_no": "DF-2026-077"}
    assert_blocked(
        api,
        instance,
        lambda: _act(api, drafter_head, instance, "sign_reply", **signed),
        "P4A-R11-SIGN",
    )
    instance = _do(api, people["handling-body-head"], instance, "sign_reply", **signed)
    # waiting for the petitioner stops the case clock
    assert instance["clock_paused"] is True
    instance = _do(api, people["petitioner"], instance, "respond_to_reply", review_requested=False)
    assert instance["status"] == "completed"


def test_complaint_review_is_by_someone_who_did_not_handle_it(api: Api, clock: ManualClock) -> None:
    people = People(api)
    both = api.user("clerk,handling-body,review-body", "rev")
    instance = _registered(api, people)
    instance = _do(api, both, instance, "decide_acceptance", **ACCEPTED)
    instance = _do(
        api,
        people["handling-body"],
        instance,
        "investigate",
        findings="Demolition confirmed.",
        extension_requested=False,
    )
    instance = _do(
        api,
        people["handling-body"],
        instance,
        "draft_reply",
        handling_result="not_supported",
        reply_text="No compensation is due.",
        review_rights_stated=True,
    )
    instance = _do(
        api,
        people["handling-body-head"],
        instance,
        "sign_reply",
        reply_signed=True,
        head_opinion="Agreed.",
        reply_no="DF-2026-078",
    )
    instance = _do(
        api,
        people["petitioner"],
        instance,
        "respond_to_reply",
        review_requested=True,
        review_request_reason="The standard was applied wrongly.",
    )
    review = {"review_decision": "upheld", "review_opinion": "Upheld.", "review_no": "FC-1"}
    assert_blocked(
        api,
        instance,
        lambda: _act(api, both, instance, "review_petition", **review),
        "P4A-R11-REVIEW",
    )
    instance = _do(api, people["review-body"], instance, "review_petition", **review)
    assert [t["element_id"] for t in instance["tasks"]] == ["respond_to_review"]


# --------------------------------------------------------------------------- collective_decision

TOPIC = {
    "topic_title": "Renovation of the service hall",
    "matter_type": "major_project",
    "amount": 500000,
}
MEMBERS = [
    "Wu Min",
    "Zhou Hua",
    "Sun Li",
    "Qian Jun",
    "Zheng Yu",
    "Feng Tao",
    "He Ping",
    "Chen Gang",
]
MEETING: dict[str, Any] = {
    "members_total": 9,
    "members_present": 8,
    "quorum_met": True,
    "principal_spoke_last": True,
    "votes_for": 7,
    "votes_against": 1,
    "meeting_outcome": "approved",
    "principal_name": "Chen Gang",
    "opinions": [{"member": m, "opinion": "agree"} for m in MEMBERS],
}


def _to_meeting(api: Api, people: People, **topic: Any) -> dict[str, Any]:
    """A topic with no argumentation steps, up to the meeting."""
    sponsor = people["sponsor-department"]
    start = {**TOPIC, **topic}
    instance = _start(api, sponsor, "collective_decision", **start)
    instance = _do(
        api,
        sponsor,
        instance,
        "submit_topic",
        **start,
        draft_decision="Renovate the hall in 2026.",
        leader_in_charge_signed=True,
    )
    instance = _do(
        api,
        sponsor,
        instance,
        "research",
        research_summary="The hall is too small.",
        needs_expert_argumentation=False,
        affects_public_interest=False,
        has_stability_risk=False,
    )
    instance = _do(
        api,
        people["legal-reviewer"],
        instance,
        "legality_review",
        legality_opinion="lawful",
        legality_review_text="Within the district's powers.",
    )
    instance = _do(
        api, people["principal"], instance, "pre_meeting_consultation", consultation_held=True
    )
    return _do(
        api,
        people["general-office"],
        instance,
        "fix_agenda",
        meeting_date="2026-03-20",
        agenda_approved_by_principal=True,
        materials_delivered_on="2026-03-18",
    )


def test_collective_decision_meeting_guards(api: Api, clock: ManualClock) -> None:
    people = People(api)
    team = people["leadership-team"]
    instance = _to_meeting(api, people)
    meeting = lambda **d: _act(api, team, instance, "meeting", **{**MEETING, **d})  # noqa: E731
    # R14: four of nine members cannot decide
    few = [{"member": m, "opinion": "agree"} for m in MEMBERS[-4:]]
    assert_blocked(api, instance, lambda: meeting(members_present=4, opinions=few), "P1-R14")
    # R16: the principal spoke first
    first = [MEETING["opinions"][-1], *MEETING["opinions"][:-1]]
    problem = assert_blocked(api, instance, lambda: meeting(opinions=first), "P1-R16")
    assert problem["violations"][0]["evidence"]["last"] is False
    # every member present states a view
    assert_blocked(
        api, instance, lambda: meeting(opinions=MEETING["opinions"][-3:]), "P1-R16-OPINIONS"
    )
    # R05: a rejection states its reasons
    assert_blocked(api, instance, lambda: meeting(meeting_outcome="rejected"), "P1-R05")
    # a meeting without quorum is recorded as deferred and goes back to the agenda
    deferred = _do(
        api,
        team,
        instance,
        "meeting",
        **{k: v for k, v in MEETING.items() if k != "opinions"}
        | {"members_present": 4, "quorum_met": False, "meeting_outcome": "deferred"},
    )
    office = people["general-office"]
    deferred = _do(
        api,
        office,
        deferred,
        "record_minutes",
        minutes_no="HY-2026-10",
        minutes_confirmed_by_members=True,
        archived_on="2026-03-23",
    )
    assert [t["element_id"] for t in deferred["tasks"]] == ["fix_agenda"]
    # the happy path still completes
    instance = _do(
        api,
        office,
        deferred,
        "fix_agenda",
        meeting_date="2026-03-27",
        agenda_approved_by_principal=True,
        materials_delivered_on="2026-03-25",
    )
    instance = _do(api, team, instance, "meeting", **MEETING)
    instance = _do(
        api,
        office,
        instance,
        "record_minutes",
        minutes_no="HY-2026-11",
        minutes_confirmed_by_members=True,
        archived_on="2026-03-30",
    )
    instance = _do(
        api,
        office,
        instance,
        "disclose_decision",
        publication_channel="website",
        published_on="2026-04-03",
        opinions_explanation="No public consultation was needed.",
    )
    instance = _do(
        api,
        people["executing-department"],
        instance,
        "execute_decision",
        execution_report="Done.",
        execution_completed_on="2026-09-30",
    )
    instance = _do(
        api,
        people["oversight"],
        instance,
        "oversee_execution",
        execution_verified=True,
        oversight_notes="Executed as decided.",
    )
    assert instance["status"] == "completed"
    assert {v["effect"] for v in _violations(api, instance)} == {"block"}


def test_collective_decision_personnel_needs_two_thirds(api: Api, clock: ManualClock) -> None:
    people = People(api)
    instance = _to_meeting(api, people, matter_type="important_appointment", amount=0)
    six = [{"member": m, "opinion": "agree"} for m in MEMBERS[-6:]]
    data = {**MEETING, "members_present": 5, "opinions": six[-5:]}
    assert_blocked(
        api,
        instance,
        lambda: _act(api, people["leadership-team"], instance, "meeting", **data),
        "P1-R14-PERSONNEL",
    )
    done = _do(
        api,
        people["leadership-team"],
        instance,
        "meeting",
        **{**MEETING, "members_present": 6, "opinions": six},
    )
    assert [t["element_id"] for t in done["tasks"]] == ["record_minutes"]


def test_collective_decision_legality_review_by_another_person(
    api: Api, clock: ManualClock
) -> None:
    people = People(api)
    sponsor = people["sponsor-department"]
    office_and_legal = api.user("clerk,legal-reviewer,general-office", "ol")
    instance = _start(api, sponsor, "collective_decision", **TOPIC)
    instance = _do(
        api,
        sponsor,
        instance,
        "submit_topic",
        **TOPIC,
        draft_decision="Renovate the hall in 2026.",
        leader_in_charge_signed=True,
    )
    instance = _do(
        api,
        sponsor,
        instance,
        "research",
        research_summary="The hall is too small.",
        needs_expert_argumentation=False,
        affects_public_interest=False,
        has_stability_risk=False,
    )
    instance = _do(
        api,
        office_and_legal,
        instance,
        "legality_review",
        legality_opinion="lawful",
        legality_review_text="Lawful.",
    )
    instance = _do(
        api, people["principal"], instance, "pre_meeting_consultation", consultation_held=True
    )
    agenda = {
        "meeting_date": "2026-03-20",
        "agenda_approved_by_principal": True,
        "materials_delivered_on": "2026-03-18",
    }
    problem = assert_blocked(
        api,
        instance,
        lambda: _act(api, office_and_legal, instance, "fix_agenda", **agenda),
        "P1-R08",
    )
    assert problem["violations"][0]["evidence"]["only_by_actor"] is True
    _do(api, people["general-office"], instance, "fix_agenda", **agenda)


def test_collective_decision_promised_limit_raises_cards(api: Api, clock: ManualClock) -> None:
    people = People(api)
    instance = _start(api, people["sponsor-department"], "collective_decision", **TOPIC)
    due = datetime.fromisoformat(instance["promised_due_at"])
    assert due > MONDAY + timedelta(days=55)  # 40 working days: eight weeks and more
    assert instance["statutory_due_at"] is None
    clock.set(due + timedelta(seconds=1))
    assert raise_due_alerts(api.store) >= 1
    raised = {(a["level"], a["reason"]) for a in _alerts(api, instance)}
    assert ("yellow", "promised_limit_passed") in raised
    assert ("prompt", "promised_limit_approaching") in raised


# -------------------------------------------------------------------------------- the power list


def test_the_power_list_shows_the_three_examples_with_their_boundaries(
    api: Api, clock: ManualClock
) -> None:
    got = api.client.get("/v1/powers", headers=api.user("clerk"))
    assert got.status_code == 200, got.text
    body = got.json()
    items = {i["code"]: i for i in (body["items"] if isinstance(body, dict) else body)}
    assert set(items) == {"FIN-001", "PET-001", "GOV-001"}
    fin, pet, gov = items["FIN-001"], items["PET-001"], items["GOV-001"]
    assert fin["boundary"] == {"amount_variable": "amount", "amount_cap": None}
    assert gov["boundary"] == {"amount_variable": "amount", "amount_cap": None}
    assert pet["boundary"] is None
    assert [p["key"] for p in fin["processes"]] == ["fund_disbursement"]
    limits = fin["processes"][0]["time_limits"]
    assert (limits["promised"]["duration"], limits["statutory"]["duration"]) == ("P10D", "P20D")
    assert limits["statutory"]["extendable"] == "P10D"
    pet_limits = pet["processes"][0]["time_limits"]
    assert pet_limits["statutory"]["extension_approver"] == "handling-body-head"
    assert gov["processes"][0]["time_limits"]["promised"]["duration"] == "P40D"
    review = next(
        e for e in fin["processes"][0]["elements"] if e["element_id"] == "review_dept_head"
    )
    assert review["roles"] == ["department-head"]
    assert review["time_limit"]["duration"] == "P2D"
